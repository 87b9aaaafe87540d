//! NEON add and pooling kernels (also used by the `dotprod` and `i8mm` engines).
//!
//! - `add`: 16 codes per iteration, widened to i32 (`uxtl`/`sxtl`), `sub`, `scvtf`
//!   (exact), `fmul`, `fadd`, `fdiv` (correctly rounded, as the reference's `/`), NaN
//!   lanes zeroed, clamp, `fcvtns` (nearest, ties to even), narrowed with `xtn`
//!   (exact: the values are inside the type). A broadcast operand's term
//!   `f32(x − z)·s` is computed once. The last `len % 16` codes use the scalar
//!   definition. ARMv8 Advanced SIMD handles subnormals in full (FPCR.FZ clear on Linux).
//! - `sum_pixels`: 16 channels per block, `uaddw`/`saddw` into 16-bit sums for up to 256
//!   pixels, then `uaddw`/`saddw` into four i32 accumulators; i8 input is summed signed
//!   with the zero point moved back by 128; `pixels·zx` is subtracted once (wrapping:
//!   the same i32 as the reference). Then blocks of 8 channels, then scalar.
//! - `max_pixel`: `umax`/`smax` over the taps, 16 then 8 channels per block, then scalar.

use core::arch::aarch64::*;

use crate::scalar::ops::{add_range, max_range, sum_range};
use crate::scalar::requant::dequantize;
use crate::{AddArgs, Isa, OpsKernels};

/// The NEON add and pooling table.
pub static OPS: OpsKernels = OpsKernels {
    name: "aarch64::neon::ops",
    isa: Isa::Neon,
    add,
    sum_pixels,
    max_pixel,
};

/// Sixteen codes at `p` widened to four vectors of i32.
///
/// # Safety
/// Advanced SIMD present; `p` valid for 16 bytes.
#[inline(always)]
unsafe fn load16<const SIGNED: bool>(p: *const u8) -> [int32x4_t; 4] {
    // SAFETY: 16 bytes at `p` (caller); the CPU has Advanced SIMD (caller).
    unsafe {
        let b = vld1q_u8(p);
        let (lo, hi) = if SIGNED {
            let b = vreinterpretq_s8_u8(b);
            (vmovl_s8(vget_low_s8(b)), vmovl_high_s8(b))
        } else {
            (
                vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b))),
                vreinterpretq_s16_u16(vmovl_high_u8(b)),
            )
        };
        [
            vmovl_s16(vget_low_s16(lo)),
            vmovl_high_s16(lo),
            vmovl_s16(vget_low_s16(hi)),
            vmovl_high_s16(hi),
        ]
    }
}

/// # Safety
/// Advanced SIMD present; the contract of [`OpsKernels::add`] with
/// `a_step = A as usize` and `b_step = B as usize`, `len > 0`.
#[target_feature(enable = "neon")]
unsafe fn add_run<const SIGNED: bool, const A: bool, const B: bool>(args: &AddArgs) {
    let (za, sa) = (vdupq_n_s32(args.za), vdupq_n_f32(args.sa));
    let (zb, sb) = (vdupq_n_s32(args.zb), vdupq_n_f32(args.sb));
    let sc = vdupq_n_f32(args.sc);
    let lo = vdupq_n_f32((args.lo - args.zc) as f32);
    let hi = vdupq_n_f32((args.hi - args.zc) as f32);
    let zc = vdupq_n_s32(args.zc);
    // SAFETY: `len > 0`: the first code of each operand exists.
    let (x0, y0) = unsafe { (*args.a, *args.b) };
    let code = |v: u8| if SIGNED { v as i8 as i32 } else { v as i32 };
    // A broadcast operand's term, computed once: the same binary32 operations.
    let fa = vdupq_n_f32(dequantize(code(x0), args.za, args.sa));
    let fb = vdupq_n_f32(dequantize(code(y0), args.zb, args.sb));
    let n = args.len;
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: codes i..i+16 < len of each stepping operand and of `dst` (contract).
        unsafe {
            let qa = if A {
                load16::<SIGNED>(args.a.add(i))
            } else {
                [za; 4]
            };
            let qb = if B {
                load16::<SIGNED>(args.b.add(i))
            } else {
                [zb; 4]
            };
            let mut r = [vdupq_n_s32(0); 4];
            for (j, rj) in r.iter_mut().enumerate() {
                let ta = if A {
                    vmulq_f32(vcvtq_f32_s32(vsubq_s32(qa[j], za)), sa)
                } else {
                    fa
                };
                let tb = if B {
                    vmulq_f32(vcvtq_f32_s32(vsubq_s32(qb[j], zb)), sb)
                } else {
                    fb
                };
                let y = vdivq_f32(vaddq_f32(ta, tb), sc);
                let ordered = vceqq_f32(y, y);
                let y = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), ordered));
                let y = vminq_f32(vmaxq_f32(y, lo), hi);
                *rj = vaddq_s32(vcvtnq_s32_f32(y), zc);
            }
            // In [lo, hi] inside the type: the truncating narrows keep the code.
            let h0 = vcombine_s16(vmovn_s32(r[0]), vmovn_s32(r[1]));
            let h1 = vcombine_s16(vmovn_s32(r[2]), vmovn_s32(r[3]));
            let b = vcombine_s8(vmovn_s16(h0), vmovn_s16(h1));
            vst1q_u8(args.dst.add(i), vreinterpretq_u8_s8(b));
        }
        i += 16;
    }
    // SAFETY: forwarded contract, for the remaining codes.
    unsafe { add_range(args, i) };
}

/// # Safety
/// See [`OpsKernels::add`]; the table is used only where Advanced SIMD is present.
unsafe fn add(args: &AddArgs) {
    if args.len == 0 {
        return;
    }
    // SAFETY: the engine selects this table only where Advanced SIMD is present; the
    // steps are 0 or 1 (contract), so the variant chosen reads what the contract allows.
    unsafe {
        match (args.signed, args.a_step != 0, args.b_step != 0) {
            (false, true, true) => add_run::<false, true, true>(args),
            (false, true, false) => add_run::<false, true, false>(args),
            (false, false, true) => add_run::<false, false, true>(args),
            (true, true, true) => add_run::<true, true, true>(args),
            (true, true, false) => add_run::<true, true, false>(args),
            (true, false, true) => add_run::<true, false, true>(args),
            // Both broadcast: every output is the same code.
            (_, false, false) => {
                add_range(&AddArgs { len: 1, ..*args }, 0);
                core::ptr::write_bytes(args.dst.add(1), *args.dst, args.len - 1);
            }
        }
    }
}

/// Pixels summed in 16 bits before widening: `255·256` (u8) and `−128·256` (i8) fit.
const CHUNK: usize = 256;

/// # Safety
/// Advanced SIMD present; the contract of [`OpsKernels::sum_pixels`] with `xor = 0x80`
/// iff `SIGNED`.
#[target_feature(enable = "neon")]
unsafe fn sum_run<const SIGNED: bool>(
    src: *const u8,
    pixels: usize,
    channels: usize,
    zx: i32,
    out: *mut i32,
) {
    // x ^ 0x80 − zx = x_signed − (zx − 128); Σ_p (x − z) = Σ_p x − pixels·z (wrapping).
    let z = if SIGNED { zx - 128 } else { zx };
    let corr = vdupq_n_s32((pixels as i32).wrapping_mul(z));
    let mut c = 0;
    while c + 16 <= channels {
        let mut acc = [vdupq_n_s32(0); 4];
        let mut p0 = 0;
        while p0 < pixels {
            let p1 = (p0 + CHUNK).min(pixels);
            let (mut s0, mut s1) = (vdupq_n_s16(0), vdupq_n_s16(0));
            for p in p0..p1 {
                // SAFETY: channels c..c+16 of pixel p < pixels are inside `src`.
                unsafe {
                    let b = vld1q_u8(src.add(p * channels + c));
                    if SIGNED {
                        let b = vreinterpretq_s8_u8(b);
                        s0 = vaddw_s8(s0, vget_low_s8(b));
                        s1 = vaddw_high_s8(s1, b);
                    } else {
                        s0 = vreinterpretq_s16_u16(vaddw_u8(
                            vreinterpretq_u16_s16(s0),
                            vget_low_u8(b),
                        ));
                        s1 = vreinterpretq_s16_u16(vaddw_high_u8(vreinterpretq_u16_s16(s1), b));
                    }
                }
            }
            for (j, a) in acc.iter_mut().enumerate() {
                let s = if j < 2 { s0 } else { s1 };
                *a = if SIGNED {
                    if j % 2 == 0 {
                        vaddw_s16(*a, vget_low_s16(s))
                    } else {
                        vaddw_high_s16(*a, s)
                    }
                } else {
                    let (a, s) = (vreinterpretq_u32_s32(*a), vreinterpretq_u16_s16(s));
                    vreinterpretq_s32_u32(if j % 2 == 0 {
                        vaddw_u16(a, vget_low_u16(s))
                    } else {
                        vaddw_high_u16(a, s)
                    })
                };
            }
            p0 = p1;
        }
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: `out` holds `channels` i32; c + 4j + 4 ≤ channels.
            unsafe { vst1q_s32(out.add(c + 4 * j), vsubq_s32(*a, corr)) };
        }
        c += 16;
    }
    while c + 8 <= channels {
        let (mut a0, mut a1) = (vdupq_n_s32(0), vdupq_n_s32(0));
        for p in 0..pixels {
            // SAFETY: channels c..c+8 of pixel p are inside `src`.
            let b = unsafe { vld1_u8(src.add(p * channels + c)) };
            let w = if SIGNED {
                vmovl_s8(vreinterpret_s8_u8(b))
            } else {
                vreinterpretq_s16_u16(vmovl_u8(b))
            };
            a0 = vaddw_s16(a0, vget_low_s16(w));
            a1 = vaddw_high_s16(a1, w);
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe {
            vst1q_s32(out.add(c), vsubq_s32(a0, corr));
            vst1q_s32(out.add(c + 4), vsubq_s32(a1, corr));
        }
        c += 8;
    }
    let xor = if SIGNED { 0x80 } else { 0 };
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { sum_range(src, pixels, channels, c, xor, zx, out) };
}

/// # Safety
/// See [`OpsKernels::sum_pixels`]; the table is used only where Advanced SIMD is
/// present.
unsafe fn sum_pixels(
    src: *const u8,
    pixels: usize,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: the engine selects this table only where Advanced SIMD is present; the
    // rest is the caller's contract.
    unsafe {
        if xor == 0 {
            sum_run::<false>(src, pixels, channels, zx, out)
        } else {
            sum_run::<true>(src, pixels, channels, zx, out)
        }
    }
}

/// # Safety
/// Advanced SIMD present; the contract of [`OpsKernels::max_pixel`].
#[target_feature(enable = "neon")]
unsafe fn max_run<const SIGNED: bool>(taps: &[*const u8], channels: usize, out: *mut u8) {
    let mut c = 0;
    while c + 16 <= channels {
        // SAFETY: channels c..c+16 of every tap and of `out` exist (contract; taps
        // non-empty).
        unsafe {
            let mut m = vld1q_u8(taps[0].add(c));
            for &p in &taps[1..] {
                let v = vld1q_u8(p.add(c));
                m = if SIGNED {
                    vreinterpretq_u8_s8(vmaxq_s8(vreinterpretq_s8_u8(m), vreinterpretq_s8_u8(v)))
                } else {
                    vmaxq_u8(m, v)
                };
            }
            vst1q_u8(out.add(c), m);
        }
        c += 16;
    }
    if c + 8 <= channels {
        // SAFETY: as above, for channels c..c+8.
        unsafe {
            let mut m = vld1_u8(taps[0].add(c));
            for &p in &taps[1..] {
                let v = vld1_u8(p.add(c));
                m = if SIGNED {
                    vreinterpret_u8_s8(vmax_s8(vreinterpret_s8_u8(m), vreinterpret_s8_u8(v)))
                } else {
                    vmax_u8(m, v)
                };
            }
            vst1_u8(out.add(c), m);
        }
        c += 8;
    }
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { max_range(taps, channels, c, SIGNED, out) };
}

/// # Safety
/// See [`OpsKernels::max_pixel`]; the table is used only where Advanced SIMD is present.
unsafe fn max_pixel(taps: &[*const u8], channels: usize, signed: bool, out: *mut u8) {
    // SAFETY: the engine selects this table only where Advanced SIMD is present; the rest
    // is the caller's contract.
    unsafe {
        if signed {
            max_run::<true>(taps, channels, out)
        } else {
            max_run::<false>(taps, channels, out)
        }
    }
}
