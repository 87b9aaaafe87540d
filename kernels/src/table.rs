//! Kernel tables: what one ISA provides, and the GEMM driver loop shared by all tables.
//!
//! A packing layout and the microkernel that reads it are one unit: [`GemmKernel`]
//! holds both, with the tile geometry. A packed weight records the kernel it was packed
//! for (by name), and the safe crate refuses to run it with another.

use crate::{Isa, OutputStage};

/// Arguments of a packing call: B (K×N, any strides) into the panel layout of a kernel.
///
/// The packed layout of a kernel with geometry `NR`, `KR`: `ceil(N/NR)` panels of
/// `Kp·NR` bytes each (`Kp` = K rounded up to a multiple of `KR`); inside a panel, byte
/// `(kk/KR)·NR·KR + j·KR + kk%KR` holds `B[kk][p·NR + j] ^ xor` as i8, and zero where
/// `kk >= K` or the column is past N.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct PackArgs {
    /// `B[0][0]` of the source (u8 or i8 bytes).
    pub src: *const u8,
    /// Distance in bytes between `B[k][n]` and `B[k+1][n]`.
    pub k_stride: usize,
    /// Distance in bytes between `B[k][n]` and `B[k][n+1]`.
    pub n_stride: usize,
    /// Depth K (≥ 1).
    pub k: usize,
    /// Columns N (≥ 1).
    pub n: usize,
    /// XORed into every source byte: 0x80 turns u8 into the canonical i8, 0 keeps i8.
    pub xor: u8,
    /// Destination, `ceil(N/NR)·Kp·NR` bytes, possibly uninitialised: the packer writes
    /// every one of them (padding included) and reads none it has not written.
    pub dst: *mut i8,
    /// Destination of the column sums of the packed (canonical) values,
    /// `ceil(N/NR)·NR` entries (possibly uninitialised, all written); padding columns
    /// get 0.
    pub colsum: *mut i32,
}

/// Arguments of one microkernel call: a tile of `m ≤ MR` rows × one panel (`NR` lanes),
/// of which lanes `lane_begin..lane_end` are stored.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TileArgs {
    /// `A[row 0 of the tile][0]` (u8 or i8 bytes, read as `byte ^ a_xor`).
    pub a: *const u8,
    /// Bytes between consecutive rows of A (unused when `a_packed`).
    pub a_stride: usize,
    /// 0 for u8 A, 0x80 for i8 A (always 0 when `a_packed`: packing applied it).
    pub a_xor: u8,
    /// Whether `a` points at this tile's rows in the kernel's packed-A layout
    /// ([`APack`]) rather than at row-major A.
    pub a_packed: bool,
    /// Null, or `m` values `Σ_k` of the canonical A bytes of the tile's rows (written
    /// when packing); the kernel uses them instead of summing A itself. Never null when
    /// `a_packed`.
    pub rowsum: *const i32,
    /// Canonical zero point of A (`za` for u8, `za + 128` for i8).
    pub za: i32,
    /// Rows in this tile, `1..=MR`.
    pub m: usize,
    /// Depth K.
    pub k: usize,
    /// Start of the packed panel.
    pub b: *const i8,
    /// `NR` canonical B zero points of the panel's columns.
    pub zb: *const i32,
    /// Whether any B zero point of the whole matrix is non-zero (else the row sums of A
    /// are not needed).
    pub zb_nonzero: bool,
    /// `NR` values `K·zb[j] − colsum[j]` (wrapping) of the panel's columns.
    pub colcorr: *const i32,
    /// First panel lane to store.
    pub lane_begin: usize,
    /// One past the last panel lane to store, `<= NR`.
    pub lane_end: usize,
    /// Global output column of lane `lane_begin` (indexes the output stage parameters).
    pub col0: usize,
    /// The output stage.
    pub stage: *const OutputStage,
    /// Destination element (row 0 of the tile, column `col0`), a byte pointer to
    /// elements of `stage.dst_type`.
    pub dst: *mut u8,
    /// Elements between consecutive destination rows.
    pub dst_stride: usize,
}

/// One GEMM microkernel with its packer and geometry.
#[derive(Debug)]
pub struct GemmKernel {
    /// Path-style name, e.g. `scalar::gemm_u8i8_4x8c1`.
    pub name: &'static str,
    /// The instruction set it needs.
    pub isa: Isa,
    /// Rows per tile.
    pub mr: usize,
    /// Columns per tile (lanes of a panel).
    pub nr: usize,
    /// K values packed together per column.
    pub kr: usize,
    /// Packs a whole B: writes every byte of `dst` and every entry of `colsum` (see
    /// [`PackArgs`]), so both may be uninitialised memory.
    ///
    /// # Safety
    /// The CPU supports `isa`; the pointers of `PackArgs` are valid as documented there.
    pub pack: unsafe fn(&PackArgs),
    /// How the kernel wants A packed, if it reads a packed A at all ([`run_gemm`] packs
    /// each row block once and reuses it for every panel).
    pub pack_a: Option<APack>,
    /// Computes one tile.
    ///
    /// # Safety
    /// The CPU supports `isa`; the pointers of `TileArgs` are valid as documented there:
    /// `a` for `m` rows of `k` bytes (or the tile's packed rows when `a_packed`, with
    /// `rowsum` for `m` values), `b` for one packed panel, `zb`/`colcorr` for `NR`
    /// values, `dst` for `m` rows of `lane_end − lane_begin` elements, and the stage's
    /// parameters for columns `col0..col0 + lane_end − lane_begin`.
    pub tile: unsafe fn(&TileArgs),
    /// Computes one tile whose A rows are gathered from an indirection list
    /// ([`Indirect`]), if the kernel has such a path (implicit-GEMM convolution reads
    /// the input image through it instead of copying im2col rows).
    ///
    /// # Safety
    /// As for [`GemmKernel::tile`], with A given by `ind` instead of `args.a`:
    /// `args.a_packed` is false, `args.k == ind.taps·ind.seg`, `ind` is valid as
    /// documented at [`Indirect`], and `args.rowsum` holds the `m` row sums of the
    /// gathered rows whenever `args.zb_nonzero`.
    pub tile_indirect: Option<unsafe fn(&TileArgs, &Indirect)>,
    /// State that the tiles of one [`run_gemm`] call can share, if the kernel has any
    /// (AMX: the tile configuration, loaded once per call instead of once per tile).
    pub session: Option<TileSession>,
}

/// Per-call state of a kernel ([`GemmKernel::session`]): [`run_gemm`] calls `begin`,
/// then runs every tile through `tile` (instead of [`GemmKernel::tile`]), then `end`,
/// with nothing else on the thread in between. `tile` computes exactly what
/// [`GemmKernel::tile`] computes.
#[derive(Clone, Copy, Debug)]
pub struct TileSession {
    /// Sets the state up.
    ///
    /// # Safety
    /// The CPU supports the kernel's ISA.
    pub begin: unsafe fn(),
    /// One tile, as [`GemmKernel::tile`].
    ///
    /// # Safety
    /// As for [`GemmKernel::tile`], inside `begin` … `end` on this thread.
    pub tile: unsafe fn(&TileArgs),
    /// Several tiles with disjoint outputs, as `tile` on each in order; the kernel may
    /// overlap the work of consecutive tiles ([`run_gemm`] hands its tiles over in
    /// batches).
    ///
    /// # Safety
    /// As for `tile`, for every element.
    pub run: unsafe fn(&[TileArgs]),
    /// Releases the state.
    ///
    /// # Safety
    /// After `begin` on this thread.
    pub end: unsafe fn(),
}

/// The A rows of an indirect tile ([`GemmKernel::tile_indirect`]): row `i` of the tile is
/// the concatenation, over taps `t` in order, of the `seg` bytes at `ptrs[t·MR + i]`
/// (read as `byte ^ a_xor`, like row-major A). The result is exactly that of
/// [`GemmKernel::tile`] on the gathered row-major rows.
///
/// A convolution's im2col row is such a concatenation: one segment per kernel tap (the
/// tap's input channels, or a row of the input zero point for a tap in the padding).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Indirect {
    /// `taps·MR` pointers, tap-major; each is valid for `seg` bytes, those of rows
    /// `m..MR` included (they are read but never stored: any valid segment will do).
    pub ptrs: *const *const u8,
    /// Segments per row (≥ 1).
    pub taps: usize,
    /// Bytes per segment: a multiple of the kernel's `kr`, so every segment starts on a
    /// K group of the packed B.
    pub seg: usize,
}

/// The packer of a kernel that reads A packed ([`GemmKernel::pack_a`]).
///
/// A block of `m` rows is packed as `ceil(m/MR)` tiles of `MR` rows, each `tile_bytes(K)`
/// long, in a layout the kernel defines (documented at its packer), with the XOR applied
/// (so the bytes are canonical u8) and zeros for the rows past `m` of the last tile and
/// for any padding of K. The packer also writes the row sums `Σ_k (A[row][k] ^ xor)`
/// (wrapping i32). The `…c4` kernels' layout, for example, interleaves a tile's rows per
/// group of 4 K bytes: group `g` of row `i` at `(g·MR + i)·4`, so the tile is one
/// sequential stream in the order the microkernel reads it.
#[derive(Clone, Copy, Debug)]
pub struct APack {
    /// Fewest rows a call must have for [`PackAMode::Auto`] to pack (below it the
    /// kernel's in-place path is faster).
    pub min_rows: usize,
    /// Whether packing pays, for [`PackAMode::Auto`] (given at least `min_rows` rows):
    /// `pays(panels, stride, xor)` with the panels a row block spans, A's row stride in
    /// bytes and its XOR (0 for u8 A, 0x80 for i8 A). Packing copies each row block once,
    /// so it pays when the copy is reused by enough panels and the packed path is faster
    /// than the kernel's in-place path for such A.
    pub pays: fn(usize, usize, u8) -> bool,
    /// Bytes of one packed tile for depth K.
    pub tile_bytes: fn(usize) -> usize,
    /// Packs a block of rows.
    ///
    /// # Safety
    /// The CPU supports the kernel's ISA; the pointers of [`PackAArgs`] are valid as
    /// documented there.
    pub pack: unsafe fn(&PackAArgs),
    /// Packs one tile whose rows are gathered from an indirection list ([`Indirect`]),
    /// if the kernel can: the same layout, XOR and row sums as `pack`, `args.src` and
    /// `args.stride` unused (an implicit-GEMM convolution packs each tile of output
    /// pixels once and runs every panel on it).
    ///
    /// # Safety
    /// The CPU supports the kernel's ISA; `ind` is valid as documented at [`Indirect`]
    /// with `ind.taps·ind.seg == args.k`; `1 ≤ args.m ≤ MR`; `args.dst` holds one tile
    /// of [`GemmKernel::a_tile_bytes`], 64-byte aligned, and `args.rowsum` `args.m`
    /// values.
    pub indirect: Option<unsafe fn(&Indirect, &PackAArgs)>,
    /// Packed-B bytes that each packed A tile runs across before the next tile, for a
    /// kernel whose tiles are bound by L2 bandwidth (optimisation 7 of [`run_gemm`]);
    /// 0 for the default loop nest.
    pub b_block: usize,
}

/// Arguments of an A-packing call ([`APack::pack`]).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct PackAArgs {
    /// `A[first row][0]` (u8 or i8 bytes).
    pub src: *const u8,
    /// Bytes between consecutive rows of A.
    pub stride: usize,
    /// XORed into every byte (0 for u8 A, 0x80 for i8 A).
    pub xor: u8,
    /// Rows to pack (≥ 1).
    pub m: usize,
    /// Depth K (≥ 1).
    pub k: usize,
    /// The kernel's tile height `MR`.
    pub mr: usize,
    /// Destination, `ceil(m/MR)` tiles of [`GemmKernel::a_tile_bytes`].
    pub dst: *mut u8,
    /// Destination of the `m` row sums.
    pub rowsum: *mut i32,
}

/// Whether [`run_gemm`] packs A for kernels that can read it packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackAMode {
    /// Never: A is read in place.
    Never,
    /// When it pays: at least [`APack::min_rows`] rows and [`APack::pays`] for the block.
    Auto,
    /// Whenever the kernel reads a packed A and the scratch is large enough (tests use
    /// it to reach the packed path on every shape).
    Always,
}

impl GemmKernel {
    /// K rounded up to a multiple of `kr`.
    pub const fn padded_k(&self, k: usize) -> usize {
        k.div_ceil(self.kr) * self.kr
    }

    /// Number of panels for `n` columns.
    pub const fn panels(&self, n: usize) -> usize {
        n.div_ceil(self.nr)
    }

    /// Bytes of packed B for K×N.
    pub const fn packed_len(&self, k: usize, n: usize) -> usize {
        self.panels(n) * self.padded_k(k) * self.nr
    }

    /// Rows per row block of [`run_gemm`] for depth `k` (before clamping to M).
    const fn block_rows(&self, k: usize) -> usize {
        let rows = A_BLOCK_BYTES / if k == 0 { 1 } else { k } / self.mr * self.mr;
        if rows < self.mr {
            self.mr
        } else {
            rows
        }
    }

    /// Bytes of one packed-A tile ([`APack`]) for depth `k` (0 when the kernel reads A
    /// in place).
    pub fn a_tile_bytes(&self, k: usize) -> usize {
        self.pack_a.map_or(0, |p| (p.tile_bytes)(k))
    }

    /// Scratch bytes [`run_gemm`] uses to pack A for a call of `m` rows and depth `k`
    /// (0 when the kernel reads A in place). A smaller scratch makes it read A in place.
    pub fn scratch_len(&self, m: usize, k: usize) -> usize {
        match self.pack_a {
            None => 0,
            Some(_) => {
                let rows = m.div_ceil(self.mr) * self.mr;
                let block = self.block_rows(k);
                let rows = if rows < block { rows } else { block };
                // + 64 to align the tiles, + 64 to align the row sums.
                rows / self.mr * self.a_tile_bytes(k) + rows * 4 + 128
            }
        }
    }
}

/// Arguments of a GEMM over a block of rows and columns of the output, run by
/// [`run_gemm`].
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct GemmCall {
    /// `A[first row of the block][0]`.
    pub a: *const u8,
    /// Bytes between rows of A.
    pub a_stride: usize,
    /// 0 for u8 A, 0x80 for i8 A.
    pub a_xor: u8,
    /// Canonical zero point of A.
    pub za: i32,
    /// Rows of the block.
    pub m: usize,
    /// Depth K.
    pub k: usize,
    /// Packed B (all panels).
    pub packed: *const i8,
    /// Canonical zero points of B, one per column, padded to whole panels.
    pub zb: *const i32,
    /// Whether any zero point of B is non-zero.
    pub zb_nonzero: bool,
    /// `K·zb − colsum`, one per column, padded to whole panels.
    pub colcorr: *const i32,
    /// First output column of the block.
    pub col_begin: usize,
    /// One past the last output column of the block (`> col_begin`).
    pub col_end: usize,
    /// The output stage.
    pub stage: *const OutputStage,
    /// Destination element (first row of the block, column `col_begin`).
    pub dst: *mut u8,
    /// Elements between destination rows.
    pub dst_stride: usize,
    /// Whether to pack A (for kernels with [`GemmKernel::pack_a`]).
    pub pack_a: PackAMode,
    /// Scratch for packed A, `scratch_len` bytes (may be null with length 0).
    pub scratch: *mut u8,
    /// Bytes at `scratch`; packing happens only when it is at least
    /// [`GemmKernel::scratch_len`].
    pub scratch_len: usize,
}

/// Bytes of A rows that one row block may occupy: the block is re-read once per panel,
/// so it should stay in the L2 cache (≥ 1 MiB per core on current x86 servers) while
/// the panels stream past it. Larger blocks mean fewer passes over B: at 2048³ two
/// threads scaled 1.46× with 384 KiB blocks and 2.0× with 1 MiB (`zeropoint bench`).
const A_BLOCK_BYTES: usize = 1024 * 1024;

/// Packed-B bytes (of the block's panels) up to which the row tiles are the outer loop:
/// then all of B stays in L2 while each A tile is read once, from L1.
pub(crate) const SMALL_B_BYTES: usize = 512 * 1024;

/// Panel bytes (`NR·K` of packed B) above which a row tile runs two panels back to back
/// when its rows' output per panel is at most half a cache line (optimisation 6 of
/// [`run_gemm`]). Below it one panel stays in L1 across the tiles of a row block, and
/// alternating two would push it out: 1024³ u8 ran 0.99× with pairs, 2048³ 1.01×.
pub(crate) const PAIR_PANEL_BYTES: usize = 40 * 1024;

/// The largest packed A tile (bytes) that [`APack::b_block`] keeps in L1 across a block
/// of panels (of the 48 KiB of current x86 cores, leaving room for the panels' stream);
/// a larger tile is evicted by the panels between its uses, so the default nest runs.
pub(crate) const B_BLOCK_A_TILE_MAX: usize = 32 * 1024;

/// Packed-A bytes a row block needs before [`APack::b_block`] applies: a smaller block
/// stays in L2 while the panels stream past it, and the default nest was faster (AMX,
/// alternated: 256×1024×4096 0.96×, 64×1024×4096 0.92× with the blocks of panels;
/// 512×1024×4096 1.21×).
pub(crate) const B_BLOCK_MIN_A: usize = 512 * 1024;

/// Row tiles a block needs before its panels run in pairs: with fewer, the second
/// half of a line comes only a few tiles after the first and is still cached
/// (32×4096×4096 ran 0.99× with pairs).
pub(crate) const PAIR_MIN_TILES: usize = 8;

/// The GEMM loop nest over a block, for any kernel table:
///
/// ```text
/// if the block's packed B is small (≤ SMALL_B_BYTES):
///     for each group of MR rows                     (A tile read once, stays in L1)
///         [pack the group's rows]
///         for each panel p overlapping col_begin..col_end
///             kernel.tile(rows, panel p, lanes of p inside the block)
/// else:
///     for each block of MC rows (MC·K bytes of A ≈ A_BLOCK_BYTES, a multiple of MR)
///         [pack the block's rows]
///         for each group of G panels                (G = 1 or 2 panels of NR columns,
///                                                    or APack::b_block bytes of them)
///             for each group of MR rows in the block
///                 for each panel p of the group
///                     kernel.tile(rows, panel p, lanes of p inside the block)
/// ```
///
/// The bracketed step runs for kernels with [`GemmKernel::pack_a`] when `call.pack_a`
/// asks for it (for `Auto`: the call has at least [`APack::min_rows`] rows and
/// [`APack::pays`] for the block's panels, A's stride and A's type) and the scratch is
/// large enough; the tiles then read the packed rows and
/// their precomputed row sums.
///
/// Optimisations: (1) with a large B, the row block keeps A in L2 while every panel of
/// B passes once per block, so B is read `ceil(M/MC)` times and A once from memory;
/// (2) a panel (at most `NR·K` bytes) stays in L1/L2 across the tiles of a block; (3)
/// with a small B (narrow layers, convolutions with few output channels) B lives in
/// L2 and each A tile is read from memory once; (4) no checks or dispatch inside: the
/// tile function pointer is loaded once; (5) packed A is copied once per block and
/// reused by every panel: one base pointer and constant row offsets in the
/// microkernel, the i8→u8 flip and the row sums done once instead of once per panel;
/// (6) G = 2 when a tile row's output in one panel is at most half a cache line (u8/i8
/// output with NR = 32), a panel is too large to stay in L1 anyway (`NR·K` > 40 KiB)
/// and the block has at least 8 row tiles: the tile's two halves of each output line
/// are then written back to back instead of a row block apart, when the line has long
/// left L1 (2048³ u8 on `avx512vnni`: 1.010× in alternated runs; writing the tiles to a
/// small hot buffer instead of the output was 1.03–1.04×, so most of what the output's
/// line pattern costs at a 2048-byte row stride remains; prefetching the lines did not
/// help); (7) for a kernel with [`APack::b_block`] (AMX, whose tiles read A and B
/// faster than L2 delivers them) whose packed A tile fits L1 (32 KiB) and whose row
/// block holds at least 512 KiB of A, a group is `b_block` bytes of panels, so each A
/// tile is read from L2 once per group and then from L1; when every panel fits one group, the blocks are single tiles (each packed
/// just before its panels, as with a small B). On the development machine, AMX in
/// alternated runs: 1024³ 1.18–1.25×, 2048×1024×4096 1.39–1.41×, 2048×512×4096 1.40×,
/// 512×1024×4096 1.06×, 1024×512×2048 1.07–1.09×; (8) a kernel with a session gets
/// its tiles in batches ([`TileBatch`]), which it may overlap (AMX). The order changes
/// nothing in the results.
///
/// # Safety
/// The CPU supports `kernel.isa`; `call.packed` was packed by `kernel.pack` for this K
/// and an N ≥ `col_end`; every pointer in `call` is valid for the block it describes
/// (`m` rows of A with `k` bytes, `m` rows × `col_end − col_begin` destination elements,
/// stage parameters for columns up to `col_end`, `scratch_len` bytes at `scratch`).
pub unsafe fn run_gemm(kernel: &GemmKernel, call: &GemmCall) {
    let (mr, nr) = (kernel.mr, kernel.nr);
    let first = call.col_begin / nr;
    let last = (call.col_end - 1) / nr;
    let panels = last + 1 - first;
    let panel_bytes = kernel.padded_k(call.k) * nr;
    let pack = match (kernel.pack_a, call.pack_a) {
        (Some(ap), PackAMode::Always) => Some(ap),
        (Some(ap), PackAMode::Auto)
            if call.m >= ap.min_rows && (ap.pays)(panels, call.a_stride, call.a_xor) =>
        {
            Some(ap)
        }
        _ => None,
    }
    .filter(|_| {
        call.k > 0
            && !call.scratch.is_null()
            && call.scratch_len >= kernel.scratch_len(call.m, call.k)
    });
    // Rows per block and panels each row tile runs back to back (optimisations 6, 7).
    let blocked = balanced_rows(call.m, kernel.block_rows(call.k), mr);
    let b_block = pack
        .filter(|ap| {
            let tile_bytes = (ap.tile_bytes)(call.k);
            ap.b_block > 0
                && tile_bytes <= B_BLOCK_A_TILE_MAX
                && blocked / mr * tile_bytes >= B_BLOCK_MIN_A
        })
        .map(|ap| ap.b_block);
    let (mc, group) = match b_block {
        Some(bytes) => {
            let per = (bytes / panel_bytes).max(1);
            if panels <= per {
                (mr, panels)
            } else {
                (blocked, per)
            }
        }
        None => {
            let mc = if panels * panel_bytes <= SMALL_B_BYTES {
                mr
            } else {
                blocked
            };
            // SAFETY: `call.stage` is valid (caller contract).
            let es = unsafe { (*call.stage).dst_type.size() };
            let pair = nr * es <= 32 && panel_bytes > PAIR_PANEL_BYTES && mc >= PAIR_MIN_TILES * mr;
            (mc, if pair { 2 } else { 1 })
        }
    };
    // A session runs its tiles in batches.
    let mut batch = kernel.session.as_ref().map(TileBatch::new);
    let tile = match kernel.session {
        Some(session) => {
            // SAFETY: the CPU supports the kernel's ISA (caller contract); `end` runs
            // below, after the last tile, with only this call's tiles in between.
            unsafe { (session.begin)() };
            session.tile
        }
        None => kernel.tile,
    };
    let mut r0 = 0;
    while r0 < call.m {
        let r1 = (r0 + mc).min(call.m);
        // Where the tiles read A: in place, or the block's packed rows.
        let source = match pack {
            None => ASource::InPlace,
            Some(ap) => {
                let tile_bytes = kernel.a_tile_bytes(call.k);
                let rows_bytes = (r1 - r0).div_ceil(mr) * tile_bytes;
                // The tiles start on a cache line (vector and tile loads must not split
                // lines), the row sums after them, 4-byte aligned.
                let base = call.scratch as usize;
                let tiles_at = base.next_multiple_of(64) - base;
                let sums_at = (base + tiles_at + rows_bytes).next_multiple_of(4) - base;
                // SAFETY: tiles_at < 64 ≤ the slack in scratch_len.
                let tiles = unsafe { call.scratch.add(tiles_at) };
                // SAFETY: scratch_len ≥ scratch_len(m, k) ≥ the block's tiles + 4·(r1 − r0)
                // + 4 bytes of alignment (checked above); A rows r0..r1 exist.
                let rowsum = unsafe { call.scratch.add(sums_at) as *mut i32 };
                let pa = PackAArgs {
                    // SAFETY: row r0 < m of A (caller contract).
                    src: unsafe { call.a.add(r0 * call.a_stride) },
                    stride: call.a_stride,
                    xor: call.a_xor,
                    m: r1 - r0,
                    k: call.k,
                    mr,
                    dst: tiles,
                    rowsum,
                };
                // SAFETY: the CPU supports the kernel's ISA; source and destinations are
                // valid as just shown.
                unsafe { (ap.pack)(&pa) };
                ASource::Packed {
                    tiles,
                    tile_bytes,
                    rowsum,
                }
            }
        };
        let mut p0 = first;
        while p0 <= last {
            let p1 = (p0 + group - 1).min(last);
            let mut i0 = r0;
            while i0 < r1 {
                let rows = mr.min(r1 - i0);
                for p in p0..=p1 {
                    // SAFETY: i0 < m and panel p overlaps the block (caller contract);
                    // the packed tile (i0 − r0)/mr exists when packing.
                    let args = unsafe { tile_args(kernel, call, i0, rows, p, source, r0) };
                    // the tile's pointers are valid (`tile_args`) until this block's
                    // tiles are flushed below; the CPU supports the kernel's ISA, and
                    // the batch and `tile` are its session's inside the session, or
                    // `tile` is its tile function.
                    // SAFETY: the conditions stated just above hold.
                    unsafe {
                        match &mut batch {
                            Some(batch) => batch.push(args),
                            None => tile(&args),
                        }
                    }
                }
                i0 += mr;
            }
            p0 = p1 + 1;
        }
        // The block's tiles are done before the next block is packed over them.
        if let Some(batch) = &mut batch {
            // SAFETY: as above.
            unsafe { batch.flush() };
        }
        r0 = r1;
    }
    if let Some(session) = kernel.session {
        // SAFETY: `begin` ran above on this thread.
        unsafe { (session.end)() };
    }
}

/// The rows per block when `m` rows are split into blocks of at most `max` rows (a
/// multiple of `mr`): as many blocks as `max` needs, made as even as whole tiles allow.
/// A remainder block of a few rows would stream every panel of B again for a few
/// tiles: 1024 rows in blocks of 1020 left a 4-row block that read all of B (1 MiB at
/// 1024³) for 0.4 % of the work.
const fn balanced_rows(m: usize, max: usize, mr: usize) -> usize {
    let blocks = m.div_ceil(max);
    let rows = m.div_ceil(blocks).div_ceil(mr) * mr;
    if rows > max {
        max
    } else {
        rows
    }
}

/// Where the tiles of a row block read A.
#[derive(Clone, Copy)]
enum ASource {
    /// Row-major A of the call.
    InPlace,
    /// The block's packed tiles (in the scratch, from `tiles`), and its row sums.
    Packed {
        tiles: *mut u8,
        tile_bytes: usize,
        rowsum: *const i32,
    },
}

impl TileSession {
    /// Tiles per [`TileSession::run`] call from a [`TileBatch`]: the kernel may overlap
    /// consecutive tiles of a batch (AMX: one tile's output stage with the next one's
    /// products), so only the last tile of each batch runs alone.
    pub const RUN_BATCH: usize = 32;
}

/// Tiles collected for a session's [`TileSession::run`] and handed over
/// [`TileSession::RUN_BATCH`] at a time, in order. Tiles still collected when it is
/// dropped are not run: [`TileBatch::flush`] before the session ends, and before
/// anything a collected tile reads (a packed A tile, say) is overwritten.
pub struct TileBatch {
    run: unsafe fn(&[TileArgs]),
    tiles: [core::mem::MaybeUninit<TileArgs>; TileSession::RUN_BATCH],
    len: usize,
}

impl TileBatch {
    /// An empty batch for `session`.
    pub fn new(session: &TileSession) -> Self {
        TileBatch {
            run: session.run,
            tiles: [const { core::mem::MaybeUninit::uninit() }; TileSession::RUN_BATCH],
            len: 0,
        }
    }

    /// Adds a tile, running the batch when it is full.
    ///
    /// # Safety
    /// `args` is valid for the session's `tile` until the batch runs (what it points
    /// to stays alive and unchanged), and the session is running on this thread.
    pub unsafe fn push(&mut self, args: TileArgs) {
        self.tiles[self.len].write(args);
        self.len += 1;
        if self.len == TileSession::RUN_BATCH {
            // SAFETY: forwarded contract.
            unsafe { self.flush() };
        }
    }

    /// Runs the collected tiles (nothing when there are none).
    ///
    /// # Safety
    /// As for [`TileBatch::push`], for every collected tile.
    pub unsafe fn flush(&mut self) {
        if self.len > 0 {
            // SAFETY: the first `len` elements were written by `push`, and
            // `MaybeUninit<T>` has the layout of `T`.
            let tiles = unsafe {
                core::slice::from_raw_parts(self.tiles.as_ptr() as *const TileArgs, self.len)
            };
            // SAFETY: forwarded contract.
            unsafe { (self.run)(tiles) };
            self.len = 0;
        }
    }
}

/// The arguments of the tile of rows `i0..i0 + m` and panel `p` of `call`, in the row
/// block that starts at `r0`.
///
/// # Safety
/// As for [`run_gemm`], with `i0 + m <= call.m`, panel `p` overlapping
/// `col_begin..col_end`, and `source` describing the block's packed rows if packed.
#[inline(always)]
unsafe fn tile_args(
    kernel: &GemmKernel,
    call: &GemmCall,
    i0: usize,
    m: usize,
    p: usize,
    source: ASource,
    r0: usize,
) -> TileArgs {
    let nr = kernel.nr;
    let lane_begin = call.col_begin.max(p * nr) - p * nr;
    let lane_end = call.col_end.min((p + 1) * nr) - p * nr;
    let col0 = p * nr + lane_begin;
    // SAFETY: `stage` is valid (caller contract).
    let esize = unsafe { (*call.stage).dst_type.size() };
    // Pointer offsets below: row i0 < m of A (or tile (i0 − r0)/mr of the packed block
    // and its row sums), panel p < panels, columns p·nr.. inside the padded per-column
    // arrays, destination row i0 < m and column col0 − col_begin < col_end − col_begin:
    // all inside the extents the caller guarantees.
    let (a, a_packed, rowsum) = match source {
        // SAFETY: see above.
        ASource::InPlace => (
            unsafe { call.a.add(i0 * call.a_stride) },
            false,
            core::ptr::null(),
        ),
        ASource::Packed {
            tiles,
            tile_bytes,
            rowsum,
        } => (
            // SAFETY: see above.
            unsafe { tiles.add((i0 - r0) / kernel.mr * tile_bytes) as *const u8 },
            true,
            // SAFETY: see above.
            unsafe { rowsum.add(i0 - r0) },
        ),
    };
    TileArgs {
        a,
        a_stride: if a_packed { 0 } else { call.a_stride },
        a_xor: if a_packed { 0 } else { call.a_xor },
        a_packed,
        rowsum,
        za: call.za,
        m,
        k: call.k,
        // SAFETY: see above.
        b: unsafe { call.packed.add(p * kernel.padded_k(call.k) * nr) },
        // SAFETY: see above.
        zb: unsafe { call.zb.add(p * nr) },
        zb_nonzero: call.zb_nonzero,
        // SAFETY: see above.
        colcorr: unsafe { call.colcorr.add(p * nr) },
        lane_begin,
        lane_end,
        col0,
        stage: call.stage,
        // SAFETY: see above.
        dst: unsafe {
            call.dst
                .add((i0 * call.dst_stride + (col0 - call.col_begin)) * esize)
        },
        dst_stride: call.dst_stride,
    }
}

/// Arguments of one run of the quantized add (ONNX QLinearAdd), [`OpsKernels::add`]:
/// for `i` in `0..len`, with `x = a[i·a_step]` and `y = b[i·b_step]` (codes of the
/// storage type: u8, or i8 when `signed`),
///
/// ```text
/// dst[i] = clamp(saturate(round_half_even((f32(x − za)·sa + f32(y − zb)·sb) / sc) + zc), lo, hi)
/// ```
///
/// all in binary32 with one rounding per operation (no fused multiply-add; `/` is the
/// correctly rounded division), a NaN sum giving `zc` (as `quantize_f32`). A step of 0
/// broadcasts one code over the whole run (a scalar, or one channel of a per-channel
/// vector in an outer loop of the caller).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct AddArgs {
    /// The first code of A.
    pub a: *const u8,
    /// Elements between consecutive codes of A in the run: 1, or 0 (broadcast).
    pub a_step: usize,
    /// The first code of B.
    pub b: *const u8,
    /// Elements between consecutive codes of B in the run: 1, or 0 (broadcast).
    pub b_step: usize,
    /// Destination, `len` codes.
    pub dst: *mut u8,
    /// Elements in the run.
    pub len: usize,
    /// Whether the codes (of A, B and the destination) are i8; else u8.
    pub signed: bool,
    /// Zero point of A, in the storage type's range.
    pub za: i32,
    /// Scale of A (finite, > 0).
    pub sa: f32,
    /// Zero point of B, in the storage type's range.
    pub zb: i32,
    /// Scale of B (finite, > 0).
    pub sb: f32,
    /// Zero point of the output, in the storage type's range.
    pub zc: i32,
    /// Scale of the output (finite, > 0).
    pub sc: f32,
    /// Lower clamp (the fused activation), `type min ≤ lo ≤ hi`.
    pub lo: i32,
    /// Upper clamp, `hi ≤ type max`.
    pub hi: i32,
}

/// The quantized add and the pooling kernels of one ISA (`src/layers/ops.rs` in the safe
/// crate).
#[derive(Debug)]
pub struct OpsKernels {
    /// Path-style name, e.g. `scalar::ops`.
    pub name: &'static str,
    /// The instruction set it needs.
    pub isa: Isa,
    /// One run of the quantized add (see [`AddArgs`]).
    ///
    /// # Safety
    /// The CPU supports `isa`; `a` is valid for `1 + (len − 1)·a_step` codes and `b` for
    /// `1 + (len − 1)·b_step` (nothing is read when `len = 0`); `dst` for `len` codes;
    /// the steps are 0 or 1; `type min ≤ lo ≤ hi ≤ type max`, the zero points in the
    /// type's range, the scales finite and > 0.
    pub add: unsafe fn(args: &AddArgs),
    /// Channel sums over pixels (global average pooling): for `c` in `0..channels`,
    /// `out[c] = Σ_{p < pixels} ((src[p·channels + c] ^ xor) as i32 − zx)` in wrapping
    /// i32. `xor` is 0 (u8 input) or 0x80 (i8 input read as bytes, `zx` then being the
    /// zero point + 128).
    ///
    /// # Safety
    /// The CPU supports `isa`; `src` is valid for `pixels·channels` bytes and `out` for
    /// `channels` i32; `xor` is 0 or 0x80.
    pub sum_pixels:
        unsafe fn(src: *const u8, pixels: usize, channels: usize, xor: u8, zx: i32, out: *mut i32),
    /// Maximum over taps (max pooling, one output pixel): for `c` in `0..channels`,
    /// `out[c] = max_t taps[t][c]`, comparing the codes as i8 when `signed`, else as u8.
    /// The caller leaves padding out of `taps`.
    ///
    /// # Safety
    /// The CPU supports `isa`; `taps` is non-empty and each tap is valid for `channels`
    /// bytes; `out` is valid for `channels` bytes.
    pub max_pixel: unsafe fn(taps: &[*const u8], channels: usize, signed: bool, out: *mut u8),
}

/// Element-wise kernels of one ISA. Each function's only precondition beyond its slice
/// arguments is that the CPU supports `isa`, and for `requantize_row`, that the stage is
/// valid for columns `0..src.len()` and `dst` for `src.len()` elements.
#[derive(Debug)]
pub struct ElementwiseKernels {
    /// Path-style name, e.g. `scalar::elementwise`.
    pub name: &'static str,
    /// The instruction set it needs.
    pub isa: Isa,
    /// `dst[i] = quantize(src[i], scale, zp)` into u8 (`dst.len() == src.len()`).
    ///
    /// # Safety
    /// The CPU supports `isa`; `scale` finite and positive, `zp` in 0..=255.
    pub quantize_u8: unsafe fn(src: &[f32], dst: &mut [u8], scale: f32, zp: i32),
    /// `dst[i] = quantize(src[i], scale, zp)` into i8.
    ///
    /// # Safety
    /// The CPU supports `isa`; `scale` finite and positive, `zp` in −128..=127.
    pub quantize_i8: unsafe fn(src: &[f32], dst: &mut [i8], scale: f32, zp: i32),
    /// `dst[i] = (src[i] − zp) as f32 · scale` from u8.
    ///
    /// # Safety
    /// The CPU supports `isa`.
    pub dequantize_u8: unsafe fn(src: &[u8], dst: &mut [f32], scale: f32, zp: i32),
    /// `dst[i] = (src[i] − zp) as f32 · scale` from i8.
    ///
    /// # Safety
    /// The CPU supports `isa`.
    pub dequantize_i8: unsafe fn(src: &[i8], dst: &mut [f32], scale: f32, zp: i32),
    /// Applies an output stage to one row of i32 values (column `j` = index `j`).
    ///
    /// # Safety
    /// The CPU supports `isa`; `stage` is valid for columns `0..src.len()`; `dst` is valid
    /// for `src.len()` elements of `stage.dst_type`.
    pub requantize_row: unsafe fn(src: &[i32], stage: &OutputStage, dst: *mut u8),
    /// `(min, max, all_finite)` of a non-empty slice; min/max are meaningful only when
    /// `all_finite`.
    ///
    /// # Safety
    /// The CPU supports `isa`.
    pub min_max: unsafe fn(src: &[f32]) -> (f32, f32, bool),
}

/// Arguments of a depthwise packing call: the weights of `C·M` output channels × `T` taps
/// into the layout of one [`DepthwiseKernel`].
///
/// The weights are 8-bit codes with one zero point per output channel; the kernel
/// multiplies by `w' = (code ^ xor) as i8 − zw[oc]` (in `[−255, 255]`), exactly: a layout
/// that needs i8 weights keeps `w'` itself where every `w'` fits i8, and otherwise the
/// canonical codes with a zero-point term (see [`crate::depthwise`]).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct DepthwisePackArgs {
    /// The code of tap `t`, output channel `oc` is the byte at `t·t_stride + oc·oc_stride`
    /// (u8 or i8).
    pub w: *const u8,
    /// Bytes between taps `t` and `t + 1` of one output channel.
    pub t_stride: usize,
    /// Bytes between output channels `oc` and `oc + 1` of one tap.
    pub oc_stride: usize,
    /// XORed into every code: 0 keeps i8 codes, 0x80 turns u8 codes into the canonical
    /// i8 (`code − 128`).
    pub xor: u8,
    /// Canonical zero point of each output channel, `C·M` values in `−128..=127` (the
    /// zero point for i8 codes, the zero point − 128 for u8 codes).
    pub zw: *const i32,
    /// Taps `T ≥ 1` (`kh·kw`).
    pub taps: usize,
    /// Input channels `C ≥ 1`.
    pub channels: usize,
    /// Channel multiplier `M ≥ 1`: output channel `oc = ic·M + j` reads input channel `ic`.
    pub multiplier: usize,
    /// Destination, `(kernel.packed_len)(T, C, M)` bytes, aligned to
    /// [`crate::depthwise::ALIGN`] bytes.
    pub dst: *mut u8,
}

/// Arguments of one depthwise call: all `C·M` output channels of one output pixel from
/// its taps (an indirection list of input pixels, XNNPACK style).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct DepthwiseArgs {
    /// `n_taps` pointers to input pixels (`C` bytes each, u8 or i8, read as
    /// `byte ^ xor`), in the tap order of the packed weights; a null pointer is a tap in
    /// the padding and contributes nothing.
    pub taps: *const *const u8,
    /// Taps `T` (as packed).
    pub n_taps: usize,
    /// Input channels `C` (as packed).
    pub channels: usize,
    /// Channel multiplier `M` (as packed).
    pub multiplier: usize,
    /// The weights, packed by the same kernel's `pack` for `T`, `C`, `M`.
    pub packed: *const u8,
    /// 0 for u8 input, 0x80 for i8 input.
    pub xor: u8,
    /// Canonical input zero point (`zx` for u8, `zx + 128` for i8), `0..=255`.
    pub zx: i32,
    /// Destination, `C·M` i32.
    pub out: *mut i32,
}

/// A depthwise-convolution kernel with its weight packer.
///
/// For every output channel `oc` in `0..C·M`, with `ic = oc / M`:
/// ```text
/// out[oc] = Σ_{t : taps[t] non-null} ((taps[t][ic] ^ xor) − zx) · ((code[t][oc] ^ wxor) as i8 − zw[oc])
/// ```
/// in wrapping i32 (`code`, `wxor`, `zw` as given to `pack`;
/// [`crate::scalar::depthwise::reference`] is this definition as code).
#[derive(Debug)]
pub struct DepthwiseKernel {
    /// Path-style name, e.g. `scalar::depthwise`.
    pub name: &'static str,
    /// The instruction set it needs.
    pub isa: Isa,
    /// Name of the packed layout the kernel reads, e.g. `i16` or `c4x64` (see
    /// [`crate::depthwise`]).
    pub layout: &'static str,
    /// Bytes of packed weights for `(taps, channels, multiplier)`.
    pub packed_len: fn(usize, usize, usize) -> usize,
    /// Packs the weights (plain Rust: runs on any CPU).
    ///
    /// # Safety
    /// The pointers of [`DepthwisePackArgs`] are valid as documented there.
    pub pack: unsafe fn(&DepthwisePackArgs),
    /// Computes one output pixel.
    ///
    /// # Safety
    /// The CPU supports `isa`; the fields of [`DepthwiseArgs`] are valid as documented
    /// there: every non-null tap holds `C` bytes, `packed` was written by this kernel's
    /// `pack` for the same `T`, `C`, `M`, `out` holds `C·M` i32, `xor` is 0 or 0x80 and
    /// `zx` is in `0..=255`.
    pub pixel: unsafe fn(&DepthwiseArgs),
}

#[cfg(test)]
mod tests {
    use super::balanced_rows;

    /// The even split uses as many blocks as the cap needs, never exceeds the cap, and
    /// stays a multiple of the tile height; 1024 rows under a cap of 1020 become two
    /// blocks of 516 rows (the second 508), not 1020 and 4.
    #[test]
    fn balanced_rows_splits_evenly_under_the_cap() {
        assert_eq!(balanced_rows(1024, 1020, 12), 516);
        assert_eq!(balanced_rows(2048, 504, 12), 420);
        assert_eq!(balanced_rows(100, 1020, 12), 108);
        for mr in [1, 4, 8, 12, 16, 32] {
            for max_tiles in 1..40 {
                let max = max_tiles * mr;
                for m in 1..2000 {
                    let rows = balanced_rows(m, max, mr);
                    assert!(
                        rows <= max && rows.is_multiple_of(mr) && rows > 0,
                        "{m} {max} {mr}"
                    );
                    assert_eq!(m.div_ceil(rows), m.div_ceil(max), "{m} {max} {mr}");
                }
            }
        }
    }
}
