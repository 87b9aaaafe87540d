//! AVX-512 F+BW element-wise kernels: quantize, dequantize, requantize a row, min/max,
//! 16 lanes at a time, with masked loads and stores for the tail (no scalar epilogue).
//! Bit-identical to [`crate::scalar::quant`]: the division is `vdivps` (correctly
//! rounded, as `/`), rounding is `vcvtps2dq` with round-to-nearest-even, NaN lanes are
//! zeroed before the clamp so they quantize to the zero point.

use core::arch::x86_64::*;

use super::stage::{load_params, store16};
use crate::{ElementwiseKernels, Isa, OutputStage};

/// The AVX-512BW element-wise table.
pub static ELEMENTWISE: ElementwiseKernels = ElementwiseKernels {
    name: "x86_64::avx512bw::elementwise",
    isa: Isa::Avx512Bw,
    quantize_u8,
    quantize_i8,
    dequantize_u8,
    dequantize_i8,
    requantize_row,
    min_max,
};

/// Mask of the first `n` (≤ 16) lanes.
#[inline(always)]
fn lanes(n: usize) -> u16 {
    if n >= 16 {
        u16::MAX
    } else {
        ((1u32 << n) - 1) as u16
    }
}

/// Quantizes 16 lanes: `x / scale`, NaN → 0, clamp to `[lo, hi]`, round half even, `+ zp`.
#[inline(always)]
unsafe fn quantize16(x: __m512, scale: __m512, lo: __m512, hi: __m512, zp: __m512i) -> __m512i {
    // SAFETY: AVX-512F is available in every caller.
    unsafe {
        let y = _mm512_div_ps(x, scale);
        let ordered = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(y, y);
        let y = _mm512_maskz_mov_ps(ordered, y);
        let y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
        _mm512_add_epi32(
            _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y),
            zp,
        )
    }
}

/// # Safety
/// AVX-512F+BW available; `dst.len() == src.len()`.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_into(src: &[f32], dst: *mut i8, scale: f32, zp: i32, qmin: i32, qmax: i32) {
    let s = _mm512_set1_ps(scale);
    let lo = _mm512_set1_ps((qmin - zp) as f32);
    let hi = _mm512_set1_ps((qmax - zp) as f32);
    let z = _mm512_set1_epi32(zp);
    let n = src.len();
    let mut i = 0;
    while i < n {
        let m = lanes(n - i);
        // SAFETY: lanes set in `m` are elements i..min(i+16, n) of `src` and `dst`;
        // masked loads/stores do not touch the others.
        unsafe {
            let x = _mm512_maskz_loadu_ps(m, src.as_ptr().add(i));
            let q = quantize16(x, s, lo, hi, z);
            _mm512_mask_cvtepi32_storeu_epi8(dst.add(i), m, q);
        }
        i += 16;
    }
}

/// # Safety
/// AVX-512F+BW available.
unsafe fn quantize_u8(src: &[f32], dst: &mut [u8], scale: f32, zp: i32) {
    let n = src.len().min(dst.len());
    // SAFETY: the table's ISA is supported (contract); both slices hold `n` elements.
    unsafe { quantize_into(&src[..n], dst.as_mut_ptr() as *mut i8, scale, zp, 0, 255) }
}

/// # Safety
/// AVX-512F+BW available.
unsafe fn quantize_i8(src: &[f32], dst: &mut [i8], scale: f32, zp: i32) {
    let n = src.len().min(dst.len());
    // SAFETY: the table's ISA is supported (contract); both slices hold `n` elements.
    unsafe { quantize_into(&src[..n], dst.as_mut_ptr(), scale, zp, -128, 127) }
}

/// # Safety
/// AVX-512F+BW available; `dst.len() >= src.len()`.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn dequantize_into<const SIGNED: bool>(src: &[u8], dst: &mut [f32], scale: f32, zp: i32) {
    let s = _mm512_set1_ps(scale);
    let z = _mm512_set1_epi32(zp);
    let n = src.len().min(dst.len());
    let mut i = 0;
    while i < n {
        let m = lanes(n - i);
        // SAFETY: set lanes are elements i..min(i+16, n) of both slices.
        unsafe {
            let b = _mm_maskz_loadu_epi8(m, src.as_ptr().add(i) as *const i8);
            let q = if SIGNED {
                _mm512_cvtepi8_epi32(b)
            } else {
                _mm512_cvtepu8_epi32(b)
            };
            let y = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, z)), s);
            _mm512_mask_storeu_ps(dst.as_mut_ptr().add(i), m, y);
        }
        i += 16;
    }
}

/// # Safety
/// AVX-512F+BW available.
unsafe fn dequantize_u8(src: &[u8], dst: &mut [f32], scale: f32, zp: i32) {
    // SAFETY: the table's ISA is supported (contract).
    unsafe { dequantize_into::<false>(src, dst, scale, zp) }
}

/// # Safety
/// AVX-512F+BW available.
unsafe fn dequantize_i8(src: &[i8], dst: &mut [f32], scale: f32, zp: i32) {
    // SAFETY: i8 and u8 share layout; the table's ISA is supported (contract).
    unsafe {
        let bytes = core::slice::from_raw_parts(src.as_ptr() as *const u8, src.len());
        dequantize_into::<true>(bytes, dst, scale, zp)
    }
}

/// # Safety
/// AVX-512F+BW available; `stage` valid for columns `0..src.len()`; `dst` for
/// `src.len()` elements.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn requantize_row(src: &[i32], stage: &OutputStage, dst: *mut u8) {
    let es = stage.dst_type.size();
    let n = src.len();
    let mut j = 0;
    while j < n {
        let m = lanes(n - j);
        // SAFETY: set lanes are columns j..min(j+16, n): inside `src`, the stage's
        // parameters and `dst` (contract).
        unsafe {
            let acc = _mm512_maskz_loadu_epi32(m, src.as_ptr().add(j));
            let p = load_params(stage, j, m);
            store16(stage, &p, acc, m, dst.add(j * es));
        }
        j += 16;
    }
}

/// # Safety
/// AVX-512F+BW available; `src` non-empty.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn min_max(src: &[f32]) -> (f32, f32, bool) {
    let mut lo = _mm512_set1_ps(f32::INFINITY);
    let mut hi = _mm512_set1_ps(f32::NEG_INFINITY);
    let exp = _mm512_set1_epi32(0x7f80_0000);
    let mut bad: u16 = 0;
    let n = src.len();
    let mut i = 0;
    while i < n {
        let m = lanes(n - i);
        // SAFETY: set lanes are elements i..min(i+16, n) of `src`.
        unsafe {
            let x = _mm512_maskz_loadu_ps(m, src.as_ptr().add(i));
            lo = _mm512_mask_min_ps(lo, m, lo, x);
            hi = _mm512_mask_max_ps(hi, m, hi, x);
            let e = _mm512_and_si512(_mm512_castps_si512(x), exp);
            bad |= _mm512_mask_cmpeq_epi32_mask(m, e, exp);
        }
        i += 16;
    }
    (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), bad == 0)
}
