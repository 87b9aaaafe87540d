//! `aarch64::neon::gemm_u8i8_4x4c16`: a 4×4 tile of u8×i8 → i32 with `smull`/`smull2`
//! + `sadalp`, K in groups of 16, on every ARMv8-A CPU.
//!
//! Packed B layout ([`crate::PackArgs`] with NR = 4, KR = 16): per group of 16 K
//! values, 4 columns × 16 bytes = 64 bytes, one `ld1 {4 regs}`; vector `j` holds column
//! `j`'s 16 K values. A is read in place, 16 bytes per row per group, in the signed
//! domain of the `aarch64` module docs (u8 A flipped with one `eor`, i8 A as is).
//!
//! Exactness: an i8×i8 product lies in `[−16256, 16384]`, so `smull` (8 products into
//! i16 lanes) is exact, but the sum of two products can reach 32768 and overflow i16;
//! `smlal` is therefore never used. `sadalp` adds adjacent i16 products pairwise into
//! the i32 accumulator lanes (exact). Each (row, column) pair owns one accumulator
//! whose 4 lanes hold partial sums over K, reduced with three `addp` per 4 columns at
//! the end.
//!
//! ```text
//! for each group g of 16 K values:            (inner loop, per tile of M ≤ 4 rows)
//!     b[0..4] = ld1 {4 × 16 bytes}             (columns 0..4)
//!     for i in 0..M: a = A[i][16g..16g+16] (^ 0x80 for u8 A)
//!         for j in 0..4: acc[i][j] = sadalp(sadalp(acc[i][j], smull(a.lo, b[j].lo)),
//!                                                            smull2(a, b[j]))
//! tail (K % 16): the same with A's last bytes copied into a zeroed 16-byte buffer
//! reduce: C[i][0..4] = addp(addp(acc[i][0], acc[i][1]), addp(acc[i][2], acc[i][3]))
//! epilogue: C + (za − 128)·colcorr − zb·rowsum (signed row sums), output stage
//! ```
//!
//! Speed (inner loop of the release build, `aarch64-linux-gnu-objdump -d`, counted with
//! `kernels/tools/loop_mix.py`; M = 4): per group of 16 K the loop is 78 instructions
//! for u8 A: 32 `smull`/`smull2` + 32 `sadalp` (256 multiply-adds), 4 `eor`, 6 loads
//! (4 `ldr q` of A, 2 `ldp q` of B: LLVM splits `ld1 {4 regs}` into two `ldp`), 3
//! address/counter updates and the branch; 74 for i8 A (no `eor`). That is 3.3 (u8) /
//! 3.5 (i8) multiply-adds per instruction; 41 % / 43 % of the loop are `smull`, 82 % /
//! 86 % `smull` or `sadalp`, 12 % loads and address arithmetic. The peak of `smull` is
//! 8 multiply-adds per instruction, 4 with the `sadalp` that exactness requires (the
//! `smull` + `smlal` pair would do 5.3 but overflows i16 at (−128)·(−128)·2).
//! Optimisations: (1) 16 accumulators reuse each B register 4 times and each A
//! register 4 times; (2) the pairwise `sadalp` keeps every partial sum exact in i32;
//! (3) the tile height and the flip are const generics, so no branch is left in the
//! loop.

use core::arch::aarch64::*;

use super::stage::{epilogue, signed_row_sums};
use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 4;
const NR: usize = 4;
const KR: usize = 16;

/// The NEON GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "aarch64::neon::gemm_u8i8_4x4c16",
    isa: Isa::Neon,
    mr: MR,
    nr: NR,
    kr: KR,
    pack,
    pack_a: None,
    tile,
    tile_indirect: None,
    session: None,
};

/// # Safety
/// See [`GemmKernel::pack`].
unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract (the table is only used where the CPU has Advanced
    // SIMD); `super::pack` writes the layout of this NR/KR.
    unsafe { super::pack::pack(args) }
}

/// # Safety
/// See [`GemmKernel::tile`]; the CPU has Advanced SIMD.
#[target_feature(enable = "neon")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here). u8 A (a_xor = 0) is
    // flipped into the signed domain; i8 A is used as is.
    unsafe { tile_dispatch!(tile_m, args, args.m, args.a_xor == 0; 1, 2, 3, 4) }
}

/// `acc + Σ` of the 16 products `a[t]·b[t]`, pairwise into the 4 lanes.
#[inline(always)]
unsafe fn mac16(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: Advanced SIMD present in every caller.
    unsafe {
        let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        let hi = vmull_high_s8(a, b);
        vpadalq_s16(vpadalq_s16(acc, lo), hi)
    }
}

/// 16 bytes of A as signed values (flipped when `FLIP`).
#[inline(always)]
unsafe fn load_a<const FLIP: bool>(p: *const u8) -> int8x16_t {
    // SAFETY: the caller passes 16 readable bytes; Advanced SIMD present.
    unsafe {
        let v = vld1q_u8(p);
        vreinterpretq_s8_u8(if FLIP {
            veorq_u8(v, vdupq_n_u8(0x80))
        } else {
            v
        })
    }
}

/// A tile of `M` rows.
#[inline(always)]
unsafe fn tile_m<const M: usize, const FLIP: bool>(args: &TileArgs) {
    // Advanced SIMD present; A rows i < M have K bytes and the group loads stay
    // below 16·(K/16) ≤ K (the tail goes through a copy); the panel holds ceil(K/16)
    // groups of 64 bytes.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let (a0, stride) = (args.a, args.a_stride);
        let mut acc = [[vdupq_n_s32(0); NR]; M];
        let groups = args.k / KR;
        let mut b = args.b;
        for g in 0..groups {
            let bv = vld1q_s8_x4(b);
            let bv = [bv.0, bv.1, bv.2, bv.3];
            for (i, row) in acc.iter_mut().enumerate() {
                let a = load_a::<FLIP>(a0.add(i * stride + KR * g));
                for (c, bj) in row.iter_mut().zip(bv) {
                    *c = mac16(*c, a, bj);
                }
            }
            b = b.add(KR * NR);
        }
        let rem = args.k % KR;
        if rem != 0 {
            let bv = vld1q_s8_x4(b);
            let bv = [bv.0, bv.1, bv.2, bv.3];
            for (i, row) in acc.iter_mut().enumerate() {
                // The padding bytes meet zero bytes of B: any value is fine.
                let mut buf = [0u8; KR];
                core::ptr::copy_nonoverlapping(
                    a0.add(i * stride + KR * groups),
                    buf.as_mut_ptr(),
                    rem,
                );
                let a = load_a::<FLIP>(buf.as_ptr());
                for (c, bj) in row.iter_mut().zip(bv) {
                    *c = mac16(*c, a, bj);
                }
            }
        }
        let mut out = [[vdupq_n_s32(0); 1]; M];
        for (o, r) in out.iter_mut().zip(acc) {
            o[0] = vpaddq_s32(vpaddq_s32(r[0], r[1]), vpaddq_s32(r[2], r[3]));
        }
        let rowsum = signed_row_sums::<M, FLIP>(args);
        epilogue::<M, 1>(args, out, args.za.wrapping_sub(128), rowsum);
    }
}
