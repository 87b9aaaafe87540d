//! The packer of `gemm_u8i8_6x16c2`'s layout (panels of 16 columns, K in pairs: per pair,
//! 16 columns × 2 bytes = one ymm; see [`crate::PackArgs`]), with the column sums in the
//! same pass. Needs AVX2.
//!
//! ```text
//! N×K source (k_stride == 1: column j's K bytes contiguous), per full panel:
//!     for each block of 32 K bytes (16 pairs; the last block short: its bytes copied,
//!     XORed, into a zeroed stack block first):
//!         r[j] = 32 bytes of column j, ^ xor                       (j < 16)
//!         for half in (lo, hi):
//!             a[i] = unpack{lo,hi}_epi16(r[2i], r[2i+1])  (i < 8: i32 = columns 2i, 2i+1
//!                                                          of one pair of K values)
//!             T = transpose8(a) as i32     T[t] = one pair of K values of all 16 columns
//!             store T[t];  s16 += vpmaddubsw(ones, T[t])      (i16 per column)
//!         sums (i32) += s16 widened
//!     a partial last panel: the portable packer
//! K×N source (n_stride == 1: row k's N bytes contiguous):
//!     for each tile of TILE_GROUPS pairs (2·TILE_GROUPS rows of K):
//!         for each group of 4 full panels (64 columns), then of 2, then a single one:
//!             for each pair of rows r0, r1 (^ xor; a row ≥ K is 0), per 32 columns:
//!                 lo, hi = unpack{lo,hi}_epi8(r0, r1)    (columns 16L + 0..8, 8..16)
//!                 panel 2h = lanes 0 of (lo, hi); panel 2h + 1 = lanes 1 (vperm2i128)
//!                 store;  s16[panel] += vpmaddubsw(ones, ·)
//!             the panels' column sums += s16 widened (kept in `colsum`)
//!     a partial last panel: the portable packer
//! other strides: the portable packer
//! ```
//!
//! Column sums: `vpmaddubsw` of a u8 ones vector and the packed i8 values adds the two
//! bytes of each column exactly (|sum| ≤ 256, far from i16 saturation); at most 32 such
//! sums (|·| ≤ 8192) are added in i16 before they are widened into the wrapping i32
//! sums, so nothing saturates or wraps early.
//!
//! Optimisations: (1) 32-byte vectors with a fixed shuffle network (N×K: 64 shuffles per
//! 512 bytes; K×N: 4 per 64 bytes) and scalar byte handling only for the short last
//! block of K in N×K and a partial last panel; (2) column sums take one `vpmaddubsw` and
//! one add per packed ymm, on the vectors already in registers; (3) K×N works in tiles
//! of rows across all panels, 64 bytes of each row at a time, so each source row is read
//! as whole cache lines (4 panels rather than 2: +10–35 % K×N on the development
//! machine), and a tile's pages stay in the TLB.

use core::arch::x86_64::*;

use crate::PackArgs;

const NR: usize = 16;
const KR: usize = 2;
/// Pairs of rows per tile of the K×N path (64 rows).
const TILE_GROUPS: usize = 32;

/// Packs `args` (see [`crate::GemmKernel::pack`]).
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for NR = 16, KR = 2; the CPU has AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract; the features of every callee are enabled here.
    unsafe {
        let full = args.n / NR;
        if args.k_stride == 1 {
            for p in 0..full {
                nxk_panel(args, p);
            }
        } else if args.n_stride == 1 {
            kxn(args, full);
        } else {
            crate::scalar::gemm::pack::<NR, KR>(args);
            return;
        }
        crate::scalar::gemm::pack_columns_from::<NR, KR>(args, full * NR);
    }
}

/// Transposes 8 rows of 8 i32: `out[t]` holds element `t` of every row, in row order.
///
/// Two rounds of in-lane unpacks (32- then 64-bit) give, per group of 4 rows and per
/// element `q` of a 128-bit lane, one vector with that element of the 4 rows in each
/// lane; `vperm2i128` then joins the two groups.
///
/// # Safety
/// AVX2 present.
#[inline(always)]
pub(crate) unsafe fn transpose8(r: &[__m256i; 8]) -> [__m256i; 8] {
    // SAFETY: register-only AVX2 operations (caller contract).
    unsafe {
        let mut s = [[_mm256_setzero_si256(); 4]; 2];
        for (g, sg) in s.iter_mut().enumerate() {
            let r = &r[4 * g..4 * g + 4];
            let lo01 = _mm256_unpacklo_epi32(r[0], r[1]);
            let hi01 = _mm256_unpackhi_epi32(r[0], r[1]);
            let lo23 = _mm256_unpacklo_epi32(r[2], r[3]);
            let hi23 = _mm256_unpackhi_epi32(r[2], r[3]);
            // sg[q], lane L: element 4L + q of rows 4g..4g+4.
            sg[0] = _mm256_unpacklo_epi64(lo01, lo23);
            sg[1] = _mm256_unpackhi_epi64(lo01, lo23);
            sg[2] = _mm256_unpacklo_epi64(hi01, hi23);
            sg[3] = _mm256_unpackhi_epi64(hi01, hi23);
        }
        let mut out = [_mm256_setzero_si256(); 8];
        for q in 0..4 {
            out[q] = _mm256_permute2x128_si256::<0x20>(s[0][q], s[1][q]);
            out[4 + q] = _mm256_permute2x128_si256::<0x31>(s[0][q], s[1][q]);
        }
        out
    }
}

/// The i16 column sums `s16` (16 columns) added into 16 i32 sums.
///
/// # Safety
/// AVX2 present.
#[inline(always)]
unsafe fn widen_add(sums: &mut [__m256i; 2], s16: __m256i) {
    // SAFETY: register-only AVX2 operations (caller contract).
    unsafe {
        let lo = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(s16));
        let hi = _mm256_cvtepi16_epi32(_mm256_extracti128_si256::<1>(s16));
        sums[0] = _mm256_add_epi32(sums[0], lo);
        sums[1] = _mm256_add_epi32(sums[1], hi);
    }
}

/// One block of 16 pairs (32 K bytes) of 16 columns: column `j` at `src + j·stride`,
/// XORed with `x`; pairs `0..pairs` stored at `dst + 32·g`, their sums added to `sums`.
///
/// # Safety
/// AVX2 present; `src + j·stride` valid for 32 bytes for `j < 16`; `dst` valid for
/// `32·pairs` bytes; `pairs <= 16`.
#[inline(always)]
unsafe fn nxk_block(
    src: *const u8,
    stride: usize,
    x: __m256i,
    dst: *mut u8,
    pairs: usize,
    sums: &mut [__m256i; 2],
) {
    // SAFETY: the reads and writes stay inside the extents of the contract.
    unsafe {
        let ones = _mm256_set1_epi8(1);
        let mut s16 = _mm256_setzero_si256();
        for hi in [false, true] {
            let mut a = [_mm256_setzero_si256(); 8];
            for (i, v) in a.iter_mut().enumerate() {
                let r0 = _mm256_loadu_si256(src.add(2 * i * stride) as *const _);
                let r1 = _mm256_loadu_si256(src.add((2 * i + 1) * stride) as *const _);
                let (r0, r1) = (_mm256_xor_si256(r0, x), _mm256_xor_si256(r1, x));
                // i32 q of lane L: pair 8L + q (lo) or 8L + 4 + q (hi) of columns
                // 2i, 2i + 1.
                *v = if hi {
                    _mm256_unpackhi_epi16(r0, r1)
                } else {
                    _mm256_unpacklo_epi16(r0, r1)
                };
            }
            let t = transpose8(&a);
            for (i, v) in t.iter().enumerate() {
                let g = 8 * (i / 4) + i % 4 + if hi { 4 } else { 0 };
                if g < pairs {
                    _mm256_storeu_si256(dst.add(g * 32) as *mut _, *v);
                    s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(ones, *v));
                }
            }
        }
        widen_add(sums, s16);
    }
}

/// Packs full panel `p` of an N×K source and writes its 16 column sums.
///
/// # Safety
/// AVX2 present; `args` valid with `k_stride == 1` and `(p + 1)·16 <= N`.
#[inline(always)]
unsafe fn nxk_panel(args: &PackArgs, p: usize) {
    // columns p·16 + j < N hold K bytes at (p·16 + j)·n_stride: full blocks read
    // bytes 32b..32b + 32 <= K, the short last block is copied byte by byte below K.
    // Panel p of dst holds kp·16 bytes, pair g at g·32 for g < kp/2 (nxk_block stores
    // only those); its sums are colsum[p·16..p·16 + 16].
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let k = args.k;
        let kp = k.div_ceil(KR) * KR;
        let ns = args.n_stride;
        let src = args.src.add(p * NR * ns);
        let dst = args.dst.add(p * kp * NR) as *mut u8;
        let x = _mm256_set1_epi8(args.xor as i8);
        let mut sums = [_mm256_setzero_si256(); 2];
        let blocks = k / 32;
        for b in 0..blocks {
            nxk_block(src.add(32 * b), ns, x, dst.add(32 * b * NR), 16, &mut sums);
        }
        let rest = k - 32 * blocks;
        if rest > 0 {
            // The short last block: its bytes XORed into zeros (the padding of the last
            // pair stays zero), then packed from the stack with no further XOR.
            let mut tail = [[0u8; 32]; NR];
            for (j, row) in tail.iter_mut().enumerate() {
                let from = core::slice::from_raw_parts(src.add(j * ns + 32 * blocks), rest);
                for (d, &s) in row.iter_mut().zip(from) {
                    *d = s ^ args.xor;
                }
            }
            let out = dst.add(32 * blocks * NR);
            let zero = _mm256_setzero_si256();
            nxk_block(
                tail.as_ptr() as *const u8,
                32,
                zero,
                out,
                rest.div_ceil(KR),
                &mut sums,
            );
        }
        let cs = args.colsum.add(p * NR);
        _mm256_storeu_si256(cs as *mut _, sums[0]);
        _mm256_storeu_si256(cs.add(8) as *mut _, sums[1]);
    }
}

/// Packs the first `full` (all full) panels of a K×N source: tiles of rows; inside each
/// tile, groups of 4 panels (64 bytes of each row: whole cache lines), then of 2, then a
/// last single panel.
///
/// # Safety
/// AVX2 present; `args` valid with `n_stride == 1`; `full = N / 16`.
#[inline(always)]
unsafe fn kxn(args: &PackArgs, full: usize) {
    // SAFETY: colsum holds at least full·16 sums; the panel functions get P panels from
    // p with p + P <= full.
    unsafe {
        let groups = args.k.div_ceil(KR);
        core::ptr::write_bytes(args.colsum, 0, full * NR);
        let mut g0 = 0;
        while g0 < groups {
            let g1 = (g0 + TILE_GROUPS).min(groups);
            let mut p = 0;
            while p + 4 <= full {
                kxn_panels::<4>(args, p, g0, g1);
                p += 4;
            }
            if p + 2 <= full {
                kxn_panels::<2>(args, p, g0, g1);
                p += 2;
            }
            if p < full {
                kxn_panels::<1>(args, p, g0, g1);
            }
            g0 = g1;
        }
    }
}

/// Pairs `g0..g1` of the `P` (1, 2 or 4) full panels from `p` of a K×N source, their
/// column sums added to `colsum`.
///
/// # Safety
/// AVX2 present; `args` valid with `n_stride == 1`; `(p + P)·16 <= N`;
/// `g0 < g1 <= min(g0 + TILE_GROUPS, ceil(K/2))`.
#[inline(always)]
unsafe fn kxn_panels<const P: usize>(args: &PackArgs, p: usize, g0: usize, g1: usize) {
    // rows kk < K hold N bytes at kk·k_stride, of which columns
    // p·16 .. (p + P)·16 are read (16 bytes when P = 1, else P/2 loads of 32). Panel q of
    // dst holds kp·16 bytes with pair g at g·32 (g < kp/2); panels p..p + P are written.
    // colsum entries p·16 .. (p + P)·16 exist.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let (k, ks) = (args.k, args.k_stride);
        let kp = k.div_ceil(KR) * KR;
        let c0 = p * NR;
        let x = _mm256_set1_epi8(args.xor as i8);
        let ones = _mm256_set1_epi8(1);
        let src = args.src.add(c0);
        let d0 = args.dst.add(p * kp * NR) as *mut u8;
        // At most TILE_GROUPS pairs of |sum| <= 256 per column: fits i16.
        let mut s16 = [_mm256_setzero_si256(); P];
        for g in g0..g1 {
            // r[t][h]: 32 bytes h of row 2g + t (16 when P = 1), zero past K.
            let mut r = [[_mm256_setzero_si256(); 2]; 2];
            for (t, row) in r.iter_mut().enumerate() {
                let kk = g * KR + t;
                if kk < k {
                    let at = src.add(kk * ks);
                    if P == 1 {
                        let bytes = _mm256_zextsi128_si256(_mm_loadu_si128(at as *const _));
                        row[0] = _mm256_xor_si256(bytes, x);
                    } else {
                        for (h, v) in row.iter_mut().enumerate().take(P / 2) {
                            let bytes = _mm256_loadu_si256(at.add(32 * h) as *const _);
                            *v = _mm256_xor_si256(bytes, x);
                        }
                    }
                }
            }
            for h in 0..P.div_ceil(2) {
                let lo = _mm256_unpacklo_epi8(r[0][h], r[1][h]); // columns 16L + 0..8
                let hi = _mm256_unpackhi_epi8(r[0][h], r[1][h]); // columns 16L + 8..16
                let o0 = _mm256_permute2x128_si256::<0x20>(lo, hi);
                _mm256_storeu_si256(d0.add(2 * h * kp * NR + g * 32) as *mut _, o0);
                s16[2 * h] = _mm256_add_epi16(s16[2 * h], _mm256_maddubs_epi16(ones, o0));
                if P > 1 {
                    let o1 = _mm256_permute2x128_si256::<0x31>(lo, hi);
                    _mm256_storeu_si256(d0.add((2 * h + 1) * kp * NR + g * 32) as *mut _, o1);
                    let s = &mut s16[2 * h + 1];
                    *s = _mm256_add_epi16(*s, _mm256_maddubs_epi16(ones, o1));
                }
            }
        }
        for (q, s) in s16.iter().enumerate() {
            let at = args.colsum.add(c0 + NR * q);
            let mut sums = [
                _mm256_loadu_si256(at as *const _),
                _mm256_loadu_si256(at.add(8) as *const _),
            ];
            widen_add(&mut sums, *s);
            _mm256_storeu_si256(at as *mut _, sums[0]);
            _mm256_storeu_si256(at.add(8) as *mut _, sums[1]);
        }
    }
}
