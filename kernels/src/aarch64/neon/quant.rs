//! NEON element-wise kernels: quantize, dequantize, requantize a row, min/max, 16 (or 4)
//! lanes at a time; the last elements use the scalar definitions (the same functions
//! the reference uses, so the results are identical by construction).
//!
//! Bit-identical to [`crate::scalar::quant`]: the division is `fdiv` (correctly
//! rounded, as `/`, never a multiplication by `1/scale`), NaN lanes are zeroed before
//! the clamp so they quantize to the zero point, rounding is `fcvtns` (to nearest, ties
//! to even; the clamp keeps every value inside i32 first), `scvtf` converts exactly
//! for the `|q − zp| < 2^24` of dequantize, and `fmul` rounds once. ARMv8 Advanced SIMD
//! handles subnormals in full (Linux leaves FPCR.FZ clear), so no flush to zero.

use core::arch::aarch64::*;

use super::stage::{load_params, store4};
use crate::scalar::requant::{dequantize, quantize_f32};
use crate::{ElementwiseKernels, Isa, OutputStage};

/// The NEON element-wise table (also used by the `dotprod` and `i8mm` engines).
pub static ELEMENTWISE: ElementwiseKernels = ElementwiseKernels {
    name: "aarch64::neon::elementwise",
    isa: Isa::Neon,
    quantize_u8,
    quantize_i8,
    dequantize_u8,
    dequantize_i8,
    requantize_row,
    min_max,
};

/// Quantizes 4 lanes: `x / scale`, NaN → 0, clamp to `[lo, hi]`, round half even, `+ zp`.
#[inline(always)]
unsafe fn quantize4(
    x: float32x4_t,
    scale: float32x4_t,
    lo: float32x4_t,
    hi: float32x4_t,
    zp: int32x4_t,
) -> int16x4_t {
    // SAFETY: Advanced SIMD present in every caller.
    unsafe {
        let y = vdivq_f32(x, scale);
        let ordered = vceqq_f32(y, y);
        let y = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), ordered));
        let y = vminq_f32(vmaxq_f32(y, lo), hi);
        // In [qmin, qmax] ⊂ [−128, 255]: the narrow to i16 is exact.
        vmovn_s32(vaddq_s32(vcvtnq_s32_f32(y), zp))
    }
}

/// # Safety
/// Advanced SIMD present; `dst` valid for `src.len()` bytes; `qmin <= zp <= qmax` within
/// u8 (`qmin = 0`) or i8 (`qmin = −128`).
#[target_feature(enable = "neon")]
unsafe fn quantize_into(src: &[f32], dst: *mut u8, scale: f32, zp: i32, qmin: i32, qmax: i32) {
    let s = vdupq_n_f32(scale);
    let lo = vdupq_n_f32((qmin - zp) as f32);
    let hi = vdupq_n_f32((qmax - zp) as f32);
    let z = vdupq_n_s32(zp);
    let n = src.len();
    let p = src.as_ptr();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: elements i..i+16 are inside `src` and `dst`.
        unsafe {
            let x = vld1q_f32_x4(p.add(i));
            let h0 = vcombine_s16(quantize4(x.0, s, lo, hi, z), quantize4(x.1, s, lo, hi, z));
            let h1 = vcombine_s16(quantize4(x.2, s, lo, hi, z), quantize4(x.3, s, lo, hi, z));
            // Each value is a u8 or i8 code: the truncating narrow keeps its byte.
            let b = vcombine_s8(vmovn_s16(h0), vmovn_s16(h1));
            vst1q_u8(dst.add(i), vreinterpretq_u8_s8(b));
        }
        i += 16;
    }
    while i + 4 <= n {
        // SAFETY: elements i..i+4 are inside `src` and `dst`.
        unsafe {
            let h = quantize4(vld1q_f32(p.add(i)), s, lo, hi, z);
            let b = vmovn_s16(vcombine_s16(h, h));
            let word = vget_lane_u32::<0>(vreinterpret_u32_s8(b));
            (dst.add(i) as *mut u32).write_unaligned(word);
        }
        i += 4;
    }
    for (j, &x) in src.iter().enumerate().skip(i) {
        // SAFETY: j < n, inside `dst`.
        unsafe { *dst.add(j) = quantize_f32(x, scale, zp, qmin, qmax) as u8 };
    }
}

/// # Safety
/// Advanced SIMD present.
unsafe fn quantize_u8(src: &[f32], dst: &mut [u8], scale: f32, zp: i32) {
    let n = src.len().min(dst.len());
    // SAFETY: the table's ISA is supported (contract); `dst` holds n bytes.
    unsafe { quantize_into(&src[..n], dst.as_mut_ptr(), scale, zp, 0, 255) }
}

/// # Safety
/// Advanced SIMD present.
unsafe fn quantize_i8(src: &[f32], dst: &mut [i8], scale: f32, zp: i32) {
    let n = src.len().min(dst.len());
    // SAFETY: the table's ISA is supported (contract); `dst` holds n bytes.
    unsafe { quantize_into(&src[..n], dst.as_mut_ptr() as *mut u8, scale, zp, -128, 127) }
}

/// `f32(q − zp) · scale` for 4 lanes of i32 codes.
#[inline(always)]
unsafe fn dequantize4(q: int32x4_t, zp: int32x4_t, scale: float32x4_t) -> float32x4_t {
    // SAFETY: Advanced SIMD present in every caller.
    unsafe { vmulq_f32(vcvtq_f32_s32(vsubq_s32(q, zp)), scale) }
}

/// # Safety
/// Advanced SIMD present.
#[target_feature(enable = "neon")]
unsafe fn dequantize_into<const SIGNED: bool>(src: &[u8], dst: &mut [f32], scale: f32, zp: i32) {
    let s = vdupq_n_f32(scale);
    let z = vdupq_n_s32(zp);
    let n = src.len().min(dst.len());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: elements i..i+16 are inside both slices.
        unsafe {
            let b = vld1q_u8(src.as_ptr().add(i));
            let (lo, hi) = if SIGNED {
                let b = vreinterpretq_s8_u8(b);
                (vmovl_s8(vget_low_s8(b)), vmovl_high_s8(b))
            } else {
                (
                    vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(b))),
                    vreinterpretq_s16_u16(vmovl_high_u8(b)),
                )
            };
            let q = [
                vmovl_s16(vget_low_s16(lo)),
                vmovl_high_s16(lo),
                vmovl_s16(vget_low_s16(hi)),
                vmovl_high_s16(hi),
            ];
            let out = float32x4x4_t(
                dequantize4(q[0], z, s),
                dequantize4(q[1], z, s),
                dequantize4(q[2], z, s),
                dequantize4(q[3], z, s),
            );
            vst1q_f32_x4(dst.as_mut_ptr().add(i), out);
        }
        i += 16;
    }
    for j in i..n {
        let q = if SIGNED {
            src[j] as i8 as i32
        } else {
            src[j] as i32
        };
        dst[j] = dequantize(q, zp, scale);
    }
}

/// # Safety
/// Advanced SIMD present.
unsafe fn dequantize_u8(src: &[u8], dst: &mut [f32], scale: f32, zp: i32) {
    // SAFETY: the table's ISA is supported (contract).
    unsafe { dequantize_into::<false>(src, dst, scale, zp) }
}

/// # Safety
/// Advanced SIMD present.
unsafe fn dequantize_i8(src: &[i8], dst: &mut [f32], scale: f32, zp: i32) {
    // SAFETY: i8 and u8 share layout; the table's ISA is supported (contract).
    unsafe {
        let bytes = core::slice::from_raw_parts(src.as_ptr() as *const u8, src.len());
        dequantize_into::<true>(bytes, dst, scale, zp)
    }
}

/// # Safety
/// Advanced SIMD present; `stage` valid for columns `0..src.len()`; `dst` for
/// `src.len()` elements.
#[target_feature(enable = "neon")]
unsafe fn requantize_row(src: &[i32], stage: &OutputStage, dst: *mut u8) {
    let es = stage.dst_type.size();
    let n = src.len();
    let mut j = 0;
    while j < n {
        let end = (n - j).min(4);
        let mut acc = [0i32; 4];
        acc[..end].copy_from_slice(&src[j..j + end]);
        // SAFETY: lanes 0..end are columns j..j+end: inside `src`, the stage and `dst`.
        unsafe {
            let p = load_params(stage, j, 0, end);
            store4(stage, &p, vld1q_s32(acc.as_ptr()), 0, end, dst.add(j * es));
        }
        j += 4;
    }
}

/// # Safety
/// Advanced SIMD present; `src` non-empty.
#[target_feature(enable = "neon")]
unsafe fn min_max(src: &[f32]) -> (f32, f32, bool) {
    let mut lo = vdupq_n_f32(f32::INFINITY);
    let mut hi = vdupq_n_f32(f32::NEG_INFINITY);
    let exp = vdupq_n_u32(0x7f80_0000);
    let mut bad = vdupq_n_u32(0);
    let n = src.len();
    let mut i = 0;
    while i + 4 <= n {
        // SAFETY: elements i..i+4 are inside `src`.
        let x = unsafe { vld1q_f32(src.as_ptr().add(i)) };
        lo = vminq_f32(lo, x);
        hi = vmaxq_f32(hi, x);
        let e = vandq_u32(vreinterpretq_u32_f32(x), exp);
        bad = vorrq_u32(bad, vceqq_u32(e, exp));
        i += 4;
    }
    let mut finite = vmaxvq_u32(bad) == 0;
    // Meaningful only when every value is finite (no NaN reached fmin/fmax).
    let (mut lo, mut hi) = (vminvq_f32(lo), vmaxvq_f32(hi));
    for &x in &src[i..] {
        finite &= x.is_finite();
        lo = if x < lo { x } else { lo };
        hi = if x > hi { x } else { hi };
    }
    (lo, hi, finite)
}
