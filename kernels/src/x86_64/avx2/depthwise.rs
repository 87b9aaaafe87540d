//! AVX2 depthwise kernel: 8 channels per ymm, blocks of 32 channels with the i32
//! accumulators in registers across the taps; inputs widened to i32 (`vpmovzxbd`, or
//! `vpmovsxbd` for i8 input, whose `x ^ 0x80 − zx` equals `x − (zx − 128)`), weights
//! `vpmovsxwd`, `vpmulld`, `vpaddd` (wrapping, as the reference). The last
//! `channels % 8` channels use the scalar definition.

use core::arch::x86_64::*;

use crate::scalar::depthwise::pixel_range;
use crate::{DepthwiseKernel, Isa};

/// The AVX2 depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "x86_64::avx2::depthwise",
    isa: Isa::Avx2,
    pixel,
};

/// Eight input bytes at `p` widened to i32, minus `z`.
///
/// # Safety
/// AVX2 present; `p` valid for 8 bytes.
#[inline(always)]
unsafe fn load_x<const SIGNED: bool>(p: *const u8, z: __m256i) -> __m256i {
    // SAFETY: 8 bytes at `p` (caller); the CPU has the features (caller).
    unsafe {
        let v = _mm_loadl_epi64(p as *const __m128i);
        let x = if SIGNED {
            _mm256_cvtepi8_epi32(v)
        } else {
            _mm256_cvtepu8_epi32(v)
        };
        _mm256_sub_epi32(x, z)
    }
}

/// Eight i16 weights at `p` widened to i32.
///
/// # Safety
/// AVX2 present; `p` valid for 8 i16.
#[inline(always)]
unsafe fn load_w(p: *const i16) -> __m256i {
    // SAFETY: 16 bytes at `p` (caller); the CPU has the features (caller).
    unsafe { _mm256_cvtepi16_epi32(_mm_loadu_si128(p as *const __m128i)) }
}

/// # Safety
/// AVX2 present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "avx2")]
unsafe fn run<const SIGNED: bool>(
    taps: &[*const u8],
    w: *const i16,
    channels: usize,
    zx: i32,
    out: *mut i32,
) {
    // i8 input: (x ^ 0x80) − zx = x_signed − (zx − 128).
    let z = _mm256_set1_epi32(if SIGNED { zx - 128 } else { zx });
    let mut c = 0;
    while c + 32 <= channels {
        let mut acc = [_mm256_setzero_si256(); 4];
        for (t, &p) in taps.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            for (j, a) in acc.iter_mut().enumerate() {
                let o = c + 8 * j;
                // SAFETY: channels o..o+8 < `channels` of tap t and of weight row t.
                unsafe {
                    let x = load_x::<SIGNED>(p.add(o), z);
                    let wv = load_w(w.add(t * channels + o));
                    *a = _mm256_add_epi32(*a, _mm256_mullo_epi32(x, wv));
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: `out` holds `channels` i32.
            unsafe { _mm256_storeu_si256(out.add(c + 8 * j) as *mut __m256i, *a) };
        }
        c += 32;
    }
    while c + 8 <= channels {
        let mut a = _mm256_setzero_si256();
        for (t, &p) in taps.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            // SAFETY: channels c..c+8 are inside the tap and the weight row.
            unsafe {
                let x = load_x::<SIGNED>(p.add(c), z);
                let wv = load_w(w.add(t * channels + c));
                a = _mm256_add_epi32(a, _mm256_mullo_epi32(x, wv));
            }
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe { _mm256_storeu_si256(out.add(c) as *mut __m256i, a) };
        c += 8;
    }
    let xor = if SIGNED { 0x80 } else { 0 };
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { pixel_range(taps, w, channels, c, xor, zx, out) };
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where AVX2 is present.
unsafe fn pixel(
    taps: &[*const u8],
    w: *const i16,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: the engine selects this table only when AVX2 is present; the rest is
    // the caller's contract.
    unsafe {
        if xor == 0 {
            run::<false>(taps, w, channels, zx, out)
        } else {
            run::<true>(taps, w, channels, zx, out)
        }
    }
}
