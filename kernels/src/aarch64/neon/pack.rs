//! The packer of `gemm_u8i8_4x4c16`'s layout (panels of 4 columns, K in groups of 16:
//! per group, 4 columns × 16 bytes = 64 bytes; see [`crate::PackArgs`]), with the
//! column sums in the same pass, and the pieces the `dotprod` and `i8mm` packers share
//! (the 16×16 byte transpose, the zero-padded copy of a short block, the row-wise
//! column sums of a K×N source). Needs Advanced SIMD only.
//!
//! ```text
//! N×K source (k_stride == 1: column j's K bytes contiguous), per full panel:
//!     for each group of 16 K bytes (the last one short: copied, XORed, into zeros):
//!         v[j] = 16 bytes of column j, ^ xor;  store v[0..4] (64 bytes, in order)
//!         acc[j] = sadalp(acc[j], saddlp(v[j]))      (4 i32 partial sums per column)
//!     sums = addp(addp(acc[0], acc[1]), addp(acc[2], acc[3]))
//!     a partial last panel: the portable packer
//! K×N source (n_stride == 1: row k's N bytes contiguous):
//!     for each tile of TILE_GROUPS groups (16·TILE_GROUPS rows of K):
//!         for each block of 16 columns (4 panels):
//!             for each group: r[i] = 16 bytes of its row i, ^ xor (rows ≥ K: 0)
//!                 s16 += saddw(r[i])   (i16 sums per column, before the transpose)
//!                 c = transpose16x16(r)      c[j] = column j's 16 K values
//!                 store c[j] at panel j / 4, lane j % 4
//!             the block's column sums += s16 widened (kept in `colsum`)
//!     the last N % 16 columns: the portable packer
//! other strides: the portable packer
//! ```
//!
//! Column sums: `saddlp` + `sadalp` (N×K) and `saddw` (K×N, at most 16·TILE_GROUPS = 64
//! rows of |v| ≤ 128 in i16 before they are widened) add the packed i8 values exactly,
//! and the i32 sums wrap like the definition.
//!
//! Optimisations: (1) N×K is a plain 16-byte copy per column and group (this layout is
//! N×K-shaped); (2) K×N transposes 16×16 bytes in 32 `trn1`/`trn2`, and its column sums
//! are taken on the rows (columns in lanes, 2 `saddw` per row) rather than on the
//! transposed vectors, which would need a horizontal reduction per column; (3) K×N works
//! in tiles of rows across all columns, so each source row is read in whole cache lines
//! while they are still in L1.

use core::arch::aarch64::*;

use crate::PackArgs;

const NR: usize = 4;
const KR: usize = 16;
/// Groups of 16 rows per tile of the K×N path (64 rows).
const TILE_GROUPS: usize = 4;

/// Packs `args` (see [`crate::GemmKernel::pack`]).
///
/// # Safety
/// `args` valid as documented on [`PackArgs`] for NR = 4, KR = 16; the CPU has
/// Advanced SIMD.
#[target_feature(enable = "neon")]
pub unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract; the features of every callee are enabled here.
    unsafe {
        let done = if args.k_stride == 1 {
            let full = args.n / NR;
            for p in 0..full {
                nxk_panel(args, p);
            }
            full * NR
        } else if args.n_stride == 1 {
            let blocks = args.n / 16;
            kxn(args, blocks);
            blocks * 16
        } else {
            0
        };
        crate::scalar::gemm::pack_columns_from::<NR, KR>(args, done);
    }
}

/// `R` rows of a short block: bytes `0..rest` of `src + i·stride`, XORed with `xor`,
/// then zeros up to 16.
///
/// # Safety
/// `src + i·stride` valid for `rest` bytes for `i < R`; `rest <= 16`.
#[inline(always)]
pub(crate) unsafe fn short_block<const R: usize>(
    src: *const u8,
    stride: usize,
    rest: usize,
    xor: u8,
) -> [[u8; 16]; R] {
    let mut out = [[0u8; 16]; R];
    for (i, row) in out.iter_mut().enumerate() {
        // SAFETY: `rest` bytes of row i (caller contract).
        let from = unsafe { core::slice::from_raw_parts(src.add(i * stride), rest) };
        for (d, &s) in row.iter_mut().zip(from) {
            *d = s ^ xor;
        }
    }
    out
}

/// Transposes 16 rows of 16 bytes: `out[j]` holds byte `j` of every row, in row order.
///
/// Four rounds of `trn1`/`trn2` on 8-, 16-, 32- and 64-bit elements, each pairing rows
/// (or row groups) 1, 2, 4 and 8 apart.
///
/// # Safety
/// Advanced SIMD present.
#[inline(always)]
pub(crate) unsafe fn transpose16x16(r: &[uint8x16_t; 16]) -> [uint8x16_t; 16] {
    // SAFETY: register-only Advanced SIMD operations (caller contract).
    unsafe {
        // s1[2i], 16-bit element e: bytes 2e of rows 2i, 2i+1; s1[2i+1]: bytes 2e+1.
        let mut s1 = [vdupq_n_u16(0); 16];
        for i in 0..8 {
            s1[2 * i] = vreinterpretq_u16_u8(vtrn1q_u8(r[2 * i], r[2 * i + 1]));
            s1[2 * i + 1] = vreinterpretq_u16_u8(vtrn2q_u8(r[2 * i], r[2 * i + 1]));
        }
        // s2[4g + q], 32-bit element f: column 4f + q of rows 4g..4g+4.
        let mut s2 = [vdupq_n_u32(0); 16];
        for g in 0..4 {
            let (a, b, c, d) = (s1[4 * g], s1[4 * g + 1], s1[4 * g + 2], s1[4 * g + 3]);
            s2[4 * g] = vreinterpretq_u32_u16(vtrn1q_u16(a, c));
            s2[4 * g + 1] = vreinterpretq_u32_u16(vtrn1q_u16(b, d));
            s2[4 * g + 2] = vreinterpretq_u32_u16(vtrn2q_u16(a, c));
            s2[4 * g + 3] = vreinterpretq_u32_u16(vtrn2q_u16(b, d));
        }
        // s3[8h + c], 64-bit element e: column 8e + c of rows 8h..8h+8.
        let mut s3 = [vdupq_n_u64(0); 16];
        for h in 0..2 {
            for q in 0..4 {
                let (a, b) = (s2[8 * h + q], s2[8 * h + 4 + q]);
                s3[8 * h + q] = vreinterpretq_u64_u32(vtrn1q_u32(a, b));
                s3[8 * h + 4 + q] = vreinterpretq_u64_u32(vtrn2q_u32(a, b));
            }
        }
        let mut out = [vdupq_n_u8(0); 16];
        for c in 0..8 {
            out[c] = vreinterpretq_u8_u64(vtrn1q_u64(s3[c], s3[8 + c]));
            out[8 + c] = vreinterpretq_u8_u64(vtrn2q_u64(s3[c], s3[8 + c]));
        }
        out
    }
}

/// Adds one row (16 columns, i8 after the XOR) into the i16 column sums.
///
/// # Safety
/// Advanced SIMD present.
#[inline(always)]
pub(crate) unsafe fn add_row(s16: &mut [int16x8_t; 2], row: uint8x16_t) {
    // SAFETY: register-only Advanced SIMD operations (caller contract).
    unsafe {
        let v = vreinterpretq_s8_u8(row);
        s16[0] = vaddw_s8(s16[0], vget_low_s8(v));
        s16[1] = vaddw_high_s8(s16[1], v);
    }
}

/// Adds the i16 column sums of 16 columns into `colsum[0..16]` (i32, wrapping).
///
/// # Safety
/// Advanced SIMD present; `colsum` valid for 16 i32.
#[inline(always)]
pub(crate) unsafe fn flush_sums(colsum: *mut i32, s16: &[int16x8_t; 2]) {
    // SAFETY: 16 i32 at `colsum` (caller contract).
    unsafe {
        for (h, s) in s16.iter().enumerate() {
            let at = colsum.add(8 * h);
            vst1q_s32(at, vaddq_s32(vld1q_s32(at), vmovl_s16(vget_low_s16(*s))));
            let at = at.add(4);
            vst1q_s32(at, vaddq_s32(vld1q_s32(at), vmovl_high_s16(*s)));
        }
    }
}

/// Packs full panel `p` of an N×K source and writes its 4 column sums.
///
/// # Safety
/// Advanced SIMD present; `args` valid with `k_stride == 1` and `(p + 1)·4 <= N`.
#[inline(always)]
unsafe fn nxk_panel(args: &PackArgs, p: usize) {
    // columns p·4 + j < N hold K bytes at (p·4 + j)·n_stride: full groups read
    // bytes 16g..16g + 16 <= K, the short last group is copied byte by byte below K.
    // Panel p of dst holds kp·4 bytes, group g at 64g for g < kp/16; its sums are
    // colsum[p·4..p·4 + 4].
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let k = args.k;
        let kp = k.div_ceil(KR) * KR;
        let ns = args.n_stride;
        let src = args.src.add(p * NR * ns);
        let mut dst = args.dst.add(p * kp * NR) as *mut u8;
        let x = vdupq_n_u8(args.xor);
        let mut acc = [vdupq_n_s32(0); NR];
        let groups = k / KR;
        for g in 0..groups {
            for (j, a) in acc.iter_mut().enumerate() {
                let v = veorq_u8(vld1q_u8(src.add(j * ns + KR * g)), x);
                vst1q_u8(dst.add(16 * j), v);
                *a = vpadalq_s16(*a, vpaddlq_s8(vreinterpretq_s8_u8(v)));
            }
            dst = dst.add(KR * NR);
        }
        let rest = k - KR * groups;
        if rest > 0 {
            let tail = short_block::<NR>(src.add(KR * groups), ns, rest, args.xor);
            for (j, a) in acc.iter_mut().enumerate() {
                let v = vld1q_u8(tail[j].as_ptr());
                vst1q_u8(dst.add(16 * j), v);
                *a = vpadalq_s16(*a, vpaddlq_s8(vreinterpretq_s8_u8(v)));
            }
        }
        let sums = vpaddq_s32(vpaddq_s32(acc[0], acc[1]), vpaddq_s32(acc[2], acc[3]));
        vst1q_s32(args.colsum.add(p * NR), sums);
    }
}

/// Packs the first `blocks` blocks of 16 columns (4 panels each) of a K×N source: tiles
/// of rows, blocks inside each tile.
///
/// # Safety
/// Advanced SIMD present; `args` valid with `n_stride == 1`; `blocks·16 <= N`.
#[inline(always)]
unsafe fn kxn(args: &PackArgs, blocks: usize) {
    // rows kk < K hold N bytes at kk·k_stride, of which columns
    // 16b..16b + 16 <= N are read. Panel q of dst holds kp·4 bytes with group g at 64g
    // (g < kp/16), lane j at 16j; the panels of block b are 4b..4b+4. colsum holds at
    // least blocks·16 sums.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let (k, ks) = (args.k, args.k_stride);
        let kp = k.div_ceil(KR) * KR;
        let groups = kp / KR;
        let x = vdupq_n_u8(args.xor);
        core::ptr::write_bytes(args.colsum, 0, blocks * 16);
        let mut g0 = 0;
        while g0 < groups {
            let g1 = (g0 + TILE_GROUPS).min(groups);
            for b in 0..blocks {
                let src = args.src.add(16 * b);
                let dst = args.dst.add(4 * b * kp * NR) as *mut u8;
                let mut s16 = [vdupq_n_s16(0); 2];
                for g in g0..g1 {
                    let mut r = [vdupq_n_u8(0); 16];
                    for (i, v) in r.iter_mut().enumerate() {
                        let kk = KR * g + i;
                        if kk < k {
                            *v = veorq_u8(vld1q_u8(src.add(kk * ks)), x);
                            add_row(&mut s16, *v);
                        }
                    }
                    let c = transpose16x16(&r);
                    for (j, v) in c.iter().enumerate() {
                        vst1q_u8(
                            dst.add((j / NR) * kp * NR + g * KR * NR + 16 * (j % NR)),
                            *v,
                        );
                    }
                }
                flush_sums(args.colsum.add(16 * b), &s16);
            }
            g0 = g1;
        }
    }
}
