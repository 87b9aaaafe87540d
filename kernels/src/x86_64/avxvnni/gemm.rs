//! `x86_64::avxvnni::gemm_u8i8_6x16c4`: a 6×16 tile of u8×i8 → i32 with the VEX
//! `vpdpbusd ymm` of AVX-VNNI, K in groups of 4, and the AVX2 fused output stage.
//!
//! Packed B layout: the shared `…c4` layout (see [`crate::PackArgs`]) with panels of 16
//! columns: per group of 4 K values, 16 columns × 4 bytes = two ymm. A is read in place
//! (u8, or i8 XORed with 0x80 on the broadcast: the canonical operands of the crate
//! docs), 4 bytes per row per group, broadcast to 8 lanes.
//!
//! ```text
//! for each group g of 4 K values:           (inner loop, per tile of M ≤ 6 rows)
//!     b0, b1 = load 2 ymm of the panel      (columns 0..8, 8..16)
//!     for i in 0..M: a = broadcast(A[i][4g..4g+4]);  acc[i][0] += a·b0; acc[i][1] += a·b1
//! tail (K % 4 bytes): same with the last A bytes zero-padded (B is zero there)
//! epilogue (shared with avx2): acc + za·(K·zb − colsum) − zb·rowsum, stage, masked store
//! ```
//!
//! Register budget (16 ymm without AVX-512): 12 accumulators + 2 B + 1 broadcast;
//! per group 2 B loads and 6 broadcasts feed 12 `vpdpbusd` (512 multiply-adds). The
//! bound is the register-only `vpdpbusd ymm` rate (`zeropoint bench` measures it).
//! Optimisations: (1) 12 accumulators reuse each B load 6 times and each broadcast
//! twice; (2) one group per iteration: unrolling by two needs 4 live B vectors, 17
//! registers in all, and the spills cost more than the loop overhead saved; (3) the
//! tile height is a const generic (1..=6, u8/i8 A), so no branch is left in the loop;
//! (4) software prefetch of B: full tiles fetch the next panel into L2, tiles of 2–5
//! rows the line 2 KiB ahead. Exact: `vpdpbusd` adds four u8×i8 products (each within
//! ±32640, the sum within i32) to the accumulator with wrapping, which is the crate's
//! wrapping i32 arithmetic; no `vpmaddubsw` saturation anywhere.

use core::arch::x86_64::*;

use crate::x86_64::avx2::stage::epilogue;
use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 6;
const NR: usize = 16;
const KR: usize = 4;
/// How far ahead (bytes) a tile of 2 to `MR − 1` rows prefetches its panel.
const PF: usize = 2048;

/// The AVX-VNNI GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "x86_64::avxvnni::gemm_u8i8_6x16c4",
    isa: Isa::AvxVnni,
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
    // SAFETY: forwarded contract (the table is only used where the CPU has AVX2 and
    // AVX-VNNI); `super::pack` writes the layout of this NR/KR.
    unsafe { super::pack::pack(args) }
}

/// # Safety
/// See [`GemmKernel::tile`]; the CPU has AVX2, FMA and AVX-VNNI.
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here).
    unsafe { tile_dispatch!(tile_m, args, args.m, args.a_xor != 0; 1, 2, 3, 4, 5, 6) }
}

/// The 4 A bytes of group `g` of a row, broadcast (XOR applied when `XOR`).
///
/// # Safety
/// AVX2 present; bytes `4g..4g + 4` are inside the row.
#[inline(always)]
unsafe fn a_group<const XOR: bool>(row: *const u8, g: usize) -> __m256i {
    // SAFETY: the caller passes a group inside the row; AVX2 present.
    unsafe {
        let v = _mm256_set1_epi32((row.add(4 * g) as *const i32).read_unaligned());
        if XOR {
            _mm256_xor_si256(v, _mm256_set1_epi8(0x80u8 as i8))
        } else {
            v
        }
    }
}

/// The last `k % 4` A bytes of a row, zero-padded, broadcast (XOR applied to the real
/// bytes).
///
/// # Safety
/// AVX2 present; the row has `k` bytes.
#[inline(always)]
unsafe fn a_tail<const XOR: bool>(row: *const u8, k: usize) -> __m256i {
    let g = k / 4;
    let mut bytes = [0u8; 4];
    for (t, b) in bytes.iter_mut().enumerate().take(k % 4) {
        // SAFETY: 4g + t < K, inside the row.
        *b = unsafe { *row.add(4 * g + t) } ^ if XOR { 0x80 } else { 0 };
    }
    // SAFETY: AVX2 present in every caller.
    unsafe { _mm256_set1_epi32(i32::from_le_bytes(bytes)) }
}

/// A tile of `M` rows.
// Out of line, one function per instance: inlined, every height of every tile
// function made `tile` one giant function, slow to build (the instrumented fuzzing
// build most of all); a call per tile costs nothing next to its K loop.
#[inline(never)]
#[target_feature(enable = "avx2,avxvnni")]
unsafe fn tile_m<const M: usize, const XOR: bool>(args: &TileArgs) {
    // SAFETY: AVX-VNNI present; A rows i < M have K bytes (a_group/a_tail stay inside);
    // the panel holds ceil(K/4) groups of 64 bytes.
    unsafe {
        let (a0, stride) = (args.a, args.a_stride);
        let mut acc = [[_mm256_setzero_si256(); 2]; M];
        let groups = args.k / 4;
        let mut b = args.b;
        let panel_bytes = args.k.div_ceil(4) * 64;
        for g in 0..groups {
            // Prefetches never fault (past a panel or the last one they fetch nothing
            // useful). Figures: alternated `zeropoint bench --quick` runs on this
            // machine, % of the `vpdpbusd ymm` rate.
            if M == MR {
                if g % 2 == 0 {
                    // One line in two of the same place in the next panel, into L2, as
                    // in the AVX2 kernel: the first tiles of a panel waited on memory
                    // (32×4096×4096: 63–64 → 66–70 %, 1024³ and 2048³: 80 → 82 %).
                    _mm_prefetch::<_MM_HINT_T1>(b.wrapping_add(panel_bytes));
                }
            } else if M > 1 {
                // Few rows: B streams from the last-level cache once; fetch ahead
                // (8×4096×4096: 48–50 → 51–54 %). Not for one row (GEMV), where the
                // hardware prefetcher alone was as fast.
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PF));
            }
            let b0 = _mm256_loadu_si256(b as *const _);
            let b1 = _mm256_loadu_si256(b.add(32) as *const _);
            for (i, row) in acc.iter_mut().enumerate() {
                let a = a_group::<XOR>(a0.add(i * stride), g);
                row[0] = _mm256_dpbusd_avx_epi32(row[0], a, b0);
                row[1] = _mm256_dpbusd_avx_epi32(row[1], a, b1);
            }
            b = b.add(64);
        }
        if !args.k.is_multiple_of(4) {
            let b0 = _mm256_loadu_si256(b as *const _);
            let b1 = _mm256_loadu_si256(b.add(32) as *const _);
            for (i, row) in acc.iter_mut().enumerate() {
                let a = a_tail::<XOR>(a0.add(i * stride), args.k);
                row[0] = _mm256_dpbusd_avx_epi32(row[0], a, b0);
                row[1] = _mm256_dpbusd_avx_epi32(row[1], a, b1);
            }
        }
        // By value, so the accumulators stay in registers.
        epilogue::<M, XOR>(args, acc);
    }
}
