//! The packer of `gemm_u8i8_6x16c4`'s layout (panels of 16 columns, K in groups of 4:
//! per group, 16 columns × 4 bytes = two ymm; see [`crate::PackArgs`]), with the column
//! sums taken by the VEX `vpdpbusd` in the same pass. Needs AVX2 and AVX-VNNI.
//!
//! ```text
//! N×K source (k_stride == 1: column j's K bytes contiguous), per full panel:
//!     for each block of 32 K bytes (8 groups; the last block short: its bytes copied,
//!     XORed, into a zeroed stack block first):
//!         for each half h of 8 columns:
//!             r[i] = 32 bytes of column 8h + i, ^ xor          (i < 8: 8 groups as i32)
//!             T = transpose8(r)            T[t] = group t of the 8 columns (32 bytes)
//!             store T[t] at half h of group t;  sum[h] = vpdpbusd(sum[h], ones, T[t])
//!     a partial last panel: the portable packer
//! K×N source (n_stride == 1: row k's N bytes contiguous):
//!     for each tile of TILE_GROUPS groups (4·TILE_GROUPS rows of K):
//!         for each group of 4 full panels (64 columns), then of 2, then a single one:
//!             for each group: per 32 columns (2 panels; 16 for a single one):
//!                 r0..r3 = its 4 rows, ^ xor (rows ≥ K: 0; only the last group checks)
//!                 bytes of (r0, r1) and (r2, r3) interleaved, then words:
//!                 u_q = columns 16L + 4q .. 16L + 4q + 4, 4 bytes each, per lane L
//!                 panel 2h = lanes 0 of (u0, u1), (u2, u3); panel 2h + 1 = lanes 1
//!                 (vperm2i128); store;  sums += vpdpbusd(ones, ·)
//!             the panels' column sums += the tile's (kept in `colsum`)
//!     a partial last panel: the portable packer
//! other strides: the portable packer
//! ```
//!
//! Column sums: `vpdpbusd` of a u8 ones vector and the packed i8 values adds the 4 bytes
//! of each column (one i32 lane) into the i32 sum with wrapping, which is the definition;
//! no narrow accumulator, so nothing needs flushing.
//!
//! Optimisations: (1) 32-byte vectors with a fixed shuffle network and scalar byte
//! handling only for the short last block of K in N×K and a partial last panel; since a
//! group of 4 K bytes is one i32, N×K is a plain 8×8 i32 transpose (48 shuffles per 512
//! bytes, against 64 for the pair layout of `avx2`), and K×N takes 12 shuffles per
//! 128 bytes; (2) column sums cost one `vpdpbusd` per packed ymm, on the vectors
//! already in registers, with no i16 stage to widen; (3) K×N works in tiles of rows
//! across all panels, 64 bytes of each row at a time, so each source row is read as
//! whole cache lines while its lines are still in L1, and a tile's pages stay in the TLB;
//! (4) the groups below K/4 load their 4 rows with no check against K (a const generic
//! body), so only a partial last group pays for the zero rows.

use core::arch::x86_64::*;

use crate::x86_64::avx2::pack::transpose8;
use crate::PackArgs;

const NR: usize = 16;
const KR: usize = 4;
/// Groups of 4 rows per tile of the K×N path (64 rows).
const TILE_GROUPS: usize = 16;

/// Packs `args` (see [`crate::GemmKernel::pack`]).
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for NR = 16, KR = 4; the CPU has AVX2 and
/// AVX-VNNI.
#[target_feature(enable = "avx2,avxvnni")]
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

/// One block of 8 groups (32 K bytes) of 16 columns: column `j` at `src + j·stride`,
/// XORed with `x`; groups `0..groups` stored at `dst + 64·g`, their sums added to
/// `sums` (columns 0..8, 8..16).
///
/// # Safety
/// AVX2 and AVX-VNNI present; `src + j·stride` valid for 32 bytes for `j < 16`; `dst`
/// valid for `64·groups` bytes; `groups <= 8`.
#[inline(always)]
unsafe fn nxk_block(
    src: *const u8,
    stride: usize,
    x: __m256i,
    dst: *mut u8,
    groups: usize,
    sums: &mut [__m256i; 2],
) {
    // SAFETY: the reads and writes stay inside the extents of the contract.
    unsafe {
        let ones = _mm256_set1_epi8(1);
        for (h, sum) in sums.iter_mut().enumerate() {
            let mut r = [_mm256_setzero_si256(); 8];
            for (i, v) in r.iter_mut().enumerate() {
                let bytes = _mm256_loadu_si256(src.add((8 * h + i) * stride) as *const _);
                *v = _mm256_xor_si256(bytes, x);
            }
            // t[g]: i32 g (group g) of columns 8h..8h + 8, in column order.
            let t = transpose8(&r);
            for (g, v) in t.iter().enumerate().take(groups) {
                _mm256_storeu_si256(dst.add(64 * g + 32 * h) as *mut _, *v);
                *sum = _mm256_dpbusd_avx_epi32(*sum, ones, *v);
            }
        }
    }
}

/// Packs full panel `p` of an N×K source and writes its 16 column sums.
///
/// # Safety
/// AVX2 and AVX-VNNI present; `args` valid with `k_stride == 1` and `(p + 1)·16 <= N`.
#[inline(always)]
unsafe fn nxk_panel(args: &PackArgs, p: usize) {
    // columns p·16 + j < N hold K bytes at (p·16 + j)·n_stride: full blocks read
    // bytes 32b..32b + 32 <= K, the short last block is copied byte by byte below K.
    // Panel p of dst holds kp·16 bytes, group g at g·64 for g < kp/4 (nxk_block stores
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
            nxk_block(src.add(32 * b), ns, x, dst.add(32 * b * NR), 8, &mut sums);
        }
        let rest = k - 32 * blocks;
        if rest > 0 {
            // The short last block: its bytes XORed into zeros (the padding of the last
            // group stays zero), then packed from the stack with no further XOR.
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
/// AVX2 and AVX-VNNI present; `args` valid with `n_stride == 1`; `full = N / 16`.
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

/// Groups `g0..g1` of the `P` (1, 2 or 4) full panels from `p` of a K×N source, their
/// column sums added to `colsum`.
///
/// # Safety
/// AVX2 and AVX-VNNI present; `args` valid with `n_stride == 1`; `(p + P)·16 <= N`;
/// `g0 < g1 <= ceil(K/4)`.
#[inline(always)]
unsafe fn kxn_panels<const P: usize>(args: &PackArgs, p: usize, g0: usize, g1: usize) {
    // Panel q of dst holds kp·16 bytes; panels p..p + P exist, and so do colsum entries
    // p·16 .. (p + P)·16. Groups below K/4 have all 4 rows below K; only the last group
    // (g = K/4, when K % 4 != 0) has rows at or past K, which kxn_group::<P, false>
    // leaves at zero.
    // SAFETY: the conditions stated just above hold, so each kxn_group call meets its
    // contract.
    unsafe {
        let kp = args.k.div_ceil(KR) * KR;
        let c0 = p * NR;
        let cs = args.colsum.add(c0);
        let ctx = Group {
            src: args.src.add(c0),
            ks: args.k_stride,
            k: args.k,
            panel: kp * NR,
            x: _mm256_set1_epi8(args.xor as i8),
            ones: _mm256_set1_epi8(1),
        };
        let d0 = args.dst.add(p * kp * NR) as *mut u8;
        // sums[q][s]: columns 8s..8s + 8 of panel p + q.
        let mut sums = [[_mm256_setzero_si256(); 2]; P];
        for (q, s) in sums.iter_mut().enumerate() {
            s[0] = _mm256_loadu_si256(cs.add(NR * q) as *const _);
            s[1] = _mm256_loadu_si256(cs.add(NR * q + 8) as *const _);
        }
        let whole = g1.min(args.k / KR);
        for g in g0..whole {
            kxn_group::<P, true>(&ctx, g, d0.add(g * NR * KR), &mut sums);
        }
        if whole < g1 {
            kxn_group::<P, false>(&ctx, whole, d0.add(whole * NR * KR), &mut sums);
        }
        for (q, s) in sums.iter().enumerate() {
            _mm256_storeu_si256(cs.add(NR * q) as *mut _, s[0]);
            _mm256_storeu_si256(cs.add(NR * q + 8) as *mut _, s[1]);
        }
    }
}

/// What every group of a run of K×N panels shares.
struct Group {
    /// Column 0 of the run in row 0 of the source.
    src: *const u8,
    /// Bytes between source rows.
    ks: usize,
    /// Depth K.
    k: usize,
    /// Bytes per packed panel (`Kp·16`).
    panel: usize,
    /// The XOR, broadcast.
    x: __m256i,
    /// u8 ones, for `vpdpbusd`.
    ones: __m256i,
}

/// Group `g` (rows `4g..4g + 4`) of the `P` (1, 2 or 4) panels at `c.src`, stored at
/// `out` (group `g` of the first panel; panel `q` is `q·c.panel` bytes further), its
/// column sums added to `sums`. Rows at or past K are read as zero unless `FULL`.
///
/// # Safety
/// AVX2 and AVX-VNNI present; rows `4g + t` (`t < 4`, only those `< c.k` unless `FULL`,
/// in which case all 4 are `< c.k`) are valid at `c.src + (4g + t)·c.ks` for `16·P`
/// bytes; `out + q·c.panel` valid for 64 bytes for `q < P`.
#[inline(always)]
unsafe fn kxn_group<const P: usize, const FULL: bool>(
    c: &Group,
    g: usize,
    out: *mut u8,
    sums: &mut [[__m256i; 2]; P],
) {
    // SAFETY: the reads (P/2 loads of 32 bytes, or 16 bytes when P = 1, per row) and
    // the writes (two ymm per panel) stay inside the extents of the contract.
    unsafe {
        for h in 0..P.div_ceil(2) {
            // r[t]: 32 bytes (16 when P = 1) of columns 32h.. of row 4g + t, zero past K.
            let mut r = [_mm256_setzero_si256(); 4];
            for (t, v) in r.iter_mut().enumerate() {
                let kk = g * KR + t;
                if FULL || kk < c.k {
                    let at = c.src.add(kk * c.ks + 32 * h);
                    let bytes = if P == 1 {
                        _mm256_zextsi128_si256(_mm_loadu_si128(at as *const _))
                    } else {
                        _mm256_loadu_si256(at as *const _)
                    };
                    *v = _mm256_xor_si256(bytes, c.x);
                }
            }
            // Bytes of rows (0, 1) and (2, 3) interleaved: words of columns 16L + 0..8
            // (t0, t2) and 16L + 8..16 (t1, t3) per lane L; then words: 4 bytes per
            // column.
            let t0 = _mm256_unpacklo_epi8(r[0], r[1]);
            let t1 = _mm256_unpackhi_epi8(r[0], r[1]);
            let t2 = _mm256_unpacklo_epi8(r[2], r[3]);
            let t3 = _mm256_unpackhi_epi8(r[2], r[3]);
            let u0 = _mm256_unpacklo_epi16(t0, t2); // columns 16L + 0..4
            let u1 = _mm256_unpackhi_epi16(t0, t2); // 16L + 4..8
            let u2 = _mm256_unpacklo_epi16(t1, t3); // 16L + 8..12
            let u3 = _mm256_unpackhi_epi16(t1, t3); // 16L + 12..16
                                                    // Panel 2h: lanes 0 (columns 0..8, 8..16); panel 2h + 1: lanes 1.
            let o = [
                _mm256_permute2x128_si256::<0x20>(u0, u1),
                _mm256_permute2x128_si256::<0x20>(u2, u3),
                _mm256_permute2x128_si256::<0x31>(u0, u1),
                _mm256_permute2x128_si256::<0x31>(u2, u3),
            ];
            for (i, v) in o.iter().enumerate().take(if P == 1 { 2 } else { 4 }) {
                let (q, s) = (2 * h + i / 2, i % 2);
                _mm256_storeu_si256(out.add(q * c.panel + 32 * s) as *mut _, *v);
                sums[q][s] = _mm256_dpbusd_avx_epi32(sums[q][s], c.ones, *v);
            }
        }
    }
}
