//! The packer of `gemm_u8i8_12x32c4`'s layout (panels of 32 columns, K in groups of 4:
//! per group, 32 columns × 4 bytes = two zmm; see [`crate::PackArgs`]), with the column
//! sums taken by `vpdpbusd` in the same pass. Needs AVX-512 F, BW and VNNI.
//!
//! ```text
//! N×K source (k_stride == 1: column j's K bytes contiguous), per full panel:
//!     for each block of 64 K bytes (16 groups; the last block short, masked loads):
//!         for each half h of 16 columns:
//!             r[i] = 64 bytes of column 16h + i, ^ xor          (i < 16)
//!             T = transpose16(r) as i32    T[t] = group t of the 16 columns (64 bytes)
//!             store T[t] at half h of group t;  sum[h] = vpdpbusd(sum[h], ones, T[t])
//!     a partial last panel: the portable packer
//! K×N source (n_stride == 1: row k's N bytes contiguous):
//!     for each tile of TILE_GROUPS groups (4·TILE_GROUPS rows of K):
//!         for each pair of panels (64 columns; masked loads for a partial last pair):
//!             for each group: r0..r3 = its 4 rows, 64 bytes each, ^ xor (rows ≥ K: 0)
//!                 bytes of (r0, r1) and (r2, r3) interleaved, then words:
//!                 u_q = 4 columns × 4 bytes per 128-bit lane
//!                 4×4 transpose of the lanes of u_0..u_3: 2 zmm per panel, stored;
//!                 their sums += vpdpbusd(ones, ·)
//!             the pair's column sums += the tile's (kept in `colsum`)
//! other strides: the portable packer
//! ```
//!
//! Optimisations: (1) everything moves in 64-byte vectors, with a fixed shuffle network
//! per 16×64 bytes (N×K: 64 shuffles per KiB; K×N: 16 per 256 bytes) and no scalar
//! byte handling except in a partial last N×K panel; (2) column sums cost one
//! `vpdpbusd` per packed zmm (a u8 ones vector times the packed i8 values, wrapping
//! i32 like the definition), on the vectors already in registers; (3) K×N works in tiles
//! of rows across all panels, so each source row is read as whole cache lines while its
//! lines are still in L1, and a tile's pages stay in the TLB; (4) the padding of the
//! last K group and of the last panel comes from zero-masked loads, so each packed byte
//! is written once and never zeroed first.

use core::arch::x86_64::*;

use crate::x86_64::avx512bw::pack::{lanes4x4, transpose16};
use crate::PackArgs;

const NR: usize = 32;
const KR: usize = 4;
/// Groups of 4 rows per tile of the K×N path (64 rows).
const TILE_GROUPS: usize = 16;

/// Packs `args` (see [`crate::GemmKernel::pack`]).
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for NR = 32, KR = 4; the CPU has AVX-512
/// F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
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

/// Packs full panel `p` of an N×K source and writes its 32 column sums.
///
/// # Safety
/// AVX-512 F, BW and VNNI present; `args` valid with `k_stride == 1` and
/// `(p + 1)·32 <= N`.
#[inline(always)]
unsafe fn nxk_panel(args: &PackArgs, p: usize) {
    // columns p·32 + i < N hold K bytes at (p·32 + i)·n_stride: full blocks read
    // bytes 64b..64b + 64 <= K, the last block only the bytes < K its mask selects
    // (masked-off bytes are not accessed). Panel p of dst holds kp·32 bytes, of which
    // group g, half h is the 64 bytes at g·128 + 64h, for g < ceil(K/4) = kp/4; its
    // sums are colsum[p·32..p·32 + 32].
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
        let mut r = [_mm512_setzero_si512(); 16];
        let blocks = k / 64;
        for b in 0..blocks {
            for (h, sum) in sums.iter_mut().enumerate() {
                let col = src.add(16 * h * ns + 64 * b);
                for (i, v) in r.iter_mut().enumerate() {
                    *v = _mm512_xor_si512(_mm512_loadu_si512(col.add(i * ns) as *const _), x);
                }
                let t = transpose16(&r);
                let out = dst.add(16 * b * 128 + 64 * h);
                for (g, v) in t.iter().enumerate() {
                    _mm512_storeu_si512(out.add(g * 128) as *mut _, *v);
                    *sum = _mm512_dpbusd_epi32(*sum, ones, *v);
                }
            }
        }
        let rest = k - 64 * blocks;
        if rest > 0 {
            // rest < 64: the bytes of the short block; XOR only those, so the padding
            // of the last group stays zero.
            let m: __mmask64 = (1u64 << rest) - 1;
            let xm = _mm512_maskz_mov_epi8(m, x);
            let groups = rest.div_ceil(KR);
            for (h, sum) in sums.iter_mut().enumerate() {
                let col = src.add(16 * h * ns + 64 * blocks);
                for (i, v) in r.iter_mut().enumerate() {
                    let bytes = _mm512_maskz_loadu_epi8(m, col.add(i * ns) as *const i8);
                    *v = _mm512_xor_si512(bytes, xm);
                }
                let t = transpose16(&r);
                let out = dst.add(16 * blocks * 128 + 64 * h);
                for (g, v) in t.iter().enumerate().take(groups) {
                    _mm512_storeu_si512(out.add(g * 128) as *mut _, *v);
                    *sum = _mm512_dpbusd_epi32(*sum, ones, *v);
                }
            }
        }
        let cs = args.colsum.add(p * NR);
        _mm512_storeu_si512(cs as *mut _, sums[0]);
        _mm512_storeu_si512(cs.add(16) as *mut _, sums[1]);
    }
}

/// Packs a K×N source: tiles of rows, pairs of panels inside each tile.
///
/// # Safety
/// AVX-512 F, BW and VNNI present; `args` valid with `n_stride == 1`.
#[inline(always)]
unsafe fn kxn(args: &PackArgs) {
    // SAFETY: colsum holds panels·32 sums; the pair functions get panel indices below
    // `panels`, and `pair` only for p + 1 < panels.
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

/// Groups `g0..g1` of panels `p` and (when `TWO`) `p + 1` of a K×N source, their column
/// sums added to `colsum`.
///
/// # Safety
/// AVX-512 F, BW and VNNI present; `args` valid with `n_stride == 1`; `p < panels`
/// (`p + 1 < panels` when `TWO`, else `p` is the last panel); `g0 < g1 <= ceil(K/4)`.
#[inline(always)]
unsafe fn kxn_panels<const TWO: bool>(args: &PackArgs, p: usize, g0: usize, g1: usize) {
    // rows kk < K hold N bytes at kk·k_stride; the mask selects columns
    // p·32 .. min(N, p·32 + 64) (only those are accessed). Panel q of dst holds kp·32
    // bytes with group g at g·128 (g < kp/4); panel p + 1 is written only when TWO
    // (it exists). colsum entries p·32 .. p·32 + 32 (+ 32 when TWO) exist.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let (k, n) = (args.k, args.n);
        let kp = k.div_ceil(KR) * KR;
        let c0 = p * NR;
        let w = (n - c0).min(2 * NR);
        let m: __mmask64 = if w == 64 { !0 } else { (1u64 << w) - 1 };
        let xm = _mm512_maskz_mov_epi8(m, _mm512_set1_epi8(args.xor as i8));
        let ones = _mm512_set1_epi8(1);
        let src = args.src.add(c0);
        let d0 = args.dst.add(p * kp * NR) as *mut u8;
        let cs = args.colsum.add(c0);
        let mut sums = [_mm512_setzero_si512(); 4];
        for (i, s) in sums.iter_mut().enumerate().take(if TWO { 4 } else { 2 }) {
            *s = _mm512_loadu_si512(cs.add(16 * i) as *const _);
        }
        for g in g0..g1 {
            let mut r = [_mm512_setzero_si512(); 4];
            for (t, v) in r.iter_mut().enumerate() {
                let kk = g * KR + t;
                if kk < k {
                    let bytes =
                        _mm512_maskz_loadu_epi8(m, src.add(kk * args.k_stride) as *const i8);
                    *v = _mm512_xor_si512(bytes, xm);
                }
            }
            // Bytes of rows (0, 1) and (2, 3) interleaved: words of columns 16L + 0..8
            // (lo) and 16L + 8..16 (hi) per lane L; then words: 4 bytes per column.
            let t0 = _mm512_unpacklo_epi8(r[0], r[1]);
            let t1 = _mm512_unpackhi_epi8(r[0], r[1]);
            let t2 = _mm512_unpacklo_epi8(r[2], r[3]);
            let t3 = _mm512_unpackhi_epi8(r[2], r[3]);
            let u0 = _mm512_unpacklo_epi16(t0, t2); // columns 16L + 0..4
            let u1 = _mm512_unpackhi_epi16(t0, t2); // 16L + 4..8
            let u2 = _mm512_unpacklo_epi16(t1, t3); // 16L + 8..12
            let u3 = _mm512_unpackhi_epi16(t1, t3); // 16L + 12..16
                                                    // o[L] = columns 16L..16L + 16 of the pair, 4 bytes each.
            let o = lanes4x4(u0, u1, u2, u3);
            let out = d0.add(g * NR * KR);
            for (i, v) in o.iter().enumerate().take(if TWO { 4 } else { 2 }) {
                // Vectors 0, 1: panel p; 2, 3: panel p + 1 (kp·32 bytes further).
                let at = if i < 2 {
                    out.add(64 * i)
                } else {
                    out.add(kp * NR + 64 * (i - 2))
                };
                _mm512_storeu_si512(at as *mut _, *v);
                sums[i] = _mm512_dpbusd_epi32(sums[i], ones, *v);
            }
        }
        for (i, s) in sums.iter().enumerate().take(if TWO { 4 } else { 2 }) {
            _mm512_storeu_si512(cs.add(16 * i) as *mut _, *s);
        }
    }
}
