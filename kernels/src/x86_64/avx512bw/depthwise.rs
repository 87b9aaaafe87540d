//! AVX-512BW depthwise kernel: 16 channels per zmm, blocks of 64 channels with the i32
//! accumulators in registers across the taps; inputs widened to i32 (`vpmovzxbd`, or
//! `vpmovsxbd` for i8 input, whose `x ^ 0x80 − zx` equals `x − (zx − 128)`), weights
//! `vpmovsxwd`, `vpmulld`, `vpaddd` (wrapping, as the reference). The last
//! `channels % 16` channels use the scalar definition.

use core::arch::x86_64::*;

use crate::scalar::depthwise::pixel_range;
use crate::{DepthwiseKernel, Isa};

/// The AVX-512BW depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "x86_64::avx512bw::depthwise",
    isa: Isa::Avx512Bw,
    pixel,
};

/// Sixteen input bytes at `p` widened to i32, minus `z`.
///
/// # Safety
/// AVX-512F present; `p` valid for 16 bytes.
#[inline(always)]
unsafe fn load_x<const SIGNED: bool>(p: *const u8, z: __m512i) -> __m512i {
    // SAFETY: 16 bytes at `p` (caller); the CPU has the features (caller).
    unsafe {
        let v = _mm_loadu_si128(p as *const __m128i);
        let x = if SIGNED {
            _mm512_cvtepi8_epi32(v)
        } else {
            _mm512_cvtepu8_epi32(v)
        };
        _mm512_sub_epi32(x, z)
    }
}

/// Sixteen i16 weights at `p` widened to i32.
///
/// # Safety
/// AVX-512F present; `p` valid for 16 i16.
#[inline(always)]
unsafe fn load_w(p: *const i16) -> __m512i {
    // SAFETY: 32 bytes at `p` (caller); the CPU has the features (caller).
    unsafe { _mm512_cvtepi16_epi32(_mm256_loadu_si256(p as *const __m256i)) }
}

/// # Safety
/// AVX-512F/BW present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn run<const SIGNED: bool>(
    taps: &[*const u8],
    w: *const i16,
    channels: usize,
    zx: i32,
    out: *mut i32,
) {
    let z = _mm512_set1_epi32(if SIGNED { zx - 128 } else { zx });
    let mut c = 0;
    while c + 64 <= channels {
        let mut acc = [_mm512_setzero_si512(); 4];
        for (t, &p) in taps.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            for (j, a) in acc.iter_mut().enumerate() {
                let o = c + 16 * j;
                // SAFETY: channels o..o+16 < `channels` of tap t and of weight row t.
                unsafe {
                    let x = load_x::<SIGNED>(p.add(o), z);
                    let wv = load_w(w.add(t * channels + o));
                    *a = _mm512_add_epi32(*a, _mm512_mullo_epi32(x, wv));
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: `out` holds `channels` i32.
            unsafe { _mm512_storeu_si512(out.add(c + 16 * j) as *mut __m512i, *a) };
        }
        c += 64;
    }
    while c + 16 <= channels {
        let mut a = _mm512_setzero_si512();
        for (t, &p) in taps.iter().enumerate() {
            if p.is_null() {
                continue;
            }
            // SAFETY: channels c..c+16 are inside the tap and the weight row.
            unsafe {
                let x = load_x::<SIGNED>(p.add(c), z);
                let wv = load_w(w.add(t * channels + c));
                a = _mm512_add_epi32(a, _mm512_mullo_epi32(x, wv));
            }
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe { _mm512_storeu_si512(out.add(c) as *mut __m512i, a) };
        c += 16;
    }
    let xor = if SIGNED { 0x80 } else { 0 };
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { pixel_range(taps, w, channels, c, xor, zx, out) };
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where AVX-512BW is present.
unsafe fn pixel(
    taps: &[*const u8],
    w: *const i16,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: the engine selects this table only when AVX-512F/BW are present; the rest
    // is the caller's contract.
    unsafe {
        if xor == 0 {
            run::<false>(taps, w, channels, zx, out)
        } else {
            run::<true>(taps, w, channels, zx, out)
        }
    }
}
