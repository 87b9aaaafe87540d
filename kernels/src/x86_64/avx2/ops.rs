//! AVX2 add and pooling kernels (8 i32 / f32 lanes per ymm, 32 bytes per max).
//!
//! - `add`: 16 codes per iteration, widened to i32 (`vpmovzxbd` / `vpmovsxbd`),
//!   `vpsubd`, `vcvtdq2ps`, `vmulps`, `vaddps`, `vdivps` (correctly rounded, as the
//!   reference's `/`), NaN lanes zeroed, clamp, `vroundps` to nearest-even, packed back
//!   with saturating packs (exact: the values are inside the type). A broadcast operand's
//!   term `f32(x − z)·s` is computed once. The last `len % 16` codes use the scalar
//!   definition.
//! - `sum_pixels`: 32 channels per block, bytes widened to 16 bits and summed for up to
//!   256 pixels (255·256 and 128·256 fit 16 bits), then widened into i32 accumulators;
//!   i8 input is sign-extended with the zero point moved back by 128 (`x ^ 0x80 − zx =
//!   x − (zx − 128)`); `pixels·zx` is subtracted once (wrapping: the same i32 as the
//!   reference's per-pixel subtraction). Then blocks of 8 channels, then scalar.
//! - `max_pixel`: `vpmaxub` / `vpmaxsb` over the taps, 32 then 16 channels per block,
//!   then scalar.

use core::arch::x86_64::*;

use crate::scalar::ops::{add_range, max_range, sum_range};
use crate::scalar::requant::dequantize;
use crate::{AddArgs, Isa, OpsKernels};

/// The AVX2 add and pooling table.
pub static OPS: OpsKernels = OpsKernels {
    name: "x86_64::avx2::ops",
    isa: Isa::Avx2,
    add,
    sum_pixels,
    max_pixel,
};

/// Eight codes at `p` widened to i32.
///
/// # Safety
/// AVX2 present; `p` valid for 8 bytes.
#[inline(always)]
unsafe fn load8<const SIGNED: bool>(p: *const u8) -> __m256i {
    // SAFETY: 8 bytes at `p` (caller); the CPU has AVX2 (caller).
    unsafe {
        let v = _mm_loadl_epi64(p as *const __m128i);
        if SIGNED {
            _mm256_cvtepi8_epi32(v)
        } else {
            _mm256_cvtepu8_epi32(v)
        }
    }
}

/// The constants of one add run.
struct AddConsts {
    za: __m256i,
    sa: __m256,
    zb: __m256i,
    sb: __m256,
    sc: __m256,
    lo: __m256,
    hi: __m256,
    zc: __m256i,
}

/// `f32(q − z)·s` on 8 lanes (exact conversion, one rounded multiplication).
#[inline(always)]
unsafe fn term(q: __m256i, z: __m256i, s: __m256) -> __m256 {
    // SAFETY: AVX2 present in every caller.
    unsafe { _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(q, z)), s) }
}

/// `round_half_even(clamp(sum / sc, lo − zc, hi − zc)) + zc` on 8 lanes, NaN → `zc`.
#[inline(always)]
unsafe fn finish(sum: __m256, k: &AddConsts) -> __m256i {
    // SAFETY: AVX2 present in every caller.
    unsafe {
        let y = _mm256_div_ps(sum, k.sc);
        let y = _mm256_and_ps(y, _mm256_cmp_ps::<_CMP_ORD_Q>(y, y));
        let y = _mm256_min_ps(_mm256_max_ps(y, k.lo), k.hi);
        let y = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y);
        _mm256_add_epi32(_mm256_cvttps_epi32(y), k.zc)
    }
}

/// # Safety
/// AVX2 present; the contract of [`OpsKernels::add`] with `a_step = A as usize` and
/// `b_step = B as usize`.
#[target_feature(enable = "avx2,fma")]
unsafe fn add_run<const SIGNED: bool, const A: bool, const B: bool>(args: &AddArgs) {
    let k = AddConsts {
        za: _mm256_set1_epi32(args.za),
        sa: _mm256_set1_ps(args.sa),
        zb: _mm256_set1_epi32(args.zb),
        sb: _mm256_set1_ps(args.sb),
        sc: _mm256_set1_ps(args.sc),
        lo: _mm256_set1_ps((args.lo - args.zc) as f32),
        hi: _mm256_set1_ps((args.hi - args.zc) as f32),
        zc: _mm256_set1_epi32(args.zc),
    };
    // SAFETY: `len > 0` (checked by `add`): the first code of each operand exists.
    let (x0, y0) = unsafe { (*args.a, *args.b) };
    let code = |v: u8| if SIGNED { v as i8 as i32 } else { v as i32 };
    // A broadcast operand's term, computed once: the same binary32 operations.
    let fa = _mm256_set1_ps(dequantize(code(x0), args.za, args.sa));
    let fb = _mm256_set1_ps(dequantize(code(y0), args.zb, args.sb));
    let n = args.len;
    let mut i = 0;
    while i + 16 <= n {
        let mut q = [_mm256_setzero_si256(); 2];
        for (h, qh) in q.iter_mut().enumerate() {
            let o = i + 8 * h;
            // SAFETY: codes o..o+8 < len of each stepping operand (contract).
            let (ta, tb) = unsafe {
                (
                    if A {
                        term(load8::<SIGNED>(args.a.add(o)), k.za, k.sa)
                    } else {
                        fa
                    },
                    if B {
                        term(load8::<SIGNED>(args.b.add(o)), k.zb, k.sb)
                    } else {
                        fb
                    },
                )
            };
            // SAFETY: AVX2 present.
            *qh = unsafe { finish(_mm256_add_ps(ta, tb), &k) };
        }
        // Lanes are in [lo, hi] inside the type: the saturating packs are exact.
        let w = _mm256_permute4x64_epi64::<0b11_01_10_00>(_mm256_packs_epi32(q[0], q[1]));
        let (l, h) = (_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w));
        let b = if SIGNED {
            _mm_packs_epi16(l, h)
        } else {
            _mm_packus_epi16(l, h)
        };
        // SAFETY: codes i..i+16 < len of `dst`.
        unsafe { _mm_storeu_si128(args.dst.add(i) as *mut __m128i, b) };
        i += 16;
    }
    // SAFETY: forwarded contract, for the remaining codes.
    unsafe { add_range(args, i) };
}

/// # Safety
/// See [`OpsKernels::add`]; the table is used only where AVX2 is present.
unsafe fn add(args: &AddArgs) {
    if args.len == 0 {
        return;
    }
    // SAFETY: the engine selects this table only where AVX2 is present; the steps are 0
    // or 1 (contract), so the variant chosen reads what the contract allows.
    unsafe {
        match (args.signed, args.a_step != 0, args.b_step != 0) {
            (false, true, true) => add_run::<false, true, true>(args),
            (false, true, false) => add_run::<false, true, false>(args),
            (false, false, true) => add_run::<false, false, true>(args),
            (true, true, true) => add_run::<true, true, true>(args),
            (true, true, false) => add_run::<true, true, false>(args),
            (true, false, true) => add_run::<true, false, true>(args),
            // Both broadcast: every output is the same code.
            (_, false, false) => add_range(&AddArgs { len: 1, ..*args }, 0),
        }
        if args.a_step == 0 && args.b_step == 0 {
            core::ptr::write_bytes(args.dst.add(1), *args.dst, args.len - 1);
        }
    }
}

/// Sixteen codes at `p` widened to 16 bits (zero- or sign-extended).
///
/// # Safety
/// AVX2 present; `p` valid for 16 bytes.
#[inline(always)]
unsafe fn load16<const SIGNED: bool>(p: *const u8) -> __m256i {
    // SAFETY: 16 bytes at `p` (caller); the CPU has AVX2 (caller).
    unsafe {
        let v = _mm_loadu_si128(p as *const __m128i);
        if SIGNED {
            _mm256_cvtepi8_epi16(v)
        } else {
            _mm256_cvtepu8_epi16(v)
        }
    }
}

/// Eight 16-bit sums widened to i32.
#[inline(always)]
unsafe fn widen16<const SIGNED: bool>(v: __m128i) -> __m256i {
    // SAFETY: AVX2 present in every caller.
    unsafe {
        if SIGNED {
            _mm256_cvtepi16_epi32(v)
        } else {
            _mm256_cvtepu16_epi32(v)
        }
    }
}

/// Pixels summed in 16 bits before widening: `255·256` (u8) and `−128·256` (i8) fit.
const CHUNK: usize = 256;

/// # Safety
/// AVX2 present; the contract of [`OpsKernels::sum_pixels`] with `xor = 0x80` iff
/// `SIGNED`.
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_run<const SIGNED: bool>(
    src: *const u8,
    pixels: usize,
    channels: usize,
    zx: i32,
    out: *mut i32,
) {
    // x ^ 0x80 − zx = x_signed − (zx − 128); Σ_p (x − z) = Σ_p x − pixels·z (wrapping).
    let z = if SIGNED { zx - 128 } else { zx };
    let corr = _mm256_set1_epi32((pixels as i32).wrapping_mul(z));
    let mut c = 0;
    while c + 32 <= channels {
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut p0 = 0;
        while p0 < pixels {
            let p1 = (p0 + CHUNK).min(pixels);
            let mut s = [_mm256_setzero_si256(); 2];
            for p in p0..p1 {
                // SAFETY: channels c..c+32 of pixel p < pixels are inside `src`.
                unsafe {
                    let q = src.add(p * channels + c);
                    s[0] = _mm256_add_epi16(s[0], load16::<SIGNED>(q));
                    s[1] = _mm256_add_epi16(s[1], load16::<SIGNED>(q.add(16)));
                }
            }
            for (j, a) in acc.iter_mut().enumerate() {
                let h = s[j / 2];
                let v = if j % 2 == 0 {
                    _mm256_castsi256_si128(h)
                } else {
                    _mm256_extracti128_si256::<1>(h)
                };
                // SAFETY: AVX2 present.
                *a = _mm256_add_epi32(*a, unsafe { widen16::<SIGNED>(v) });
            }
            p0 = p1;
        }
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: `out` holds `channels` i32; c + 8j + 8 ≤ channels.
            unsafe {
                _mm256_storeu_si256(
                    out.add(c + 8 * j) as *mut __m256i,
                    _mm256_sub_epi32(*a, corr),
                )
            };
        }
        c += 32;
    }
    while c + 8 <= channels {
        let mut a = _mm256_setzero_si256();
        for p in 0..pixels {
            // SAFETY: channels c..c+8 of pixel p are inside `src`.
            a = _mm256_add_epi32(a, unsafe { load8::<SIGNED>(src.add(p * channels + c)) });
        }
        // SAFETY: `out` holds `channels` i32.
        unsafe { _mm256_storeu_si256(out.add(c) as *mut __m256i, _mm256_sub_epi32(a, corr)) };
        c += 8;
    }
    let xor = if SIGNED { 0x80 } else { 0 };
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { sum_range(src, pixels, channels, c, xor, zx, out) };
}

/// # Safety
/// See [`OpsKernels::sum_pixels`]; the table is used only where AVX2 is present.
unsafe fn sum_pixels(
    src: *const u8,
    pixels: usize,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: the engine selects this table only where AVX2 is present; the rest is the
    // caller's contract.
    unsafe {
        if xor == 0 {
            sum_run::<false>(src, pixels, channels, zx, out)
        } else {
            sum_run::<true>(src, pixels, channels, zx, out)
        }
    }
}

/// # Safety
/// AVX2 present; the contract of [`OpsKernels::max_pixel`].
#[target_feature(enable = "avx2,fma")]
unsafe fn max_run<const SIGNED: bool>(taps: &[*const u8], channels: usize, out: *mut u8) {
    let mut c = 0;
    while c + 32 <= channels {
        // SAFETY: channels c..c+32 of every tap and of `out` exist (contract; taps
        // non-empty).
        unsafe {
            let mut m = _mm256_loadu_si256(taps[0].add(c) as *const __m256i);
            for &p in &taps[1..] {
                let v = _mm256_loadu_si256(p.add(c) as *const __m256i);
                m = if SIGNED {
                    _mm256_max_epi8(m, v)
                } else {
                    _mm256_max_epu8(m, v)
                };
            }
            _mm256_storeu_si256(out.add(c) as *mut __m256i, m);
        }
        c += 32;
    }
    if c + 16 <= channels {
        // SAFETY: as above, for channels c..c+16.
        unsafe {
            let mut m = _mm_loadu_si128(taps[0].add(c) as *const __m128i);
            for &p in &taps[1..] {
                let v = _mm_loadu_si128(p.add(c) as *const __m128i);
                m = if SIGNED {
                    _mm_max_epi8(m, v)
                } else {
                    _mm_max_epu8(m, v)
                };
            }
            _mm_storeu_si128(out.add(c) as *mut __m128i, m);
        }
        c += 16;
    }
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { max_range(taps, channels, c, SIGNED, out) };
}

/// # Safety
/// See [`OpsKernels::max_pixel`]; the table is used only where AVX2 is present.
unsafe fn max_pixel(taps: &[*const u8], channels: usize, signed: bool, out: *mut u8) {
    // SAFETY: the engine selects this table only where AVX2 is present; the rest is the
    // caller's contract.
    unsafe {
        if signed {
            max_run::<true>(taps, channels, out)
        } else {
            max_run::<false>(taps, channels, out)
        }
    }
}
