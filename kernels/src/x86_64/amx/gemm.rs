//! `x86_64::amx::gemm_u8i8_32x32c4`: a 32×32 tile of u8×i8 → i32 with AMX `tdpbusd`,
//! four 16×16 accumulator tiles, and the AVX-512 fused output stage on the way out.
//!
//! Packed B: exactly the AVX-512 VNNI layout (panels of 32 columns, per group of 4 K
//! values 32 columns × 4 bytes), so 16 consecutive groups of the panel's first or last
//! 16 columns are one B tile (16 rows of 64 bytes at a stride of 128 bytes).
//!
//! Packed A (`pack_a`): per tile of 32 rows and per chunk of 64 K bytes, the chunk's
//! 64 bytes of rows 0..32 in row order (2 KiB; XOR applied, so canonical u8; zero past
//! K and for rows past `m`). Each 16-row half is one contiguous 1 KiB A tile, and the
//! whole tile is read as one sequential stream (rows at a large pitch would be 16
//! strided streams that the hardware prefetchers do not follow: 2× slower at 1024³).
//!
//! ```text
//! tmm0..3 = 0                                 (C: rows 0..16 / 16..32 × cols 0..16 / 16..32)
//! for each chunk c of 64 K bytes (16 groups):
//!     tmm4, tmm5 = A rows 0..16, 16..32, bytes 64c..64c+64        (stride 64)
//!     tmm6, tmm7 = B groups 16c..16c+16, columns 0..16, 16..32     (stride 128)
//!     tmm0 += tmm4·tmm6; tmm1 += tmm4·tmm7; tmm2 += tmm5·tmm6; tmm3 += tmm5·tmm7
//! (the last chunk's B groups past K come from a zero-padded copy on the stack)
//! store tmm0..3 to a 32×32 i32 buffer; epilogue per 16 rows (AVX-512: zero-point
//! correction with the packed row sums, bias, requantization, masked stores)
//! ```
//!
//! Packing through an indirection list (`pack_a_indirect`, the implicit-GEMM
//! convolution): per chunk, the 32 rows' 64 bytes gathered from their segments with
//! masked AVX-512 loads into the same packed layout, with the row sums.
//!
//! The tile configuration is loaded once per [`run_gemm`](crate::run_gemm) call (the
//! table's [`TileSession`]) and the tile state released after its last tile; a tile
//! called on its own loads and releases it itself. Per tile, `ldtilecfg` and
//! `tilerelease` cost 5–20 % of a GEMM (512³ +20 %, 1024³ +11 %, 2048³ +7 % without
//! them, `zeropoint bench`). Inside the session the driver hands the tiles over in
//! batches ([`TileSession::run`]): from K = 768 on, each tile's `tdpbusd` run while
//! the previous tile's output stage runs on the vector units.
//!
//! Each `tdpbusd` does 16·16·64 = 16384 multiply-adds, exact: every dword of the result
//! adds four u8×i8 products to the i32 accumulator with wrapping, the crate's
//! arithmetic. When the driver does not pack A (one row, or a block spanning few
//! panels), the tile runs the AVX-512 VNNI microkernel on the same packed B, 12 rows at a
//! time, so both paths give the reference's bits.

use core::arch::x86_64::*;

use crate::x86_64::avx512bw::stage::epilogue;
use crate::{APack, GemmKernel, Indirect, Isa, PackAArgs, PackArgs, TileArgs, TileSession};

const MR: usize = 32;
const NR: usize = 32;
const KR: usize = 4;
/// K bytes per A tile row (16 groups of 4).
const KC: usize = 64;
/// Bytes of B per chunk of 16 groups (16 groups × 32 columns × 4 bytes).
const B_CHUNK: usize = 16 * NR * KR;

/// The AMX GEMM table.
pub static GEMM: GemmKernel = GemmKernel {
    name: "x86_64::amx::gemm_u8i8_32x32c4",
    isa: Isa::Amx,
    mr: MR,
    nr: NR,
    kr: KR,
    pack,
    pack_a: Some(APack {
        // Below 16 rows most of each 16-row A tile would be zeros: the VNNI path (A in
        // place) is faster there (8×4096×4096: 463 against 308 GOPS).
        min_rows: 16,
        // The tiles need packed A, and they are so much faster than the VNNI path that
        // one panel already pays for the copy.
        pays: |panels, _, _| panels >= 1,
        tile_bytes: a_tile_bytes,
        pack: pack_a,
        indirect: Some(pack_a_indirect),
        // 1 MiB of panels per packed A tile (which stays in L1 up to K = 1024): the
        // tiles' four 1 KiB loads per four `tdpbusd` outrun L2 when A streams through
        // it too (2048×1024×4096: 1.39× over the panel-major nest; 512 KiB: 1.37×).
        b_block: 1024 * 1024,
    }),
    tile,
    tile_indirect: None,
    session: Some(TileSession {
        begin,
        tile: tile_in_session,
        run: run_in_session,
        end,
    }),
};

/// Loads the tile configuration for a [`run_gemm`](crate::run_gemm) call.
///
/// # Safety
/// The CPU has AMX and the OS granted this thread the tile state ([`Isa::Amx`]
/// detection asked for it).
unsafe fn begin() {
    // loads the 64-byte configuration (AMX present, state granted: contract).
    // SAFETY: the conditions stated just above hold.
    unsafe {
        core::arch::asm!("ldtilecfg [{cfg}]", cfg = in(reg) CONFIG.0.as_ptr(), options(nostack))
    };
}

/// Releases the tile state after a call's tiles.
///
/// # Safety
/// After [`begin`] on this thread.
unsafe fn end() {
    // the tile state is in use (contract); releasing it zeroes the tiles.
    // SAFETY: the conditions stated just above hold.
    unsafe { core::arch::asm!("tilerelease", options(nostack)) };
}

/// [`tile`] inside a session: the configuration is loaded already.
///
/// # Safety
/// As for [`tile`], between [`begin`] and [`end`] on this thread.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_in_session(args: &TileArgs) {
    // SAFETY: forwarded contract.
    unsafe {
        if args.a_packed {
            tile_amx::<true>(args)
        } else {
            tile_vnni(args)
        }
    }
}

/// The tile configuration: palette 1, all eight tiles 16 rows × 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

static CONFIG: TileConfig = {
    let mut c = [0u8; 64];
    c[0] = 1;
    let mut t = 0;
    while t < 8 {
        c[16 + 2 * t] = 64; // bytes per row (little-endian u16)
        c[48 + t] = 16; // rows
        t += 1;
    }
    TileConfig(c)
};

/// # Safety
/// See [`GemmKernel::pack`]; the CPU has AVX-512 F, BW and VNNI.
unsafe fn pack(args: &PackArgs) {
    // SAFETY: forwarded contract: the AVX-512 VNNI packer writes the same layout
    // (NR = 32, KR = 4), and AMX implies its features.
    unsafe { (crate::x86_64::avx512vnni::GEMM.pack)(args) }
}

/// Bytes of one chunk of a packed-A tile: 32 rows × 64 K bytes.
const A_CHUNK: usize = MR * KC;

/// Bytes of a packed-A tile: one [`A_CHUNK`] per 64 bytes of K.
fn a_tile_bytes(k: usize) -> usize {
    k.div_ceil(KC) * A_CHUNK
}

/// Packs rows of A into this kernel's [`APack`] layout (per tile of 32 rows, byte `kk`
/// of row `i` at `(kk/64)·2048 + 64·i + kk%64`, XORed, zero past K and for rows past
/// `m`) and writes each row's sum (`vpsadbw`, same pass).
///
/// # Safety
/// See [`APack::pack`]; the CPU has AVX-512 F and BW; `args.mr == MR`.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_a(args: &PackAArgs) {
    debug_assert_eq!(args.mr, MR);
    let k = args.k;
    let padded = k.next_multiple_of(KC);
    let tile_bytes = a_tile_bytes(k);
    let flip = _mm512_set1_epi8(args.xor as i8);
    let zero = _mm512_setzero_si512();
    for t in 0..args.m.div_ceil(MR) {
        for i in 0..MR {
            let r = t * MR + i;
            // SAFETY: tile t < ceil(m/MR) of the destination, row i < MR; the stores
            // below write its 64-byte piece of each chunk (contract).
            let dst = unsafe { args.dst.add(t * tile_bytes + i * KC) };
            if r >= args.m {
                for c in 0..padded / KC {
                    // SAFETY: see above.
                    unsafe { _mm512_storeu_si512(dst.add(c * A_CHUNK) as *mut _, zero) };
                }
                continue;
            }
            // SAFETY: row r < m of the source (contract).
            let src = unsafe { args.src.add(r * args.stride) };
            let mut sum = zero;
            for off in (0..padded).step_by(64) {
                let n = k.saturating_sub(off).min(64);
                let mask: u64 = if n == 64 { u64::MAX } else { (1 << n) - 1 };
                // SAFETY: the masked load reads bytes off..off + n < K of the row; the
                // store writes the row's piece of chunk off/64 of the tile.
                unsafe {
                    let v = _mm512_maskz_loadu_epi8(mask, src.add(off) as *const i8);
                    let v = _mm512_maskz_mov_epi8(mask, _mm512_xor_si512(v, flip));
                    sum = _mm512_add_epi64(sum, _mm512_sad_epu8(v, zero));
                    _mm512_storeu_si512(dst.add(off / KC * A_CHUNK) as *mut _, v);
                }
            }
            // SAFETY: r < m row sums (contract).
            unsafe { *args.rowsum.add(r) = _mm512_reduce_add_epi64(sum) as i32 };
        }
    }
}

/// # Safety
/// See [`GemmKernel::tile`]; the CPU has AVX-512 F, BW, VNNI and the AMX tile state
/// (granted by the OS, which [`Isa::Amx`] detection checked).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile(args: &TileArgs) {
    // SAFETY: forwarded contract.
    unsafe {
        if args.a_packed {
            tile_amx::<false>(args)
        } else {
            tile_vnni(args)
        }
    }
}

/// A not packed: the AVX-512 VNNI microkernel on the same packed B, 12 rows at a time.
///
/// # Safety
/// As for [`tile`], with A in place.
#[inline(always)]
unsafe fn tile_vnni(args: &TileArgs) {
    let vnni = &crate::x86_64::avx512vnni::GEMM;
    let es = {
        // SAFETY: the stage is valid (contract).
        unsafe { (*args.stage).dst_type.size() }
    };
    let mut i0 = 0;
    while i0 < args.m {
        let m = (args.m - i0).min(vnni.mr);
        let part = TileArgs {
            // SAFETY: rows i0 < m of A and of the destination (contract).
            a: unsafe { args.a.add(i0 * args.a_stride) },
            // SAFETY: as above.
            dst: unsafe { args.dst.add(i0 * args.dst_stride * es) },
            rowsum: if args.rowsum.is_null() {
                args.rowsum
            } else {
                // SAFETY: m row sums when non-null (contract).
                unsafe { args.rowsum.add(i0) }
            },
            m,
            ..*args
        };
        // SAFETY: the VNNI kernel reads this panel layout; AMX implies its features;
        // `part` describes rows i0..i0 + m of the tile.
        unsafe { (vnni.tile)(&part) };
        i0 += m;
    }
}

/// A packed: the tile loop above ([`product`]), then the epilogue per 16 rows
/// ([`finish`]).
/// `IN_SESSION`: the configuration is loaded already and stays (else the tile loads it
/// and releases the tile state at the end).
///
/// # Safety
/// As for [`tile`], with `a` the tile's packed rows and `rowsum` its row sums; inside a
/// session when `IN_SESSION`.
#[inline(always)]
unsafe fn tile_amx<const IN_SESSION: bool>(args: &TileArgs) {
    let mut c = core::mem::MaybeUninit::<Acc>::uninit();
    // the tile state is usable (contract), configured by `ldtilecfg` here or by the
    // session's `begin`, and released here outside a session; `product` writes all of
    // `c` (its contract is the tile's).
    // SAFETY: the conditions stated just above hold.
    unsafe {
        if !IN_SESSION {
            core::arch::asm!("ldtilecfg [{cfg}]", cfg = in(reg) CONFIG.0.as_ptr(), options(nostack));
        }
        product(args, &mut c);
        if !IN_SESSION {
            core::arch::asm!("tilerelease", options(nostack));
        }
        finish(args, c.assume_init_ref());
    }
}

/// Depth from which [`run_in_session`] overlaps a tile's products with the previous
/// tile's output stage. Below it the products are too short to hide the stage, and
/// the overlap cost more than it saved (K = 512, 576 and 640: 0.94–0.95×); from it on
/// it gained (K = 768: 1.06–1.07×, 1024³ 1.03–1.04×, 2048×4096×1024 1.07×, 2048³
/// 1.14×; alternated runs).
const OVERLAP_MIN_K: usize = 768;

/// [`TileSession::run`]: the tiles in order. From [`OVERLAP_MIN_K`] on, each packed
/// tile's products are issued to the tile unit ([`products_issue`]), then the previous
/// tile's output stage runs on the vector units ([`finish`]) while they compute, then
/// the products are stored ([`products_store`]); shallower packed tiles run as
/// [`tile_in_session`], tiles of A in place as [`tile_vnni`].
///
/// The output stage of a 32×32 tile costs about as much as 500 to 1000 K values of
/// products: without it, 1024³ ran 1.59× and 2048³ 1.31× as fast (same machine,
/// alternated), and run back to back the tile unit waits for it. The stores come after
/// the stage: issued before it, they held its loads back (2048³ 0.98× instead of
/// 1.14×).
///
/// # Safety
/// As for [`tile_in_session`], for every element of `tiles`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn run_in_session(tiles: &[TileArgs]) {
    let mut c = [
        core::mem::MaybeUninit::<Acc>::uninit(),
        core::mem::MaybeUninit::<Acc>::uninit(),
    ];
    let mut tail = core::mem::MaybeUninit::<Tail>::uninit();
    // The tile whose products are in `c[index & 1]` and whose output stage is to come.
    let mut pending: Option<usize> = None;
    for (j, args) in tiles.iter().enumerate() {
        if args.a_packed && args.k < OVERLAP_MIN_K {
            if let Some(i) = pending.take() {
                // SAFETY: as below: tile `i`'s products fill `c[i & 1]`.
                unsafe { finish(&tiles[i], c[i & 1].assume_init_ref()) };
            }
            // SAFETY: forwarded contract (inside the session).
            unsafe { tile_amx::<true>(args) };
            continue;
        }
        // Every tile satisfies the tile contract inside this session (caller contract);
        // `products_store` wrote all of `c[i & 1]` for the pending tile `i`, and tile
        // `j` stores to the other buffer (`i = j − 1` whenever a tile is pending here).
        // SAFETY: the conditions stated just above hold.
        unsafe {
            if args.a_packed {
                // The previous tile's output stage between this tile's products and
                // their stores: the tile stores would otherwise hold its loads back.
                products_issue(args, &mut tail);
                if let Some(i) = pending {
                    finish(&tiles[i], c[i & 1].assume_init_ref());
                }
                products_store(&mut c[j & 1]);
                pending = Some(j);
            } else {
                if let Some(i) = pending.take() {
                    finish(&tiles[i], c[i & 1].assume_init_ref());
                }
                tile_vnni(args);
            }
        }
    }
    if let Some(i) = pending {
        // SAFETY: as in the loop: tile `i`'s products fill `c[i & 1]`.
        unsafe { finish(&tiles[i], c[i & 1].assume_init_ref()) };
    }
}

/// The products of a packed tile: [`products_issue`] then [`products_store`].
///
/// # Safety
/// As for [`tile`], with `a` the tile's packed rows; AMX tile state configured with
/// [`CONFIG`] on this thread.
#[inline(always)]
unsafe fn product(args: &TileArgs, c: &mut core::mem::MaybeUninit<Acc>) {
    let mut tail = core::mem::MaybeUninit::<Tail>::uninit();
    // SAFETY: forwarded contract; `tail` outlives both calls.
    unsafe {
        products_issue(args, &mut tail);
        products_store(c);
    }
}

/// `tdpbusd` over every chunk of K of a packed tile into the accumulator tiles
/// `tmm0..4` (which stay there, for [`products_store`]); `tail` receives the panel's
/// last partial chunk, zero-padded, when K needs one.
///
/// # Safety
/// As for [`product`]; `tail` stays valid and unchanged until the tile loads issued
/// here have run (the next write to it in program order is fine).
#[inline(always)]
unsafe fn products_issue(args: &TileArgs, tail: &mut core::mem::MaybeUninit<Tail>) {
    let groups = args.k.div_ceil(KR);
    let full = groups / 16;
    let rest = groups % 16;
    // The tail is written only when K needs it (no per-tile zeroing).
    // SAFETY: the panel holds ceil(K/4) groups (contract).
    let tail_ptr = unsafe { b_tail(args, tail) };
    // the tile state is configured (contract); the asm reads `full` chunks of the
    // packed A tile (2048 bytes per chunk) and of the panel (2048 bytes per chunk),
    // then one chunk of A and of `tail` when `rest > 0`, and writes only tile registers.
    // SAFETY: the conditions stated just above hold.
    unsafe {
        core::arch::asm!(
            "tilezero tmm0",
            "tilezero tmm1",
            "tilezero tmm2",
            "tilezero tmm3",
            "test {n}, {n}",
            "jz 3f",
            ".p2align 5",
            "2:",
            "tileloadd tmm4, [{a} + {k64}*1]",
            "tileloadd tmm6, [{b} + {s}*1]",
            "tdpbusd tmm0, tmm4, tmm6",
            "tileloadd tmm7, [{b} + {s}*1 + 64]",
            "tdpbusd tmm1, tmm4, tmm7",
            "tileloadd tmm5, [{a} + {k64}*1 + 1024]",
            "tdpbusd tmm2, tmm5, tmm6",
            "tdpbusd tmm3, tmm5, tmm7",
            "add {a}, 2048",
            "add {b}, 2048",
            "dec {n}",
            "jnz 2b",
            "3:",
            "test {rest}, {rest}",
            "jz 4f",
            "tileloadd tmm4, [{a} + {k64}*1]",
            "tileloadd tmm5, [{a} + {k64}*1 + 1024]",
            "tileloadd tmm6, [{t} + {s}*1]",
            "tileloadd tmm7, [{t} + {s}*1 + 64]",
            "tdpbusd tmm0, tmm4, tmm6",
            "tdpbusd tmm1, tmm4, tmm7",
            "tdpbusd tmm2, tmm5, tmm6",
            "tdpbusd tmm3, tmm5, tmm7",
            "4:",
            a = inout(reg) args.a => _,
            b = inout(reg) args.b => _,
            k64 = in(reg) KC,
            s = in(reg) NR * KR,
            n = inout(reg) full => _,
            rest = in(reg) rest,
            t = in(reg) tail_ptr,
            options(nostack, readonly),
        );
    }
}

/// Stores the accumulator tiles `tmm0..4` of [`products_issue`] to `c` (all 32×32).
///
/// # Safety
/// After [`products_issue`] on this thread, with no tile instruction in between.
#[inline(always)]
unsafe fn products_store(c: &mut core::mem::MaybeUninit<Acc>) {
    let c_ptr = c.as_mut_ptr() as *mut i32;
    // the four tile stores write the 4 KiB of `c` (16 rows of 128 bytes per
    // half, 64-byte aligned), from tiles that hold the products (contract).
    // SAFETY: the conditions stated just above hold.
    unsafe {
        core::arch::asm!(
            "tilestored [{c} + {s}*1], tmm0",
            "tilestored [{c} + {s}*1 + 64], tmm1",
            "tilestored [{c16} + {s}*1], tmm2",
            "tilestored [{c16} + {s}*1 + 64], tmm3",
            s = in(reg) NR * KR,
            c = in(reg) c_ptr,
            c16 = in(reg) c_ptr.add(16 * NR),
            options(nostack),
        );
    }
}

/// The 32×32 i32 results of a tile (cache-line aligned: tile stores must not split
/// lines).
#[repr(C, align(64))]
struct Acc([[i32; NR]; MR]);

/// The last chunk's B groups, zero-padded to 16 (reading the panel past its end would
/// leave the buffer); cache-line aligned.
#[repr(C, align(64))]
struct Tail([u8; B_CHUNK]);

/// Fills `tail` with the panel's last `groups % 16` groups and zeros when K needs a
/// partial chunk; returns its address.
///
/// # Safety
/// `args.b` holds ceil(K/4) groups of the panel.
#[inline(always)]
unsafe fn b_tail(args: &TileArgs, tail: &mut core::mem::MaybeUninit<Tail>) -> *mut u8 {
    let groups = args.k.div_ceil(KR);
    let (full, rest) = (groups / 16, groups % 16);
    let tail_ptr = tail.as_mut_ptr() as *mut u8;
    if rest > 0 {
        // groups full·16 .. groups of the panel exist (contract); the copy and the
        // zeroing of the rest of the chunk stay inside the B_CHUNK bytes of `tail`.
        // SAFETY: the conditions stated just above hold.
        unsafe {
            core::ptr::copy_nonoverlapping(
                args.b.add(full * B_CHUNK) as *const u8,
                tail_ptr,
                rest * NR * KR,
            );
            core::ptr::write_bytes(tail_ptr.add(rest * NR * KR), 0, B_CHUNK - rest * NR * KR);
        }
    }
    tail_ptr
}

/// The epilogue of a tile's results, 16 rows at a time (the last part may be shorter).
///
/// # Safety
/// AVX-512F+BW present; `args` as for [`GemmKernel::tile`] (`rowsum` may be null when
/// no B zero point is non-zero); `c` holds the tile's results.
// Out of line: it holds the epilogue of every height and stage kind, and inlined into
// each of its callers (the tiles and the overlapped run) it made the instrumented
// fuzzing build of the kernels run past its bound; one call per tile costs nothing
// next to the stage itself.
#[inline(never)]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn finish(args: &TileArgs, c: &Acc) {
    let es = {
        // SAFETY: the stage is valid (contract).
        unsafe { (*args.stage).dst_type.size() }
    };
    let mut i0 = 0;
    while i0 < args.m {
        let m = (args.m - i0).min(16);
        let part = TileArgs {
            // SAFETY: rows i0 < m of the destination (contract).
            dst: unsafe { args.dst.add(i0 * args.dst_stride * es) },
            rowsum: if args.rowsum.is_null() {
                args.rowsum
            } else {
                // SAFETY: m row sums when non-null (contract).
                unsafe { args.rowsum.add(i0) }
            },
            m,
            ..*args
        };
        // SAFETY: AVX-512F+BW present; `part` describes rows i0..i0 + m; `c` holds them.
        unsafe { epilogue_rows(&part, &c.0[i0..i0 + m]) };
        i0 += m;
    }
}

/// Packs one tile gathered through an indirection list into the layout of [`pack_a`]:
/// per chunk of 64 K bytes, [`gather_chunk`] writes the chunk's 2 KiB (rows past `m`
/// zero) and the row sums add `vpsadbw` of each row's 64 bytes.
///
/// # Safety
/// See [`APack::indirect`]; the CPU has AVX-512 F and BW.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_a_indirect(ind: &Indirect, args: &PackAArgs) {
    debug_assert!(args.m >= 1 && args.m <= MR && args.k == ind.taps * ind.seg);
    let zero = _mm512_setzero_si512();
    let mut sums = [zero; MR];
    for ch in 0..args.k.div_ceil(KC) {
        // SAFETY: chunk ch of the tile lies inside `args.dst` (one tile of
        // a_tile_bytes(K), 64-byte aligned); the list is valid (contract).
        let dst = unsafe { args.dst.add(ch * 2 * A_HALF) };
        // SAFETY: as above.
        unsafe { gather_chunk(ind, args.xor, args.k, ch, args.m, dst) };
        for (i, s) in sums.iter_mut().enumerate().take(args.m) {
            // SAFETY: row i's 64 aligned bytes of the chunk just written.
            let v = unsafe { _mm512_load_si512(dst.add(i * KC) as *const _) };
            *s = _mm512_add_epi64(*s, _mm512_sad_epu8(v, zero));
        }
    }
    for (i, s) in sums.iter().enumerate().take(args.m) {
        // SAFETY: i < m row sums (contract).
        unsafe { *args.rowsum.add(i) = _mm512_reduce_add_epi64(*s) as i32 };
    }
}

/// Bytes of one 16-row A tile of a chunk (16 rows × 64 K bytes).
const A_HALF: usize = 16 * KC;

/// Copies K bytes `64·ch ..` of the tile's first `m` gathered rows to `dst` (row `i`
/// at `64·i`), XOR applied, zeros past K and for rows `m..32`. The pieces of the chunk (the segments it overlaps,
/// one when the segment length is a multiple of 64) are the same for every row: found
/// once, then per row one load per piece (masked, placed at its byte offset) and one
/// aligned store.
///
/// # Safety
/// AVX-512F+BW present; `ind` valid as documented at [`Indirect`] with
/// `ind.taps·ind.seg == k` (its rows `m..32` are not read); `64·ch < k`; `dst` valid for
/// 2048 bytes, 64-byte aligned.
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn gather_chunk(ind: &Indirect, xor: u8, k: usize, ch: usize, m: usize, dst: *mut u8) {
    let flip = _mm512_set1_epi8(xor as i8);
    let start = ch * KC;
    let len = (k - start).min(KC);
    let valid: u64 = if len == KC {
        u64::MAX
    } else {
        (1u64 << len) - 1
    };
    let seg = ind.seg;
    // The chunk's pieces: (list entry of row 0, offset in the segment − lane, lanes).
    let mut pieces = [(0usize, 0usize, 0u64); KC / KR];
    let mut count = 0;
    let (mut t, mut off) = (start / seg, start % seg);
    let mut done = 0;
    while done < len {
        let n = (seg - off).min(len - done);
        let lanes: u64 = (if n == 64 { u64::MAX } else { (1u64 << n) - 1 }) << done;
        pieces[count] = (t * MR, off.wrapping_sub(done), lanes);
        count += 1;
        done += n;
        (t, off) = (t + 1, 0);
    }
    let pieces = &pieces[..count];
    for i in 0..MR {
        let mut v = _mm512_setzero_si512();
        if i >= m {
            // SAFETY: row i's 64 aligned bytes of the 2048-byte buffer.
            unsafe { _mm512_store_si512(dst.add(i * KC) as *mut _, v) };
            continue;
        }
        for &(entry, shift, lanes) in pieces {
            // entry + i < 32·taps (the piece's tap holds K bytes below k) is a
            // list entry valid for `seg` bytes (contract); the masked load reads lanes
            // `lanes`, i.e. addresses segment + off .. segment + off + n, inside the
            // segment; masked-off lanes are not accessed (the base may lie before the
            // segment: formed with wrapping arithmetic).
            // SAFETY: the conditions stated just above hold.
            unsafe {
                let base = (*ind.ptrs.add(entry + i)).wrapping_add(shift);
                v = _mm512_mask_loadu_epi8(v, lanes, base as *const i8);
            }
        }
        v = _mm512_maskz_mov_epi8(valid, _mm512_xor_si512(v, flip));
        // SAFETY: row i's 64 aligned bytes of the 2048-byte buffer.
        unsafe { _mm512_store_si512(dst.add(i * KC) as *mut _, v) };
    }
}

/// The epilogue for `rows.len()` (1..=16) rows of the i32 buffer.
///
/// # Safety
/// AVX-512F+BW present; `args` as for [`GemmKernel::tile`] with `args.m == rows.len()`.
#[inline(always)]
unsafe fn epilogue_rows(args: &TileArgs, rows: &[[i32; NR]]) {
    macro_rules! arm {
        ($($m:literal),+) => {
            match rows.len() {
                $($m => {
                    // A plain loop, not `core::array::from_fn`: its closure is compiled
                    // without AVX-512, and once it was not inlined each load became a
                    // call (the AMX GEMM ran 7 % slower).
                    // SAFETY: AVX-512F present (contract).
                    let mut acc = [[unsafe { _mm512_setzero_si512() }; 2]; $m];
                    for (a, r) in acc.iter_mut().zip(rows) {
                        // SAFETY: row r holds 32 i32 (two unaligned 64-byte loads).
                        unsafe {
                            a[0] = _mm512_loadu_si512(r.as_ptr() as *const _);
                            a[1] = _mm512_loadu_si512(r.as_ptr().add(16) as *const _);
                        }
                    }
                    // SAFETY: forwarded contract.
                    unsafe { epilogue::<$m, false>(args, acc) }
                })+
                _ => unreachable!("1..=16 rows"),
            }
        };
    }
    arm!(16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
}
