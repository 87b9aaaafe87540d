//! `x86_64::avx512vnni::gemm_u8i8_12x32c4`: an 8×32 tile of u8×i8 → i32 with `vpdpbusd`,
//! K in groups of 4, and the fused output stage on the way out.
//!
//! Packed B layout (shared with every `…c4` kernel, see [`crate::PackArgs`]): panels of
//! 32 columns; per group of 4 K values, 32 columns × 4 bytes = two zmm. A is read in
//! place (u8, or i8 XORed with 0x80 on the broadcast; see the crate docs' canonical
//! operands), 4 bytes per row per group, broadcast to 16 lanes.
//!
//! ```text
//! for each group g of 4 K values:           (inner loop, per tile of M ≤ 12 rows)
//!     b0, b1 = load 2 zmm of the panel      (columns 0..16, 16..32)
//!     for i in 0..M: a = broadcast(A[i][4g..4g+4]);  acc[i][0] += a·b0; acc[i][1] += a·b1
//! tail (K % 4 bytes): same with the last A bytes zero-padded (B is zero there)
//! row sums Σ_k A[i][k] (vpsadbw) only when some zb ≠ 0
//! epilogue: acc + za·(K·zb − colsum) − zb·rowsum, then bias / requantize / store (masked)
//! ```
//!
//! Optimisations: (1) 24 zmm accumulators (M = 12) reuse each B load 12 times and each A
//! broadcast twice: 2 loads + 12 broadcasts per 24 `vpdpbusd` (1536 multiply-adds);
//! 12×32 measured fastest of 8×32, 12×32, 14×32, 8×48, 6×64, 7×64 and 4×96 in a
//! register-and-L1 loop on the development machine (Sapphire-Rapids-class Xeon);
//! (2) the M = 1 (GEMV) tile keeps two accumulator chains per half so consecutive
//! `vpdpbusd` do not wait on each other's latency; (3) the tile height is a const
//! generic, stamped out for M = 1..=12 and u8/i8 A, so no branch is left in the loop;
//! (4) the output stage (all schemes) runs on zmm registers with masked stores, so
//! column edges need no scalar path; (5) the K loop is unrolled by two groups (4 B
//! vectors live), so each row address is formed once per 8 bytes of A and the loop
//! overhead halves: +10–15 % over one group per iteration on the development machine
//! (`zeropoint bench`, 1024³ and 2048³).

use core::arch::x86_64::*;

use crate::x86_64::avx512bw::stage::epilogue;
use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 12;
const NR: usize = 32;
const KR: usize = 4;
/// How far ahead (bytes) the GEMV tile prefetches the weights.
const PREFETCH: usize = 2048;

/// The AVX-512 VNNI GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "x86_64::avx512vnni::gemm_u8i8_12x32c4",
    isa: Isa::Avx512Vnni,
    mr: MR,
    nr: NR,
    kr: KR,
    pack,
    tile,
};

/// # Safety
/// See [`GemmKernel::pack`].
unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract (the table is only used where the CPU has
    // AVX-512 F, BW and VNNI); `super::pack` writes the layout of this NR/KR.
    unsafe { super::pack::pack(args) }
}

/// # Safety
/// See [`GemmKernel::tile`]; the CPU has AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here).
    unsafe {
        if args.m == 1 {
            if args.a_xor != 0 {
                tile_m1::<true>(args)
            } else {
                tile_m1::<false>(args)
            }
        } else {
            tile_dispatch!(tile_m, args, args.m, args.a_xor != 0; 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
        }
    }
}

/// The 4 A bytes of group `g` of a row, as one i32 (XOR applied when `XOR`).
#[inline(always)]
unsafe fn a_group<const XOR: bool>(row: *const u8, g: usize) -> __m512i {
    // SAFETY: the caller passes a group inside the row (4g + 4 <= K); AVX-512F present.
    unsafe {
        let v = _mm512_set1_epi32((row.add(4 * g) as *const i32).read_unaligned());
        if XOR {
            _mm512_xor_si512(v, _mm512_set1_epi8(0x80u8 as i8))
        } else {
            v
        }
    }
}

/// The last `k % 4` A bytes of a row, zero-padded, broadcast (XOR applied to the real bytes).
#[inline(always)]
unsafe fn a_tail<const XOR: bool>(row: *const u8, k: usize) -> __m512i {
    let g = k / 4;
    let mut bytes = [0u8; 4];
    for (t, b) in bytes.iter_mut().enumerate().take(k % 4) {
        // SAFETY: 4g + t < K, inside the row.
        *b = unsafe { *row.add(4 * g + t) } ^ if XOR { 0x80 } else { 0 };
    }
    // SAFETY: AVX-512F present in every caller.
    unsafe { _mm512_set1_epi32(i32::from_le_bytes(bytes)) }
}

/// A tile of `M` rows.
#[inline(always)]
unsafe fn tile_m<const M: usize, const XOR: bool>(args: &TileArgs) {
    // SAFETY: AVX-512 VNNI present; A rows i < M have K bytes (a_group/a_tail stay
    // inside); the panel holds ceil(K/4) groups of 128 bytes.
    unsafe {
        // Row addresses are recomputed from (a, stride) rather than held in an array of
        // M pointers, which would not fit the 16 general registers and spill.
        let (a0, stride) = (args.a, args.a_stride);
        let mut acc = [[_mm512_setzero_si512(); 2]; M];
        let groups = args.k / 4;
        let mut b = args.b;
        // Two groups per iteration: each row address is formed once per 8 bytes of A.
        let mut g = 0;
        while g + 2 <= groups {
            if M <= 8 {
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH));
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH + 64));
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH + 128));
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH + 192));
            }
            let b0 = _mm512_loadu_si512(b as *const _);
            let b1 = _mm512_loadu_si512(b.add(64) as *const _);
            let b2 = _mm512_loadu_si512(b.add(128) as *const _);
            let b3 = _mm512_loadu_si512(b.add(192) as *const _);
            for (i, row) in acc.iter_mut().enumerate() {
                let r = a0.add(i * stride);
                let a = a_group::<XOR>(r, g);
                row[0] = _mm512_dpbusd_epi32(row[0], a, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], a, b1);
                let a = a_group::<XOR>(r, g + 1);
                row[0] = _mm512_dpbusd_epi32(row[0], a, b2);
                row[1] = _mm512_dpbusd_epi32(row[1], a, b3);
            }
            b = b.add(256);
            g += 2;
        }
        for g in g..groups {
            if M <= 8 {
                // Few rows per B load: the panel streams from L3, so fetch ahead.
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH));
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH + 64));
            }
            let b0 = _mm512_loadu_si512(b as *const _);
            let b1 = _mm512_loadu_si512(b.add(64) as *const _);
            for (i, row) in acc.iter_mut().enumerate() {
                let a = a_group::<XOR>(a0.add(i * stride), g);
                row[0] = _mm512_dpbusd_epi32(row[0], a, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], a, b1);
            }
            b = b.add(128);
        }
        if !args.k.is_multiple_of(4) {
            let b0 = _mm512_loadu_si512(b as *const _);
            let b1 = _mm512_loadu_si512(b.add(64) as *const _);
            for (i, row) in acc.iter_mut().enumerate() {
                let a = a_tail::<XOR>(a0.add(i * stride), args.k);
                row[0] = _mm512_dpbusd_epi32(row[0], a, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], a, b1);
            }
        }
        // By value: a reference would let the accumulators escape, and the compiler then
        // stores every one of them to the stack on each iteration.
        epilogue::<M, XOR>(args, acc);
    }
}

/// The one-row (GEMV) tile: two accumulator chains per half, so that consecutive
/// `vpdpbusd` are independent; weights stream through once.
#[inline(always)]
unsafe fn tile_m1<const XOR: bool>(args: &TileArgs) {
    // SAFETY: as for `tile_m` with M = 1.
    unsafe {
        let row = args.a;
        let (mut e0, mut e1, mut o0, mut o1) = (
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
            _mm512_setzero_si512(),
        );
        let groups = args.k / 4;
        let mut b = args.b;
        let mut g = 0;
        while g + 2 <= groups {
            // The weights stream through once: ask for the lines PREFETCH bytes ahead
            // (past the panel's end this may touch the next panel, or nothing: prefetches
            // never fault).
            _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH));
            _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH + 64));
            _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH + 128));
            _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PREFETCH + 192));
            let a0 = a_group::<XOR>(row, g);
            let a1 = a_group::<XOR>(row, g + 1);
            e0 = _mm512_dpbusd_epi32(e0, a0, _mm512_loadu_si512(b as *const _));
            e1 = _mm512_dpbusd_epi32(e1, a0, _mm512_loadu_si512(b.add(64) as *const _));
            o0 = _mm512_dpbusd_epi32(o0, a1, _mm512_loadu_si512(b.add(128) as *const _));
            o1 = _mm512_dpbusd_epi32(o1, a1, _mm512_loadu_si512(b.add(192) as *const _));
            b = b.add(256);
            g += 2;
        }
        if g < groups {
            let a0 = a_group::<XOR>(row, g);
            e0 = _mm512_dpbusd_epi32(e0, a0, _mm512_loadu_si512(b as *const _));
            e1 = _mm512_dpbusd_epi32(e1, a0, _mm512_loadu_si512(b.add(64) as *const _));
            b = b.add(128);
        }
        if !args.k.is_multiple_of(4) {
            let a = a_tail::<XOR>(row, args.k);
            o0 = _mm512_dpbusd_epi32(o0, a, _mm512_loadu_si512(b as *const _));
            o1 = _mm512_dpbusd_epi32(o1, a, _mm512_loadu_si512(b.add(64) as *const _));
        }
        let acc = [[_mm512_add_epi32(e0, o0), _mm512_add_epi32(e1, o1)]];
        epilogue::<1, XOR>(args, acc);
    }
}
