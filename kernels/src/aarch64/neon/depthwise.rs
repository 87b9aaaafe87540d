//! NEON depthwise kernel on the `i16` layout ([`crate::depthwise`]): 8 channels per step,
//! blocks of 16 with the i32 accumulators in registers across the taps: `veor` (i8
//! input), `vmovl_u8`, `x − zx` in i16 (exact: `[−255, 255]`), then `smlal`/`smlal2` with
//! the i16 weights (wrapping i32, as the reference). With a channel multiplier `M > 1`
//! each plane `j` (output channels `ic·M + j`, contiguous weights in the layout) runs the
//! same blocks; `M = 2` interleaves the two planes' results with `zip1`/`zip2`, other `M`
//! go to `out[ic·M + j]` through a stack buffer. The last `C % 8` channels use the scalar
//! kernel.

use core::arch::aarch64::*;

use crate::depthwise::{header_matches, i16_packed_len, pack_i16, scatter_plane, HEADER};
use crate::scalar::depthwise::pixel_range;
use crate::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs, Isa};

/// The NEON depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "aarch64::neon::depthwise",
    isa: Isa::Neon,
    layout: "i16",
    packed_len: i16_packed_len,
    pack,
    pixel,
};

/// # Safety
/// See [`DepthwiseKernel::pack`].
unsafe fn pack(a: &DepthwisePackArgs) {
    // SAFETY: forwarded contract.
    unsafe { pack_i16(a) }
}

/// `acc += (x[0..8] ^ xor − zx) · w[0..8]` into two i32x4.
///
/// # Safety
/// NEON present; `p` valid for 8 bytes, `q` for 8 i16.
#[inline(always)]
unsafe fn step(
    acc: &mut [int32x4_t; 2],
    p: *const u8,
    q: *const i16,
    xor: uint8x8_t,
    z: int16x8_t,
) {
    // SAFETY: 8 bytes at `p`, 8 i16 at `q`, NEON present (caller).
    unsafe {
        let (x, w) = (vld1_u8(p), vld1q_s16(q));
        let d = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(veor_u8(x, xor))), z);
        acc[0] = vmlal_s16(acc[0], vget_low_s16(d), vget_low_s16(w));
        acc[1] = vmlal_high_s16(acc[1], d, w);
    }
}

/// Channels `ic..ic + 8·N` of the planes `j..j + P` (weights of plane `j` at `w`, planes
/// `T·C` elements apart), stored to `out[c·m + j']`.
///
/// # Safety
/// NEON present; `ic + 8·N <= C`, `j + P <= m`; the taps, `w` and `out` valid as in
/// [`DepthwiseKernel::pixel`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const N: usize, const P: usize>(
    taps: &[*const u8],
    w: *const i16,
    c: usize,
    ic: usize,
    xv: uint8x8_t,
    z: int16x8_t,
    out: *mut i32,
    m: usize,
    j: usize,
) {
    let plane = taps.len() * c;
    // SAFETY: NEON present (caller).
    let mut acc = [[[unsafe { vdupq_n_s32(0) }; 2]; N]; P];
    for (t, &p) in taps.iter().enumerate() {
        if p.is_null() {
            continue;
        }
        for (pj, accp) in acc.iter_mut().enumerate() {
            for (r, a) in accp.iter_mut().enumerate() {
                let o = ic + 8 * r;
                // SAFETY: channels o..o+8 < C of tap t and of weight row t of plane j + pj.
                unsafe { step(a, p.add(o), w.add(pj * plane + t * c + o), xv, z) };
            }
        }
    }
    for r in 0..N {
        let o = ic + 8 * r;
        if m == 1 {
            // SAFETY: `out` holds C i32 and o + 8 <= C.
            unsafe {
                vst1q_s32(out.add(o), acc[0][r][0]);
                vst1q_s32(out.add(o + 4), acc[0][r][1]);
            }
        } else if m == 2 && P == 2 {
            // out[2c + 0/1] for c = o..o+8: zip the planes.
            let (a, b) = (acc[0][r], acc[P - 1][r]); // P == 2 here
                                                     // SAFETY: `out` holds 2C i32 and 2(o + 8) <= 2C.
            unsafe {
                let d = out.add(2 * o);
                vst1q_s32(d, vzip1q_s32(a[0], b[0]));
                vst1q_s32(d.add(4), vzip2q_s32(a[0], b[0]));
                vst1q_s32(d.add(8), vzip1q_s32(a[1], b[1]));
                vst1q_s32(d.add(12), vzip2q_s32(a[1], b[1]));
            }
        } else {
            for (pj, accp) in acc.iter().enumerate() {
                let mut tmp = [0i32; 8];
                // SAFETY: `tmp` holds 8 i32; `out` holds C·M i32, o + 8 <= C, j + pj < m.
                unsafe {
                    vst1q_s32(tmp.as_mut_ptr(), accp[r][0]);
                    vst1q_s32(tmp.as_mut_ptr().add(4), accp[r][1]);
                    scatter_plane(&tmp, out, o, m, j + pj);
                }
            }
        }
    }
}

/// # Safety
/// NEON present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "neon")]
unsafe fn run(a: &DepthwiseArgs) {
    let (t_n, c, m) = (a.n_taps, a.channels, a.multiplier);
    // SAFETY: `taps` holds `n_taps` pointers; the weights follow the header (contract).
    let (taps, w0) = unsafe {
        (
            core::slice::from_raw_parts(a.taps, t_n),
            a.packed.add(HEADER) as *const i16,
        )
    };
    let xv = vdup_n_u8(a.xor);
    // zx is in 0..=255, so it fits i16.
    let z = vdupq_n_s16(a.zx as i16);
    let plane = t_n * c;
    let mut ic = 0;
    while ic + 16 <= c {
        if m == 2 {
            // SAFETY: both planes' weights inside the layout; ic + 16 <= C.
            unsafe { block::<2, 2>(taps, w0, c, ic, xv, z, a.out, m, 0) };
        } else {
            for j in 0..m {
                // SAFETY: plane j's weights start at j·T·C; ic + 16 <= C.
                unsafe { block::<2, 1>(taps, w0.add(j * plane), c, ic, xv, z, a.out, m, j) };
            }
        }
        ic += 16;
    }
    while ic + 8 <= c {
        for j in 0..m {
            // SAFETY: as above, with ic + 8 <= C.
            unsafe { block::<1, 1>(taps, w0.add(j * plane), c, ic, xv, z, a.out, m, j) };
        }
        ic += 8;
    }
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { pixel_range(a, ic) };
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where NEON is present.
unsafe fn pixel(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer has a header (contract).
    debug_assert!(unsafe { header_matches(a.packed, a.n_taps, a.channels, a.multiplier) });
    // SAFETY: the engine selects this table only when NEON is present; the rest is the
    // caller's contract.
    unsafe { run(a) }
}
