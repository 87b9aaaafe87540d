//! `x86_64::avx512vnni::gemm_u8i8_12x32c4`: a 12×32 tile of u8×i8 → i32 with
//! `vpdpbusd`, K in groups of 4, and the fused output stage on the way out.
//!
//! Packed B layout (shared with every `…c4` kernel, see [`crate::PackArgs`]): panels of
//! 32 columns; per group of 4 K values, 32 columns × 4 bytes = two zmm.
//!
//! A comes two ways. Packed (`pack_a`, what the driver uses when a row block spans at
//! least 3 panels): per 12-row tile, group `g` of row `i` at `48·g + 4·i`, canonical u8,
//! with the row sums. In place: row-major u8, or i8 XORed with 0x80 on the broadcast
//! (the crate docs' canonical operands), the row sums taken when needed.
//!
//! ```text
//! for each group g of 4 K values:           (inner loop, per tile of M ≤ 12 rows)
//!     b0, b1 = load 2 zmm of the panel      (columns 0..16, 16..32)
//!     for i in 0..M: a = broadcast(A[i][4g..4g+4]);  acc[i][0] += a·b0; acc[i][1] += a·b1
//! tail (K % 4 bytes): zero-padded A bytes (packed: already zero; B is zero there)
//! epilogue: acc + za·(K·zb − colsum) − zb·rowsum, then bias / requantize / store (masked)
//! ```
//!
//! Optimisations: (1) 24 zmm accumulators (M = 12) reuse each B load 12 times and each A
//! broadcast twice: 2 loads + 12 broadcasts per 24 `vpdpbusd` (1536 multiply-adds);
//! 12×32 measured fastest of 8×32, 12×32, 14×32, 8×48, 6×64, 7×64 and 4×96 in a
//! register-and-L1 loop on the development machine (Sapphire-Rapids-class Xeon); (2)
//! full 12-row tiles of packed A run an assembly loop (`loop_12`): one A pointer with
//! constant row offsets, two groups per iteration, nothing else in the loop, and the A
//! tile is one sequential stream (rows at their own stride were 12 streams the L1
//! prefetcher did not keep up with: 66 % against 75 % at 2048³ with the same loop); (3)
//! packing A once per row block does the i8 → u8 flip and the row sums once instead of
//! once per panel; (4) the M = 1 (GEMV) tile keeps two accumulator chains per half so
//! consecutive `vpdpbusd` do not wait on each other's latency; (5) the tile height is a
//! const generic, stamped out for M = 1..=12 and u8/i8 A, so no branch is left in the
//! loop; (6) the output stage (all schemes) runs on zmm registers with masked stores.
//!
//! Indirect A ([`crate::GemmKernel::tile_indirect`], the implicit-GEMM convolution):
//! the same 12×32 tile, its rows gathered per segment (kernel tap) from an indirection
//! list, in an assembly loop (`loop_indirect`) that holds the 12 row pointers of the
//! current segment in general registers with one shared K offset.
//!
//! The limit of this design on the development machine: the 12 broadcast loads per 24
//! `vpdpbusd` keep the loop at 85–91 % of the register-only `vpdpbusd` rate even with
//! every operand in L1 (`vpdpbusd` with an embedded-broadcast memory operand instead was
//! slower: 24 more loads per group); a B-only loop reaches 92–99 %.

use core::arch::x86_64::*;

use crate::x86_64::avx512bw::stage::epilogue;
use crate::{APack, GemmKernel, Indirect, Isa, PackAArgs, PackArgs, TileArgs};

const MR: usize = 12;
const NR: usize = 32;
const KR: usize = 4;
/// Bytes of one group of a packed-A tile: 4 bytes of each of the 12 rows.
const A_GROUP: usize = MR * KR;
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
    pack_a: Some(APack {
        min_rows: 2,
        pays: pack_pays,
        tile_bytes: a_tile_bytes,
        pack: pack_a,
        indirect: None,
        b_block: 0,
    }),
    tile,
    tile_indirect: Some(tile_indirect),
    session: None,
};

/// # Safety
/// See [`GemmKernel::pack`].
unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract (the table is only used where the CPU has
    // AVX-512 F, BW and VNNI); `super::pack` writes the layout of this NR/KR.
    unsafe { super::pack::pack(args) }
}

/// [`APack::pays`]. In place, i8 A needs its own XOR on every broadcast (12 more vector
/// operations per 24 `vpdpbusd`), so i8 A is packed from two panels on. u8 A is packed
/// from three panels on, and only when the stride puts the tile's 12 rows on at most
/// two places of a 4 KiB page (strides 2048 and 4096: the 12 row streams then share one
/// or two L1 sets and evict each other); otherwise the in-place path skips one copy of
/// A and its footprint in L2.
///
/// Measured in alternated runs on the development machine, packed against in place:
/// i8 A 1.33× at 256³, 1.38× at 24×4096×4096, 1.16× at 3136×576×64 (two panels), equal
/// with one panel (N = 32); u8 A 0.96× at 1024³ (and at K = 512, 1000, 3000), 0.97× at
/// K = 4000, equal at K = 2048, 1.11× at K = 4096, and 0.84× at 3136×576×64.
fn pack_pays(panels: usize, stride: usize, xor: u8) -> bool {
    if xor != 0 {
        return panels >= 2;
    }
    // Distinct 64-byte places within 4 KiB of the tile's 12 row starts.
    let mut seen = 0u64;
    for i in 0..MR {
        seen |= 1 << ((i * stride) % 4096 / 64);
    }
    panels >= 3 && seen.count_ones() <= 2
}

/// Bytes of a packed-A tile: `ceil(K/4)` groups of 4 bytes × 12 rows.
fn a_tile_bytes(k: usize) -> usize {
    k.div_ceil(KR) * A_GROUP
}

/// Packs rows of A into this kernel's [`APack`] layout (per tile, group `g` of row `i`
/// at `48·g + 4·i`; rows past `m` of the last tile are zero), applying the XOR and
/// writing each row's sum.
///
/// Per tile and 64 bytes of K (16 groups): 12 masked loads (one per row, XOR applied,
/// zero past K and for missing rows), the row sums with `vpsadbw`, then per block of 4
/// rows a 4×4 dword transpose inside each 128-bit lane (`vpunpck{l,h}dq`,
/// `vpunpck{l,h}qdq`), after which lane `L` of transposed vector `j` is the 16 bytes of
/// those 4 rows for group `4L + j`: stored straight to its place with `vextracti32x4`.
/// Each load also prefetches the same bytes of the next tile's row.
///
/// # Safety
/// See [`APack::pack`]; the CPU has AVX-512 F and BW; `args.mr == MR`.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_a(args: &PackAArgs) {
    debug_assert_eq!(args.mr, MR);
    let groups = args.k.div_ceil(KR);
    let tile_bytes = groups * A_GROUP;
    let flip = _mm512_set1_epi8(args.xor as i8);
    let zero = _mm512_setzero_si512();
    for t in 0..args.m.div_ceil(MR) {
        let rows = (args.m - t * MR).min(MR);
        // SAFETY: tile t < ceil(m/MR) of the destination (contract).
        let dst = unsafe { args.dst.add(t * tile_bytes) };
        // SAFETY: row t·MR < m of the source (contract).
        let src = unsafe { args.src.add(t * MR * args.stride) };
        let mut sums = [zero; MR];
        let mut off = 0;
        while off < args.k {
            let n = (args.k - off).min(64);
            let mask: u64 = if n == 64 { u64::MAX } else { (1 << n) - 1 };
            let mut r = [zero; MR];
            for (i, (v, s)) in r.iter_mut().zip(sums.iter_mut()).enumerate().take(rows) {
                // SAFETY: the masked load reads bytes off..off + n < K of row i < rows of
                // the tile; AVX-512BW present.
                let x = unsafe {
                    _mm512_maskz_loadu_epi8(mask, src.add(i * args.stride + off) as *const i8)
                };
                // The same 64 bytes of the next tile's row: A comes from the last-level
                // cache in rows of their own stride, whose streams are too short for the
                // hardware prefetcher to ramp up (2048³: 1.01–1.015× in alternated runs).
                // Past the last row this fetches nothing useful; prefetches never fault.
                _mm_prefetch::<_MM_HINT_T0>(
                    src.wrapping_add((i + MR) * args.stride + off) as *const i8
                );
                *v = _mm512_maskz_mov_epi8(mask, _mm512_xor_si512(x, flip));
                *s = _mm512_add_epi64(*s, _mm512_sad_epu8(*v, zero));
            }
            let g0 = off / KR;
            let ng = (groups - g0).min(16);
            for blk in 0..3 {
                let [a, b, c, d] = [r[4 * blk], r[4 * blk + 1], r[4 * blk + 2], r[4 * blk + 3]];
                let (ab_lo, ab_hi) = (_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
                let (cd_lo, cd_hi) = (_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d));
                let ts = [
                    _mm512_unpacklo_epi64(ab_lo, cd_lo),
                    _mm512_unpackhi_epi64(ab_lo, cd_lo),
                    _mm512_unpacklo_epi64(ab_hi, cd_hi),
                    _mm512_unpackhi_epi64(ab_hi, cd_hi),
                ];
                for lane in 0..4 {
                    for (j, &tv) in ts.iter().enumerate() {
                        let g = 4 * lane + j;
                        if g < ng {
                            // SAFETY: group g0 + g < groups of tile t, 16 bytes at row
                            // offset 16·blk < 48: inside the tile (contract).
                            unsafe {
                                let at = dst.add((g0 + g) * A_GROUP + 16 * blk) as *mut __m128i;
                                _mm_storeu_si128(at, lane128(tv, lane));
                            }
                        }
                    }
                }
            }
            off += 64;
        }
        for (i, s) in sums.iter().enumerate().take(rows) {
            // SAFETY: row t·MR + i < m of the row sums (contract).
            unsafe { *args.rowsum.add(t * MR + i) = _mm512_reduce_add_epi64(*s) as i32 };
        }
    }
}

/// The 128-bit lane `lane` (0..4) of `v`.
#[inline(always)]
fn lane128(v: __m512i, lane: usize) -> __m128i {
    // SAFETY: AVX-512F is present in every caller (a `target_feature` context).
    unsafe {
        match lane {
            0 => _mm512_castsi512_si128(v),
            1 => _mm512_extracti32x4_epi32::<1>(v),
            2 => _mm512_extracti32x4_epi32::<2>(v),
            _ => _mm512_extracti32x4_epi32::<3>(v),
        }
    }
}

/// # Safety
/// See [`GemmKernel::tile`]; the CPU has AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract (same features enabled here).
    unsafe {
        if args.a_packed {
            tile_dispatch!(tile_packed, args, args.m, false; 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)
        } else if args.m == MR && args.k >= KR {
            if args.a_xor != 0 {
                tile_rows_asm::<true>(args)
            } else {
                tile_rows_asm::<false>(args)
            }
        } else if args.m == 1 {
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
// Out of line, one function per instance: inlined, every height of every tile
// function made `tile` one giant function, slow to build (the instrumented fuzzing
// build most of all); a call per tile costs nothing next to its K loop.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
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

/// A full 12-row tile of row-major A: the rows are an indirection list of one segment
/// (`K` rounded down to whole groups) for [`loop_indirect`], whose 12 row registers and
/// shared offset beat the compiled loop of [`tile_m`] (which re-forms each row address
/// from the base and stride); the last `K % 4` bytes as in [`tile_m`].
///
/// # Safety
/// As for [`tile_m`] with M = 12 and K ≥ 4.
// Out of line, one function per instance: inlined, every height of every tile
// function made `tile` one giant function, slow to build (the instrumented fuzzing
// build most of all); a call per tile costs nothing next to its K loop.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_rows_asm<const XOR: bool>(args: &TileArgs) {
    // AVX-512 VNNI present; rows i < 12 of A hold K bytes, so each row pointer
    // is valid for the segment of 4·floor(K/4) bytes and for the tail; the panel holds
    // ceil(K/4) groups of 128 bytes.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        let rows: [*const u8; MR] = core::array::from_fn(|i| args.a.add(i * args.a_stride));
        let seg = args.k / KR * KR;
        let mut acc = [[_mm512_setzero_si512(); 2]; MR];
        let ind = Indirect {
            ptrs: rows.as_ptr(),
            taps: 1,
            seg,
        };
        loop_indirect(&mut acc, &ind, XOR, args.b);
        if seg < args.k {
            let b = args.b.add(seg * 32);
            let b0 = _mm512_loadu_si512(b as *const _);
            let b1 = _mm512_loadu_si512(b.add(64) as *const _);
            for (row, &r) in acc.iter_mut().zip(&rows) {
                let a = a_tail::<XOR>(r, args.k);
                row[0] = _mm512_dpbusd_epi32(row[0], a, b0);
                row[1] = _mm512_dpbusd_epi32(row[1], a, b1);
            }
        }
        epilogue::<MR, XOR>(args, acc);
    }
}

/// The one-row (GEMV) tile: two accumulator chains per half, so that consecutive
/// `vpdpbusd` are independent; weights stream through once.
// Out of line, one function per instance: inlined, every height of every tile
// function made `tile` one giant function, slow to build (the instrumented fuzzing
// build most of all); a call per tile costs nothing next to its K loop.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
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

/// A tile of `M` rows reading packed A ([`pack_a`]): one pointer walks the tile's
/// groups, row `i` of a group at the constant offset `4·i`; the bytes are already
/// canonical u8 and the row sums come with them.
// Out of line, one function per instance: inlined, every height of every tile
// function made `tile` one giant function, slow to build (the instrumented fuzzing
// build most of all); a call per tile costs nothing next to its K loop.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_packed<const M: usize, const XOR: bool>(args: &TileArgs) {
    // SAFETY: AVX-512 VNNI present; the packed tile holds ceil(K/4) groups of 48 bytes
    // (rows ≥ M are never read); the panel holds ceil(K/4) groups of 128 bytes.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); 2]; M];
        let (a, b) = (args.a, args.b);
        let groups = args.k.div_ceil(KR);
        if M == MR {
            // SAFETY (cast): M == MR, so the array types are the same.
            let full = &mut *(&mut acc as *mut [[__m512i; 2]; M] as *mut [[__m512i; 2]; MR]);
            loop_12(full, a, b, groups);
        } else {
            for g in 0..groups {
                if M <= 8 {
                    // Few rows per B load: the panel streams from L3, so fetch ahead.
                    _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(128 * g + PREFETCH));
                    _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(128 * g + PREFETCH + 64));
                }
                let b0 = _mm512_loadu_si512(b.add(128 * g) as *const _);
                let b1 = _mm512_loadu_si512(b.add(128 * g + 64) as *const _);
                for (i, row) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_epi32(
                        (a.add(A_GROUP * g + 4 * i) as *const i32).read_unaligned(),
                    );
                    row[0] = _mm512_dpbusd_epi32(row[0], x, b0);
                    row[1] = _mm512_dpbusd_epi32(row[1], x, b1);
                }
            }
        }
        epilogue::<M, false>(args, acc);
    }
}

/// One row of the 12-row loop body: broadcast the row's 4 A bytes (at `$g·48 + $o`
/// from `{a}`), two `vpdpbusd` into the row's accumulators.
macro_rules! dp_row {
    ($bc:literal, $g:literal, $o:literal, $acc0:literal, $acc1:literal, $b0:literal, $b1:literal) => {
        concat!(
            "vpbroadcastd zmm",
            $bc,
            ", dword ptr [{a} + ",
            $g,
            " * 48 + ",
            $o,
            "]\n",
            "vpdpbusd zmm",
            $acc0,
            ", zmm",
            $bc,
            ", zmm",
            $b0,
            "\n",
            "vpdpbusd zmm",
            $acc1,
            ", zmm",
            $bc,
            ", zmm",
            $b1,
            "\n",
        )
    };
}

/// One K group of the 12-row loop: load the group's two B vectors (`zmm$b0`, `zmm$b1`)
/// from `{b} + $boff`, then the 12 rows (their A bytes at `$g·48 + 4·i` from `{a}`),
/// rotating four broadcast registers.
macro_rules! dp_group {
    ($g:literal, $boff:literal, $b0:literal, $b1:literal) => {
        concat!(
            "vmovdqu64 zmm",
            $b0,
            ", [{b} + ",
            $boff,
            "]\n",
            "vmovdqu64 zmm",
            $b1,
            ", [{b} + ",
            $boff,
            " + 64]\n",
            dp_row!("28", $g, "0", "0", "1", $b0, $b1),
            dp_row!("29", $g, "4", "2", "3", $b0, $b1),
            dp_row!("30", $g, "8", "4", "5", $b0, $b1),
            dp_row!("31", $g, "12", "6", "7", $b0, $b1),
            dp_row!("28", $g, "16", "8", "9", $b0, $b1),
            dp_row!("29", $g, "20", "10", "11", $b0, $b1),
            dp_row!("30", $g, "24", "12", "13", $b0, $b1),
            dp_row!("31", $g, "28", "14", "15", $b0, $b1),
            dp_row!("28", $g, "32", "16", "17", $b0, $b1),
            dp_row!("29", $g, "36", "18", "19", $b0, $b1),
            dp_row!("30", $g, "40", "20", "21", $b0, $b1),
            dp_row!("31", $g, "44", "22", "23", $b0, $b1),
        )
    };
}

/// The operands shared by both asm blocks of [`loop_12`]: the 24 accumulators pinned
/// to zmm0–23 (row `i`, half `h` in `zmm(2i + h)`), and the B and broadcast registers
/// it clobbers.
macro_rules! loop_12_asm {
    ($acc:ident, $a:ident, $b:ident, [$($body:expr),*], $($extra:tt)*) => {
        core::arch::asm!(
            $($body),*,
            $($extra)*
            a = inout(reg) $a => _,
            b = inout(reg) $b => _,
            inout("zmm0") $acc[0][0], inout("zmm1") $acc[0][1],
            inout("zmm2") $acc[1][0], inout("zmm3") $acc[1][1],
            inout("zmm4") $acc[2][0], inout("zmm5") $acc[2][1],
            inout("zmm6") $acc[3][0], inout("zmm7") $acc[3][1],
            inout("zmm8") $acc[4][0], inout("zmm9") $acc[4][1],
            inout("zmm10") $acc[5][0], inout("zmm11") $acc[5][1],
            inout("zmm12") $acc[6][0], inout("zmm13") $acc[6][1],
            inout("zmm14") $acc[7][0], inout("zmm15") $acc[7][1],
            inout("zmm16") $acc[8][0], inout("zmm17") $acc[8][1],
            inout("zmm18") $acc[9][0], inout("zmm19") $acc[9][1],
            inout("zmm20") $acc[10][0], inout("zmm21") $acc[10][1],
            inout("zmm22") $acc[11][0], inout("zmm23") $acc[11][1],
            out("zmm24") _, out("zmm25") _, out("zmm26") _, out("zmm27") _,
            out("zmm28") _, out("zmm29") _, out("zmm30") _, out("zmm31") _,
            options(nostack, readonly),
        )
    };
}

/// `groups` K groups of a full 12-row tile of packed A, in assembly: two groups per
/// iteration (4 B loads, 24 broadcasts, 48 `vpdpbusd`, 3 scalar instructions, and a
/// `prefetcht1` of one line of the same place in the next panel: the panel of `128·groups` bytes is
/// re-read by every tile of the row block, and the first tile of each panel otherwise
/// waits on memory; 32×4096×4096 +8–12 %, 2048³ +1–4 % in alternated runs), then one
/// more if `groups` is odd. Past the last panel the prefetch fetches nothing useful;
/// prefetches never fault.
///
/// Why assembly: the same loop in intrinsics ran 2–5 % slower in a register-and-L1
/// test (1024 ≤ K ≤ 2048, same machine, same run): the compiler re-forms addresses and
/// keeps an index next to the pointers; here every A address is the base register plus
/// a constant and the loop carries only the two pointers and the counter.
///
/// # Safety
/// AVX-512F and VNNI present; `a` holds `groups` packed groups of 48 bytes and `b`
/// `groups` groups of 128 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn loop_12(acc: &mut [[__m512i; 2]; MR], a: *const u8, b: *const i8, groups: usize) {
    let pairs = groups / 2;
    // The next panel's line this tile prefetches from each 256 bytes of B: consecutive
    // packed tiles (one tile apart in the scratch) take the four lines in turn, so four
    // tiles of a panel cover the whole next panel instead of one line in four (1.03× at
    // 256×4096×4096, 1.01× at 2048³, alternated runs).
    let pf = groups * 128 + 64 * ((a as usize / (A_GROUP * groups)) & 3);
    let (mut a, mut b) = (a, b);
    if pairs > 0 {
        // reads 2·pairs groups of packed A (a + 0..96·pairs) and of B
        // (b + 0..256·pairs), inside the extents of the contract; writes only the listed
        // registers.
        // SAFETY: the conditions stated just above hold.
        unsafe {
            loop_12_asm!(acc, a, b, [
                ".p2align 6",
                "2:",
                dp_group!("0", "0", "24", "25"),
                dp_group!("1", "128", "26", "27"),
                "prefetcht1 [{b} + {pf}]",
                "add {b}, 256",
                "add {a}, 96",
                "dec {n}",
                "jnz 2b"
            ], n = inout(reg) pairs => _, pf = in(reg) pf,)
        };
        // SAFETY: the same extents as the asm consumed.
        (a, b) = unsafe { (a.add(96 * pairs), b.add(256 * pairs)) };
    }
    if groups % 2 == 1 {
        // SAFETY: the last group: A bytes a + 0..48 and B bytes b + 0..128, inside the
        // extents of the contract.
        unsafe { loop_12_asm!(acc, a, b, [dp_group!("0", "0", "24", "25")],) };
    }
}

/// A tile whose A rows are gathered from an indirection list ([`Indirect`]): the 12-row
/// assembly loop [`loop_indirect`] with one general register per row, then the epilogue
/// of the tile's `m` rows (rows `m..12` were computed from their valid pointers and are
/// dropped).
///
/// # Safety
/// See [`GemmKernel::tile_indirect`]; the CPU has AVX-512 F, BW and VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_indirect(args: &TileArgs, ind: &Indirect) {
    debug_assert!(ind.seg.is_multiple_of(KR) && ind.seg > 0 && ind.taps > 0);
    debug_assert_eq!(args.k, ind.taps * ind.seg);
    let mut acc = [[_mm512_setzero_si512(); 2]; MR];
    // SAFETY: forwarded contract: `ind.ptrs` holds taps·12 pointers, each valid for
    // `seg` bytes (a multiple of 4), and the panel holds taps·seg/4 groups of 128 bytes.
    unsafe { loop_indirect(&mut acc, ind, args.a_xor != 0, args.b) };
    macro_rules! store_rows {
        ($($h:literal),+) => {
            match args.m {
                $(
                    // SAFETY: forwarded contract; the row sums are in `args.rowsum`
                    // whenever they are needed (the contract of `tile_indirect`).
                    $h => unsafe {
                        let mut rows = [[_mm512_setzero_si512(); 2]; $h];
                        rows.copy_from_slice(&acc[..$h]);
                        epilogue::<$h, false>(args, rows)
                    },
                )+
                // SAFETY: as above (m = 12: the whole tile).
                _ => unsafe { epilogue::<MR, false>(args, acc) },
            }
        };
    }
    store_rows!(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
}

/// One row of the indirect loop: broadcast the 4 bytes at `[$p + rbx + $o]` (the row's
/// register plus the K offset), flip them with `zmm30` when `$f` is `xor`, two
/// `vpdpbusd` into the row's accumulators.
macro_rules! ind_row {
    ($f:ident, $p:literal, $o:literal, $bc:literal, $acc0:literal, $acc1:literal, $b0:literal, $b1:literal) => {
        concat!(
            "vpbroadcastd zmm",
            $bc,
            ", dword ptr [",
            $p,
            " + rbx + ",
            $o,
            "]\n",
            ind_flip!($f, $bc),
            "vpdpbusd zmm",
            $acc0,
            ", zmm",
            $bc,
            ", zmm",
            $b0,
            "\n",
            "vpdpbusd zmm",
            $acc1,
            ", zmm",
            $bc,
            ", zmm",
            $b1,
            "\n",
        )
    };
}

/// The XOR of an indirect row's broadcast (i8 A), or nothing (u8 A).
macro_rules! ind_flip {
    (plain, $bc:literal) => {
        ""
    };
    (xor, $bc:literal) => {
        concat!("vpxord zmm", $bc, ", zmm", $bc, ", zmm30\n")
    };
}

/// One K group of the indirect loop: the group's two B vectors from `[rdi + $boff]`,
/// then the 12 rows, row `i` at `[its register + rbx + $o]`.
macro_rules! ind_group {
    ($f:ident, $o:literal, $boff:literal, $b0:literal, $b1:literal) => {
        concat!(
            "vmovdqu64 zmm",
            $b0,
            ", [rdi + ",
            $boff,
            "]\n",
            "vmovdqu64 zmm",
            $b1,
            ", [rdi + ",
            $boff,
            " + 64]\n",
            ind_row!($f, "rax", $o, "28", "0", "1", $b0, $b1),
            ind_row!($f, "rcx", $o, "29", "2", "3", $b0, $b1),
            ind_row!($f, "rdx", $o, "31", "4", "5", $b0, $b1),
            ind_row!($f, "rsi", $o, "28", "6", "7", $b0, $b1),
            ind_row!($f, "r8", $o, "29", "8", "9", $b0, $b1),
            ind_row!($f, "r9", $o, "31", "10", "11", $b0, $b1),
            ind_row!($f, "r10", $o, "28", "12", "13", $b0, $b1),
            ind_row!($f, "r11", $o, "29", "14", "15", $b0, $b1),
            ind_row!($f, "r12", $o, "31", "16", "17", $b0, $b1),
            ind_row!($f, "r13", $o, "28", "18", "19", $b0, $b1),
            ind_row!($f, "r14", $o, "29", "20", "21", $b0, $b1),
            ind_row!($f, "r15", $o, "31", "22", "23", $b0, $b1),
        )
    };
}

/// The whole indirect loop, for u8 (`plain`) or i8 (`xor`) A. Stack frame (below the
/// saved `rbx`): `[rsp]` = seg, `[rsp + 8]` = taps left, `[rsp + 16]` = next pointer
/// row of the indirection list.
///
/// Per tap: the 12 row pointers are loaded into rax, rcx, rdx, rsi, r8–r15 and moved
/// past the segment (`p += seg`), so that `rbx` runs from `−seg` up to 0 and the loop
/// ends on the flags of its own increment; an odd group first when `seg % 8 == 4`,
/// then two groups per iteration. `rdi` walks the packed B continuously across taps
/// (segment `t` is K groups `t·seg/4..`).
macro_rules! ind_asm {
    ($f:ident, $acc:ident, $ptrs:expr, $taps:expr, $seg:expr, $b:expr, $flip:expr) => {
        core::arch::asm!(
            "push rbx",
            "push rax",
            "push rcx",
            "push rdx",
            "3:",
            "mov rbx, [rsp + 16]",
            "mov rax, [rbx]",
            "mov rcx, [rbx + 8]",
            "mov rdx, [rbx + 16]",
            "mov rsi, [rbx + 24]",
            "mov r8, [rbx + 32]",
            "mov r9, [rbx + 40]",
            "mov r10, [rbx + 48]",
            "mov r11, [rbx + 56]",
            "mov r12, [rbx + 64]",
            "mov r13, [rbx + 72]",
            "mov r14, [rbx + 80]",
            "mov r15, [rbx + 88]",
            "add rbx, 96",
            "mov [rsp + 16], rbx",
            "mov rbx, [rsp]",
            "add rax, rbx",
            "add rcx, rbx",
            "add rdx, rbx",
            "add rsi, rbx",
            "add r8, rbx",
            "add r9, rbx",
            "add r10, rbx",
            "add r11, rbx",
            "add r12, rbx",
            "add r13, rbx",
            "add r14, rbx",
            "add r15, rbx",
            "neg rbx",
            "test bl, 4",
            "jz 4f",
            ind_group!($f, "0", "0", "24", "25"),
            "add rdi, 128",
            "add rbx, 4",
            "jz 5f",
            "4:",
            ".p2align 5",
            "2:",
            ind_group!($f, "0", "0", "24", "25"),
            ind_group!($f, "4", "128", "26", "27"),
            "add rdi, 256",
            "add rbx, 8",
            "jnz 2b",
            "5:",
            "dec qword ptr [rsp + 8]",
            "jnz 3b",
            "add rsp, 24",
            "pop rbx",
            inout("rax") $ptrs => _,
            inout("rcx") $taps => _,
            inout("rdx") $seg => _,
            inout("rdi") $b => _,
            out("rsi") _, out("r8") _, out("r9") _, out("r10") _, out("r11") _,
            out("r12") _, out("r13") _, out("r14") _, out("r15") _,
            inout("zmm0") $acc[0][0], inout("zmm1") $acc[0][1],
            inout("zmm2") $acc[1][0], inout("zmm3") $acc[1][1],
            inout("zmm4") $acc[2][0], inout("zmm5") $acc[2][1],
            inout("zmm6") $acc[3][0], inout("zmm7") $acc[3][1],
            inout("zmm8") $acc[4][0], inout("zmm9") $acc[4][1],
            inout("zmm10") $acc[5][0], inout("zmm11") $acc[5][1],
            inout("zmm12") $acc[6][0], inout("zmm13") $acc[6][1],
            inout("zmm14") $acc[7][0], inout("zmm15") $acc[7][1],
            inout("zmm16") $acc[8][0], inout("zmm17") $acc[8][1],
            inout("zmm18") $acc[9][0], inout("zmm19") $acc[9][1],
            inout("zmm20") $acc[10][0], inout("zmm21") $acc[10][1],
            inout("zmm22") $acc[11][0], inout("zmm23") $acc[11][1],
            out("zmm24") _, out("zmm25") _, out("zmm26") _, out("zmm27") _,
            out("zmm28") _, out("zmm29") _, in("zmm30") $flip, out("zmm31") _,
        )
    };
}

/// All K groups of a 12-row indirect tile, in assembly: per tap, the 12 row pointers in
/// general registers and one shared K offset, so each broadcast is `[row + offset]`
/// (no address arithmetic in the loop) and B is one continuous stream.
///
/// Why assembly: 12 row pointers, the B pointer and the offset need 14 general
/// registers; compiled code spills the row pointers and reloads one per broadcast. The
/// block saves and restores `rbx` (which cannot be an operand) itself and keeps the
/// list pointer, the tap count and the segment length on the stack.
///
/// # Safety
/// AVX-512F and VNNI present; `ind.ptrs` holds `12·ind.taps` pointers, each valid for
/// `ind.seg` bytes; `ind.seg` is a positive multiple of 4 and `ind.taps ≥ 1`; `b` holds
/// `ind.taps·ind.seg/4` groups of 128 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn loop_indirect(acc: &mut [[__m512i; 2]; MR], ind: &Indirect, xor: bool, b: *const i8) {
    let flip = _mm512_set1_epi8(0x80u8 as i8);
    let (ptrs, taps, seg) = (ind.ptrs, ind.taps, ind.seg);
    // reads the 12·taps pointers of the list, `seg` bytes at each, and taps·seg/4
    // groups of 128 bytes of B, all inside the extents of the contract; writes only the
    // listed registers and its own stack slots (pushed and popped inside the block),
    // restoring rbx.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        if xor {
            ind_asm!(xor, acc, ptrs, taps, seg, b, flip)
        } else {
            ind_asm!(plain, acc, ptrs, taps, seg, b, flip)
        }
    }
}
