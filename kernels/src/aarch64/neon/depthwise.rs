//! NEON depthwise kernel: 8 channels per step, blocks of 16 with the i32 accumulators in
//! registers across the taps: `veor` (i8 input), `vmovl_u8`, `x − zx` in i16 (exact:
//! `[−255, 255]`), then `smlal`/`smlal2` with the i16 weights (wrapping i32, as the
//! reference). The last `channels % 8` channels use the scalar definition.

use core::arch::aarch64::*;

use crate::scalar::depthwise::pixel_range;
use crate::{DepthwiseKernel, Isa};

/// The NEON depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "aarch64::neon::depthwise",
    isa: Isa::Neon,
    pixel,
};

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

/// # Safety
/// NEON present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "neon")]
unsafe fn run(taps: &[*const u8], w: *const i16, channels: usize, xor: u8, zx: i32, out: *mut i32) {
    let xv = vdup_n_u8(xor);
    // zx is in 0..=255, so it fits i16.
    let z = vdupq_n_s16(zx as i16);
    let mut c = 0;
    while c + 16 <= channels {
        let mut a = [vdupq_n_s32(0); 2];
        let mut b = [vdupq_n_s32(0); 2];
        for (t, &p) in taps.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            // SAFETY: channels c..c+16 are inside tap t and weight row t.
            unsafe {
                step(&mut a, p.add(c), w.add(t * channels + c), xv, z);
                step(&mut b, p.add(c + 8), w.add(t * channels + c + 8), xv, z);
            }
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe {
            vst1q_s32(out.add(c), a[0]);
            vst1q_s32(out.add(c + 4), a[1]);
            vst1q_s32(out.add(c + 8), b[0]);
            vst1q_s32(out.add(c + 12), b[1]);
        }
        c += 16;
    }
    while c + 8 <= channels {
        let mut a = [vdupq_n_s32(0); 2];
        for (t, &p) in taps.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            // SAFETY: channels c..c+8 are inside tap t and weight row t.
            unsafe { step(&mut a, p.add(c), w.add(t * channels + c), xv, z) };
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe {
            vst1q_s32(out.add(c), a[0]);
            vst1q_s32(out.add(c + 4), a[1]);
        }
        c += 8;
    }
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { pixel_range(taps, w, channels, c, xor, zx, out) };
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where NEON is present.
unsafe fn pixel(
    taps: &[*const u8],
    w: *const i16,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: the engine selects this table only when NEON is present; the rest is the
    // caller's contract.
    unsafe { run(taps, w, channels, xor, zx, out) }
}
