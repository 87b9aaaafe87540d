//! `x86_64::avx2::gemm_u8i8_6x16c2`: a 6×16 tile of u8×i8 → i32 with AVX2 `vpmaddwd`.
//!
//! `vpmaddubsw` would saturate its i16 pair sums (255·127·2 > 32767), so both operands
//! are widened to i16 and `vpmaddwd` forms exact i32 pair sums:
//!
//! ```text
//! B packed with KR = 2: per pair of K values, 16 columns × 2 bytes = 32 bytes
//! A widened per chunk of 64 pairs into a stack buffer of u32 = a[2p] | a[2p+1] << 16
//! for each pair p:
//!     b0, b1 = vpmovsxbw(16 bytes), vpmovsxbw(next 16 bytes)      (columns 0..8, 8..16)
//!     for i in 0..M: a = broadcast(buf[i][p]); acc[i][h] += vpmaddwd(a, b_h)
//! ```
//!
//! Instruction mix per pair (M = 6): 12 `vpmaddwd` + 12 `vpaddd` + 2 `vpmovsxbw` + 6
//! broadcast loads, 12 accumulators + 2 B + 1 A of the 16 ymm registers. The bound is the
//! register-only rate of the `vpmaddwd` + `vpaddd` pair (on Haswell–Ice Lake: 2
//! `vpmaddwd` per cycle on p0/p1, `vpaddd` on p0/p1/p5). Optimisations: (1) 12
//! accumulators reuse each widened B vector 6 times; (2) A is widened and XORed once per
//! chunk; (3) the tile height is a const generic (1..=6, u8/i8 A); (4) software
//! prefetch of B: full tiles fetch the next panel into L2, smaller ones the line 2 KiB
//! ahead.

use core::arch::x86_64::*;

use super::stage::epilogue;
use crate::{GemmKernel, Isa, PackArgs, TileArgs};

const MR: usize = 6;
const NR: usize = 16;
const KR: usize = 2;
/// K pairs widened per chunk.
const CHUNK: usize = 64;
/// How far ahead (bytes) a tile of fewer than `MR` rows prefetches its panel.
const PF: usize = 2048;

/// The AVX2 GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "x86_64::avx2::gemm_u8i8_6x16c2",
    isa: Isa::Avx2,
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
    // AVX2); `super::pack` writes the layout of this NR/KR.
    unsafe { super::pack::pack(args) }
}

/// # Safety
/// See [`GemmKernel::tile`]; the CPU has AVX2.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here).
    unsafe { tile_dispatch!(tile_m, args, args.m, args.a_xor != 0; 1, 2, 3, 4, 5, 6) }
}

/// Widens pairs `p0..p0 + n` of a row into `dst[j] = a[2p] | a[2p+1] << 16` (XOR applied
/// to real bytes; bytes at or past `k` read as 0).
///
/// # Safety
/// AVX2 present; `row` valid for `k` bytes; `n <= CHUNK`.
#[inline(always)]
unsafe fn widen_pairs<const XOR: bool>(
    row: *const u8,
    k: usize,
    p0: usize,
    n: usize,
    dst: &mut [u32; CHUNK],
) {
    let flip = if XOR { 0x80 } else { 0 };
    let mut j = 0;
    // Whole groups of 8 pairs (16 bytes) while they lie inside the row.
    while j + 8 <= n && 2 * (p0 + j) + 16 <= k {
        // SAFETY: bytes 2(p0+j)..+16 are inside the row; the store writes dst[j..j+8].
        unsafe {
            let mut v = _mm_loadu_si128(row.add(2 * (p0 + j)) as *const __m128i);
            if XOR {
                v = _mm_xor_si128(v, _mm_set1_epi8(0x80u8 as i8));
            }
            _mm256_storeu_si256(
                dst.as_mut_ptr().add(j) as *mut __m256i,
                _mm256_cvtepu8_epi16(v),
            );
        }
        j += 8;
    }
    while j < n {
        let off = 2 * (p0 + j);
        // Each byte is read only when its offset is below k.
        let byte = |o: usize| -> u8 {
            if o < k {
                // SAFETY: o < k, inside the row.
                unsafe { *row.add(o) ^ flip }
            } else {
                0
            }
        };
        let (lo, hi) = (byte(off), byte(off + 1));
        dst[j] = lo as u32 | (hi as u32) << 16;
        j += 1;
    }
}

/// A tile of `M` rows.
// Out of line, one function per instance: inlined, every height of every tile
// function made `tile` one giant function, slow to build (the instrumented fuzzing
// build most of all); a call per tile costs nothing next to its K loop.
#[inline(never)]
#[target_feature(enable = "avx2")]
unsafe fn tile_m<const M: usize, const XOR: bool>(args: &TileArgs) {
    // SAFETY: AVX2 present; A rows i < M have K bytes (read by widen_pairs only); the
    // panel holds ceil(K/2) pairs of 32 bytes; p < n <= CHUNK.
    unsafe {
        let pairs = args.k.div_ceil(2);
        let panel_bytes = pairs * KR * NR;
        let mut acc = [[_mm256_setzero_si256(); 2]; M];
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
                if M == MR && p % 2 == 0 {
                    // The same place in the next panel, into L2, while this one is
                    // computed from L2: a panel (16·K bytes) is re-read by every tile of
                    // the block and does not fit L1, and the first tile of each panel
                    // waited on memory (32×4096×4096: 112 → 128 GOPS). Prefetches never
                    // fault (past the last panel they fetch nothing useful).
                    _mm_prefetch::<_MM_HINT_T1>(b.wrapping_add(panel_bytes));
                } else if p % 2 == 0 {
                    // Fewer rows (GEMV and the last tile of a small M): few operations
                    // per byte of B, which streams from the last-level cache once, so
                    // fetch one line PF bytes ahead per line read (GEMV 1×4096×11008:
                    // 174 → 185–187 % of the DRAM read bandwidth, 1×11008×4096: 156–174
                    // → 183–189 %, `zeropoint bench --quick`, this machine; panel ends
                    // and prefetches past them never fault).
                    _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(PF));
                }
                let b0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(b as *const __m128i));
                let b1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(b.add(16) as *const __m128i));
                for (i, row) in acc.iter_mut().enumerate() {
                    let a = _mm256_set1_epi32(buf[i][p] as i32);
                    row[0] = _mm256_add_epi32(row[0], _mm256_madd_epi16(a, b0));
                    row[1] = _mm256_add_epi32(row[1], _mm256_madd_epi16(a, b1));
                }
                b = b.add(32);
            }
            p0 += n;
        }
        epilogue::<M, XOR>(args, acc);
    }
}
