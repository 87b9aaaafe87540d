//! `aarch64::dotprod::gemm_u8i8_4x16c4`: a 4×16 tile of u8×i8 → i32 with `sdot` (by
//! element), K in groups of 4.
//!
//! Packed B layout (shared with every `…c4` kernel, see [`crate::PackArgs`]): panels of
//! 16 columns; per group of 4 K values, 16 columns × 4 bytes = 64 bytes, one
//! `ld1 {4 regs}`; vector `v` holds columns `4v..4v+4`. A is read in place in the
//! signed domain of the `aarch64` module docs, 16 bytes (4 groups) per register; the
//! by-element form of `sdot` broadcasts group `L` of that register, so one A register
//! (one load and, for u8 A, one `eor`) serves 4 groups.
//!
//! ```text
//! for each chunk c of 32 K values:             (inner loop, per tile of M ≤ 4 rows)
//!     for i in 0..M: a[i][0..2] = A[i][32c..32c+32] (^ 0x80 for u8 A)
//!     for h in 0..2, L in 0..4:                 (group 8c + 4h + L)
//!         b[0..4] = 64 bytes of the panel
//!         for i in 0..M, v in 0..4: acc[i][v] = sdot(acc[i][v], b[v], a[i][h].4b[L])
//! tail (K % 32): the same with A's last bytes copied into a zeroed 32-byte buffer and
//!     only the ceil((K % 32)/4) groups that B holds
//! epilogue: acc + (za − 128)·colcorr − zb·rowsum (signed row sums), output stage
//! ```
//!
//! Speed (inner loop of the release build, `aarch64-linux-gnu-objdump -d`, counted with
//! `kernels/tools/loop_mix.py`; M = 4): per chunk of 32 K the loop is 155 instructions
//! for i8 A: 128 `sdot` (2048 multiply-adds), 20 loads (16 `ldp q` of B, 4 `ldp q` of
//! A), 6 address/counter updates and the branch: 83 % `sdot`, 13.2 multiply-adds per
//! instruction against the 16 of `sdot`, 17 % loads and address arithmetic. u8 A adds
//! 8 `eor`: 163 instructions, 79 % `sdot`, 12.6 multiply-adds per instruction.
//! The one-row (GEMV) tile: 53 instructions per 32 K (i8 A): 32 `sdot`, 16 `ldp q` of
//! weights (each weight byte read once), 1 A load, 4 overhead; its even and odd groups
//! accumulate into separate registers so that consecutive `sdot` on a column do not
//! wait on each other's latency.
//!
//! Optimisations: (1) 16 accumulators reuse each B register 4 times and each A register
//! 16 times (two A registers per row cover 8 groups, halving A loads and `eor`s against
//! a 16-byte chunk); (2) by-element `sdot` needs no A broadcast instruction; (3) tile
//! height and flip are const generics, no branch in the loop.

use core::arch::aarch64::*;

use super::insn::sdot_lane;
use crate::aarch64::neon::stage::{epilogue, signed_row_sums};
use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 4;
const NR: usize = 16;
const KR: usize = 4;
/// K values per pair of A loads (8 groups).
const CHUNK: usize = 32;

/// The DotProd GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "aarch64::dotprod::gemm_u8i8_4x16c4",
    isa: Isa::Dotprod,
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
/// See [`GemmKernel::tile`]; the CPU has DotProd.
#[target_feature(enable = "neon,dotprod")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here). u8 A (a_xor = 0) is
    // flipped into the signed domain; i8 A is used as is.
    unsafe { tile_dispatch!(tile_m, args, args.m, args.a_xor == 0; 1, 2, 3, 4) }
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

/// The 32 A bytes of chunk `c` of each row as two registers: loaded in place when the
/// chunk is whole, else (the tail) copied into a zeroed buffer; the padding meets zero
/// bytes of B.
///
/// # Safety
/// Advanced SIMD present; `args.a` holds `M` rows of `args.k` bytes; `whole` only when
/// `32(c+1) <= K`.
#[inline(always)]
unsafe fn load_rows<const M: usize, const FLIP: bool>(
    args: &TileArgs,
    c: usize,
    whole: bool,
) -> [[int8x16_t; 2]; M] {
    // SAFETY: Advanced SIMD present (contract).
    let mut a = [[unsafe { vdupq_n_s8(0) }; 2]; M];
    for (i, ai) in a.iter_mut().enumerate() {
        // SAFETY: row i < M holds K bytes; a whole chunk ends at 32(c+1) <= K, and the
        // tail copies only the K − 32c bytes that exist.
        unsafe {
            let p = args.a.add(i * args.a_stride + CHUNK * c);
            *ai = if whole {
                [load_a::<FLIP>(p), load_a::<FLIP>(p.add(16))]
            } else {
                let mut buf = [0u8; CHUNK];
                core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), args.k - CHUNK * c);
                [
                    load_a::<FLIP>(buf.as_ptr()),
                    load_a::<FLIP>(buf.as_ptr().add(16)),
                ]
            };
        }
    }
    a
}

/// One group: `acc[i][v] += sdot(b[v], a[i][H].4b[L])` for the 16 columns of the group
/// at `b` (group `4H + L` of the chunk).
#[inline(always)]
unsafe fn group<const M: usize, const H: usize, const L: i32>(
    acc: &mut [[int32x4_t; 4]; M],
    a: &[[int8x16_t; 2]; M],
    b: *const i8,
) {
    // SAFETY: the caller passes a group of 64 bytes inside the panel; DotProd present.
    unsafe {
        let bv = vld1q_s8_x4(b);
        for (row, ai) in acc.iter_mut().zip(a) {
            row[0] = sdot_lane::<L>(row[0], bv.0, ai[H]);
            row[1] = sdot_lane::<L>(row[1], bv.1, ai[H]);
            row[2] = sdot_lane::<L>(row[2], bv.2, ai[H]);
            row[3] = sdot_lane::<L>(row[3], bv.3, ai[H]);
        }
    }
}

/// Runs the groups of one chunk: all 8 when `n >= 8`, else the first `n` (the tail).
/// With `ALT`, odd groups accumulate into `acc1` (independent chains for the one-row
/// tile); otherwise everything goes to `acc0`.
#[inline(always)]
unsafe fn chunk<const M: usize, const ALT: bool>(
    acc0: &mut [[int32x4_t; 4]; M],
    acc1: &mut [[int32x4_t; 4]; M],
    a: &[[int8x16_t; 2]; M],
    b: *const i8,
    n: usize,
) {
    const GS: usize = KR * NR;
    // The set of the odd groups, re-borrowed at each use.
    macro_rules! odd {
        () => {
            if ALT {
                &mut *acc1
            } else {
                &mut *acc0
            }
        };
    }
    // SAFETY: the panel holds the n groups of 64 bytes read here (caller contract);
    // DotProd present.
    unsafe {
        group::<M, 0, 0>(acc0, a, b);
        if n > 1 {
            group::<M, 0, 1>(odd!(), a, b.add(GS));
        }
        if n > 2 {
            group::<M, 0, 2>(acc0, a, b.add(2 * GS));
        }
        if n > 3 {
            group::<M, 0, 3>(odd!(), a, b.add(3 * GS));
        }
        if n > 4 {
            group::<M, 1, 0>(acc0, a, b.add(4 * GS));
        }
        if n > 5 {
            group::<M, 1, 1>(odd!(), a, b.add(5 * GS));
        }
        if n > 6 {
            group::<M, 1, 2>(acc0, a, b.add(6 * GS));
        }
        if n > 7 {
            group::<M, 1, 3>(odd!(), a, b.add(7 * GS));
        }
    }
}

/// A tile of `M` rows. For `M = 1` (GEMV) even and odd groups accumulate into separate
/// registers, so that consecutive `sdot` on a column are independent; for larger `M`
/// the rows already give independent chains and one set is used.
#[inline(always)]
unsafe fn tile_m<const M: usize, const FLIP: bool>(args: &TileArgs) {
    // SAFETY: DotProd present; A reads as documented on `load_rows`; the panel holds
    // ceil(K/4) groups of 64 bytes and each chunk reads only groups that exist.
    unsafe {
        let mut acc = [[vdupq_n_s32(0); 4]; M];
        let mut odd = [[vdupq_n_s32(0); 4]; M];
        let chunks = args.k / CHUNK;
        let mut b = args.b;
        for c in 0..chunks {
            let a = load_rows::<M, FLIP>(args, c, true);
            if M == 1 {
                chunk::<M, true>(&mut acc, &mut odd, &a, b, 8);
            } else {
                chunk::<M, false>(&mut acc, &mut odd, &a, b, 8);
            }
            b = b.add(CHUNK * NR);
        }
        let groups = (args.k % CHUNK).div_ceil(KR);
        if groups > 0 {
            let a = load_rows::<M, FLIP>(args, chunks, false);
            if M == 1 {
                chunk::<M, true>(&mut acc, &mut odd, &a, b, groups);
            } else {
                chunk::<M, false>(&mut acc, &mut odd, &a, b, groups);
            }
        }
        for (r, o) in acc.iter_mut().zip(odd) {
            for (x, y) in r.iter_mut().zip(o) {
                *x = vaddq_s32(*x, y);
            }
        }
        let rowsum = signed_row_sums::<M, FLIP>(args);
        epilogue::<M, 4>(args, acc, args.za.wrapping_sub(128), rowsum);
    }
}
