//! `aarch64::i8mm::gemm_u8i8_4x16c8`: a 4×16 tile of u8×i8 → i32 with `smmla` (i8 A)
//! or `usmmla` (u8 A), K in groups of 8; the one-row tile uses `sdot`/`usdot`.
//!
//! Packed B layout ([`crate::PackArgs`] with NR = 16, KR = 8): panels of 16 columns;
//! per group of 8 K values, 16 columns × 8 bytes = 128 bytes, two `ld1 {4 regs}`;
//! vector `c` holds columns `2c` and `2c+1` (8 bytes each), exactly the right-hand 2×8
//! operand of `smmla`: the plain `…c8` layout, packed by `pack.rs`.
//!
//! A is read in place, raw (u8 A with the mixed-sign `usmmla`, i8 A with `smmla`: no
//! flip, see the `aarch64` module docs). The left operand of `smmla` is two rows × 8 K
//! values; `ld4 {v0.d–v3.d}[lane]` loads 32 bytes of one row as four 8-byte groups
//! into lane 0 (row `2p`) or lane 1 (row `2p+1`) of four registers, so two loads give
//! the row pair's operands for 4 groups with no shuffle. A third row of an odd tile is
//! paired with itself (its duplicate results are dropped).
//!
//! ```text
//! for each chunk c of 32 K values:             (inner loop, per tile of M ≤ 4 rows)
//!     for pair p in 0..2: a[p][0..4] = ld4 lane 0 ← A[2p][32c..], lane 1 ← A[2p+1][32c..]
//!     for g in 0..4:                            (group 4c + g)
//!         b[0..8] = 2 × ld1 {4 × 16 bytes}
//!         for p in 0..2, n in 0..8: acc[p][n] = smmla(acc[p][n], a[p][g], b[n])
//! tail (K % 32): the same from zeroed 32-byte copies of the rows, ceil((K % 32)/8) groups
//! unzip: row 2p of columns 4v..4v+4 = zip1.2d(acc[p][2v], acc[p][2v+1]), row 2p+1 = zip2
//! epilogue: C + za'·colcorr − zb·rowsum' (u8 A: za and unsigned sums; i8 A: za − 128
//!     and signed sums), output stage
//! ```
//!
//! Speed (inner loop of the release build, `aarch64-linux-gnu-objdump -d`, counted with
//! `kernels/tools/loop_mix.py`; M = 4, u8 or i8 A alike): per chunk of 32 K the loop is
//! 88 instructions: 64 `usmmla`/`smmla` (2048 multiply-adds), 16 `ldp q` of B (LLVM
//! splits each `ld1 {4 regs}` into two), 4 `ld4` lane loads of A, 3 address/counter
//! updates and the branch: 73 % `smmla`, 23.3 multiply-adds per instruction against
//! the 32 of `smmla` (1.8× the `sdot` kernel's 13.2), 27 % loads and address
//! arithmetic. This is short of the 80 % aim, for a reason of register count, not of
//! code: a tile of 2 row pairs × 8 column pairs holds 16 accumulators, and one `ld4`
//! chunk of A takes 8 more registers, B 8, so each B register serves only 2 `smmla`.
//! A taller tile (3 row pairs) needs 24 accumulators + 12 A registers > 32; a wider
//! one shares the same bound; packing A into row pairs ahead of time would not reduce
//! the B loads. Every tile uses the full 32 multiply-adds of each `smmla` (the third
//! row of an odd tile is the only duplicate).
//!
//! The one-row (GEMV) tile cannot fill a row pair, and `smmla` with one useful row
//! would do 16 useful multiply-adds: `sdot`/`usdot` (vector form) do the same per
//! instruction without the waste. Per group, the 8 A bytes are duplicated into both
//! halves of a register, so lane pair (2c, 2c+1) of accumulator c holds columns 2c and
//! 2c+1's partial sums over the group's two 4-byte halves, added with one `addp` per 4
//! columns at the end. Per 32 K: 32 dots (512 multiply-adds), 16 `ldp q` of weights
//! (each weight byte read once), 1 A load, 4 `dup`, 4 overhead = 57 instructions; even
//! and odd groups accumulate separately to hide the dot latency.

use core::arch::aarch64::*;

use super::insn::{smmla, usdot, usmmla};
use crate::aarch64::dotprod::insn::sdot;
use crate::aarch64::neon::stage::{epilogue, row_sums};
use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 4;
const NR: usize = 16;
const KR: usize = 8;
/// K values per A load (4 groups).
const CHUNK: usize = 32;
/// Bytes of one group of the panel.
const GS: usize = KR * NR;

/// The I8MM GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "aarch64::i8mm::gemm_u8i8_4x16c8",
    isa: Isa::I8mm,
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
/// See [`GemmKernel::tile`]; the CPU has I8MM and DotProd.
#[target_feature(enable = "neon,dotprod,i8mm")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here). u8 A (a_xor = 0) takes
    // the mixed-sign instructions; i8 A the signed ones.
    unsafe {
        match (args.m, args.a_xor == 0) {
            (1, true) => tile_m1::<true>(args),
            (1, false) => tile_m1::<false>(args),
            (2, true) => tile_m::<1, 2, true>(args),
            (2, false) => tile_m::<1, 2, false>(args),
            (3, true) => tile_m::<2, 3, true>(args),
            (3, false) => tile_m::<2, 3, false>(args),
            (_, true) => tile_m::<2, 4, true>(args),
            (_, false) => tile_m::<2, 4, false>(args),
        }
    }
}

/// `smmla` (i8 A) or `usmmla` (u8 A, `U`).
#[inline(always)]
unsafe fn mmla<const U: bool>(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: I8MM present in every caller.
    unsafe {
        if U {
            usmmla(acc, vreinterpretq_u8_s8(a), b)
        } else {
            smmla(acc, a, b)
        }
    }
}

/// `sdot` (i8 A) or `usdot` (u8 A, `U`), vector form.
#[inline(always)]
unsafe fn dot<const U: bool>(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: I8MM and DotProd present in every caller.
    unsafe {
        if U {
            usdot(acc, vreinterpretq_u8_s8(a), b)
        } else {
            sdot(acc, a, b)
        }
    }
}

/// The left operands of 4 groups for a row pair: register `g` holds row `r0`'s bytes
/// `8g..8g+8` from `p0` in its low half and row `r1`'s from `p1` in its high half.
/// Both lanes of all four registers are overwritten: `prev` (any value, typically the
/// previous chunk's registers) only saves the instructions that would zero them.
///
/// # Safety
/// Advanced SIMD present; `p0` and `p1` are each valid for 32 bytes.
#[inline(always)]
unsafe fn load_pair(prev: [int8x16_t; 4], p0: *const u8, p1: *const u8) -> [int8x16_t; 4] {
    // `ld4` (single structure to one lane) reads 32 bytes at the pointer, which
    // the caller guarantees, with no alignment requirement (the intrinsic hands the
    // address to LLVM as a byte pointer); Advanced SIMD present.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let x = int64x2x4_t(
            vreinterpretq_s64_s8(prev[0]),
            vreinterpretq_s64_s8(prev[1]),
            vreinterpretq_s64_s8(prev[2]),
            vreinterpretq_s64_s8(prev[3]),
        );
        let x = vld4q_lane_s64::<0>(p0 as *const i64, x);
        let x = vld4q_lane_s64::<1>(p1 as *const i64, x);
        [
            vreinterpretq_s8_s64(x.0),
            vreinterpretq_s8_s64(x.1),
            vreinterpretq_s8_s64(x.2),
            vreinterpretq_s8_s64(x.3),
        ]
    }
}

/// One group: `acc[p][n] += mmla(a[p], b[n])` for the 16 columns of the group at `b`.
#[inline(always)]
unsafe fn group<const P: usize, const U: bool>(
    acc: &mut [[int32x4_t; 8]; P],
    a: [int8x16_t; P],
    b: *const i8,
) {
    // SAFETY: the caller passes a group of 128 bytes inside the panel; I8MM present.
    unsafe {
        let lo = vld1q_s8_x4(b);
        let hi = vld1q_s8_x4(b.add(64));
        let bv = [lo.0, lo.1, lo.2, lo.3, hi.0, hi.1, hi.2, hi.3];
        for (row, &ap) in acc.iter_mut().zip(&a) {
            for (c, &bn) in row.iter_mut().zip(&bv) {
                *c = mmla::<U>(*c, ap, bn);
            }
        }
    }
}

/// The groups of one chunk: all 4 when `n >= 4`, else the first `n` (the tail).
#[inline(always)]
unsafe fn chunk<const P: usize, const U: bool>(
    acc: &mut [[int32x4_t; 8]; P],
    a: &[[int8x16_t; 4]; P],
    b: *const i8,
    n: usize,
) {
    // SAFETY: the panel holds the n groups of 128 bytes read here (caller contract);
    // I8MM present.
    unsafe {
        group::<P, U>(acc, core::array::from_fn(|p| a[p][0]), b);
        if n > 1 {
            group::<P, U>(acc, core::array::from_fn(|p| a[p][1]), b.add(GS));
        }
        if n > 2 {
            group::<P, U>(acc, core::array::from_fn(|p| a[p][2]), b.add(2 * GS));
        }
        if n > 3 {
            group::<P, U>(acc, core::array::from_fn(|p| a[p][3]), b.add(3 * GS));
        }
    }
}

/// A tile of `M` (2..=4) rows as `P` row pairs.
#[inline(always)]
unsafe fn tile_m<const P: usize, const M: usize, const U: bool>(args: &TileArgs) {
    // I8MM present; the rows of pair p are 2p and min(2p+1, M−1) < M, each with
    // K bytes: whole chunks read bytes below 32(c+1) <= K in place, the tail reads the
    // zeroed 32-byte copies; the panel holds ceil(K/8) groups of 128 bytes and the tail
    // reads only groups that exist.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let row = |i: usize| args.a.add(i * args.a_stride);
        let pair_rows = |p: usize| (2 * p, (2 * p + 1).min(M - 1));
        let mut acc = [[vdupq_n_s32(0); 8]; P];
        let chunks = args.k / CHUNK;
        let mut b = args.b;
        let mut a = [[vdupq_n_s8(0); 4]; P];
        for c in 0..chunks {
            for (p, ap) in a.iter_mut().enumerate() {
                let (r0, r1) = pair_rows(p);
                *ap = load_pair(*ap, row(r0).add(CHUNK * c), row(r1).add(CHUNK * c));
            }
            chunk::<P, U>(&mut acc, &a, b, 4);
            b = b.add(4 * GS);
        }
        let rem = args.k % CHUNK;
        if rem != 0 {
            let mut buf = [[0u8; CHUNK]; M];
            for (i, bi) in buf.iter_mut().enumerate() {
                core::ptr::copy_nonoverlapping(row(i).add(CHUNK * chunks), bi.as_mut_ptr(), rem);
            }
            for (p, ap) in a.iter_mut().enumerate() {
                let (r0, r1) = pair_rows(p);
                *ap = load_pair(*ap, buf[r0].as_ptr(), buf[r1].as_ptr());
            }
            chunk::<P, U>(&mut acc, &a, b, rem.div_ceil(KR));
        }
        let mut out = [[vdupq_n_s32(0); 4]; M];
        for (i, o) in out.iter_mut().enumerate() {
            for (v, ov) in o.iter_mut().enumerate() {
                let (l, r) = (
                    vreinterpretq_s64_s32(acc[i / 2][2 * v]),
                    vreinterpretq_s64_s32(acc[i / 2][2 * v + 1]),
                );
                let z = if i % 2 == 0 {
                    vzip1q_s64(l, r)
                } else {
                    vzip2q_s64(l, r)
                };
                *ov = vreinterpretq_s32_s64(z);
            }
        }
        let rowsum = if U {
            row_sums::<M, false>(args)
        } else {
            row_sums::<M, true>(args)
        };
        let za = if U {
            args.za
        } else {
            args.za.wrapping_sub(128)
        };
        epilogue::<M, 4>(args, out, za, rowsum);
    }
}

/// The 8 bytes `8G..8G+8` of a 32-byte chunk held in two registers, in both halves.
#[inline(always)]
unsafe fn dup_group<const G: usize>(a: &[int8x16_t; 2]) -> int8x16_t {
    // SAFETY: Advanced SIMD present in every caller.
    unsafe {
        let v = vreinterpretq_s64_s8(a[G / 2]);
        vreinterpretq_s8_s64(if G.is_multiple_of(2) {
            vdupq_laneq_s64::<0>(v)
        } else {
            vdupq_laneq_s64::<1>(v)
        })
    }
}

/// The dots of one group for one row: `acc[n] += dot(a, b[n])` for the 16 columns at `b`.
#[inline(always)]
unsafe fn group_dot<const U: bool>(acc: &mut [int32x4_t; 8], a: int8x16_t, b: *const i8) {
    // SAFETY: the caller passes a group of 128 bytes inside the panel; I8MM present.
    unsafe {
        let lo = vld1q_s8_x4(b);
        let hi = vld1q_s8_x4(b.add(64));
        let bv = [lo.0, lo.1, lo.2, lo.3, hi.0, hi.1, hi.2, hi.3];
        for (c, &bn) in acc.iter_mut().zip(&bv) {
            *c = dot::<U>(*c, a, bn);
        }
    }
}

/// The one-row (GEMV) tile with `sdot`/`usdot`; every weight byte is read once.
#[inline(always)]
unsafe fn tile_m1<const U: bool>(args: &TileArgs) {
    // I8MM and DotProd present; the row holds K bytes: whole chunks read below
    // 32(c+1) <= K, the tail reads a zeroed 32-byte copy; the panel holds ceil(K/8)
    // groups of 128 bytes and the tail reads only groups that exist.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let mut even = [vdupq_n_s32(0); 8];
        let mut odd = [vdupq_n_s32(0); 8];
        let chunks = args.k / CHUNK;
        let mut b = args.b;
        for c in 0..chunks {
            let x = vld1q_s8_x2(args.a.add(CHUNK * c) as *const i8);
            let a = [x.0, x.1];
            group_dot::<U>(&mut even, dup_group::<0>(&a), b);
            group_dot::<U>(&mut odd, dup_group::<1>(&a), b.add(GS));
            group_dot::<U>(&mut even, dup_group::<2>(&a), b.add(2 * GS));
            group_dot::<U>(&mut odd, dup_group::<3>(&a), b.add(3 * GS));
            b = b.add(4 * GS);
        }
        let rem = args.k % CHUNK;
        if rem != 0 {
            let mut buf = [0u8; CHUNK];
            core::ptr::copy_nonoverlapping(args.a.add(CHUNK * chunks), buf.as_mut_ptr(), rem);
            let x = vld1q_s8_x2(buf.as_ptr() as *const i8);
            let a = [x.0, x.1];
            let n = rem.div_ceil(KR);
            group_dot::<U>(&mut even, dup_group::<0>(&a), b);
            if n > 1 {
                group_dot::<U>(&mut odd, dup_group::<1>(&a), b.add(GS));
            }
            if n > 2 {
                group_dot::<U>(&mut even, dup_group::<2>(&a), b.add(2 * GS));
            }
            if n > 3 {
                group_dot::<U>(&mut odd, dup_group::<3>(&a), b.add(3 * GS));
            }
        }
        let mut out = [[vdupq_n_s32(0); 4]; 1];
        for (v, ov) in out[0].iter_mut().enumerate() {
            let l = vaddq_s32(even[2 * v], odd[2 * v]);
            let r = vaddq_s32(even[2 * v + 1], odd[2 * v + 1]);
            *ov = vpaddq_s32(l, r);
        }
        let rowsum = if U {
            row_sums::<1, false>(args)
        } else {
            row_sums::<1, true>(args)
        };
        let za = if U {
            args.za
        } else {
            args.za.wrapping_sub(128)
        };
        epilogue::<1, 4>(args, out, za, rowsum);
    }
}
