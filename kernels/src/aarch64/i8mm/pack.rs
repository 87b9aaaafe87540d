//! The packer of `gemm_u8i8_4x16c8`'s layout (panels of 16 columns, K in groups of 8:
//! per group, 16 columns × 8 bytes = 128 bytes, vector `c` = columns `2c`, `2c+1`; see
//! [`crate::PackArgs`]), with the column sums in the same pass. Uses Advanced SIMD only
//! (the table needs I8MM anyway).
//!
//! ```text
//! N×K source (k_stride == 1: column j's K bytes contiguous), per full panel:
//!     for each block of 16 K bytes (2 groups; the last one short: copied, XORed, into
//!     zeros):
//!         r[j] = 16 bytes of column j, ^ xor                      (j < 16)
//!         for c in 0..8: group 0 vector c = zip1 .2d (r[2c], r[2c+1]), group 1 = zip2
//!             stored at 128q + 16c;  acc[c] = sadalp(acc[c], saddlp(·))
//!     sums of columns 4v..4v+4 = addp(acc[2v], acc[2v+1])
//!     a partial last panel: the portable packer
//! K×N source (n_stride == 1: row k's N bytes contiguous):
//!     for each tile of TILE_GROUPS groups (8·TILE_GROUPS rows of K):
//!         for each full panel (16 columns):
//!             for each group: r0..r7 = its 8 rows, 16 bytes each, ^ xor (rows ≥ K: 0)
//!                 s16 += saddw(r[i])   (i16 sums per column)
//!                 8×16 byte transpose (trn1/trn2 .16b, .8h, .4s): t[c] = columns c and
//!                 c + 8 (8 bytes each); vector c = trn1/trn2 .2d of (t[2c], t[2c+1])
//!             the panel's column sums += s16 widened (kept in `colsum`)
//!     a partial last panel: the portable packer
//! other strides: the portable packer
//! ```
//!
//! Column sums: `saddlp` + `sadalp` add 4 bytes of a column into an i32 lane exactly
//! (two lanes per column, joined by `addp`); `saddw` adds at most 8·TILE_GROUPS = 64
//! rows of |v| ≤ 128 in i16 before they are widened; the i32 sums wrap like the
//! definition.
//!
//! Optimisations: (1) N×K needs one `zip` per 16 packed bytes (the layout keeps 8
//! contiguous K bytes per column), K×N 32 permutes per 128 bytes; no scalar byte
//! handling but the short last block of N×K and a partial last panel; (2) the sums ride
//! on the vectors already in registers; (3) K×N works in tiles of rows across all
//! panels, so each source row is read in whole cache lines while they are still in L1.

use core::arch::aarch64::*;

use crate::aarch64::neon::pack::{add_row, flush_sums, short_block};
use crate::PackArgs;

const NR: usize = 16;
const KR: usize = 8;
/// Groups of 8 rows per tile of the K×N path (64 rows).
const TILE_GROUPS: usize = 8;

/// Packs `args` (see [`crate::GemmKernel::pack`]).
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for NR = 16, KR = 8; the CPU has
/// Advanced SIMD.
#[target_feature(enable = "neon")]
pub unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract; the features of every callee are enabled here.
    unsafe {
        let full = args.n / NR;
        let done = if args.k_stride == 1 {
            for p in 0..full {
                nxk_panel(args, p);
            }
            full * NR
        } else if args.n_stride == 1 {
            kxn(args, full);
            full * NR
        } else {
            0
        };
        crate::scalar::gemm::pack_columns_from::<NR, KR>(args, done);
    }
}

/// One block of 2 groups of 16 columns from `r` (column `j` in `r[j]`): groups
/// `0..groups` stored at `dst + 128q`, their sums added to `acc` (lanes 2i, 2i + 1 of
/// `acc[c]`: halves of column 2c + i).
///
/// # Safety
/// Advanced SIMD present; `dst` valid for `128·groups` bytes; `groups <= 2`.
#[inline(always)]
unsafe fn nxk_block(r: &[uint8x16_t; 16], dst: *mut u8, groups: usize, acc: &mut [int32x4_t; 8]) {
    // SAFETY: stores of 16 bytes at 128q + 16c < 128·groups (caller contract).
    unsafe {
        for (c, a) in acc.iter_mut().enumerate() {
            let (lo, hi) = (
                vreinterpretq_u64_u8(r[2 * c]),
                vreinterpretq_u64_u8(r[2 * c + 1]),
            );
            let o = [vzip1q_u64(lo, hi), vzip2q_u64(lo, hi)];
            for (q, o) in o.iter().enumerate().take(groups) {
                let o = vreinterpretq_u8_u64(*o);
                vst1q_u8(dst.add(128 * q + 16 * c), o);
                *a = vpadalq_s16(*a, vpaddlq_s8(vreinterpretq_s8_u8(o)));
            }
        }
    }
}

/// Packs full panel `p` of an N×K source and writes its 16 column sums.
///
/// # Safety
/// Advanced SIMD present; `args` valid with `k_stride == 1` and `(p + 1)·16 <= N`.
#[inline(always)]
unsafe fn nxk_panel(args: &PackArgs, p: usize) {
    // columns p·16 + j < N hold K bytes at (p·16 + j)·n_stride: full blocks read
    // bytes 16b..16b + 16 <= K, the short last block is copied byte by byte below K.
    // Panel p of dst holds kp·16 bytes, group g at 128g for g < kp/8 (nxk_block stores
    // only those); its sums are colsum[p·16..p·16 + 16].
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let k = args.k;
        let kp = k.div_ceil(KR) * KR;
        let ns = args.n_stride;
        let src = args.src.add(p * NR * ns);
        let dst = args.dst.add(p * kp * NR) as *mut u8;
        let x = vdupq_n_u8(args.xor);
        let mut acc = [vdupq_n_s32(0); 8];
        let mut r = [vdupq_n_u8(0); 16];
        let blocks = k / 16;
        for b in 0..blocks {
            for (j, v) in r.iter_mut().enumerate() {
                *v = veorq_u8(vld1q_u8(src.add(j * ns + 16 * b)), x);
            }
            nxk_block(&r, dst.add(16 * b * NR), 2, &mut acc);
        }
        let rest = k - 16 * blocks;
        if rest > 0 {
            let tail = short_block::<NR>(src.add(16 * blocks), ns, rest, args.xor);
            for (v, t) in r.iter_mut().zip(&tail) {
                *v = vld1q_u8(t.as_ptr());
            }
            nxk_block(&r, dst.add(16 * blocks * NR), rest.div_ceil(KR), &mut acc);
        }
        for v in 0..4 {
            let sums = vpaddq_s32(acc[2 * v], acc[2 * v + 1]);
            vst1q_s32(args.colsum.add(p * NR + 4 * v), sums);
        }
    }
}

/// Packs the first `full` (all full) panels of a K×N source: tiles of rows, panels
/// inside each tile.
///
/// # Safety
/// Advanced SIMD present; `args` valid with `n_stride == 1`; `full·16 <= N`.
#[inline(always)]
unsafe fn kxn(args: &PackArgs, full: usize) {
    // rows kk < K hold N bytes at kk·k_stride, of which columns
    // 16p..16p + 16 <= N are read. Panel p of dst holds kp·16 bytes with group g at
    // 128g (g < kp/8). colsum holds at least full·16 sums.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let (k, ks) = (args.k, args.k_stride);
        let kp = k.div_ceil(KR) * KR;
        let groups = kp / KR;
        let x = vdupq_n_u8(args.xor);
        core::ptr::write_bytes(args.colsum, 0, full * NR);
        let mut g0 = 0;
        while g0 < groups {
            let g1 = (g0 + TILE_GROUPS).min(groups);
            for p in 0..full {
                let src = args.src.add(NR * p);
                let dst = args.dst.add(p * kp * NR) as *mut u8;
                let mut s16 = [vdupq_n_s16(0); 2];
                for g in g0..g1 {
                    let mut r = [vdupq_n_u8(0); 8];
                    for (i, v) in r.iter_mut().enumerate() {
                        let kk = KR * g + i;
                        if kk < k {
                            *v = veorq_u8(vld1q_u8(src.add(kk * ks)), x);
                            add_row(&mut s16, *v);
                        }
                    }
                    let t = transpose8x16(&r);
                    let out = dst.add(g * KR * NR);
                    for c in 0..8 {
                        // Columns 2c and 2c + 1: the low halves of t[2c], t[2c + 1] for
                        // c < 4, their high halves (columns 8..16) after.
                        let (a, b) = (t[(2 * c) % 8], t[(2 * c) % 8 + 1]);
                        let v = if c < 4 {
                            vtrn1q_u64(a, b)
                        } else {
                            vtrn2q_u64(a, b)
                        };
                        vst1q_u8(out.add(16 * c), vreinterpretq_u8_u64(v));
                    }
                }
                flush_sums(args.colsum.add(NR * p), &s16);
            }
            g0 = g1;
        }
    }
}

/// Transposes 8 rows of 16 bytes: 64-bit element `e` of `out[c]` holds byte `8e + c` of
/// every row, in row order (`out[c]` = columns `c` and `c + 8`).
///
/// # Safety
/// Advanced SIMD present.
#[inline(always)]
unsafe fn transpose8x16(r: &[uint8x16_t; 8]) -> [uint64x2_t; 8] {
    // SAFETY: register-only Advanced SIMD operations (caller contract).
    unsafe {
        // s1[2i], 16-bit element e: bytes 2e of rows 2i, 2i+1; s1[2i+1]: bytes 2e+1.
        let mut s1 = [vdupq_n_u16(0); 8];
        for i in 0..4 {
            s1[2 * i] = vreinterpretq_u16_u8(vtrn1q_u8(r[2 * i], r[2 * i + 1]));
            s1[2 * i + 1] = vreinterpretq_u16_u8(vtrn2q_u8(r[2 * i], r[2 * i + 1]));
        }
        // s2[4g + q], 32-bit element f: byte 4f + q of rows 4g..4g+4.
        let mut s2 = [vdupq_n_u32(0); 8];
        for g in 0..2 {
            let (a, b, c, d) = (s1[4 * g], s1[4 * g + 1], s1[4 * g + 2], s1[4 * g + 3]);
            s2[4 * g] = vreinterpretq_u32_u16(vtrn1q_u16(a, c));
            s2[4 * g + 1] = vreinterpretq_u32_u16(vtrn1q_u16(b, d));
            s2[4 * g + 2] = vreinterpretq_u32_u16(vtrn2q_u16(a, c));
            s2[4 * g + 3] = vreinterpretq_u32_u16(vtrn2q_u16(b, d));
        }
        // out[c] (c < 4: trn1 of s2[c], s2[4 + c]; c >= 4: trn2 of s2[c - 4], s2[c]),
        // 64-bit element e: byte 8e + c of rows 0..8.
        let mut out = [vdupq_n_u64(0); 8];
        for q in 0..4 {
            out[q] = vreinterpretq_u64_u32(vtrn1q_u32(s2[q], s2[4 + q]));
            out[4 + q] = vreinterpretq_u64_u32(vtrn2q_u32(s2[q], s2[4 + q]));
        }
        out
    }
}
