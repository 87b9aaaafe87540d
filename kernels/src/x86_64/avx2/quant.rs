//! AVX2 element-wise kernels: quantize, dequantize, requantize a row, min/max, 8 lanes at
//! a time; the last `len % 8` elements use the scalar definitions (the same functions
//! the reference uses, so the results are identical by construction).
//! Rounding is `roundps` to nearest-even; `divps` is the correctly rounded division.

use core::arch::x86_64::*;

use super::stage::{load_params, store8};
use crate::scalar::requant::{dequantize, quantize_f32};
use crate::{ElementwiseKernels, Isa, OutputStage};

/// The AVX2 element-wise table.
pub static ELEMENTWISE: ElementwiseKernels = ElementwiseKernels {
    name: "x86_64::avx2::elementwise",
    isa: Isa::Avx2,
    quantize_u8,
    quantize_i8,
    dequantize_u8,
    dequantize_i8,
    requantize_row,
    min_max,
};

/// # Safety
/// AVX2 present; `dst` valid for `src.len()` bytes.
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_into<const SIGNED: bool>(src: &[f32], dst: *mut u8, scale: f32, zp: i32) {
    let (qmin, qmax) = if SIGNED { (-128, 127) } else { (0, 255) };
    let s = _mm256_set1_ps(scale);
    let lo = _mm256_set1_ps((qmin - zp) as f32);
    let hi = _mm256_set1_ps((qmax - zp) as f32);
    let z = _mm256_set1_epi32(zp);
    let n = src.len();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: elements i..i+8 are inside `src` and `dst`.
        unsafe {
            let y = _mm256_div_ps(_mm256_loadu_ps(src.as_ptr().add(i)), s);
            let y = _mm256_and_ps(y, _mm256_cmp_ps::<_CMP_ORD_Q>(y, y));
            let y = _mm256_min_ps(_mm256_max_ps(y, lo), hi);
            let y = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
            let q = _mm256_add_epi32(_mm256_cvttps_epi32(y), z);
            let w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256::<1>(q));
            let b = if SIGNED {
                _mm_packs_epi16(w, w)
            } else {
                _mm_packus_epi16(w, w)
            };
            _mm_storel_epi64(dst.add(i) as *mut __m128i, b);
        }
        i += 8;
    }
    for (j, &x) in src.iter().enumerate().skip(i) {
        // SAFETY: j < n, inside `dst`.
        unsafe { *dst.add(j) = quantize_f32(x, scale, zp, qmin, qmax) as u8 };
    }
}

/// # Safety
/// AVX2 present.
unsafe fn quantize_u8(src: &[f32], dst: &mut [u8], scale: f32, zp: i32) {
    let n = src.len().min(dst.len());
    // SAFETY: the table's ISA is supported (contract); `dst` holds n bytes.
    unsafe { quantize_into::<false>(&src[..n], dst.as_mut_ptr(), scale, zp) }
}

/// # Safety
/// AVX2 present.
unsafe fn quantize_i8(src: &[f32], dst: &mut [i8], scale: f32, zp: i32) {
    let n = src.len().min(dst.len());
    // SAFETY: the table's ISA is supported (contract); `dst` holds n bytes.
    unsafe { quantize_into::<true>(&src[..n], dst.as_mut_ptr() as *mut u8, scale, zp) }
}

/// # Safety
/// AVX2 present.
#[target_feature(enable = "avx2,fma")]
unsafe fn dequantize_into<const SIGNED: bool>(src: &[u8], dst: &mut [f32], scale: f32, zp: i32) {
    let s = _mm256_set1_ps(scale);
    let z = _mm256_set1_epi32(zp);
    let n = src.len().min(dst.len());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: elements i..i+8 are inside both slices.
        unsafe {
            let b = _mm_loadl_epi64(src.as_ptr().add(i) as *const __m128i);
            let q = if SIGNED {
                _mm256_cvtepi8_epi32(b)
            } else {
                _mm256_cvtepu8_epi32(b)
            };
            let y = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, z)), s);
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), y);
        }
        i += 8;
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
/// AVX2 present.
unsafe fn dequantize_u8(src: &[u8], dst: &mut [f32], scale: f32, zp: i32) {
    // SAFETY: the table's ISA is supported (contract).
    unsafe { dequantize_into::<false>(src, dst, scale, zp) }
}

/// # Safety
/// AVX2 present.
unsafe fn dequantize_i8(src: &[i8], dst: &mut [f32], scale: f32, zp: i32) {
    // SAFETY: i8 and u8 share layout; the table's ISA is supported (contract).
    unsafe {
        let bytes = core::slice::from_raw_parts(src.as_ptr() as *const u8, src.len());
        dequantize_into::<true>(bytes, dst, scale, zp)
    }
}

/// # Safety
/// AVX2 present; `stage` valid for columns `0..src.len()`; `dst` for `src.len()` elements.
#[target_feature(enable = "avx2,fma")]
unsafe fn requantize_row(src: &[i32], stage: &OutputStage, dst: *mut u8) {
    let es = stage.dst_type.size();
    let n = src.len();
    let mut j = 0;
    while j < n {
        let end = (n - j).min(8);
        // SAFETY: lanes 0..end are columns j..j+end: inside `src`, the stage and `dst`;
        // the masked load reads only those lanes.
        unsafe {
            let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
            let m = _mm256_cmpgt_epi32(_mm256_set1_epi32(end as i32), idx);
            let acc = _mm256_maskload_epi32(src.as_ptr().add(j), m);
            let p = load_params(stage, j, 0, end);
            store8(stage, &p, acc, 0, end, dst.add(j * es));
        }
        j += 8;
    }
}

/// # Safety
/// AVX2 present; `src` non-empty.
#[target_feature(enable = "avx2,fma")]
unsafe fn min_max(src: &[f32]) -> (f32, f32, bool) {
    let mut lo = _mm256_set1_ps(f32::INFINITY);
    let mut hi = _mm256_set1_ps(f32::NEG_INFINITY);
    let exp = _mm256_set1_epi32(0x7f80_0000);
    let mut bad = _mm256_setzero_si256();
    let n = src.len();
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: elements i..i+8 are inside `src`.
        let x = unsafe { _mm256_loadu_ps(src.as_ptr().add(i)) };
        lo = _mm256_min_ps(lo, x);
        hi = _mm256_max_ps(hi, x);
        let e = _mm256_and_si256(_mm256_castps_si256(x), exp);
        bad = _mm256_or_si256(bad, _mm256_cmpeq_epi32(e, exp));
        i += 8;
    }
    let mut l = [0f32; 8];
    let mut h = [0f32; 8];
    // SAFETY: the arrays are 32 bytes.
    unsafe {
        _mm256_storeu_ps(l.as_mut_ptr(), lo);
        _mm256_storeu_ps(h.as_mut_ptr(), hi);
    }
    let mut finite = _mm256_testz_si256(bad, bad) == 1;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &x in l.iter().chain(&src[i..]) {
        lo = if x < lo { x } else { lo };
    }
    for &x in h.iter().chain(&src[i..]) {
        hi = if x > hi { x } else { hi };
    }
    for &x in &src[i..] {
        finite &= x.is_finite();
    }
    (lo, hi, finite)
}
