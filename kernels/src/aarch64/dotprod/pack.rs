//! The packer of `gemm_u8i8_4x16c4`'s layout (panels of 16 columns, K in groups of 4:
//! per group, 16 columns × 4 bytes = 64 bytes; see [`crate::PackArgs`]), with the column
//! sums in the same pass. Uses Advanced SIMD only (the table needs DotProd anyway).
//!
//! ```text
//! N×K source (k_stride == 1: column j's K bytes contiguous), per full panel:
//!     for each block of 16 K bytes (4 groups; the last one short: copied, XORed, into
//!     zeros):
//!         r[j] = 16 bytes of column j, ^ xor                      (j < 16)
//!         for v in 0..4: 4×4 transpose of the i32 of r[4v..4v+4] (trn1/trn2 .4s, .2d):
//!             o[q] = group q of columns 4v..4v+4, stored at 64q + 16v
//!             acc[v] = sadalp(acc[v], saddlp(o[q]))     (i32 lane = one column)
//!     a partial last panel: the portable packer
//! K×N source (n_stride == 1: row k's N bytes contiguous):
//!     for each tile of TILE_GROUPS groups (4·TILE_GROUPS rows of K):
//!         for each full panel (16 columns):
//!             for each group: r0..r3 = its 4 rows, 16 bytes each, ^ xor (rows ≥ K: 0)
//!                 s16 += saddw(r[i])   (i16 sums per column)
//!                 zip1/zip2 .16b of (r0, r1), (r2, r3), then zip1/zip2 .8h: 4 vectors of
//!                 4 columns × 4 bytes, stored in order
//!             the panel's column sums += s16 widened (kept in `colsum`)
//!     a partial last panel: the portable packer
//! other strides: the portable packer
//! ```
//!
//! Column sums: `saddlp` + `sadalp` add the 4 bytes of a column into its i32 lane
//! exactly; `saddw` adds at most 4·TILE_GROUPS = 64 rows of |v| ≤ 128 in i16 before they
//! are widened; the i32 sums wrap like the definition.
//!
//! Optimisations: (1) 8 permutes per 64 packed bytes in either layout, no scalar byte
//! handling but the short last block of N×K and a partial last panel; (2) the sums ride
//! on the vectors already in registers (2 instructions per 16 bytes); (3) K×N works in
//! tiles of rows across all panels, so each source row is read in whole cache lines
//! while they are still in L1.

use core::arch::aarch64::*;

use crate::aarch64::neon::pack::{add_row, flush_sums, short_block};
use crate::PackArgs;

const NR: usize = 16;
const KR: usize = 4;
/// Groups of 4 rows per tile of the K×N path (64 rows).
const TILE_GROUPS: usize = 16;

/// Packs `args` (see [`crate::GemmKernel::pack`]).
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for NR = 16, KR = 4; the CPU has
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

/// One block of 4 groups of 16 columns from `r` (column `j` in `r[j]`): groups
/// `0..groups` stored at `dst + 64q`, their sums added to `acc` (lane = column).
///
/// # Safety
/// Advanced SIMD present; `dst` valid for `64·groups` bytes; `groups <= 4`.
#[inline(always)]
unsafe fn nxk_block(r: &[uint8x16_t; 16], dst: *mut u8, groups: usize, acc: &mut [int32x4_t; 4]) {
    // SAFETY: stores of 16 bytes at 64q + 16v < 64·groups (caller contract).
    unsafe {
        for (v, a) in acc.iter_mut().enumerate() {
            let (r0, r1) = (
                vreinterpretq_u32_u8(r[4 * v]),
                vreinterpretq_u32_u8(r[4 * v + 1]),
            );
            let (r2, r3) = (
                vreinterpretq_u32_u8(r[4 * v + 2]),
                vreinterpretq_u32_u8(r[4 * v + 3]),
            );
            // i32 pairs (rows 0, 1) and (2, 3) of groups 2e (trn1) and 2e + 1 (trn2).
            let t01 = vreinterpretq_u64_u32(vtrn1q_u32(r0, r1));
            let t01b = vreinterpretq_u64_u32(vtrn2q_u32(r0, r1));
            let t23 = vreinterpretq_u64_u32(vtrn1q_u32(r2, r3));
            let t23b = vreinterpretq_u64_u32(vtrn2q_u32(r2, r3));
            let o = [
                vtrn1q_u64(t01, t23),   // group 0 of the 4 columns
                vtrn1q_u64(t01b, t23b), // group 1
                vtrn2q_u64(t01, t23),   // group 2
                vtrn2q_u64(t01b, t23b), // group 3
            ];
            for (q, o) in o.iter().enumerate().take(groups) {
                let o = vreinterpretq_u8_u64(*o);
                vst1q_u8(dst.add(64 * q + 16 * v), o);
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
    // Panel p of dst holds kp·16 bytes, group g at 64g for g < kp/4 (nxk_block stores
    // only those); its sums are colsum[p·16..p·16 + 16].
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let k = args.k;
        let kp = k.div_ceil(KR) * KR;
        let ns = args.n_stride;
        let src = args.src.add(p * NR * ns);
        let dst = args.dst.add(p * kp * NR) as *mut u8;
        let x = vdupq_n_u8(args.xor);
        let mut acc = [vdupq_n_s32(0); 4];
        let mut r = [vdupq_n_u8(0); 16];
        let blocks = k / 16;
        for b in 0..blocks {
            for (j, v) in r.iter_mut().enumerate() {
                *v = veorq_u8(vld1q_u8(src.add(j * ns + 16 * b)), x);
            }
            nxk_block(&r, dst.add(16 * b * NR), 4, &mut acc);
        }
        let rest = k - 16 * blocks;
        if rest > 0 {
            let tail = short_block::<NR>(src.add(16 * blocks), ns, rest, args.xor);
            for (v, t) in r.iter_mut().zip(&tail) {
                *v = vld1q_u8(t.as_ptr());
            }
            nxk_block(&r, dst.add(16 * blocks * NR), rest.div_ceil(KR), &mut acc);
        }
        for (v, a) in acc.iter().enumerate() {
            vst1q_s32(args.colsum.add(p * NR + 4 * v), *a);
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
    // 16p..16p + 16 <= N are read. Panel p of dst holds kp·16 bytes with group g at 64g
    // (g < kp/4). colsum holds at least full·16 sums.
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
                    let mut r = [vdupq_n_u8(0); 4];
                    for (i, v) in r.iter_mut().enumerate() {
                        let kk = KR * g + i;
                        if kk < k {
                            *v = veorq_u8(vld1q_u8(src.add(kk * ks)), x);
                            add_row(&mut s16, *v);
                        }
                    }
                    // Bytes of rows (0, 1) and (2, 3) paired, then the pairs: column c's
                    // 4 bytes at 4·(c % 4) of vector c / 4.
                    let z01 = vreinterpretq_u16_u8(vzip1q_u8(r[0], r[1])); // columns 0..8
                    let z01b = vreinterpretq_u16_u8(vzip2q_u8(r[0], r[1])); // 8..16
                    let z23 = vreinterpretq_u16_u8(vzip1q_u8(r[2], r[3]));
                    let z23b = vreinterpretq_u16_u8(vzip2q_u8(r[2], r[3]));
                    let out = dst.add(g * KR * NR);
                    vst1q_u8(out, vreinterpretq_u8_u16(vzip1q_u16(z01, z23)));
                    vst1q_u8(out.add(16), vreinterpretq_u8_u16(vzip2q_u16(z01, z23)));
                    vst1q_u8(out.add(32), vreinterpretq_u8_u16(vzip1q_u16(z01b, z23b)));
                    vst1q_u8(out.add(48), vreinterpretq_u8_u16(vzip2q_u16(z01b, z23b)));
                }
                flush_sums(args.colsum.add(NR * p), &s16);
            }
            g0 = g1;
        }
    }
}
