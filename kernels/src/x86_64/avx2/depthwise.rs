//! AVX2 depthwise kernel on the `i16` layout ([`crate::depthwise`]): 8 channels per ymm,
//! blocks of 32 channels with the i32 accumulators in registers across the taps; inputs
//! widened to i32 (`vpmovzxbd`, or `vpmovsxbd` for i8 input, whose `x ^ 0x80 − zx` equals
//! `x − (zx − 128)`), weights `vpmovsxwd`, `vpmulld`, `vpaddd` (wrapping, as the
//! reference). With a channel multiplier `M > 1` each plane `j` (output channels
//! `ic·M + j`, contiguous weights in the layout) runs the same blocks; `M = 2` computes
//! both planes from one widened input and interleaves them with `vpunpck{l,h}dq` +
//! `vperm2i128`, other `M` go to `out[ic·M + j]` through a stack buffer. The last `C % 8`
//! input channels use the scalar kernel.

use core::arch::x86_64::*;

use crate::depthwise::{header_matches, i16_packed_len, pack_i16, scatter_plane, HEADER};
use crate::scalar::depthwise::pixel_range;
use crate::{DepthwiseArgs, DepthwiseKernel, DepthwisePackArgs, Isa};

/// The AVX2 depthwise kernel.
pub static DEPTHWISE: DepthwiseKernel = DepthwiseKernel {
    name: "x86_64::avx2::depthwise",
    isa: Isa::Avx2,
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

/// Channels `ic..ic + 8·N` of the planes `j..j + P` (weights of plane `j` at `w`,
/// `w[t·C + c]`, planes `T·C` elements apart), stored to `out[c·m + j']`: directly for
/// `m = 1`, interleaved (`vpunpck{l,h}dq` + `vperm2i128`) for `m = P = 2`, else through
/// a stack buffer.
///
/// # Safety
/// AVX2 present; `ic + 8·N <= C`, `j + P <= m`; the taps, `w` and `out` valid as in
/// [`DepthwiseKernel::pixel`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block<const N: usize, const P: usize, const SIGNED: bool>(
    taps: &[*const u8],
    w: *const i16,
    c: usize,
    ic: usize,
    z: __m256i,
    out: *mut i32,
    m: usize,
    j: usize,
) {
    let plane = taps.len() * c;
    // SAFETY: AVX2 present (caller).
    let mut acc = [[unsafe { _mm256_setzero_si256() }; N]; P];
    for (t, &p) in taps.iter().enumerate() {
        if p.is_null() {
            continue;
        }
        for r in 0..N {
            let o = ic + 8 * r;
            // SAFETY: channels o..o+8 < C of tap t and of weight row t of each plane.
            unsafe {
                let x = load_x::<SIGNED>(p.add(o), z);
                for (pj, accp) in acc.iter_mut().enumerate() {
                    let wv = load_w(w.add(pj * plane + t * c + o));
                    accp[r] = _mm256_add_epi32(accp[r], _mm256_mullo_epi32(x, wv));
                }
            }
        }
    }
    for r in 0..N {
        let o = ic + 8 * r;
        if m == 1 {
            // SAFETY: `out` holds C i32 and o + 8 <= C.
            unsafe { _mm256_storeu_si256(out.add(o) as *mut __m256i, acc[0][r]) };
        } else if m == 2 && P == 2 {
            // out[2c], out[2c + 1] for c = o..o + 8: the two planes interleaved.
            // SAFETY: register-only shuffles; `out` holds 2C i32 and 2(o + 8) <= 2C.
            unsafe {
                let (e, d) = (acc[0][r], acc[P - 1][r]);
                let lo = _mm256_unpacklo_epi32(e, d); // c0 c1 | c4 c5
                let hi = _mm256_unpackhi_epi32(e, d); // c2 c3 | c6 c7
                let d0 = out.add(2 * o) as *mut __m256i;
                _mm256_storeu_si256(d0, _mm256_permute2x128_si256::<0x20>(lo, hi));
                _mm256_storeu_si256(d0.add(1), _mm256_permute2x128_si256::<0x31>(lo, hi));
            }
        } else {
            for (pj, accp) in acc.iter().enumerate() {
                let mut tmp = [0i32; 8];
                // SAFETY: `tmp` holds 8 i32; `out` holds C·M i32, o + 8 <= C, j + pj < m.
                unsafe {
                    _mm256_storeu_si256(tmp.as_mut_ptr() as *mut __m256i, accp[r]);
                    scatter_plane(&tmp, out, o, m, j + pj);
                }
            }
        }
    }
}

/// # Safety
/// AVX2 present; the contract of [`DepthwiseKernel::pixel`].
#[target_feature(enable = "avx2")]
unsafe fn run<const SIGNED: bool>(a: &DepthwiseArgs) {
    let (t_n, c, m) = (a.n_taps, a.channels, a.multiplier);
    // SAFETY: `taps` holds `n_taps` pointers; the weights follow the header (contract).
    let (taps, w0) = unsafe {
        (
            core::slice::from_raw_parts(a.taps, t_n),
            a.packed.add(HEADER) as *const i16,
        )
    };
    // i8 input: (x ^ 0x80) − zx = x_signed − (zx − 128).
    let z = _mm256_set1_epi32(if SIGNED { a.zx - 128 } else { a.zx });
    let plane = t_n * c;
    let mut ic = 0;
    while ic + 32 <= c {
        if m == 2 {
            // SAFETY: both planes' weights inside the layout; ic + 32 <= C.
            unsafe { block::<4, 2, SIGNED>(taps, w0, c, ic, z, a.out, m, 0) };
        } else {
            for j in 0..m {
                // SAFETY: plane j's weights start at j·T·C; ic + 32 <= C.
                unsafe { block::<4, 1, SIGNED>(taps, w0.add(j * plane), c, ic, z, a.out, m, j) };
            }
        }
        ic += 32;
    }
    while ic + 8 <= c {
        if m == 2 {
            // SAFETY: as above, with ic + 8 <= C.
            unsafe { block::<1, 2, SIGNED>(taps, w0, c, ic, z, a.out, m, 0) };
        } else {
            for j in 0..m {
                // SAFETY: as above, with ic + 8 <= C.
                unsafe { block::<1, 1, SIGNED>(taps, w0.add(j * plane), c, ic, z, a.out, m, j) };
            }
        }
        ic += 8;
    }
    // SAFETY: forwarded contract, for the remaining channels.
    unsafe { pixel_range(a, ic) };
}

/// # Safety
/// See [`DepthwiseKernel::pixel`]; the table is used only where AVX2 is present.
unsafe fn pixel(a: &DepthwiseArgs) {
    // SAFETY: the packed buffer has a header (contract).
    debug_assert!(unsafe { header_matches(a.packed, a.n_taps, a.channels, a.multiplier) });
    // SAFETY: the engine selects this table only when AVX2 is present; the rest is the
    // caller's contract.
    unsafe {
        if a.xor == 0 {
            run::<false>(a)
        } else {
            run::<true>(a)
        }
    }
}
