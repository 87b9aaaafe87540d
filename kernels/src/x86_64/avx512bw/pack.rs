//! The packer of `gemm_u8i8_12x32c2`'s layout (panels of 32 columns, K in pairs: per pair,
//! 32 columns × 2 bytes = one zmm; see [`crate::PackArgs`]), with the column sums in the
//! same pass. Needs AVX-512 F and BW. The 16×16 i32 transpose and the 128-bit lane
//! transpose here are shared with the `avx512vnni` packer.
//!
//! ```text
//! N×K source (k_stride == 1: column j's K bytes contiguous), per full panel:
//!     for each block of 64 K bytes (32 pairs; the last block short, masked loads):
//!         r[j] = 64 bytes of column j, ^ xor                       (j < 32)
//!         for half in (lo, hi):
//!             a[i] = unpack{lo,hi}_epi16(r[2i], r[2i+1])  (i < 16: i32 = columns 2i, 2i+1
//!                                                          of one pair of K values)
//!             T = transpose16(a) as i32    T[t] = one pair of K values of all 32 columns
//!             store T[t];  s16 += vpmaddubsw(ones, T[t])      (i16 per column)
//!         sums (i32) += s16 widened
//!     a partial last panel: the portable packer
//! K×N source (n_stride == 1: row k's N bytes contiguous):
//!     for each tile of TILE_GROUPS pairs (2·TILE_GROUPS rows of K):
//!         for each pair of panels (64 columns; masked loads for a partial last pair):
//!             for each pair of rows r0, r1 (64 bytes each, ^ xor; a row ≥ K is 0):
//!                 lo, hi = unpack{lo,hi}_epi8(r0, r1)    (columns 16L + 0..8, 8..16)
//!                 vpermt2q: panel p = lanes 0, 1 of (lo, hi); panel p + 1 = lanes 2, 3
//!                 store both;  s16[panel] += vpmaddubsw(ones, ·)
//!             the pair's column sums += s16 widened (kept in `colsum`)
//! other strides: the portable packer
//! ```
//!
//! Column sums: `vpmaddubsw` of a u8 ones vector and the packed i8 values adds the two
//! bytes of each column exactly (|sum| ≤ 256, far from i16 saturation); at most 32 such
//! sums (|·| ≤ 8192) are added in i16 before they are widened into the wrapping i32
//! sums, so nothing saturates or wraps early.
//!
//! Optimisations: (1) everything moves in 64-byte vectors with a fixed shuffle network
//! (N×K: 160 shuffles per 2 KiB; K×N: 4 per 128 bytes) and no scalar byte handling
//! except in a partial last N×K panel; (2) column sums take one `vpmaddubsw` and one
//! add per packed zmm, on the vectors already in registers; (3) K×N works in tiles of
//! rows across all panels, so each source row is read as whole cache lines while its
//! lines are still in L1, and a tile's pages stay in the TLB; (4) the padding of the
//! last K pair and of the last panel comes from zero-masked loads, so each packed byte
//! is written once and never zeroed first.

use core::arch::x86_64::*;

use crate::PackArgs;

const NR: usize = 32;
const KR: usize = 2;
/// Pairs of rows per tile of the K×N path (64 rows).
const TILE_GROUPS: usize = 32;

/// Packs `args` (see [`crate::GemmKernel::pack`]).
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for NR = 32, KR = 2; the CPU has AVX-512
/// F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
pub unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract; the features of every callee are enabled here.
    unsafe {
        if args.k_stride == 1 {
            let full = args.n / NR;
            for p in 0..full {
                nxk_panel(args, p);
            }
            crate::scalar::gemm::pack_columns_from::<NR, KR>(args, full * NR);
        } else if args.n_stride == 1 {
            kxn(args);
        } else {
            crate::scalar::gemm::pack::<NR, KR>(args);
        }
    }
}

/// Transposes 16 rows of 16 i32: `out[t]` holds element `t` of every row, in row order.
///
/// Two rounds of in-lane unpacks (32- then 64-bit) give, per group of 4 rows and per
/// element `q` of a 128-bit lane, one vector with that element of the 4 rows in each
/// lane; a 4×4 transpose of 128-bit lanes then gathers the 4 groups.
///
/// # Safety
/// AVX-512F present.
#[inline(always)]
pub(crate) unsafe fn transpose16(r: &[__m512i; 16]) -> [__m512i; 16] {
    // SAFETY: register-only AVX-512F operations (caller contract).
    unsafe {
        let mut s = [[_mm512_setzero_si512(); 4]; 4];
        for (g, sg) in s.iter_mut().enumerate() {
            let r = &r[4 * g..4 * g + 4];
            let lo01 = _mm512_unpacklo_epi32(r[0], r[1]);
            let hi01 = _mm512_unpackhi_epi32(r[0], r[1]);
            let lo23 = _mm512_unpacklo_epi32(r[2], r[3]);
            let hi23 = _mm512_unpackhi_epi32(r[2], r[3]);
            // sg[q], lane L: element 4L + q of rows 4g..4g+4.
            sg[0] = _mm512_unpacklo_epi64(lo01, lo23);
            sg[1] = _mm512_unpackhi_epi64(lo01, lo23);
            sg[2] = _mm512_unpacklo_epi64(hi01, hi23);
            sg[3] = _mm512_unpackhi_epi64(hi01, hi23);
        }
        let mut out = [_mm512_setzero_si512(); 16];
        for q in 0..4 {
            let o = lanes4x4(s[0][q], s[1][q], s[2][q], s[3][q]);
            for (l, v) in o.into_iter().enumerate() {
                out[4 * l + q] = v;
            }
        }
        out
    }
}

/// The 4×4 transpose of 128-bit lanes: `out[L] = [a.L, b.L, c.L, d.L]`.
///
/// # Safety
/// AVX-512F present.
#[inline(always)]
pub(crate) unsafe fn lanes4x4(a: __m512i, b: __m512i, c: __m512i, d: __m512i) -> [__m512i; 4] {
    // SAFETY: register-only AVX-512F operations (caller contract).
    unsafe {
        let ab01 = _mm512_shuffle_i32x4::<0x44>(a, b); // a0 a1 b0 b1
        let cd01 = _mm512_shuffle_i32x4::<0x44>(c, d); // c0 c1 d0 d1
        let ab23 = _mm512_shuffle_i32x4::<0xEE>(a, b); // a2 a3 b2 b3
        let cd23 = _mm512_shuffle_i32x4::<0xEE>(c, d); // c2 c3 d2 d3
        [
            _mm512_shuffle_i32x4::<0x88>(ab01, cd01), // a0 b0 c0 d0
            _mm512_shuffle_i32x4::<0xDD>(ab01, cd01), // a1 b1 c1 d1
            _mm512_shuffle_i32x4::<0x88>(ab23, cd23), // a2 b2 c2 d2
            _mm512_shuffle_i32x4::<0xDD>(ab23, cd23), // a3 b3 c3 d3
        ]
    }
}

/// The i16 column sums `s16` (32 columns) added into 32 i32 sums.
///
/// # Safety
/// AVX-512F present.
#[inline(always)]
unsafe fn widen_add(sums: &mut [__m512i; 2], s16: __m512i) {
    // SAFETY: register-only AVX-512F operations (caller contract).
    unsafe {
        let lo = _mm512_cvtepi16_epi32(_mm512_castsi512_si256(s16));
        let hi = _mm512_cvtepi16_epi32(_mm512_extracti64x4_epi64::<1>(s16));
        sums[0] = _mm512_add_epi32(sums[0], lo);
        sums[1] = _mm512_add_epi32(sums[1], hi);
    }
}

/// Packs full panel `p` of an N×K source and writes its 32 column sums.
///
/// # Safety
/// AVX-512 F and BW present; `args` valid with `k_stride == 1` and `(p + 1)·32 <= N`.
#[inline(always)]
unsafe fn nxk_panel(args: &PackArgs, p: usize) {
    // columns p·32 + j < N hold K bytes at (p·32 + j)·n_stride: full blocks read
    // bytes 64b..64b + 64 <= K, the last block only the bytes < K its mask selects
    // (masked-off bytes are not accessed). Panel p of dst holds kp·32 bytes, pair g at
    // g·64 for g < kp/2 (the stores below stop there); its sums are colsum[p·32..+32].
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let k = args.k;
        let kp = k.div_ceil(KR) * KR;
        let ns = args.n_stride;
        let src = args.src.add(p * NR * ns);
        let dst = args.dst.add(p * kp * NR) as *mut u8;
        let x = _mm512_set1_epi8(args.xor as i8);
        let ones = _mm512_set1_epi8(1);
        let mut sums = [_mm512_setzero_si512(); 2];
        let blocks = k.div_ceil(64);
        for b in 0..blocks {
            let rest = (k - 64 * b).min(64);
            // The bytes < K of this block (all 64 but in the last); XOR only those, so
            // the padding of the last pair stays zero.
            let m: __mmask64 = if rest == 64 { !0 } else { (1u64 << rest) - 1 };
            let xm = _mm512_maskz_mov_epi8(m, x);
            let pairs = rest.div_ceil(KR);
            let col = src.add(64 * b);
            let out = dst.add(64 * b * NR);
            let mut s16 = _mm512_setzero_si512();
            for hi in [false, true] {
                let mut a = [_mm512_setzero_si512(); 16];
                for (i, v) in a.iter_mut().enumerate() {
                    let r0 = _mm512_maskz_loadu_epi8(m, col.add(2 * i * ns) as *const i8);
                    let r1 = _mm512_maskz_loadu_epi8(m, col.add((2 * i + 1) * ns) as *const i8);
                    let (r0, r1) = (_mm512_xor_si512(r0, xm), _mm512_xor_si512(r1, xm));
                    // i32 q of lane L: pair 8L + q (lo) or 8L + 4 + q (hi) of columns
                    // 2i, 2i + 1.
                    *v = if hi {
                        _mm512_unpackhi_epi16(r0, r1)
                    } else {
                        _mm512_unpacklo_epi16(r0, r1)
                    };
                }
                let t = transpose16(&a);
                for (i, v) in t.iter().enumerate() {
                    let g = 8 * (i / 4) + i % 4 + if hi { 4 } else { 0 };
                    if g < pairs {
                        _mm512_storeu_si512(out.add(g * 64) as *mut _, *v);
                        s16 = _mm512_add_epi16(s16, _mm512_maddubs_epi16(ones, *v));
                    }
                }
            }
            widen_add(&mut sums, s16);
        }
        let cs = args.colsum.add(p * NR);
        _mm512_storeu_si512(cs as *mut _, sums[0]);
        _mm512_storeu_si512(cs.add(16) as *mut _, sums[1]);
    }
}

/// Packs a K×N source: tiles of rows, pairs of panels inside each tile.
///
/// # Safety
/// AVX-512 F and BW present; `args` valid with `n_stride == 1`.
#[inline(always)]
unsafe fn kxn(args: &PackArgs) {
    // SAFETY: colsum holds panels·32 sums; the pair functions get panel indices below
    // `panels`, and TWO only for p + 1 < panels.
    unsafe {
        let panels = args.n.div_ceil(NR);
        let groups = args.k.div_ceil(KR);
        core::ptr::write_bytes(args.colsum, 0, panels * NR);
        let mut g0 = 0;
        while g0 < groups {
            let g1 = (g0 + TILE_GROUPS).min(groups);
            let mut p = 0;
            while p + 1 < panels {
                kxn_panels::<true>(args, p, g0, g1);
                p += 2;
            }
            if p < panels {
                kxn_panels::<false>(args, p, g0, g1);
            }
            g0 = g1;
        }
    }
}

/// Pairs `g0..g1` of panels `p` and (when `TWO`) `p + 1` of a K×N source, their column
/// sums added to `colsum`.
///
/// # Safety
/// AVX-512 F and BW present; `args` valid with `n_stride == 1`; `p < panels`
/// (`p + 1 < panels` when `TWO`, else `p` is the last panel);
/// `g0 < g1 <= min(g0 + TILE_GROUPS, ceil(K/2))`.
#[inline(always)]
unsafe fn kxn_panels<const TWO: bool>(args: &PackArgs, p: usize, g0: usize, g1: usize) {
    // rows kk < K hold N bytes at kk·k_stride; the mask selects columns
    // p·32 .. min(N, p·32 + 64) (only those are accessed). Panel q of dst holds kp·32
    // bytes with pair g at g·64 (g < kp/2); panel p + 1 is written only when TWO (it
    // exists). colsum entries p·32 .. p·32 + 32 (+ 32 when TWO) exist.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let (k, n) = (args.k, args.n);
        let kp = k.div_ceil(KR) * KR;
        let c0 = p * NR;
        let w = (n - c0).min(2 * NR);
        let m: __mmask64 = if w == 64 { !0 } else { (1u64 << w) - 1 };
        let xm = _mm512_maskz_mov_epi8(m, _mm512_set1_epi8(args.xor as i8));
        let ones = _mm512_set1_epi8(1);
        // Qwords of (lo, hi): lanes 0, 1 interleaved (panel p), lanes 2, 3 (panel p + 1).
        let idx0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
        let idx1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
        let src = args.src.add(c0);
        let d0 = args.dst.add(p * kp * NR) as *mut u8;
        let d1 = d0.wrapping_add(kp * NR);
        // At most TILE_GROUPS pairs of |sum| <= 256 per column: fits i16.
        let (mut s0, mut s1) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for g in g0..g1 {
            let mut r = [_mm512_setzero_si512(); 2];
            for (t, v) in r.iter_mut().enumerate() {
                let kk = g * KR + t;
                if kk < k {
                    let row = src.add(kk * args.k_stride) as *const i8;
                    *v = _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, row), xm);
                }
            }
            let lo = _mm512_unpacklo_epi8(r[0], r[1]); // columns 16L + 0..8
            let hi = _mm512_unpackhi_epi8(r[0], r[1]); // columns 16L + 8..16
            let o0 = _mm512_permutex2var_epi64(lo, idx0, hi);
            _mm512_storeu_si512(d0.add(g * 64) as *mut _, o0);
            s0 = _mm512_add_epi16(s0, _mm512_maddubs_epi16(ones, o0));
            if TWO {
                let o1 = _mm512_permutex2var_epi64(lo, idx1, hi);
                _mm512_storeu_si512(d1.add(g * 64) as *mut _, o1);
                s1 = _mm512_add_epi16(s1, _mm512_maddubs_epi16(ones, o1));
            }
        }
        let cs = args.colsum.add(c0);
        for (q, s16) in [s0, s1]
            .into_iter()
            .enumerate()
            .take(if TWO { 2 } else { 1 })
        {
            let at = cs.add(32 * q);
            let mut sums = [
                _mm512_loadu_si512(at as *const _),
                _mm512_loadu_si512(at.add(16) as *const _),
            ];
            widen_add(&mut sums, s16);
            _mm512_storeu_si512(at as *mut _, sums[0]);
            _mm512_storeu_si512(at.add(16) as *mut _, sums[1]);
        }
    }
}
