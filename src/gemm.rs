//! Integer GEMM / GEMV with prepacked weights and a fused output stage (SPEC.md §4–§6).
//!
//! ```text
//! C[i][j] = stage_j( Σ_k (A[i][k] − za)·(B[k][j] − zb[j]) )      wrapping i32
//! ```
//! A is u8 or i8 (row-major, any row stride); B is i8 or u8, given K×N or N×K, packed
//! once into a [`PackedWeights`] for one kernel; `zb` per tensor or per column. GEMV is
//! the same call with one row.
//!
//! The safe layer validates everything once (shapes, strides, lengths, stage
//! parameters, the packed layout), then hands one [`zeropoint_kernels::GemmCall`] to the
//! driver loop, which runs with no checks and no dispatch inside.

use core::ops::Range;

use std::cell::Cell;

use zeropoint_kernels::{
    run_gemm, GemmCall, GemmKernel, Indirect, Isa, PackAMode, PackArgs, TileArgs, TileBatch,
};

use crate::matrix::{Matrix, MatrixMut};
use crate::params::QType;
use crate::stage::{OutType, OutputStage, PerChannel};
use crate::{Engine, Error, Result};

/// How the weight matrix B is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WeightLayout {
    /// `rows = K`, `cols = N`: element `(k, n)` at `k·stride + n`.
    KxN,
    /// `rows = N`, `cols = K` (one row per output channel, as in most weight files):
    /// element `(k, n)` at `n·stride + k`.
    NxK,
}

/// Weights B packed once for one GEMM kernel, with what the zero-point correction needs
/// precomputed (column sums, `K·zb − colsum`). Records the kernel it was packed for;
/// running it with another kernel is [`Error::LayoutMismatch`].
#[derive(Clone, Debug)]
pub struct PackedWeights {
    kernel: &'static GemmKernel,
    k: usize,
    n: usize,
    b_signed: bool,
    data: AlignedBytes,
    zb: Vec<i32>,
    colcorr: Vec<i32>,
    zb_nonzero: bool,
}

impl PackedWeights {
    /// Packs `b` for the global engine's GEMM kernel (see [`Engine::pack_weights`]).
    pub fn pack<B: QType>(
        b: Matrix<'_, B>,
        layout: WeightLayout,
        zero_points: PerChannel<'_, B>,
    ) -> Result<Self> {
        Engine::global()?.pack_weights(b, layout, zero_points)
    }

    /// Depth K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output columns N.
    pub fn n(&self) -> usize {
        self.n
    }

    /// The kernel the weights were packed for.
    pub fn kernel_name(&self) -> &'static str {
        self.kernel.name
    }

    /// The ISA of the kernel the weights were packed for.
    pub fn isa(&self) -> Isa {
        self.kernel.isa
    }

    /// Whether B was i8 (else u8).
    pub fn is_signed(&self) -> bool {
        self.b_signed
    }

    /// Bytes of packed data (excluding the per-column i32 arrays).
    pub fn packed_bytes(&self) -> usize {
        self.data.len()
    }

    /// The zero point of B for column `j` in B's own type, as i32.
    pub fn zero_point(&self, j: usize) -> Option<i32> {
        (j < self.n).then(|| self.zb[j] + if self.b_signed { 0 } else { 128 })
    }
}

impl Engine {
    /// Packs B (i8 or u8, K×N or N×K with a row stride) for this engine's GEMM kernel.
    /// `zero_points` is one value or one per column (N values).
    pub fn pack_weights<B: QType>(
        &self,
        b: Matrix<'_, B>,
        layout: WeightLayout,
        zero_points: PerChannel<'_, B>,
    ) -> Result<PackedWeights> {
        b.check("B")?;
        let (k, n) = match layout {
            WeightLayout::KxN => (b.rows, b.cols),
            WeightLayout::NxK => (b.cols, b.rows),
        };
        if let PerChannel::Channel(z) = zero_points {
            if z.len() != n {
                return Err(Error::Shape(format!(
                    "{} B zero points for N = {n} columns",
                    z.len()
                )));
            }
        }
        if k > i32::MAX as usize {
            return Err(Error::Shape(format!("K = {k} exceeds i32::MAX")));
        }
        let kernel = self.gemm_kernel();
        let len = kernel.packed_len(k, n);
        let n_pad = kernel.panels(n) * kernel.nr;
        let mut data = AlignedBytes::zeroed(len);
        let mut colsum = vec![0i32; n_pad];
        let (k_stride, n_stride) = match layout {
            WeightLayout::KxN => (b.stride, 1),
            WeightLayout::NxK => (1, b.stride),
        };
        let shift = if B::SIGNED { 0 } else { 128 };
        if k > 0 && n > 0 {
            let args = PackArgs {
                src: B::as_bytes(b.data).as_ptr(),
                k_stride,
                n_stride,
                k,
                n,
                xor: if B::SIGNED { 0 } else { 0x80 },
                dst: data.as_mut_ptr(),
                colsum: colsum.as_mut_ptr(),
            };
            // The engine only holds kernels whose ISA the CPU supports; `b` was
            // checked to span (rows−1)·stride + cols elements, covering every (k, n) the
            // strides address; `data` and `colsum` have the sizes the kernel's geometry
            // asks for.
            // SAFETY: the conditions stated just above hold.
            unsafe { (kernel.pack)(&args) };
        }
        let zb: Vec<i32> = (0..n_pad)
            .map(|j| match zero_points {
                _ if j >= n => 0,
                PerChannel::Tensor(z) => z.to_i32() - shift,
                PerChannel::Channel(z) => z[j].to_i32() - shift,
            })
            .collect();
        let colcorr = zb
            .iter()
            .zip(&colsum)
            .map(|(&z, &s)| (k as i32).wrapping_mul(z).wrapping_sub(s))
            .collect();
        Ok(PackedWeights {
            kernel,
            k,
            n,
            b_signed: B::SIGNED,
            zb_nonzero: zb.iter().any(|&z| z != 0),
            data,
            zb,
            colcorr,
        })
    }

    /// `out = stage(A·B)` for the whole output (see [`Engine::gemm_range`]). The packed
    /// weights must have been packed by an engine with the same GEMM kernel.
    pub fn gemm<A: QType, O: OutType>(
        &self,
        a: Matrix<'_, A>,
        a_zero_point: A,
        b: &PackedWeights,
        stage: &OutputStage<'_>,
        out: MatrixMut<'_, O>,
    ) -> Result<()> {
        let (m, n) = (a.rows, b.n);
        self.gemm_range(a, a_zero_point, b, stage, 0..m, 0..n, out)
    }

    /// Computes the block `rows × cols` of `stage(A·B)` into `out`, which holds just that
    /// block (`rows.len() × cols.len()`, its own stride). Blocks of one GEMM can be
    /// computed by different threads in any split; the results are identical to one full
    /// call. Per-channel stage parameters and the bias are indexed by the global column.
    #[allow(clippy::too_many_arguments)]
    pub fn gemm_range<A: QType, O: OutType>(
        &self,
        a: Matrix<'_, A>,
        a_zero_point: A,
        b: &PackedWeights,
        stage: &OutputStage<'_>,
        rows: Range<usize>,
        cols: Range<usize>,
        out: MatrixMut<'_, O>,
    ) -> Result<()> {
        if !core::ptr::eq(b.kernel, self.gemm_kernel()) {
            return Err(Error::LayoutMismatch {
                packed_for: b.kernel.name,
                requested: self.gemm_kernel().name,
            });
        }
        gemm_range_unchecked_kernel(a, a_zero_point, b, stage, rows, cols, out)
    }
}

/// Zeroed bytes starting on a 64-byte boundary: packed panels then start on a cache
/// line (every panel is a multiple of 64 bytes long), so the kernels' 64-byte vector
/// loads and AMX tile loads never split lines (a split tile load ran 6× slower).
#[derive(Clone, Debug)]
struct AlignedBytes {
    lines: Vec<Line>,
    len: usize,
}

/// One cache line.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Line(pub(crate) [u8; 64]);

impl AlignedBytes {
    /// `len` zero bytes.
    fn zeroed(len: usize) -> Self {
        AlignedBytes {
            lines: vec![Line([0; 64]); len.div_ceil(64)],
            len,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_ptr(&self) -> *const i8 {
        self.lines.as_ptr() as *const i8
    }

    fn as_mut_ptr(&mut self) -> *mut i8 {
        self.lines.as_mut_ptr() as *mut i8
    }
}

/// Runs with the packed weights' own kernel (which the CPU supports: it was selected by
/// an engine on this process).
#[allow(clippy::too_many_arguments)]
fn gemm_range_unchecked_kernel<A: QType, O: OutType>(
    a: Matrix<'_, A>,
    a_zero_point: A,
    b: &PackedWeights,
    stage: &OutputStage<'_>,
    rows: Range<usize>,
    cols: Range<usize>,
    out: MatrixMut<'_, O>,
) -> Result<()> {
    a.check("A")?;
    out.check("output")?;
    if a.cols != b.k {
        return Err(Error::Shape(format!(
            "A has {} columns but B has K = {} rows",
            a.cols, b.k
        )));
    }
    if rows.start > rows.end || rows.end > a.rows {
        return Err(Error::Shape(format!(
            "row range {rows:?} outside 0..{}",
            a.rows
        )));
    }
    if cols.start > cols.end || cols.end > b.n {
        return Err(Error::Shape(format!(
            "column range {cols:?} outside 0..{}",
            b.n
        )));
    }
    if out.rows != rows.len() || out.cols != cols.len() {
        return Err(Error::Shape(format!(
            "output is {}×{} but the block is {}×{}",
            out.rows,
            out.cols,
            rows.len(),
            cols.len()
        )));
    }
    let raw = stage.lower::<O>(b.n)?;
    if rows.is_empty() || cols.is_empty() {
        return Ok(());
    }
    let signed = A::SIGNED;
    // With K = 0 nothing of A is read and `a.check()` required no storage for it: point
    // at the start with stride 0 rather than past the end of a possibly empty buffer.
    let (a_offset, a_stride) = if b.k == 0 {
        (0, 0)
    } else {
        (rows.start * a.stride, a.stride)
    };
    let call = GemmCall {
        // SAFETY: for K > 0, rows.start < a.rows and a.check() proved the rows exist, so
        // the offset is inside `a.data`; for K = 0 the offset is 0.
        a: unsafe { A::as_bytes(a.data).as_ptr().add(a_offset) },
        a_stride,
        a_xor: if signed { 0x80 } else { 0 },
        za: a_zero_point.to_i32() + if signed { 128 } else { 0 },
        m: rows.len(),
        k: b.k,
        packed: b.data.as_ptr(),
        zb: b.zb.as_ptr(),
        zb_nonzero: b.zb_nonzero,
        colcorr: b.colcorr.as_ptr(),
        col_begin: cols.start,
        col_end: cols.end,
        stage: raw.raw(),
        dst: out.data.as_mut_ptr() as *mut u8,
        dst_stride: out.stride,
        pack_a: PackAMode::Auto,
        scratch: core::ptr::null_mut(),
        scratch_len: 0,
    };
    // `b.kernel` was chosen by an engine, so the CPU supports its ISA, and packed
    // `b.data`/`zb`/`colcorr` for this K and N; A spans `rows` × K (checked), the output
    // spans the block (checked), the stage parameters cover all N columns (validated by
    // `lower`, which borrows from `stage`, alive for this call).
    // SAFETY: the conditions stated just above hold.
    with_scratch(b.kernel.scratch_len(call.m, call.k), |scratch| {
        let call = GemmCall {
            scratch: scratch.as_mut_ptr(),
            scratch_len: scratch.len(),
            ..call
        };
        // SAFETY: the conditions stated above hold, and `scratch` is valid for its
        // length.
        unsafe { run_gemm(b.kernel, &call) }
    });
    Ok(())
}

/// The indirect tile of a kernel ([`GemmKernel::tile_indirect`]).
pub(crate) type IndirectTile = unsafe fn(&TileArgs, &Indirect);

impl PackedWeights {
    /// The kernel these weights were packed for.
    pub(crate) fn gemm_kernel(&self) -> &'static GemmKernel {
        self.kernel
    }

    /// Whether any zero point of B is non-zero (the tiles then need A's row sums).
    pub(crate) fn zb_nonzero(&self) -> bool {
        self.zb_nonzero
    }
}

/// One tile of `m ≤ MR` rows of `A·B` whose A rows come from an indirection list, over
/// every panel of `b` (all `N` columns), through `tile`, the indirect tile of `b`'s
/// kernel (the implicit-GEMM convolution's path).
///
/// # Safety
/// `tile` is `b.gemm_kernel().tile_indirect` (so the CPU supports it: an engine chose
/// the kernel); `ind` is valid as documented at [`Indirect`] for `b`'s `MR`, with
/// `ind.taps·ind.seg == b.k()` and `ind.seg` a multiple of the kernel's `kr`;
/// `1 ≤ m ≤ MR`; `rowsum` holds the `m` row sums of the gathered rows
/// (`Σ byte ^ xor`) when `b.zb_nonzero()`; `raw` was lowered for `b.n()` columns from a
/// stage that is still alive; `dst` is valid for `m` rows of `b.n()` elements of
/// `raw.dst_type`, `dst_stride` elements apart.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn indirect_tile_rows(
    b: &PackedWeights,
    tile: IndirectTile,
    raw: &zeropoint_kernels::OutputStage,
    ind: &Indirect,
    m: usize,
    za: i32,
    xor: u8,
    rowsum: *const i32,
    dst: *mut u8,
    dst_stride: usize,
) {
    let kernel = b.kernel;
    let nr = kernel.nr;
    let panel_bytes = kernel.padded_k(b.k) * nr;
    let esize = raw.dst_type.size();
    for p in 0..kernel.panels(b.n) {
        let args = TileArgs {
            a: core::ptr::null(),
            a_stride: 0,
            a_xor: xor,
            a_packed: false,
            rowsum,
            za,
            m,
            k: b.k,
            // Panel p < panels(n) of the packed data, and its NR per-column entries of
            // the padded arrays; column p·NR < n of the destination rows.
            // SAFETY: the conditions stated just above hold.
            b: unsafe { b.data.as_ptr().add(p * panel_bytes) },
            // SAFETY: as above.
            zb: unsafe { b.zb.as_ptr().add(p * nr) },
            zb_nonzero: b.zb_nonzero,
            // SAFETY: as above.
            colcorr: unsafe { b.colcorr.as_ptr().add(p * nr) },
            lane_begin: 0,
            lane_end: nr.min(b.n - p * nr),
            col0: p * nr,
            stage: raw,
            // SAFETY: as above.
            dst: unsafe { dst.add(p * nr * esize) },
            dst_stride,
        };
        // The tile's pointers are valid as derived above and by the caller's contract.
        // SAFETY: the conditions stated just above hold.
        unsafe { tile(&args, ind) };
    }
}

/// Packs A through an indirection list ([`zeropoint_kernels::APack::indirect`]).
pub(crate) type PackIndirect = unsafe fn(&Indirect, &zeropoint_kernels::PackAArgs);

/// How [`packed_tile_rows`] runs the tiles of a packed A tile.
// One value per convolution range, on the stack for that range: the batch's size
// (a few KiB) costs nothing there, and boxing it would allocate on every call.
#[allow(clippy::large_enum_variant)]
pub(crate) enum PackedTiles {
    /// One at a time through the kernel's tile function.
    Each(unsafe fn(&TileArgs)),
    /// In batches through the kernel's session, inside the session: the kernel may
    /// overlap consecutive panels (AMX: a panel's products with the previous panel's
    /// output stage).
    Batch(TileBatch),
}

/// One tile of `m ≤ MR` rows of `A·B` over every panel of `b` (all `N` columns), A
/// being one tile packed in `b`'s kernel's layout with its row sums, through `tiles`.
///
/// # Safety
/// `tiles` is `Each(b.gemm_kernel().tile)`, or a `Batch` of the kernel's session
/// between its `begin` and `end` on this thread; `a` holds one packed tile for `b.k()` (64-byte
/// aligned) and `rowsum` its `m` row sums; `1 ≤ m ≤ MR`; `raw` was lowered for `b.n()`
/// columns from a stage that is still alive; `dst` is valid for `m` rows of `b.n()`
/// elements of `raw.dst_type`, `dst_stride` elements apart.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn packed_tile_rows(
    b: &PackedWeights,
    tiles: &mut PackedTiles,
    raw: &zeropoint_kernels::OutputStage,
    a: *const u8,
    rowsum: *const i32,
    m: usize,
    za: i32,
    dst: *mut u8,
    dst_stride: usize,
) {
    let kernel = b.kernel;
    let nr = kernel.nr;
    let panel_bytes = kernel.padded_k(b.k) * nr;
    let esize = raw.dst_type.size();
    for p in 0..kernel.panels(b.n) {
        let args = TileArgs {
            a,
            a_stride: 0,
            a_xor: 0,
            a_packed: true,
            rowsum,
            za,
            m,
            k: b.k,
            // Panel p < panels(n) of the packed data, and its NR per-column entries of
            // the padded arrays; column p·NR < n of the destination rows.
            // SAFETY: the conditions stated just above hold.
            b: unsafe { b.data.as_ptr().add(p * panel_bytes) },
            // SAFETY: as above.
            zb: unsafe { b.zb.as_ptr().add(p * nr) },
            zb_nonzero: b.zb_nonzero,
            // SAFETY: as above.
            colcorr: unsafe { b.colcorr.as_ptr().add(p * nr) },
            lane_begin: 0,
            lane_end: nr.min(b.n - p * nr),
            col0: p * nr,
            stage: raw,
            // SAFETY: as above.
            dst: unsafe { dst.add(p * nr * esize) },
            dst_stride,
        };
        // The tile's pointers are valid as derived above and by the caller's contract
        // until this function returns, and the batch runs before it does.
        // SAFETY: the conditions stated just above hold.
        unsafe {
            match tiles {
                PackedTiles::Each(tile) => tile(&args),
                PackedTiles::Batch(batch) => batch.push(args),
            }
        }
    }
    if let PackedTiles::Batch(batch) = tiles {
        // SAFETY: as above: every collected tile is still valid.
        unsafe { batch.flush() };
    }
}

/// Largest packed-A scratch kept per thread; a call that would need more reads A in
/// place (only K beyond about 600k needs more).
const MAX_SCRATCH: usize = 8 << 20;

thread_local! {
    /// This thread's packed-A scratch (cache-line aligned): allocated on first use and
    /// grown when a call needs more, so steady-state GEMM calls allocate nothing.
    static SCRATCH: Cell<Vec<Line>> = const { Cell::new(Vec::new()) };
}

/// Runs `f` with at least `len` bytes of this thread's scratch (an empty slice when `len`
/// is 0 or above [`MAX_SCRATCH`], which makes the driver read A in place).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    if len == 0 || len > MAX_SCRATCH {
        return f(&mut []);
    }
    let mut buf = SCRATCH.take();
    if buf.len() * 64 < len {
        buf.resize(len.div_ceil(64), Line([0; 64]));
    }
    // the lines are `buf.len()·64` initialised bytes, borrowed mutably for `f`
    // only.
    // SAFETY: the conditions stated just above hold.
    let bytes =
        unsafe { core::slice::from_raw_parts_mut(buf.as_mut_ptr() as *mut u8, buf.len() * 64) };
    let r = f(bytes);
    SCRATCH.set(buf);
    r
}

/// `out = stage(A·B)` with the packed weights' own kernel. See [`Engine::gemm_range`].
pub fn gemm<A: QType, O: OutType>(
    a: Matrix<'_, A>,
    a_zero_point: A,
    b: &PackedWeights,
    stage: &OutputStage<'_>,
    out: MatrixMut<'_, O>,
) -> Result<()> {
    let (m, n) = (a.rows, b.n);
    gemm_range_unchecked_kernel(a, a_zero_point, b, stage, 0..m, 0..n, out)
}

/// One block of `stage(A·B)` with the packed weights' own kernel, for engines that
/// split the work over their own threads. See [`Engine::gemm_range`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_range<A: QType, O: OutType>(
    a: Matrix<'_, A>,
    a_zero_point: A,
    b: &PackedWeights,
    stage: &OutputStage<'_>,
    rows: Range<usize>,
    cols: Range<usize>,
    out: MatrixMut<'_, O>,
) -> Result<()> {
    gemm_range_unchecked_kernel(a, a_zero_point, b, stage, rows, cols, out)
}

/// [`gemm`] spread over rayon's global pool: rows are split between threads, or for a
/// single row (GEMV) the columns. The result is identical to [`gemm`].
#[cfg(feature = "rayon")]
pub fn gemm_par<A: QType, O: OutType>(
    a: Matrix<'_, A>,
    a_zero_point: A,
    b: &PackedWeights,
    stage: &OutputStage<'_>,
    out: MatrixMut<'_, O>,
) -> Result<()> {
    use rayon::prelude::*;
    a.check("A")?;
    out.check("output")?;
    if out.rows != a.rows || out.cols != b.n {
        return Err(Error::Shape(format!(
            "output is {}×{} but A·B is {}×{}",
            out.rows, out.cols, a.rows, b.n
        )));
    }
    stage.lower::<O>(b.n)?;
    let threads = rayon::current_num_threads().max(1);
    let (m, n, stride) = (a.rows, b.n, out.stride);
    if m == 0 || n == 0 {
        return gemm(a, a_zero_point, b, stage, out);
    }
    if m == 1 {
        let nr = b.kernel.nr;
        let chunk = n.div_ceil(threads).div_ceil(nr) * nr;
        let row = &mut out.data[..n];
        return row
            .par_chunks_mut(chunk)
            .enumerate()
            .try_for_each(|(t, c)| {
                let c0 = t * chunk;
                let w = c.len();
                gemm_range(
                    a,
                    a_zero_point,
                    b,
                    stage,
                    0..1,
                    c0..c0 + w,
                    MatrixMut::new(c, 1, w),
                )
            });
    }
    let rows_per = m.div_ceil(threads).div_ceil(b.kernel.mr) * b.kernel.mr;
    out.data
        .par_chunks_mut(rows_per * stride)
        .enumerate()
        .try_for_each(|(t, c)| {
            let r0 = t * rows_per;
            let r1 = (r0 + rows_per).min(m);
            if r0 >= r1 {
                return Ok(());
            }
            let blk = MatrixMut::with_stride(c, r1 - r0, n, stride);
            gemm_range(a, a_zero_point, b, stage, r0..r1, 0..n, blk)
        })
}
