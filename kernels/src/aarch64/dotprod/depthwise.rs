//! `aarch64::dotprod::depthwise`: the depthwise kernel on the `c4x16` layout
//! ([`crate::depthwise`]), with `sdot`: one instruction multiplies 4 taps × 4 channels
//! (i8 × i8) and adds each channel's 4 products into its i32 lane, exactly. `i8mm`
//! engines use this kernel too (FEAT_I8MM implies FEAT_DotProd, and `smmla`'s 2×8·8×2
//! blocks have no use for one pixel's per-channel sums).
//!
//! `sdot` multiplies signed bytes, so the input is read as `s = a − 128` (`a` the
//! canonical u8: the raw byte for i8 input, `byte ^ 0x80` for u8 input) with the zero
//! point `zs = zx − 128`; `s − zs = a − zx`, as in the dotprod GEMM (`crate::aarch64`,
//! "Signed domain").
//!
//! ```text
//! for each block of 16 input channels (the last one copied to a padded stack buffer):
//!   for each pass over up to 2 planes j (output channels ic·M + j):
//!     for each group g of 4 taps (the last one padded):
//!       v[k] = 16 input bytes of tap 4g + k as s, or zs if null (padding) or past T
//!       x[q] = interleave(v[0..4])       zip1/zip2 .16b, then zip1/zip2 .8h: 8 zips;
//!                                        lane k of x[q] = the 4 taps of channel 4q + k
//!       acc[j][q] += x[q]·w[j][g][q]     sdot, 4 per plane
//!       ss[q] += x[q]·1                  only with FLAG_ZW (weights outside i8)
//!     acc[j][q] −= zs·wsum[j][q]  (and zwp[j][q]·ss[q] with FLAG_ZW)     mls
//!     store: M = 1 directly; M = 2 zip1/zip2 .4s of the two planes; other M through a
//!            stack buffer to out[ic·M + j]
//! ```
//!
//! Exactness as in the layout docs: null taps and padding slots read `zs`, so
//! `Σ (s − zs)(w − zwp)` over all slots drops them and equals
//! `Σ s·w − zs·wsum − zwp·Σ s` in wrapping i32.
//!
//! Optimisations: (1) one interleave of four taps serves both planes of a pass; (2)
//! zips produce the channels in order (slot order = channel order), so results are
//! stored without a transpose; (3) the zero-point correction is one `mls` per 4 channels
//! per pixel; (4) the i8 input needs no flip at all; (5) a pixel without null taps (all
//! but the border of an image) runs an instance whose loads are unconditional, the
//! partial last group of taps is peeled off the group loop, and the choice of instance
//! (planes per pass, flag, signedness, nulls) is made once per pixel, outside the block
//! loop.

use core::arch::aarch64::*;

use crate::aarch64::dotprod::insn::sdot;
use crate::depthwise::{
    c4_packed_len, c4_plane_bytes, flags, header_matches, pack_c4, scatter_plane, FLAG_ZW, HEADER,
};
use crate::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs, Isa};

/// Input channels per block.
const BC: usize = 16;
/// Planes per pass (4 accumulators each).
const PJ_MAX: usize = 2;

/// The dotprod depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "aarch64::dotprod::depthwise",
    isa: Isa::Dotprod,
    layout: "c4x16",
    packed_len,
    pack,
    pixel,
};

fn packed_len(taps: usize, channels: usize, multiplier: usize) -> usize {
    c4_packed_len(BC, taps, channels, multiplier)
}

/// Slot order = channel order: lane `k` of vector `q` holds channel `4q + k`.
fn slot_ic(s: usize) -> usize {
    s
}

/// # Safety
/// See [`DepthwiseKernel::pack`].
unsafe fn pack(a: &DepthwisePackArgs) {
    // SAFETY: forwarded contract.
    unsafe { pack_c4(a, BC, slot_ic) }
}

/// The input vector of one tap as `s` (signed domain): the 16 bytes at `p + ic0` (the
/// first `n` of them, through a stack buffer, when `n < 16`), or `zs` when `NULLS`
/// allows a null `p` and it is null.
///
/// # Safety
/// NEON present; `p` null (only when `NULLS`) or valid for `n` bytes from `ic0`.
#[inline(always)]
unsafe fn tap<const NULLS: bool, const SIGNED: bool>(
    p: *const u8,
    ic0: usize,
    n: usize,
    zs: int8x16_t,
) -> int8x16_t {
    if NULLS && p.is_null() {
        return zs;
    }
    // SAFETY: `n` bytes at p + ic0 (contract): 16 read in place when n = 16, else the n
    // bytes copied into a 16-byte buffer; NEON present (contract).
    unsafe {
        let x = if n == BC {
            vld1q_s8(p.add(ic0) as *const i8)
        } else {
            let mut buf = [0u8; BC];
            core::ptr::copy_nonoverlapping(p.add(ic0), buf.as_mut_ptr(), n);
            vld1q_s8(buf.as_ptr() as *const i8)
        };
        if SIGNED {
            x
        } else {
            veorq_s8(x, vdupq_n_s8(0x80u8 as i8))
        }
    }
}

/// Interleaves the four tap vectors `v` of group `g` (`zip1`/`zip2` of bytes, then of
/// halfwords: lane `k` of `x[q]` holds the 4 taps of channel `4q + k`) and accumulates
/// `x[q]·w` into `acc[pj][q]` for the planes of the pass (and `x[q]·1` into `ss[q]` with
/// `ZW`).
///
/// # Safety
/// NEON and DotProd present; `rec` is the record of the pass's first plane, the next
/// `PJ − 1` records follow at `plane` bytes, and `g` is one of their groups.
#[inline(always)]
unsafe fn group<const PJ: usize, const ZW: bool>(
    acc: &mut [[int32x4_t; 4]; PJ],
    ss: &mut [int32x4_t; 4],
    v: [int8x16_t; 4],
    rec: *const u8,
    plane: usize,
    g: usize,
) {
    // SAFETY: register-only zips; NEON present (caller).
    let x = unsafe {
        let ab_lo = vreinterpretq_s16_s8(vzip1q_s8(v[0], v[1]));
        let ab_hi = vreinterpretq_s16_s8(vzip2q_s8(v[0], v[1]));
        let cd_lo = vreinterpretq_s16_s8(vzip1q_s8(v[2], v[3]));
        let cd_hi = vreinterpretq_s16_s8(vzip2q_s8(v[2], v[3]));
        [
            vreinterpretq_s8_s16(vzip1q_s16(ab_lo, cd_lo)),
            vreinterpretq_s8_s16(vzip2q_s16(ab_lo, cd_lo)),
            vreinterpretq_s8_s16(vzip1q_s16(ab_hi, cd_hi)),
            vreinterpretq_s8_s16(vzip2q_s16(ab_hi, cd_hi)),
        ]
    };
    if ZW {
        for q in 0..4 {
            // SAFETY: register-only; DotProd present (caller).
            ss[q] = unsafe { sdot(ss[q], x[q], vdupq_n_s8(1)) };
        }
    }
    for (pj, accp) in acc.iter_mut().enumerate() {
        for q in 0..4 {
            // SAFETY: 16 bytes of group g's weights in the record of plane pj of the pass
            // (contract); DotProd present (caller).
            accp[q] = unsafe {
                let w = rec.add(pj * plane + g * 4 * BC + 16 * q) as *const i8;
                sdot(accp[q], x[q], vld1q_s8(w))
            };
        }
    }
}

/// One pass: planes `j0..j0 + PJ` of the block of channels `ic0..ic0 + n`, whose first
/// plane record is `rec`. `NULLS`: some tap is null.
///
/// # Safety
/// NEON and DotProd present; the contract of [`DepthwiseKernel::pixel`] (with no null
/// tap unless `NULLS`); `rec` is the record of (this block, plane `j0`) and
/// `j0 + PJ <= M`; `n = min(16, C − ic0) ≥ 1`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn pass<const PJ: usize, const ZW: bool, const SIGNED: bool, const NULLS: bool>(
    a: &DepthwiseArgs,
    rec: *const u8,
    plane: usize,
    ic0: usize,
    n: usize,
    j0: usize,
    zs: int8x16_t,
) {
    let (t_n, m) = (a.n_taps, a.multiplier);
    let (full, rest) = (t_n / 4, t_n % 4);
    let g_n = t_n.div_ceil(4);
    // SAFETY: register-only.
    let zero = unsafe { vdupq_n_s32(0) };
    let mut acc = [[zero; 4]; PJ];
    let mut ss = [zero; 4];
    for g in 0..full {
        // SAFETY: taps 4g..4g + 4 < T exist; each is null (only with NULLS) or holds C
        // bytes, of which the loads read n from ic0 (ic0 + n <= C).
        let v = unsafe {
            let tp = a.taps.add(4 * g);
            [
                tap::<NULLS, SIGNED>(*tp, ic0, n, zs),
                tap::<NULLS, SIGNED>(*tp.add(1), ic0, n, zs),
                tap::<NULLS, SIGNED>(*tp.add(2), ic0, n, zs),
                tap::<NULLS, SIGNED>(*tp.add(3), ic0, n, zs),
            ]
        };
        // SAFETY: group g < G of the records of planes j0..j0 + PJ (caller).
        unsafe { group::<PJ, ZW>(&mut acc, &mut ss, v, rec, plane, g) };
    }
    if rest > 0 {
        // The last group: slots past T read zs.
        let mut v = [zs; 4];
        for (k, vk) in v.iter_mut().take(rest).enumerate() {
            // SAFETY: tap 4·full + k < T, as above.
            *vk = unsafe { tap::<NULLS, SIGNED>(*a.taps.add(4 * full + k), ic0, n, zs) };
        }
        // SAFETY: as above, for the last group.
        unsafe { group::<PJ, ZW>(&mut acc, &mut ss, v, rec, plane, full) };
    }
    // SAFETY: register-only.
    let zsv = unsafe { vdupq_n_s32(a.zx - 128) };
    for (pj, accp) in acc.iter_mut().enumerate() {
        // SAFETY: the record's wsum and zwp arrays (16 i32 each) follow its weights.
        let sums = unsafe { rec.add(pj * plane + g_n * 4 * BC) } as *const i32;
        for q in 0..4 {
            // SAFETY: 4 i32 of wsum (and of zwp) for vector q.
            unsafe {
                accp[q] = vmlsq_s32(accp[q], zsv, vld1q_s32(sums.add(4 * q)));
                if ZW {
                    accp[q] = vmlsq_s32(accp[q], vld1q_s32(sums.add(BC + 4 * q)), ss[q]);
                }
            }
        }
    }
    // SAFETY (stores below): `out` holds C·M i32, ic0 + n <= C, j0 + PJ <= M; the
    // stack buffers hold what is stored into them.
    if m == 1 {
        let mut tmp = [0i32; BC];
        let dst = if n == BC {
            // SAFETY: see above.
            unsafe { a.out.add(ic0) }
        } else {
            tmp.as_mut_ptr()
        };
        for (q, &v) in acc[0].iter().enumerate() {
            // SAFETY: see above.
            unsafe { vst1q_s32(dst.add(4 * q), v) };
        }
        if n < BC {
            // SAFETY: see above.
            unsafe { core::ptr::copy_nonoverlapping(tmp.as_ptr(), a.out.add(ic0), n) };
        }
    } else if m == 2 && PJ == 2 {
        let mut tmp = [0i32; 2 * BC];
        let dst = if n == BC {
            // SAFETY: see above.
            unsafe { a.out.add(2 * ic0) }
        } else {
            tmp.as_mut_ptr()
        };
        for (q, (&e, &o)) in acc[0].iter().zip(&acc[PJ - 1]).enumerate() {
            // SAFETY: see above.
            unsafe {
                vst1q_s32(dst.add(8 * q), vzip1q_s32(e, o));
                vst1q_s32(dst.add(8 * q + 4), vzip2q_s32(e, o));
            }
        }
        if n < BC {
            // SAFETY: see above.
            unsafe { core::ptr::copy_nonoverlapping(tmp.as_ptr(), a.out.add(2 * ic0), 2 * n) };
        }
    } else {
        for (pj, accp) in acc.iter().enumerate() {
            let mut tmp = [0i32; BC];
            // SAFETY: see above.
            unsafe {
                for (q, &v) in accp.iter().enumerate() {
                    vst1q_s32(tmp.as_mut_ptr().add(4 * q), v);
                }
                scatter_plane(&tmp[..n], a.out, ic0, m, j0 + pj);
            }
        }
    }
}

/// Every block, planes in passes of `PJ` (a last single plane when `M` is odd).
///
/// # Safety
/// NEON and DotProd present; the contract of [`DepthwiseKernel::pixel`] (with no null
/// tap unless `NULLS`); `ZW` is the packed flag.
#[inline(always)]
unsafe fn blocks<const PJ: usize, const ZW: bool, const SIGNED: bool, const NULLS: bool>(
    a: &DepthwiseArgs,
) {
    let (c, m) = (a.channels, a.multiplier);
    let plane = c4_plane_bytes(BC, a.n_taps);
    // SAFETY: register-only.
    let zs = unsafe { vdupq_n_s8((a.zx - 128) as i8) };
    let whole = m - m % PJ;
    let mut ic0 = 0;
    while ic0 < c {
        let n = (c - ic0).min(BC);
        // SAFETY: the records of block ic0 / 16 lie inside the layout of (T, C, M).
        let rec = unsafe { a.packed.add(HEADER + (ic0 / BC) * m * plane) };
        let mut j0 = 0;
        while j0 < whole {
            // SAFETY: planes j0..j0 + PJ <= M of this block; the rest is the caller's
            // contract.
            unsafe { pass::<PJ, ZW, SIGNED, NULLS>(a, rec.add(j0 * plane), plane, ic0, n, j0, zs) };
            j0 += PJ;
        }
        if j0 < m {
            // SAFETY: as above, for the last plane.
            unsafe { pass::<1, ZW, SIGNED, NULLS>(a, rec.add(j0 * plane), plane, ic0, n, j0, zs) };
        }
        ic0 += BC;
    }
}

/// # Safety
/// NEON and DotProd present; the contract of [`DepthwiseKernel::pixel`] (with no null
/// tap unless `NULLS`).
#[inline(always)]
unsafe fn run_taps<const SIGNED: bool, const NULLS: bool>(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer starts with its header (contract).
    let zw = unsafe { flags(a.packed) } & FLAG_ZW != 0;
    // SAFETY: forwarded contract, with the packed flag.
    unsafe {
        match (a.multiplier, zw) {
            (1, false) => blocks::<1, false, SIGNED, NULLS>(a),
            (1, true) => blocks::<1, true, SIGNED, NULLS>(a),
            (_, false) => blocks::<PJ_MAX, false, SIGNED, NULLS>(a),
            (_, true) => blocks::<PJ_MAX, true, SIGNED, NULLS>(a),
        }
    }
}

/// # Safety
/// NEON and DotProd present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "neon,dotprod")]
unsafe fn run<const SIGNED: bool>(a: &DepthwiseArgs) {
    // SAFETY: `taps` holds `n_taps` pointers (contract).
    let taps = unsafe { core::slice::from_raw_parts(a.taps, a.n_taps) };
    // SAFETY: forwarded contract; without null taps every load is unconditional.
    unsafe {
        if taps.iter().any(|p| p.is_null()) {
            run_taps::<SIGNED, true>(a)
        } else {
            run_taps::<SIGNED, false>(a)
        }
    }
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where DotProd is present.
unsafe fn pixel(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer has a header (contract).
    debug_assert!(unsafe { header_matches(a.packed, a.n_taps, a.channels, a.multiplier) });
    // SAFETY: the engine selects this table only when NEON and DotProd are present; the
    // rest is the caller's contract.
    unsafe {
        if a.xor == 0x80 {
            run::<true>(a)
        } else {
            run::<false>(a)
        }
    }
}
