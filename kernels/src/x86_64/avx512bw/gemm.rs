//! `x86_64::avx512bw::gemm_u8i8_12x32c2`: a 12×32 tile of u8×i8 → i32 for AVX-512 CPUs
//! without VNNI (Skylake-SP, Cascade Lake), with `vpmaddwd`.
//!
//! `vpmaddubsw` would saturate (255·127 + 255·127 > i16::MAX), so both operands are
//! widened to i16 and `vpmaddwd` forms exact i32 pair sums (|255·128·2| < 2^31):
//!
//! ```text
//! B packed with KR = 2: per pair of K values, 32 columns × 2 bytes = 64 bytes
//! A widened per chunk of 64 pairs into a stack buffer of u32 = a[2p] | a[2p+1] << 16
//! for each pair p:
//!     b0, b1 = vpmovsxbw(32 bytes), vpmovsxbw(next 32 bytes)   (columns 0..16, 16..32)
//!     for i in 0..M: a = broadcast(buf[i][p]); acc[i][h] += vpmaddwd(a, b_h)
//! epilogue: shared with avx512vnni (zero-point correction, fused stage, masked stores)
//! ```
//!
//! Instruction mix per pair (M = 12): 24 `vpmaddwd` + 24 `vpaddd` + 2 `vpmovsxbw` on the
//! two 512-bit ports, so the kernel is bounded by the register-only rate of the
//! `vpmaddwd`+`vpaddd` pair (one pair per cycle per port pair); the A widening costs
//! about 3 % more. Optimisations: (1) 24 accumulators reuse each widened B vector 12
//! times; (2) A is widened and XORed once per chunk, not per use; (3) the tile height is a
//! const generic (1..=12, u8/i8 A); (4) software prefetch of B: full tiles fetch the
//! next panel into L2, smaller ones (GEMV, small M) the line 2 KiB ahead.

use core::arch::x86_64::*;

use super::stage::epilogue;
use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 12;
const NR: usize = 32;
const KR: usize = 2;
/// K pairs widened per chunk.
const CHUNK: usize = 64;
/// How far ahead (bytes) a tile of fewer than `MR` rows prefetches its panel.
const PF: usize = 2048;

/// The AVX-512BW GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "x86_64::avx512bw::gemm_u8i8_12x32c2",
    isa: Isa::Avx512Bw,
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
    // SAFETY: forwarded contract (the table is only used where the CPU has
    // AVX-512 F, BW and VL); `super::pack` writes the layout of this NR/KR.
    unsafe { super::pack::pack(args) }
}

/// # Safety
/// See [`GemmKernel::tile`]; the CPU has AVX-512 F, BW and VL.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here).
    unsafe {
        tile_dispatch!(tile_m, args, args.m, args.a_xor != 0; 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
    }
}

/// Widens pairs `p0..p0 + n` of a row into `dst[j] = a[2p] | a[2p+1] << 16` (XOR applied;
/// bytes at or past `k` read as 0).
///
/// # Safety
/// AVX-512F+BW+VL present; `row` valid for `k` bytes; `n <= CHUNK`.
#[inline(always)]
pub(crate) unsafe fn widen_pairs<const XOR: bool>(
    row: *const u8,
    k: usize,
    p0: usize,
    n: usize,
    dst: &mut [u32; CHUNK],
) {
    // SAFETY: masked loads read only bytes < k of the row; each store writes 16 values
    // at j < n <= CHUNK, j a multiple of 16, so it stays inside `dst`.
    unsafe {
        let flip = _mm256_set1_epi8(0x80u8 as i8);
        let mut j = 0;
        while j < n {
            let off = 2 * (p0 + j);
            let avail = k.saturating_sub(off).min(32);
            let m: u32 = if avail == 32 {
                u32::MAX
            } else {
                (1u32 << avail) - 1
            };
            // `wrapping_add`: past the row end the mask is 0 and nothing is read.
            let mut v = _mm256_maskz_loadu_epi8(m, row.wrapping_add(off) as *const i8);
            if XOR {
                v = _mm256_maskz_mov_epi8(m, _mm256_xor_si256(v, flip));
            }
            // 32 bytes = 16 pairs -> 16 u32 of two zero-extended u16.
            _mm512_storeu_si512(dst.as_mut_ptr().add(j) as *mut _, _mm512_cvtepu8_epi16(v));
            j += 16;
        }
    }
}

/// A tile of `M` rows.
// Out of line, one function per instance: inlined, every height of every tile
// function made `tile` one giant function, slow to build (the instrumented fuzzing
// build most of all); a call per tile costs nothing next to its K loop.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn tile_m<const M: usize, const XOR: bool>(args: &TileArgs) {
    // SAFETY: AVX-512F+BW+VL present; A rows i < M have K bytes (read by widen_pairs
    // only); the panel holds ceil(K/2) pairs of 64 bytes; p < n <= CHUNK.
    unsafe {
        let pairs = args.k.div_ceil(2);
        let panel_bytes = pairs * KR * NR;
        let mut acc = [[_mm512_setzero_si512(); 2]; M];
        let mut buf = [[0u32; CHUNK]; M];
        let mut b = args.b;
        let mut p0 = 0;
        while p0 < pairs {
            let n = (pairs - p0).min(CHUNK);
            for (i, row) in buf.iter_mut().enumerate() {
                widen_pairs::<XOR>(args.a.add(i * args.a_stride), args.k, p0, n, row);
            }
            #[allow(clippy::needless_range_loop)] // p indexes every row's buffer
            for p in 0..n {
                if M == MR {
                    // The same place in the next panel, into L2 (as in the AVX2 kernel:
                    // a panel of 32·K bytes is re-read by every tile of the block and
                    // the first tile of each panel waited on memory). Prefetches never
                    // fault.
                    _mm_prefetch::<_MM_HINT_T1>(b.wrapping_add(panel_bytes));
                } else {
                    // Fewer rows (GEMV, 8×4096×4096 and the last tile of any M): few
                    // operations per byte of B, which streams from the last-level cache
                    // once, so fetch the line PF bytes ahead (8×4096×4096: 56–62 % →
                    // 80–82 % of the vpmaddwd+vpaddd rate; GEMV 1×4096×11008 24.5–26.1
                    // → 26.5–28.3 GB/s; alternated `zeropoint bench --quick` runs on this
                    // machine; prefetches never fault).
                    _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PF));
                }
                let b0 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(b as *const _));
                let b1 = _mm512_cvtepi8_epi16(_mm256_loadu_si256(b.add(32) as *const _));
                for (i, row) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_epi32(buf[i][p] as i32);
                    row[0] = _mm512_add_epi32(row[0], _mm512_madd_epi16(a, b0));
                    row[1] = _mm512_add_epi32(row[1], _mm512_madd_epi16(a, b1));
                }
                b = b.add(64);
            }
            p0 += n;
        }
        epilogue::<M, XOR>(args, acc);
    }
}
