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
    /// Destination, `ceil(N/NR)·Kp·NR` bytes.
    pub dst: *mut i8,
    /// Destination of the column sums of the packed (canonical) values,
    /// `ceil(N/NR)·NR` entries; padding columns get 0.
    pub colsum: *mut i32,
}

/// Arguments of one microkernel call: a tile of `m ≤ MR` rows × one panel (`NR` lanes),
/// of which lanes `lane_begin..lane_end` are stored.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TileArgs {
    /// `A[row 0 of the tile][0]` (u8 or i8 bytes, read as `byte ^ a_xor`).
    pub a: *const u8,
    /// Bytes between consecutive rows of A.
    pub a_stride: usize,
    /// 0 for u8 A, 0x80 for i8 A.
    pub a_xor: u8,
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
    /// Packs a whole B.
    ///
    /// # Safety
    /// The CPU supports `isa`; the pointers of `PackArgs` are valid as documented there.
    pub pack: unsafe fn(&PackArgs),
    /// Computes one tile.
    ///
    /// # Safety
    /// The CPU supports `isa`; the pointers of `TileArgs` are valid as documented there:
    /// `a` for `m` rows of `k` bytes, `b` for one packed panel, `zb`/`colcorr` for `NR`
    /// values, `dst` for `m` rows of `lane_end − lane_begin` elements, and the stage's
    /// parameters for columns `col0..col0 + lane_end − lane_begin`.
    pub tile: unsafe fn(&TileArgs),
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
}

/// Bytes of A rows that one row block may occupy: the block is re-read once per panel,
/// so it should stay in the L2 cache (≥ 1 MiB per core on current x86 servers) while
/// the panels stream past it. Larger blocks mean fewer passes over B: at 2048³ two
/// threads scaled 1.46× with 384 KiB blocks and 2.0× with 1 MiB (`zeropoint bench`).
const A_BLOCK_BYTES: usize = 1024 * 1024;

/// Packed-B bytes (of the block's panels) up to which the row tiles are the outer loop:
/// then all of B stays in L2 while each A tile is read once, from L1.
const SMALL_B_BYTES: usize = 512 * 1024;

/// The GEMM loop nest over a block, for any kernel table:
///
/// ```text
/// if the block's packed B is small (≤ SMALL_B_BYTES):
///     for each group of MR rows                     (A tile read once, stays in L1)
///         for each panel p overlapping col_begin..col_end
///             kernel.tile(rows, panel p, lanes of p inside the block)
/// else:
///     for each block of MC rows (MC·K bytes of A ≈ A_BLOCK_BYTES, a multiple of MR)
///         for each panel p                          (NR columns of packed B)
///             for each group of MR rows in the block
///                 kernel.tile(rows, panel p, lanes of p inside the block)
/// ```
///
/// Optimisations: (1) with a large B, the row block keeps A in L2 while every panel of
/// B passes once per block, so B is read `ceil(M/MC)` times and A once from memory;
/// (2) a panel (at most `NR·K` bytes) stays in L1/L2 across the tiles of a block; (3)
/// with a small B (narrow layers, convolutions with few output channels) B lives in
/// L2 and each A tile is read from memory once; (4) no checks or dispatch inside: the
/// tile function pointer is loaded once. The order changes nothing in the results.
///
/// # Safety
/// The CPU supports `kernel.isa`; `call.packed` was packed by `kernel.pack` for this K
/// and an N ≥ `col_end`; every pointer in `call` is valid for the block it describes
/// (`m` rows of A with `k` bytes, `m` rows × `col_end − col_begin` destination elements,
/// stage parameters for columns up to `col_end`).
pub unsafe fn run_gemm(kernel: &GemmKernel, call: &GemmCall) {
    let (mr, nr) = (kernel.mr, kernel.nr);
    let first = call.col_begin / nr;
    let last = (call.col_end - 1) / nr;
    let panel_bytes = kernel.padded_k(call.k) * nr;
    let mc = if (last + 1 - first) * panel_bytes <= SMALL_B_BYTES {
        mr
    } else {
        ((A_BLOCK_BYTES / call.k.max(1)) / mr * mr).max(mr)
    };
    let mut r0 = 0;
    while r0 < call.m {
        let r1 = (r0 + mc).min(call.m);
        for p in first..=last {
            let mut i0 = r0;
            while i0 < r1 {
                // SAFETY: i0 < m and panel p overlaps the block (caller contract).
                unsafe { tile_at(kernel, call, i0, mr.min(r1 - i0), p) };
                i0 += mr;
            }
        }
        r0 = r1;
    }
}

/// Runs the tile of rows `i0..i0 + m` and panel `p` of `call`.
///
/// # Safety
/// As for [`run_gemm`], with `i0 + m <= call.m` and panel `p` overlapping
/// `col_begin..col_end`.
#[inline(always)]
unsafe fn tile_at(kernel: &GemmKernel, call: &GemmCall, i0: usize, m: usize, p: usize) {
    let nr = kernel.nr;
    let lane_begin = call.col_begin.max(p * nr) - p * nr;
    let lane_end = call.col_end.min((p + 1) * nr) - p * nr;
    let col0 = p * nr + lane_begin;
    // SAFETY: `stage` is valid (caller contract).
    let esize = unsafe { (*call.stage).dst_type.size() };
    // Pointer offsets below: row i0 < m of A, panel p < panels, columns p·nr.. inside
    // the padded per-column arrays, destination row i0 < m and column
    // col0 − col_begin < col_end − col_begin: all inside the extents the caller
    // guarantees.
    let args = TileArgs {
        // SAFETY: see above.
        a: unsafe { call.a.add(i0 * call.a_stride) },
        a_stride: call.a_stride,
        a_xor: call.a_xor,
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
    };
    // SAFETY: the tile's pointers are valid as derived above; the CPU supports the
    // kernel's ISA (caller contract).
    unsafe { (kernel.tile)(&args) };
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
