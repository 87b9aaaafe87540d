//! AVX-512BW depthwise kernel on the `i16` layout ([`crate::depthwise`]): 16 channels per
//! zmm, blocks of 64 channels with the i32 accumulators in registers across the taps;
//! inputs widened to i32 (`vpmovzxbd`, or `vpmovsxbd` for i8 input, whose
//! `x ^ 0x80 − zx` equals `x − (zx − 128)`), weights `vpmovsxwd`, `vpmulld`, `vpaddd`
//! (wrapping, as the reference). The last `C % 16` channels run the same code with
//! masked loads and stores (masked-off lanes are not accessed), so there is no scalar
//! tail. With a channel multiplier `M > 1` each plane `j` (output channels `ic·M + j`,
//! contiguous weights in the layout) runs the same blocks; `M = 2` computes both planes
//! from one widened input and interleaves them with `vpermt2d`, other `M` go to
//! `out[ic·M + j]` through a stack buffer.

use core::arch::x86_64::*;

use crate::depthwise::{header_matches, i16_packed_len, pack_i16, scatter_plane, HEADER};
use crate::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs, Isa};

/// The AVX-512BW depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "x86_64::avx512bw::depthwise",
    isa: Isa::Avx512Bw,
    layout: "i16",
    packed_len: i16_packed_len,
    pack,
    pixel,
};

/// # Safety
/// See [`DepthwiseKernel::pack`].
unsafe fn pack(a: &DepthwisePackArgs) {
    // SAFETY: forwarded contract.
    unsafe { pack_i16(a) }
}

/// The 16 channels at `p` (those of `mask`; the others read as 0) widened to i32, minus
/// `z`.
///
/// # Safety
/// AVX-512F/BW/VL present; `p` valid for the bytes of `mask`.
#[inline(always)]
unsafe fn load_x<const SIGNED: bool>(p: *const u8, mask: __mmask16, z: __m512i) -> __m512i {
    // SAFETY: the masked load touches only the bytes of `mask` (caller); the CPU has the
    // features (caller).
    unsafe {
        let v = _mm_maskz_loadu_epi8(mask, p as *const i8);
        let x = if SIGNED {
            _mm512_cvtepi8_epi32(v)
        } else {
            _mm512_cvtepu8_epi32(v)
        };
        _mm512_sub_epi32(x, z)
    }
}

/// The 16 i16 weights at `p` (those of `mask`) widened to i32.
///
/// # Safety
/// AVX-512F/BW/VL present; `p` valid for the i16 of `mask`.
#[inline(always)]
unsafe fn load_w(p: *const i16, mask: __mmask16) -> __m512i {
    // SAFETY: the masked load touches only the elements of `mask` (caller).
    unsafe { _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(mask, p)) }
}

/// Channels `ic..ic + 16·N` (vector `r` limited to the lanes of `masks[r]`) of the
/// planes `j..j + P` (weights of plane `j` at `w`, `w[t·C + c]`, planes `T·C` elements
/// apart), stored to `out[c·m + j']`: directly for `m = 1`, interleaved with
/// `vpermt2d` for `m = P = 2`, else through a stack buffer.
///
/// # Safety
/// AVX-512F/BW/VL present; the lanes of `masks[r]` are channels below C; `j + P <= m`;
/// the taps, `w` and `out` valid as in [`DepthwiseKernel::pixel`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const N: usize, const P: usize, const SIGNED: bool>(
    taps: &[*const u8],
    w: *const i16,
    c: usize,
    ic: usize,
    masks: [__mmask16; N],
    z: __m512i,
    out: *mut i32,
    m: usize,
    j: usize,
) {
    let plane = taps.len() * c;
    // SAFETY: AVX-512F present (caller).
    let mut acc = [[unsafe { _mm512_setzero_si512() }; N]; P];
    for (t, &p) in taps.iter().enumerate() {
        if p.is_null() {
            continue;
        }
        for r in 0..N {
            let o = ic + 16 * r;
            // SAFETY: the lanes of masks[r] are channels below C of tap t and of weight
            // row t of each plane.
            unsafe {
                let x = load_x::<SIGNED>(p.add(o), masks[r], z);
                for (pj, accp) in acc.iter_mut().enumerate() {
                    let wv = load_w(w.add(pj * plane + t * c + o), masks[r]);
                    accp[r] = _mm512_add_epi32(accp[r], _mm512_mullo_epi32(x, wv));
                }
            }
        }
    }
    for r in 0..N {
        let o = ic + 16 * r;
        let n = masks[r].count_ones() as usize;
        if m == 1 {
            // SAFETY: the lanes of masks[r] are below C; `out` holds C i32.
            unsafe { _mm512_mask_storeu_epi32(out.add(o), masks[r], acc[0][r]) };
        } else if m == 2 && P == 2 {
            // out[2c], out[2c + 1] for c = o..o + n: the two planes interleaved.
            // SAFETY: register-only permutes; `out` holds 2C i32 and 2(o + n) <= 2C, the
            // masks cover the first 2n of the 32 values.
            unsafe {
                let (e, d) = (acc[0][r], acc[P - 1][r]);
                let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
                let hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
                let both = 2 * n;
                let m0 = if both >= 16 {
                    !0
                } else {
                    ((1u32 << both) - 1) as __mmask16
                };
                let m1 = if both >= 32 {
                    !0
                } else {
                    ((1u32 << (both.max(16) - 16)) - 1) as __mmask16
                };
                let d0 = out.add(2 * o);
                _mm512_mask_storeu_epi32(d0, m0, _mm512_permutex2var_epi32(e, lo, d));
                _mm512_mask_storeu_epi32(d0.add(16), m1, _mm512_permutex2var_epi32(e, hi, d));
            }
        } else {
            for (pj, accp) in acc.iter().enumerate() {
                let mut tmp = [0i32; 16];
                // SAFETY: `tmp` holds 16 i32; the n channels o.. are below C, `out` holds
                // C·M, j + pj < m.
                unsafe {
                    _mm512_storeu_si512(tmp.as_mut_ptr() as *mut __m512i, accp[r]);
                    scatter_plane(&tmp[..n], out, o, m, j + pj);
                }
            }
        }
    }
}

/// # Safety
/// AVX-512F/BW/VL present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn run<const SIGNED: bool>(a: &DepthwiseArgs) {
    let (t_n, c, m) = (a.n_taps, a.channels, a.multiplier);
    // SAFETY: `taps` holds `n_taps` pointers; the weights follow the header (contract).
    let (taps, w0) = unsafe {
        (
            core::slice::from_raw_parts(a.taps, t_n),
            a.packed.add(HEADER) as *const i16,
        )
    };
    let z = _mm512_set1_epi32(if SIGNED { a.zx - 128 } else { a.zx });
    let plane = t_n * c;
    let mut ic = 0;
    while ic + 64 <= c {
        if m == 2 {
            // SAFETY: both planes' weights inside the layout; ic + 64 <= C.
            unsafe { block::<4, 2, SIGNED>(taps, w0, c, ic, [!0; 4], z, a.out, m, 0) };
        } else {
            for j in 0..m {
                // SAFETY: plane j's weights start at j·T·C; ic + 64 <= C.
                unsafe {
                    block::<4, 1, SIGNED>(taps, w0.add(j * plane), c, ic, [!0; 4], z, a.out, m, j)
                };
            }
        }
        ic += 64;
    }
    while ic < c {
        let mask = if c - ic >= 16 {
            !0
        } else {
            ((1u32 << (c - ic)) - 1) as __mmask16
        };
        if m == 2 {
            // SAFETY: as above; the lanes of `mask` are channels below C.
            unsafe { block::<1, 2, SIGNED>(taps, w0, c, ic, [mask], z, a.out, m, 0) };
        } else {
            for j in 0..m {
                // SAFETY: as above; the lanes of `mask` are channels below C.
                unsafe {
                    block::<1, 1, SIGNED>(taps, w0.add(j * plane), c, ic, [mask], z, a.out, m, j)
                };
            }
        }
        ic += 16;
    }
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where AVX-512BW is present.
unsafe fn pixel(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer has a header (contract).
    debug_assert!(unsafe { header_matches(a.packed, a.n_taps, a.channels, a.multiplier) });
    // SAFETY: the engine selects this table only when AVX-512F/BW/VL are present; the
    // rest is the caller's contract.
    unsafe {
        if a.xor == 0 {
            run::<false>(a)
        } else {
            run::<true>(a)
        }
    }
}
