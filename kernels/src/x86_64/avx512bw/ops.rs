//! AVX-512 F+BW+VL add and pooling kernels (16 i32 / f32 lanes per zmm, 64 bytes per
//! max), with masked loads and stores for every tail (no scalar epilogue).
//!
//! - `add`: 16 codes per iteration, widened to i32 (`vpmovzxbd` / `vpmovsxbd`),
//!   `vpsubd`, `vcvtdq2ps`, `vmulps`, `vaddps`, `vdivps` (correctly rounded, as the
//!   reference's `/`), NaN lanes zeroed, clamp, `vcvtps2dq` rounding to nearest-even,
//!   narrowed by `vpmovdb` (exact: the values are inside the type). A broadcast
//!   operand's term `f32(x − z)·s` is computed once.
//! - `sum_pixels`: 64 channels per block, bytes widened to 16 bits and summed for up to
//!   256 pixels, then widened into four i32 accumulators; i8 input is sign-extended
//!   with the zero point moved back by 128; `pixels·zx` is subtracted once (wrapping:
//!   the same i32 as the reference).
//! - `max_pixel`: `vpmaxub` / `vpmaxsb` over the taps, 64 channels per block.

use core::arch::x86_64::*;

use crate::scalar::ops::add_range;
use crate::scalar::requant::dequantize;
use crate::{AddArgs, Isa, OpsKernels};

/// The AVX-512BW add and pooling table.
pub static OPS: OpsKernels = OpsKernels {
    name: "x86_64::avx512bw::ops",
    isa: Isa::Avx512Bw,
    add,
    sum_pixels,
    max_pixel,
};

/// Mask of the first `n` lanes of 16.
#[inline(always)]
fn mask16(n: usize) -> u16 {
    if n >= 16 {
        u16::MAX
    } else {
        ((1u32 << n) - 1) as u16
    }
}

/// Mask of the first `n` lanes of 32.
#[inline(always)]
fn mask32(n: usize) -> u32 {
    if n >= 32 {
        u32::MAX
    } else {
        (1u32 << n) - 1
    }
}

/// Mask of the first `n` lanes of 64.
#[inline(always)]
fn mask64(n: usize) -> u64 {
    if n >= 64 {
        u64::MAX
    } else {
        (1u64 << n) - 1
    }
}

/// The codes at `p` of the lanes in `m` (of 16) widened to i32; other lanes 0.
///
/// # Safety
/// AVX-512 F+BW+VL present; the masked bytes at `p` are valid.
#[inline(always)]
unsafe fn load16<const SIGNED: bool>(p: *const u8, m: u16) -> __m512i {
    // SAFETY: only the lanes in `m` are read (caller); features present (caller).
    unsafe {
        let v = _mm_maskz_loadu_epi8(m, p as *const i8);
        if SIGNED {
            _mm512_cvtepi8_epi32(v)
        } else {
            _mm512_cvtepu8_epi32(v)
        }
    }
}

/// # Safety
/// AVX-512 F+BW+VL present; the contract of [`OpsKernels::add`] with
/// `a_step = A as usize` and `b_step = B as usize`, `len > 0`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn add_run<const SIGNED: bool, const A: bool, const B: bool>(args: &AddArgs) {
    let (za, sa) = (_mm512_set1_epi32(args.za), _mm512_set1_ps(args.sa));
    let (zb, sb) = (_mm512_set1_epi32(args.zb), _mm512_set1_ps(args.sb));
    let sc = _mm512_set1_ps(args.sc);
    let lo = _mm512_set1_ps((args.lo - args.zc) as f32);
    let hi = _mm512_set1_ps((args.hi - args.zc) as f32);
    let zc = _mm512_set1_epi32(args.zc);
    // SAFETY: `len > 0`: the first code of each operand exists.
    let (x0, y0) = unsafe { (*args.a, *args.b) };
    let code = |v: u8| if SIGNED { v as i8 as i32 } else { v as i32 };
    // A broadcast operand's term, computed once: the same binary32 operations.
    let fa = _mm512_set1_ps(dequantize(code(x0), args.za, args.sa));
    let fb = _mm512_set1_ps(dequantize(code(y0), args.zb, args.sb));
    let n = args.len;
    let mut i = 0;
    while i < n {
        let m = mask16(n - i);
        // SAFETY: the lanes in `m` are codes i..min(i+16, len) of each stepping operand
        // and of `dst`; masked loads and stores touch nothing else.
        unsafe {
            let ta = if A {
                let q = load16::<SIGNED>(args.a.add(i), m);
                _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, za)), sa)
            } else {
                fa
            };
            let tb = if B {
                let q = load16::<SIGNED>(args.b.add(i), m);
                _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(q, zb)), sb)
            } else {
                fb
            };
            let y = _mm512_div_ps(_mm512_add_ps(ta, tb), sc);
            let y = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_ORD_Q>(y, y), y);
            let y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
            let q = _mm512_add_epi32(
                _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(y),
                zc,
            );
            // In [lo, hi] inside the type: the truncating narrow keeps the code.
            _mm512_mask_cvtepi32_storeu_epi8(args.dst.add(i) as *mut i8, m, q);
        }
        i += 16;
    }
}

/// # Safety
/// See [`OpsKernels::add`]; the table is used only where AVX-512 F+BW+VL is present.
unsafe fn add(args: &AddArgs) {
    if args.len == 0 {
        return;
    }
    // SAFETY: the engine selects this table only where the features are present; the
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
/// AVX-512 F+BW+VL present; the contract of [`OpsKernels::sum_pixels`] with
/// `xor = 0x80` iff `SIGNED`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn sum_run<const SIGNED: bool>(
    src: *const u8,
    pixels: usize,
    channels: usize,
    zx: i32,
    out: *mut i32,
) {
    // x ^ 0x80 − zx = x_signed − (zx − 128); Σ_p (x − z) = Σ_p x − pixels·z (wrapping).
    let z = if SIGNED { zx - 128 } else { zx };
    let corr = _mm512_set1_epi32((pixels as i32).wrapping_mul(z));
    let mut c = 0;
    while c < channels {
        let left = channels - c;
        let bm = [mask32(left), mask32(left.saturating_sub(32))];
        let mut acc = [_mm512_setzero_si512(); 4];
        let mut p0 = 0;
        while p0 < pixels {
            let p1 = (p0 + CHUNK).min(pixels);
            let mut s = [_mm512_setzero_si512(); 2];
            for p in p0..p1 {
                for (h, sh) in s.iter_mut().enumerate() {
                    // SAFETY: the lanes in bm[h] are channels c+32h.. < `channels` of
                    // pixel p < pixels, inside `src`.
                    unsafe {
                        let v = _mm256_maskz_loadu_epi8(
                            bm[h],
                            src.add(p * channels + c + 32 * h) as *const i8,
                        );
                        let w = if SIGNED {
                            _mm512_cvtepi8_epi16(v)
                        } else {
                            _mm512_cvtepu8_epi16(v)
                        };
                        *sh = _mm512_add_epi16(*sh, w);
                    }
                }
            }
            for (j, a) in acc.iter_mut().enumerate() {
                let h = s[j / 2];
                let v = if j % 2 == 0 {
                    _mm512_castsi512_si256(h)
                } else {
                    _mm512_extracti64x4_epi64::<1>(h)
                };
                let w = if SIGNED {
                    _mm512_cvtepi16_epi32(v)
                } else {
                    _mm512_cvtepu16_epi32(v)
                };
                *a = _mm512_add_epi32(*a, w);
            }
            p0 = p1;
        }
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: the lanes of the mask are channels c+16j.. < `channels` of `out`.
            unsafe {
                _mm512_mask_storeu_epi32(
                    out.add(c + 16 * j),
                    mask16(left.saturating_sub(16 * j)),
                    _mm512_sub_epi32(*a, corr),
                )
            };
        }
        c += 64;
    }
}

/// # Safety
/// See [`OpsKernels::sum_pixels`]; the table is used only where AVX-512 F+BW+VL is
/// present.
unsafe fn sum_pixels(
    src: *const u8,
    pixels: usize,
    channels: usize,
    xor: u8,
    zx: i32,
    out: *mut i32,
) {
    // SAFETY: the engine selects this table only where the features are present; the
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
/// AVX-512 F+BW+VL present; the contract of [`OpsKernels::max_pixel`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn max_run<const SIGNED: bool>(taps: &[*const u8], channels: usize, out: *mut u8) {
    let mut c = 0;
    while c < channels {
        let m = mask64(channels - c);
        // SAFETY: the lanes in `m` are channels c.. < `channels` of every tap and of
        // `out` (contract; taps non-empty); masked loads and stores touch nothing else.
        unsafe {
            let mut v = _mm512_maskz_loadu_epi8(m, taps[0].add(c) as *const i8);
            for &p in &taps[1..] {
                let w = _mm512_maskz_loadu_epi8(m, p.add(c) as *const i8);
                v = if SIGNED {
                    _mm512_max_epi8(v, w)
                } else {
                    _mm512_max_epu8(v, w)
                };
            }
            _mm512_mask_storeu_epi8(out.add(c) as *mut i8, m, v);
        }
        c += 64;
    }
}

/// # Safety
/// See [`OpsKernels::max_pixel`]; the table is used only where AVX-512 F+BW+VL is
/// present.
unsafe fn max_pixel(taps: &[*const u8], channels: usize, signed: bool, out: *mut u8) {
    // SAFETY: the engine selects this table only where the features are present; the
    // rest is the caller's contract.
    unsafe {
        if signed {
            max_run::<true>(taps, channels, out)
        } else {
            max_run::<false>(taps, channels, out)
        }
    }
}
