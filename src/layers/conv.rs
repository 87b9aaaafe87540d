//! The quantized 2-D convolution, NHWC.

use super::depthwise::PackedDepthwise;
use super::{
    check_tensor, quantize_weights, slice_stage, zero_points_of, Activation, Nhwc, RequantScheme,
    StaticQuant, WeightQuantization,
};
use crate::gemm::{
    indirect_tile_rows, packed_tile_rows, IndirectTile, Line, PackIndirect, PackedTiles,
};
use crate::params::check_scale;
use crate::{
    Engine, Error, Matrix, MatrixMut, OutType, OutputStage, PackedWeights, PerChannel, QType,
    QuantParams, Result, WeightLayout,
};
use core::ops::Range;
use zeropoint_kernels::{Indirect, PackAArgs, TileBatch};

/// Largest indirection list built at once for an implicit-GEMM range (a longer range is
/// done in chunks, and its lists are not kept for the next call).
const LIST_BYTES: usize = 1 << 20;

/// Bytes of the im2col scratch of one block of output pixels (at least one row): 128 KiB
/// keeps the block in L2 beside the packed weights while the GEMM reads it (3×3 64→64
/// at 56×56: about 10 % faster than 1 MiB blocks on AVX-512 VNNI).
const SCRATCH_BYTES: usize = 1 << 17;

/// The geometry of a 2-D convolution: kernel `(height, width)`, stride, padding
/// `(top, left, bottom, right)`, dilation and groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dGeometry {
    /// Kernel `(kh, kw)`, each ≥ 1.
    pub kernel: (usize, usize),
    /// Stride `(sh, sw)`, each ≥ 1.
    pub stride: (usize, usize),
    /// Padding `(top, left, bottom, right)`; padded pixels hold the input zero point
    /// (real 0.0).
    pub padding: [usize; 4],
    /// Dilation `(dh, dw)`, each ≥ 1.
    pub dilation: (usize, usize),
    /// Groups, dividing both channel counts.
    pub groups: usize,
}

impl Conv2dGeometry {
    /// A `kh × kw` kernel, stride 1, no padding, dilation 1, one group.
    pub fn new(kh: usize, kw: usize) -> Self {
        Conv2dGeometry {
            kernel: (kh, kw),
            stride: (1, 1),
            padding: [0; 4],
            dilation: (1, 1),
            groups: 1,
        }
    }

    /// With a stride.
    pub fn with_stride(mut self, sh: usize, sw: usize) -> Self {
        self.stride = (sh, sw);
        self
    }

    /// With padding `(top, left, bottom, right)`.
    pub fn with_padding(mut self, padding: [usize; 4]) -> Self {
        self.padding = padding;
        self
    }

    /// With a dilation.
    pub fn with_dilation(mut self, dh: usize, dw: usize) -> Self {
        self.dilation = (dh, dw);
        self
    }

    /// With groups.
    pub fn with_groups(mut self, groups: usize) -> Self {
        self.groups = groups;
        self
    }

    /// The output height and width for an `h × w` input:
    /// `(h + top + bottom − dh·(kh − 1) − 1) / sh + 1`, likewise the width.
    pub fn output_hw(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let (dh, dw) = self.dilation;
        let [pt, pl, pb, pr] = self.padding;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 || dh == 0 || dw == 0 {
            return Err(Error::Shape(format!(
                "kernel {:?}, stride {:?} and dilation {:?} must be ≥ 1",
                self.kernel, self.stride, self.dilation
            )));
        }
        let ext = |d: usize, k: usize| d.checked_mul(k - 1).and_then(|v| v.checked_add(1));
        let (ext_h, ext_w) = (ext(dh, kh), ext(dw, kw));
        let ph = pt.checked_add(pb).and_then(|p| p.checked_add(h));
        let pw = pl.checked_add(pr).and_then(|p| p.checked_add(w));
        match (ext_h, ext_w, ph, pw) {
            (Some(eh), Some(ew), Some(ph), Some(pw)) if ph >= eh && pw >= ew => {
                Ok(((ph - eh) / sh + 1, (pw - ew) / sw + 1))
            }
            _ => Err(Error::Shape(format!(
                "a {kh}×{kw} kernel with dilation {:?} does not fit the padded {h}×{w} input",
                self.dilation
            ))),
        }
    }

    fn check(&self, in_channels: usize, out_channels: usize) -> Result<()> {
        let (kh, kw) = self.kernel;
        if kh == 0 || kw == 0 || self.stride.0 == 0 || self.stride.1 == 0 {
            return Err(Error::Shape(format!(
                "kernel {:?} and stride {:?} must be ≥ 1",
                self.kernel, self.stride
            )));
        }
        if self.dilation.0 == 0 || self.dilation.1 == 0 {
            return Err(Error::Shape(format!(
                "dilation {:?} must be ≥ 1",
                self.dilation
            )));
        }
        if in_channels == 0 || out_channels == 0 {
            return Err(Error::Shape(format!(
                "convolution with {in_channels} input and {out_channels} output channels"
            )));
        }
        let g = self.groups;
        if g == 0 || !in_channels.is_multiple_of(g) || !out_channels.is_multiple_of(g) {
            return Err(Error::Shape(format!(
                "{g} groups do not divide {in_channels} input and {out_channels} output channels"
            )));
        }
        Ok(())
    }
}

/// Reusable buffers of a [`Conv2d`] forward over a range of output pixels
/// ([`Conv2d::forward_range`]): the im2col block (at most 128 KiB, or one row), the
/// indirection lists of the range (implicit GEMM, at most 1 MiB; kept, and reused by
/// the next call with the same input buffer, shape, range and geometry; with i8 input
/// on an indirect tile, a flipped copy of the input rows the range reads), or the
/// depthwise accumulators of one output row. They grow to the largest call and are
/// kept; use one per thread (a scratch is `Send`, so a pool can keep one per worker).
#[derive(Clone, Debug, Default)]
pub struct ConvScratch {
    im2col: Vec<u8>,
    acc: Vec<i32>,
    /// Implicit GEMM: the indirection lists of the last range.
    list: IndirectList,
    /// Implicit GEMM on i8 input: the input's bytes XORed with 0x80 (canonical u8),
    /// laid out as the input; only the rows the last range reads are current.
    flipped: Vec<u8>,
}

impl ConvScratch {
    /// An empty scratch (allocates on first use).
    pub fn new() -> Self {
        Self::default()
    }
}

#[derive(Clone, Debug)]
enum Kernel {
    /// One packed weight matrix per group (`out/groups × kh·kw·in/groups`).
    Gemm(Vec<PackedWeights>),
    /// Depthwise (`groups = in > 1`, `out = M·in`): packed for the engine's depthwise
    /// kernel.
    Depthwise(PackedDepthwise),
}

/// A 2-D convolution on NHWC tensors, weights OHWI (`out × kh × kw × in/groups`).
///
/// Each output pixel is `Σ_{ky,kx,ci} (x − Z_X)·(w − Z_W[o])` over the taps
/// `iy = oy·sh + ky·dh − top`, `ix = ox·sw + kx·dw − left` (taps in the padding read
/// `Z_X`, i.e. contribute 0), in wrapping i32, then the output stage.
///
/// Grouped and dense convolutions run through the GEMM. A 1×1, stride-1, unpadded,
/// single-group convolution reads the input in place. Otherwise, when the engine's GEMM
/// kernel can read A through an indirection list and `in/groups` is a multiple of its
/// `KR` (4), the convolution is an implicit GEMM: each tile of output pixels gets an
/// indirection list (per row and kernel tap, the address of the tap's `in/groups` input
/// codes, or of a segment of the input zero point in the padding), and either the
/// kernel's indirect tile reads the input through it with no copy (AVX-512 VNNI; i8
/// input is first flipped to canonical u8 once, only the rows the range reads, into the
/// scratch, rather than on every broadcast), or the
/// kernel packs the tile through it once and runs every panel on the packed tile
/// (AMX). Else the rows of the im2col matrix
/// (`kh·kw·in/groups` codes each) are built one block of output pixels at a time in a
/// scratch of at most 128 KiB (or one row), never the whole im2col matrix (a kernel row
/// inside the input is copied as one run of `kw·C` bytes). Depthwise
/// convolutions (`groups = in > 1`, `out = M·in` with any channel multiplier `M`: output
/// channel `ic·M + j` reads input channel `ic`) run the engine's depthwise kernel
/// (scalar, AVX2, AVX-512BW, AVX-512 VNNI, NEON, dotprod), with the weights packed once
/// for it, on an indirection list of the taps of each output pixel, then the same output
/// stage ([`Engine::requantize`]) one output row at a time. The results are identical on
/// every engine.
///
/// Work ranges: [`Conv2d::forward_range`] computes any range of the flattened output
/// pixels `n·OH·OW` into its own part of the output, with a caller-owned
/// [`ConvScratch`], so an engine splits one convolution over its own threads; every
/// split gives the bits of one [`Conv2d::forward`]. With the `rayon` feature,
/// `forward_par` does the split on rayon's global pool.
#[derive(Clone, Debug)]
pub struct Conv2d {
    engine: Engine,
    geom: Conv2dGeometry,
    in_channels: usize,
    out_channels: usize,
    kernel: Kernel,
    weight_count: usize,
    asymmetric: bool,
    w_scales: Vec<f32>,
    bias: Vec<f32>,
}

impl Conv2d {
    /// Quantizes f32 OHWI `weights` with `scheme` (per output channel by default) and
    /// prepares them for `engine`. `bias`: `out_channels` finite values or `None`.
    pub fn new(
        engine: &Engine,
        in_channels: usize,
        out_channels: usize,
        geom: Conv2dGeometry,
        weights: &[f32],
        bias: Option<&[f32]>,
        scheme: WeightQuantization,
    ) -> Result<Self> {
        geom.check(in_channels, out_channels)?;
        let k = geom.kernel.0 * geom.kernel.1 * (in_channels / geom.groups);
        let qw = quantize_weights(weights, out_channels, k, scheme)?;
        Self::from_quantized(
            engine,
            in_channels,
            out_channels,
            geom,
            &qw.q,
            zero_points_of(&qw.zero_points),
            PerChannel::Channel(&qw.scales),
            bias,
        )
    }

    /// A convolution from already quantized OHWI weights (i8 or u8) with their zero
    /// points and scales (one or `out_channels` each), and an f32 bias (used by
    /// [`Conv2d::static_quant`]).
    #[allow(clippy::too_many_arguments)]
    pub fn from_quantized<B: QType>(
        engine: &Engine,
        in_channels: usize,
        out_channels: usize,
        geom: Conv2dGeometry,
        weights: &[B],
        zero_points: PerChannel<'_, B>,
        scales: PerChannel<'_, f32>,
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        geom.check(in_channels, out_channels)?;
        let (kh, kw) = geom.kernel;
        let g = geom.groups;
        let (cin_g, ng) = (in_channels / g, out_channels / g);
        let k = kh
            .checked_mul(kw)
            .and_then(|v| v.checked_mul(cin_g))
            .ok_or_else(|| Error::Shape("kernel size overflows usize".into()))?;
        let numel = out_channels
            .checked_mul(k)
            .ok_or_else(|| Error::Shape("weights overflow usize".into()))?;
        if weights.len() != numel {
            return Err(Error::Shape(format!(
                "weights have {} values for {out_channels}×{kh}×{kw}×{cin_g} (OHWI)",
                weights.len()
            )));
        }
        zero_points.check_len("weight zero points", out_channels)?;
        scales.check_len("weight scales", out_channels)?;
        let w_scales: Vec<f32> = (0..out_channels)
            .map(|j| scales.values()[j * scales.stride()])
            .collect();
        for (i, &s) in w_scales.iter().enumerate() {
            check_scale("weight scale", i, s)?;
        }
        let bias = match bias {
            None => vec![0.0; out_channels],
            Some(b) if b.len() != out_channels => {
                return Err(Error::Shape(format!(
                    "bias has {} values for {out_channels} output channels",
                    b.len()
                )))
            }
            Some(b) => {
                if let Some(index) = b.iter().position(|v| !v.is_finite()) {
                    return Err(Error::NonFinite {
                        what: "bias",
                        index,
                    });
                }
                b.to_vec()
            }
        };
        let kernel = if g > 1 && cin_g == 1 {
            // Depthwise, channel multiplier ng: output channel o reads input channel o / ng.
            Kernel::Depthwise(PackedDepthwise::pack(
                engine.depthwise_kernel(),
                weights,
                zero_points,
                kh * kw,
                in_channels,
                ng,
            )?)
        } else {
            let mut packed = Vec::with_capacity(g);
            for gi in 0..g {
                let w = &weights[gi * ng * k..(gi + 1) * ng * k];
                let z = match zero_points {
                    PerChannel::Tensor(z) => PerChannel::Tensor(z),
                    PerChannel::Channel(z) => PerChannel::Channel(&z[gi * ng..(gi + 1) * ng]),
                };
                packed.push(engine.pack_weights(Matrix::new(w, ng, k), WeightLayout::NxK, z)?);
            }
            Kernel::Gemm(packed)
        };
        Ok(Conv2d {
            engine: *engine,
            geom,
            in_channels,
            out_channels,
            kernel,
            weight_count: numel,
            asymmetric: zero_points.values().iter().any(|z| z.to_i32() != 0),
            w_scales,
            bias,
        })
    }

    /// The geometry.
    pub fn geometry(&self) -> &Conv2dGeometry {
        &self.geom
    }

    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Whether the depthwise kernel runs this convolution (`groups = in > 1`, `out` a
    /// multiple of `in`: channel multiplier `out / in`).
    pub fn is_depthwise(&self) -> bool {
        matches!(self.kernel, Kernel::Depthwise(_))
    }

    /// The weight scale of each output channel.
    pub fn weight_scales(&self) -> &[f32] {
        &self.w_scales
    }

    /// Bytes a deployed integer layer needs: one byte per weight and per output channel
    /// the i32 bias and an f32 requantization multiplier, plus a zero point per channel
    /// when the weights are asymmetric (some zero point ≠ 0).
    pub fn quantized_bytes(&self) -> usize {
        let zp = usize::from(self.asymmetric);
        self.weight_count + self.out_channels * (4 + 4 + zp)
    }

    /// The output shape for an NHWC input shape.
    pub fn output_shape(&self, input: Nhwc) -> Result<Nhwc> {
        if input.c != self.in_channels {
            return Err(Error::Shape(format!(
                "input has {} channels, the convolution {}",
                input.c, self.in_channels
            )));
        }
        let (oh, ow) = self.geom.output_hw(input.h, input.w)?;
        let s = Nhwc::new(input.n, oh, ow, self.out_channels);
        s.numel()?;
        Ok(s)
    }

    /// The static parameters for `input` / `output` (see [`StaticQuant`]).
    pub fn static_quant<X: QType, Y: QType + OutType>(
        &self,
        input: QuantParams<X>,
        output: QuantParams<Y>,
        scheme: RequantScheme,
        activation: Activation,
    ) -> Result<StaticQuant<X, Y>> {
        StaticQuant::new(
            &self.w_scales,
            &self.bias,
            input,
            output,
            scheme,
            activation,
        )
    }

    /// Integer-only forward: `input` (NHWC, `shape`) quantized with `q.input()`, `out`
    /// (NHWC, [`Conv2d::output_shape`]) written with `q.output()`.
    pub fn forward<X: QType, Y: QType + OutType>(
        &self,
        q: &StaticQuant<X, Y>,
        input: &[X],
        shape: Nhwc,
        out: &mut [Y],
    ) -> Result<()> {
        q.check_channels(self.out_channels)?;
        self.forward_with_stage(input, shape, q.input().zero_point(), &q.stage(), out)
    }

    /// The convolution with any output stage (per-channel parameters indexed by output
    /// channel): i32 accumulators (ONNX ConvInteger), requantized, or f32.
    pub fn forward_with_stage<X: QType, O: OutType>(
        &self,
        input: &[X],
        shape: Nhwc,
        x_zero_point: X,
        stage: &OutputStage<'_>,
        out: &mut [O],
    ) -> Result<()> {
        let total = self
            .output_shape(shape)
            .map(|s| s.n * s.h * s.w)
            .unwrap_or(0);
        // This thread's scratch, kept between calls: a fresh one would allocate (and
        // page-fault) its im2col block on every call.
        thread_local! {
            static SCRATCH: core::cell::Cell<ConvScratch> =
                const { core::cell::Cell::new(ConvScratch {
                    im2col: Vec::new(),
                    acc: Vec::new(),
                    list: IndirectList {
                        key: None,
                        ptrs: Vec::new(),
                        tiles: Vec::new(),
                        shifted: Vec::new(),
                        pad: Vec::new(),
                        a_tile: Vec::new(),
                        offsets: Vec::new(),
                    },
                    flipped: Vec::new(),
                }) };
        }
        let mut scratch = SCRATCH.take();
        let r = self.forward_range_with_stage(
            input,
            shape,
            x_zero_point,
            stage,
            0..total,
            out,
            &mut scratch,
        );
        SCRATCH.set(scratch);
        r
    }

    /// [`Conv2d::forward`] over the output pixels `pixels` only: a range of the
    /// flattened output pixels `(img·OH + oy)·OW + ox`, `0..N·OH·OW` in all (output rows
    /// `oy0..oy1` of image `img` are `(img·OH + oy0)·OW..(img·OH + oy1)·OW`). `out` holds
    /// just that part of the NHWC output, `pixels.len()·C_out` elements, i.e.
    /// `&mut full[pixels.start·C_out..pixels.end·C_out]` of the whole output buffer, so
    /// threads can each write their own chunk (`chunks_mut`). Any split gives the same
    /// bits as one call. `scratch` holds the im2col block or the depthwise accumulators;
    /// one per thread. Errors (before anything is written): those of
    /// [`Conv2d::forward`], a range outside `0..N·OH·OW`, an `out` of another length.
    pub fn forward_range<X: QType, Y: QType + OutType>(
        &self,
        q: &StaticQuant<X, Y>,
        input: &[X],
        shape: Nhwc,
        pixels: Range<usize>,
        out: &mut [Y],
        scratch: &mut ConvScratch,
    ) -> Result<()> {
        q.check_channels(self.out_channels)?;
        self.forward_range_with_stage(
            input,
            shape,
            q.input().zero_point(),
            &q.stage(),
            pixels,
            out,
            scratch,
        )
    }

    /// [`Conv2d::forward_with_stage`] over the output pixels `pixels` only (see
    /// [`Conv2d::forward_range`]).
    #[allow(clippy::too_many_arguments)]
    pub fn forward_range_with_stage<X: QType, O: OutType>(
        &self,
        input: &[X],
        shape: Nhwc,
        x_zero_point: X,
        stage: &OutputStage<'_>,
        pixels: Range<usize>,
        out: &mut [O],
        scratch: &mut ConvScratch,
    ) -> Result<()> {
        let os = self.check_range::<O>(input.len(), shape, stage, &pixels, out.len())?;
        if pixels.is_empty() {
            return Ok(());
        }
        match &self.kernel {
            Kernel::Gemm(packed) => self.run_gemm(
                packed,
                input,
                shape,
                os,
                x_zero_point,
                stage,
                pixels,
                out,
                scratch,
            ),
            Kernel::Depthwise(wd) => self.run_depthwise(
                wd,
                input,
                shape,
                os,
                x_zero_point,
                stage,
                pixels,
                out,
                scratch,
            ),
        }
    }

    /// Validates a range forward's arguments; returns the output shape.
    fn check_range<O: OutType>(
        &self,
        input_len: usize,
        shape: Nhwc,
        stage: &OutputStage<'_>,
        pixels: &Range<usize>,
        out_len: usize,
    ) -> Result<Nhwc> {
        check_tensor("input", input_len, shape)?;
        let os = self.output_shape(shape)?;
        stage.lower::<O>(self.out_channels)?;
        let total = os.n * os.h * os.w;
        if pixels.start > pixels.end || pixels.end > total {
            return Err(Error::Shape(format!(
                "output pixel range {pixels:?} outside 0..{total} (N·OH·OW)"
            )));
        }
        if out_len != pixels.len() * os.c {
            return Err(Error::Shape(format!(
                "output has {out_len} elements but {} pixels × {} channels need {}",
                pixels.len(),
                os.c,
                pixels.len() * os.c
            )));
        }
        Ok(os)
    }

    /// [`Conv2d::forward`] split over rayon's global pool: contiguous ranges of output
    /// pixels, one [`ConvScratch`] per task. The result is identical to
    /// [`Conv2d::forward`].
    #[cfg(feature = "rayon")]
    pub fn forward_par<X: QType, Y: QType + OutType>(
        &self,
        q: &StaticQuant<X, Y>,
        input: &[X],
        shape: Nhwc,
        out: &mut [Y],
    ) -> Result<()> {
        q.check_channels(self.out_channels)?;
        self.forward_par_with_stage(input, shape, q.input().zero_point(), &q.stage(), out)
    }

    /// [`Conv2d::forward_with_stage`] split over rayon's global pool (see
    /// [`Conv2d::forward_par`]).
    #[cfg(feature = "rayon")]
    pub fn forward_par_with_stage<X: QType, O: OutType>(
        &self,
        input: &[X],
        shape: Nhwc,
        x_zero_point: X,
        stage: &OutputStage<'_>,
        out: &mut [O],
    ) -> Result<()> {
        use rayon::prelude::*;
        let total = self
            .output_shape(shape)
            .map(|s| s.n * s.h * s.w)
            .unwrap_or(0);
        let os = self.check_range::<O>(input.len(), shape, stage, &(0..total), out.len())?;
        if total == 0 {
            return Ok(());
        }
        // Chunks of whole GEMM tiles (MR rows), a few per thread for balance.
        let mr = self.engine.gemm_kernel().mr;
        let tasks = rayon::current_num_threads().max(1) * 4;
        let chunk = total.div_ceil(tasks).div_ceil(mr) * mr;
        out.par_chunks_mut(chunk * os.c)
            .enumerate()
            .try_for_each_init(ConvScratch::default, |scratch, (t, o)| {
                let p0 = t * chunk;
                let pixels = p0..p0 + o.len() / os.c;
                self.forward_range_with_stage(input, shape, x_zero_point, stage, pixels, o, scratch)
            })
    }

    /// The bytes of an NHWC input of shape `is` that the output pixels `pixels` (of
    /// shape `os`, flattened over the batch) read: from the first input row any of them
    /// reads in the first pixel's image to the end of the last row any of them reads in
    /// the last pixel's image (whole rows, every channel; the images between whole).
    /// Empty when they read only padding.
    fn input_bytes_read(&self, is: Nhwc, os: Nhwc, pixels: Range<usize>) -> Range<usize> {
        let (kh, _) = self.geom.kernel;
        let (sh, _) = self.geom.stride;
        let (dh, _) = self.geom.dilation;
        let pt = self.geom.padding[0];
        let per_img = os.h * os.w;
        let row_bytes = is.w * is.c;
        if pixels.is_empty() || per_img == 0 {
            return 0..0;
        }
        let (first, last) = (pixels.start, pixels.end - 1);
        let (b0, oy0) = (first / per_img, first % per_img / os.w);
        let (b1, oy1) = (last / per_img, last % per_img / os.w);
        // Input rows read by output rows oy0.. and ..=oy1: iy = oy·sh + ky·dh − pt.
        let lo = (oy0 * sh).saturating_sub(pt).min(is.h);
        let hi = (oy1 * sh + (kh - 1) * dh + 1).saturating_sub(pt).min(is.h);
        let start = (b0 * is.h + lo) * row_bytes;
        let end = (b1 * is.h + hi) * row_bytes;
        start..end.max(start)
    }

    /// Rows `pixels` of the output through the GEMM (see the type's documentation).
    #[allow(clippy::too_many_arguments)]
    fn run_gemm<X: QType, O: OutType>(
        &self,
        packed: &[PackedWeights],
        input: &[X],
        is: Nhwc,
        os: Nhwc,
        zx: X,
        stage: &OutputStage<'_>,
        pixels: Range<usize>,
        out: &mut [O],
        scratch: &mut ConvScratch,
    ) -> Result<()> {
        let (kh, kw) = self.geom.kernel;
        let (sh, sw) = self.geom.stride;
        let (dh, dw) = self.geom.dilation;
        let [pt, pl, pb, pr] = self.geom.padding;
        let g = self.geom.groups;
        let (c, oc) = (is.c, os.c);
        let (cin_g, ng) = (c / g, oc / g);
        let k = kh * kw * cin_g;
        let per_img = os.h * os.w;
        let direct = kh == 1 && kw == 1 && (sh, sw) == (1, 1) && pt + pl + pb + pr == 0 && g == 1;
        let len = pixels.len();
        if direct {
            // Output pixel p reads input pixel p: the range is a block of A's rows.
            let a = Matrix::new(input, is.n * per_img, c);
            return self.engine.gemm_range(
                a,
                zx,
                &packed[0],
                stage,
                pixels,
                0..oc,
                MatrixMut::new(out, len, oc),
            );
        }
        let kernel = packed[0].gemm_kernel();
        let mode = match (kernel.tile_indirect, kernel.pack_a.and_then(|p| p.indirect)) {
            (Some(t), _) => Some(IndirectMode::Tile(t)),
            (None, Some(p)) => Some(IndirectMode::Pack(p)),
            (None, None) => None,
        };
        // (Tiles of at most 64 rows: the row sums and positions live on the stack.)
        if let Some(mode) =
            mode.filter(|_| cin_g > 0 && cin_g.is_multiple_of(kernel.kr) && kernel.mr <= 64)
        {
            return self.run_indirect(packed, mode, input, is, os, zx, stage, pixels, out, scratch);
        }
        let rows_per = (SCRATCH_BYTES / k.max(1)).clamp(1, len);
        if scratch.im2col.len() < rows_per * k {
            scratch.im2col.resize(rows_per * k, 0);
        }
        let block = X::from_bytes_mut(&mut scratch.im2col[..rows_per * k]);
        let stages: Vec<OutputStage<'_>> = (0..g)
            .map(|gi| slice_stage(stage, gi * ng..(gi + 1) * ng))
            .collect();
        let mut p0 = pixels.start;
        while p0 < pixels.end {
            let rows = rows_per.min(pixels.end - p0);
            for (gi, (pw, st)) in packed.iter().zip(&stages).enumerate() {
                let im = Im2col {
                    input,
                    is,
                    os,
                    kernel: (kh, kw),
                    stride: (sh, sw),
                    dilation: (dh, dw),
                    top_left: (pt, pl),
                    groups: g,
                    zx,
                };
                im.fill(&mut block[..rows * k], p0, gi);
                let dst = &mut out[(p0 - pixels.start) * oc + gi * ng..];
                self.engine.gemm(
                    Matrix::new(&block[..rows * k], rows, k),
                    zx,
                    pw,
                    st,
                    MatrixMut::with_stride(dst, rows, ng, oc),
                )?;
            }
            p0 += rows;
        }
        Ok(())
    }

    /// Rows `pixels` of the output through the GEMM kernel's indirect tile (implicit
    /// GEMM): no im2col copy. Each tile of `MR` output pixels gets an indirection list of
    /// `kh·kw` segments of `C/groups` input codes per row (a tap in the padding points
    /// at a segment of the input zero point), or, when every row's kernel rows lie
    /// inside the input horizontally (one group, no horizontal dilation), `kh` segments
    /// of `kw·C` contiguous codes; the kernel gathers its A rows through it. The bits
    /// equal those of the im2col path (the kernel harness checks the indirect tile
    /// against the reference, the layer tests every engine against the scalar one).
    ///
    /// The lists of a whole range are built at once, in chunks of at most
    /// [`LIST_BYTES`], and kept in the scratch: a call with the same input buffer, shape,
    /// range and geometry (a network run again on its own buffers) reuses them.
    #[allow(clippy::too_many_arguments)]
    fn run_indirect<X: QType, O: OutType>(
        &self,
        packed: &[PackedWeights],
        mode: IndirectMode,
        input: &[X],
        is: Nhwc,
        os: Nhwc,
        zx: X,
        stage: &OutputStage<'_>,
        pixels: Range<usize>,
        out: &mut [O],
        scratch: &mut ConvScratch,
    ) -> Result<()> {
        let g = self.geom.groups;
        let (c, oc) = (is.c, os.c);
        let (seg, ng) = (c / g, oc / g);
        let (kh, kw) = self.geom.kernel;
        let mr = packed[0].gemm_kernel().mr;
        let bytes = X::as_bytes(input);
        let zx_byte = X::as_bytes(core::slice::from_ref(&zx))[0];
        // i8 input is read as bytes `x ^ 0x80` with the zero point moved by 128.
        let (xor, za) = if X::SIGNED {
            (0x80u8, zx.to_i32() + 128)
        } else {
            (0u8, zx.to_i32())
        };
        // An indirect tile would flip every broadcast of i8 input (the AVX-512 VNNI loop
        // then issues 12 more vector operations per 24 `vpdpbusd`: 397 µs against 300 µs
        // for u8 on the 3×3 64 → 64 56×56 layer). Flip the input rows this range reads
        // once, into the scratch, and run the tiles on those canonical bytes (u8, zero
        // point `za`). Packing through the list flips while it copies, so it reads the
        // input as it is.
        let (bytes, xor, zx_byte) = if xor != 0 && matches!(mode, IndirectMode::Tile(_)) {
            let rows = self.input_bytes_read(is, os, pixels.clone());
            if scratch.flipped.len() < bytes.len() {
                scratch.flipped.resize(bytes.len(), 0);
            }
            let flipped = &mut scratch.flipped[..bytes.len()];
            for (d, &x) in flipped[rows.clone()].iter_mut().zip(&bytes[rows]) {
                *d = x ^ 0x80;
            }
            (&scratch.flipped[..bytes.len()], 0u8, zx_byte ^ 0x80)
        } else {
            (bytes, xor, zx_byte)
        };
        // Each group's stage, kept alive here: the lowered stages point into them.
        let stages: Vec<OutputStage<'_>> = (0..g)
            .map(|gi| slice_stage(stage, gi * ng..(gi + 1) * ng))
            .collect();
        let raws = stages
            .iter()
            .map(|st| st.lower::<O>(ng))
            .collect::<Result<Vec<_>>>()?;
        let list = &mut scratch.list;
        // Whole kernel rows as segments need one group and no horizontal dilation.
        let wide_ok = g == 1 && self.geom.dilation.1 == 1;
        list.pad.clear();
        list.pad.resize(if wide_ok { kw * c } else { seg }, zx_byte);
        let key = ListKey {
            input: (bytes.as_ptr() as usize, bytes.len()),
            pad: list.pad.as_ptr() as usize,
            shape: is,
            geom: self.geom,
            pixels: (pixels.start, pixels.end),
            mr,
        };
        // A kernel with per-call state (AMX) runs the range's packed tiles in one
        // session.
        let kernel = packed[0].gemm_kernel();
        let session = kernel
            .session
            .filter(|_| matches!(mode, IndirectMode::Pack(_)));
        let mut packed_tiles = session
            .as_ref()
            .map_or(PackedTiles::Each(kernel.tile), |s| {
                PackedTiles::Batch(TileBatch::new(s))
            });
        let a_lines = kernel.a_tile_bytes(self.geom.kernel.0 * self.geom.kernel.1 * seg);
        if list.a_tile.len() < a_lines.div_ceil(64) {
            list.a_tile.resize(a_lines.div_ceil(64), Line([0; 64]));
        }
        if let Some(s) = session {
            // SAFETY: the engine chose the kernel for this CPU; `end` follows the loop
            // below, which runs only this kernel's tiles.
            unsafe { (s.begin)() };
        }
        let tile_cap = (LIST_BYTES / (kh * kw * mr * size_of::<usize>())).max(1);
        let chunk = tile_cap * mr;
        let mut rowsum = [0i32; 64];
        let mut p0 = pixels.start;
        while p0 < pixels.end {
            let p1 = (p0 + chunk).min(pixels.end);
            // One chunk covers the range: its lists may be those of the last call.
            let whole = p0 == pixels.start && p1 == pixels.end;
            if !(whole && list.key == Some(key)) {
                list.build(self, is, os, bytes, p0..p1, mr, wide_ok);
                list.key = whole.then_some(key);
            }
            let pad_at = list.pad.as_ptr() as usize;
            let mut t0 = p0;
            for &(at, t_taps, t_seg) in &list.tiles {
                let m = mr.min(p1 - t0);
                let base = &list.ptrs[at..at + t_taps * mr];
                for (gi, (pw, raw)) in packed.iter().zip(&raws).enumerate() {
                    // Group gi's channels are `gi·seg` codes further in each pixel.
                    let ptrs = if gi == 0 {
                        base
                    } else {
                        list.shifted.clear();
                        list.shifted.extend(base.iter().map(|&p| {
                            if p == pad_at {
                                p
                            } else {
                                p + gi * seg
                            }
                        }));
                        &list.shifted[..]
                    };
                    let ind = Indirect {
                        ptrs: ptrs.as_ptr() as *const *const u8,
                        taps: t_taps,
                        seg: t_seg,
                    };
                    let o = (t0 - pixels.start) * oc + gi * ng;
                    let dst = out[o..o + (m - 1) * oc + ng].as_mut_ptr() as *mut u8;
                    match mode {
                        IndirectMode::Tile(tile) => {
                            if pw.zb_nonzero() {
                                for (i, s) in rowsum.iter_mut().enumerate().take(m) {
                                    *s = ptrs[i..]
                                        .iter()
                                        .step_by(mr)
                                        .map(|&at| {
                                            let seg_bytes = if at == pad_at {
                                                &list.pad[..t_seg]
                                            } else {
                                                &bytes[at - key.input.0..][..t_seg]
                                            };
                                            seg_bytes.iter().fold(0i32, |a, &b| {
                                                a.wrapping_add((b ^ xor) as i32)
                                            })
                                        })
                                        .fold(0i32, i32::wrapping_add);
                                }
                            }
                            // `tile` is the indirect tile of `pw`'s kernel, which the
                            // engine chose for this CPU; the list holds t_taps·MR
                            // addresses of whole segments of `t_seg` codes inside the
                            // current input or of the padding segment (see
                            // `IndirectList::build`; for a reused list the key proves the
                            // same input buffer, shape, geometry, range and padding
                            // segment), `t_seg` a positive multiple of the kernel's `kr`
                            // (`seg` checked by the caller; `kw·c` with one group) and
                            // t_taps·t_seg = K of the group's weights; 1 ≤ m ≤ MR ≤ 64;
                            // the row sums are filled when the weights have a non-zero
                            // zero point; `raw` was lowered for the group's `ng` columns
                            // from `stage`, alive here; `dst` covers m rows of `ng`
                            // elements `oc` apart (sliced above).
                            // SAFETY: the conditions stated just above hold.
                            unsafe {
                                indirect_tile_rows(
                                    pw,
                                    tile,
                                    raw.raw(),
                                    &ind,
                                    m,
                                    za,
                                    xor,
                                    rowsum.as_ptr(),
                                    dst,
                                    oc,
                                )
                            };
                        }
                        IndirectMode::Pack(pack) => {
                            let a_tile = list.a_tile.as_mut_ptr() as *mut u8;
                            let args = PackAArgs {
                                src: core::ptr::null(),
                                stride: 0,
                                xor,
                                m,
                                k: t_taps * t_seg,
                                mr,
                                dst: a_tile,
                                rowsum: rowsum.as_mut_ptr(),
                            };
                            // `pack` is the kernel's packer through a list (the engine
                            // chose the kernel for this CPU); the list is valid as for the
                            // indirect tile above, with t_taps·t_seg = K; 1 ≤ m ≤ MR;
                            // `a_tile` holds one packed tile for K, 64-byte aligned
                            // (resized above), `rowsum` 64 ≥ m values.
                            // SAFETY: the conditions stated just above hold.
                            unsafe { pack(&ind, &args) };
                            // `packed_tiles` is the kernel's tile, or a batch of its
                            // session inside the session begun above; the packed tile and its row sums
                            // were just written; `raw` and `dst` as for the indirect tile
                            // above.
                            // SAFETY: the conditions stated just above hold.
                            unsafe {
                                packed_tile_rows(
                                    pw,
                                    &mut packed_tiles,
                                    raw.raw(),
                                    a_tile,
                                    rowsum.as_ptr(),
                                    m,
                                    za,
                                    dst,
                                    oc,
                                )
                            };
                        }
                    }
                }
                t0 += m;
            }
            p0 = p1;
        }
        if let Some(s) = session {
            // SAFETY: `begin` ran above on this thread.
            unsafe { (s.end)() };
        }
        Ok(())
    }

    /// Rows `pixels` of the output through the depthwise kernel, one run of an output
    /// row at a time.
    #[allow(clippy::too_many_arguments)]
    fn run_depthwise<X: QType, O: OutType>(
        &self,
        wd: &PackedDepthwise,
        input: &[X],
        is: Nhwc,
        os: Nhwc,
        zx: X,
        stage: &OutputStage<'_>,
        pixels: Range<usize>,
        out: &mut [O],
        scratch: &mut ConvScratch,
    ) -> Result<()> {
        let (kh, kw) = self.geom.kernel;
        let (sh, sw) = self.geom.stride;
        let (dh, dw) = self.geom.dilation;
        let [pt, pl, _, _] = self.geom.padding;
        let (c, oc) = (is.c, os.c);
        wd.check_kernel(self.engine.depthwise_kernel())?;
        // i8 input is read as bytes `x ^ 0x80` with the zero point moved by 128.
        let (xor, zk) = if X::SIGNED {
            (0x80u8, zx.to_i32() + 128)
        } else {
            (0u8, zx.to_i32())
        };
        let bytes = X::as_bytes(input);
        let in_img = is.h * is.w * c;
        let per_img = os.h * os.w;
        if scratch.acc.len() < os.w * oc {
            scratch.acc.resize(os.w * oc, 0);
        }
        let mut taps = vec![core::ptr::null::<u8>(); kh * kw];
        let mut p = pixels.start;
        while p < pixels.end {
            // The run of output row `oy` of image `img` from `ox0` inside the range.
            let (img, q) = (p / per_img, p % per_img);
            let (oy, ox0) = (q / os.w, q % os.w);
            let n = (os.w - ox0).min(pixels.end - p);
            let x = &bytes[img * in_img..(img + 1) * in_img];
            let acc = &mut scratch.acc[..n * oc];
            for (i, a) in acc.chunks_exact_mut(oc).enumerate() {
                let ox = ox0 + i;
                for ky in 0..kh {
                    let iy = (oy * sh + ky * dh).wrapping_sub(pt);
                    for kx in 0..kw {
                        let ix = (ox * sw + kx * dw).wrapping_sub(pl);
                        // Pixel (iy, ix) of the image `x`, when inside it.
                        taps[ky * kw + kx] = if iy < is.h && ix < is.w {
                            x.as_ptr().wrapping_add((iy * is.w + ix) * c)
                        } else {
                            core::ptr::null()
                        };
                    }
                }
                // `wd` was packed for the engine's kernel (checked above), which the CPU
                // supports; `taps` has kh·kw entries, each null or the start of a pixel
                // inside the image `x` (`iy < h`, `ix < w`: `c` bytes); `a` holds
                // `oc = c·M` i32; `xor` is 0 or 0x80 and `zk` in 0..=255.
                // SAFETY: the conditions stated just above hold.
                unsafe { wd.pixel(&taps, xor, zk, a.as_mut_ptr()) };
            }
            let o = (p - pixels.start) * oc;
            self.engine.requantize(
                Matrix::new(acc, n, oc),
                stage,
                MatrixMut::new(&mut out[o..o + n * oc], n, oc),
            )?;
            p += n;
        }
        Ok(())
    }
}

/// `dst.copy_from_slice(src)` for the short pieces of an im2col row (`kw·C` or `C` codes,
/// typically 64–576 codes): whole 64-code pieces as fixed-size copies, which compile to
/// vector moves in place, instead of one `memcpy` call per piece (8 % of a 3×3 64 → 64
/// convolution went to those calls).
#[inline(always)]
fn copy_codes<T: Copy>(dst: &mut [T], src: &[T]) {
    const PIECE: usize = 64;
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let mut d = dst.chunks_exact_mut(PIECE);
    let mut s = src.chunks_exact(PIECE);
    for (d, s) in (&mut d).zip(&mut s) {
        // Fixed-size arrays: the copy is a few vector moves, not a call.
        let (d, s): (&mut [T; PIECE], &[T; PIECE]) = (
            d.try_into().expect("a whole piece"),
            s.try_into().expect("a whole piece"),
        );
        *d = *s;
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// One block of im2col rows: the geometry and input of a convolution.
struct Im2col<'a, X> {
    input: &'a [X],
    is: Nhwc,
    os: Nhwc,
    kernel: (usize, usize),
    stride: (usize, usize),
    dilation: (usize, usize),
    top_left: (usize, usize),
    groups: usize,
    zx: X,
}

impl<X: QType> Im2col<'_, X> {
    /// Fills `block` (whole rows of `kh·kw·C/groups` codes) with the im2col rows of group
    /// `gi` for the output pixels from `p0` on. With AVX2 (checked once by the standard
    /// library's cached detection) the same code is compiled for 32-byte moves: the copy
    /// is most of the time im2col takes.
    fn fill(&self, block: &mut [X], p0: usize, gi: usize) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 was detected just above.
            return unsafe { self.fill_avx2(block, p0, gi) };
        }
        self.fill_any(block, p0, gi)
    }

    /// [`Im2col::fill`] compiled with AVX2.
    ///
    /// # Safety
    /// The CPU supports AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fill_avx2(&self, block: &mut [X], p0: usize, gi: usize) {
        self.fill_any(block, p0, gi)
    }

    #[inline(always)]
    fn fill_any(&self, block: &mut [X], p0: usize, gi: usize) {
        let (is, os) = (self.is, self.os);
        let ((kh, kw), (sh, sw), (dh, dw), (pt, pl)) =
            (self.kernel, self.stride, self.dilation, self.top_left);
        let (g, zx, c) = (self.groups, self.zx, is.c);
        let cin_g = c / g;
        let k = kh * kw * cin_g;
        let per_img = os.h * os.w;
        let in_img = is.h * is.w * c;
        // The block's first pixel as (image, row, column), then stepped per row: no
        // division per row of the block.
        let (mut img, q) = (p0 / per_img, p0 % per_img);
        let (mut oy, mut ox) = (q / os.w, q % os.w);
        for row in block.chunks_exact_mut(k) {
            let x = &self.input[img * in_img..(img + 1) * in_img];
            let (cy, cx) = (oy, ox);
            ox += 1;
            if ox == os.w {
                ox = 0;
                oy += 1;
                if oy == os.h {
                    oy = 0;
                    img += 1;
                }
            }
            let (oy, ox) = (cy, cx);
            // With one group and no horizontal dilation, the kw taps of a kernel row
            // inside the input are kw·C contiguous codes.
            let (ix0, ix1) = (
                (ox * sw).wrapping_sub(pl),
                (ox * sw + kw - 1).wrapping_sub(pl),
            );
            let whole_rows = g == 1 && dw == 1 && ix0 < is.w && ix1 < is.w;
            for ky in 0..kh {
                let iy = (oy * sh + ky * dh).wrapping_sub(pt);
                if whole_rows {
                    let dst = &mut row[ky * kw * c..(ky + 1) * kw * c];
                    if iy < is.h {
                        let s = (iy * is.w + ix0) * c;
                        copy_codes(dst, &x[s..s + kw * c]);
                    } else {
                        dst.fill(zx);
                    }
                    continue;
                }
                for kx in 0..kw {
                    let ix = (ox * sw + kx * dw).wrapping_sub(pl);
                    let dst = &mut row[(ky * kw + kx) * cin_g..(ky * kw + kx + 1) * cin_g];
                    if iy < is.h && ix < is.w {
                        let s = (iy * is.w + ix) * c + gi * cin_g;
                        copy_codes(dst, &x[s..s + cin_g]);
                    } else {
                        dst.fill(zx);
                    }
                }
            }
        }
    }
}

/// How the tiles of an implicit-GEMM convolution read their indirection lists.
#[derive(Clone, Copy)]
enum IndirectMode {
    /// The kernel's indirect tile gathers the rows itself (AVX-512 VNNI).
    Tile(IndirectTile),
    /// The kernel packs each tile through its list once, then runs every panel on the
    /// packed tile (AMX).
    Pack(PackIndirect),
}

/// What an implicit-GEMM indirection list was built for: the input buffer (address and
/// length), the padding segment's address, the shape, the geometry, the output range
/// and the tile height. The same key means the same addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ListKey {
    input: (usize, usize),
    pad: usize,
    shape: Nhwc,
    geom: Conv2dGeometry,
    pixels: (usize, usize),
    mr: usize,
}

/// The indirection lists of a range of output pixels (implicit GEMM), kept in the
/// [`ConvScratch`].
#[derive(Clone, Debug, Default)]
struct IndirectList {
    /// What `ptrs` and `tiles` were built for, when they cover a whole range.
    key: Option<ListKey>,
    /// Segment addresses (group 0), tile after tile, each tile tap-major (`taps·MR`).
    ptrs: Vec<usize>,
    /// Per tile: where its addresses start in `ptrs`, its segments per row and their
    /// length in codes.
    tiles: Vec<(usize, usize, usize)>,
    /// One tile's addresses moved to another group's channels.
    shifted: Vec<usize>,
    /// The padding segment: the input zero point's code, as long as any segment.
    pad: Vec<u8>,
    /// One tile packed through its list (kernels that pack A that way), 64-byte
    /// aligned.
    a_tile: Vec<Line>,
    /// Offset of each tap from the tap (0, 0) of a pixel whose taps are all inside.
    offsets: Vec<usize>,
}

impl IndirectList {
    /// Builds the lists of the output pixels `pixels` (group 0), tile by tile.
    ///
    /// Every address is the start of a segment inside `bytes` (a pixel `img < n`,
    /// `iy < h`, `ix < w`: `c/groups` of its `c` codes; or, wide, `kw` whole pixels from
    /// `ix = x0` with `x0 + kw − 1 < w`; `bytes` holds the whole input, its length
    /// having been checked against its shape) or the padding segment, which is at least
    /// as long as any segment; rows past a tile's last pixel read the padding segment.
    #[allow(clippy::too_many_arguments)]
    fn build(
        &mut self,
        conv: &Conv2d,
        is: Nhwc,
        os: Nhwc,
        bytes: &[u8],
        pixels: Range<usize>,
        mr: usize,
        wide_ok: bool,
    ) {
        let (kh, kw) = conv.geom.kernel;
        let (sh, sw) = conv.geom.stride;
        let (dh, dw) = conv.geom.dilation;
        let [pt, pl, _, _] = conv.geom.padding;
        let c = is.c;
        let taps = kh * kw;
        let (per_img, in_img) = (os.h * os.w, is.h * is.w * c);
        let (y_span, x_span) = ((kh - 1) * dh, (kw - 1) * dw);
        let (input_at, pad_at) = (bytes.as_ptr() as usize, self.pad.as_ptr() as usize);
        self.offsets.clear();
        self.offsets
            .extend((0..kh).flat_map(|ky| (0..kw).map(move |kx| (ky * dh * is.w + kx * dw) * c)));
        self.ptrs.clear();
        self.tiles.clear();
        // The first pixel of the range as (image, row, column), then stepped.
        let (mut img, q) = (pixels.start / per_img, pixels.start % per_img);
        let (mut oy, mut ox) = (q / os.w, q % os.w);
        let x_inside = |x0: usize| x0 < is.w && x0 + x_span < is.w;
        let mut pos = [(0usize, 0usize, 0usize); 64];
        let mut t0 = pixels.start;
        while t0 < pixels.end {
            let m = mr.min(pixels.end - t0);
            // Each row's image address and the input position of its tap (0, 0).
            for r in pos.iter_mut().take(m) {
                *r = (
                    input_at + img * in_img,
                    (oy * sh).wrapping_sub(pt),
                    (ox * sw).wrapping_sub(pl),
                );
                ox += 1;
                if ox == os.w {
                    ox = 0;
                    oy += 1;
                    if oy == os.h {
                        oy = 0;
                        img += 1;
                    }
                }
            }
            let pos = &pos[..m];
            let wide = wide_ok && pos.iter().all(|&(_, _, x0)| x_inside(x0));
            let (t_taps, t_seg) = if wide {
                (kh, kw * c)
            } else {
                (taps, c / conv.geom.groups)
            };
            let at = self.ptrs.len();
            self.ptrs.resize(at + t_taps * mr, pad_at);
            self.tiles.push((at, t_taps, t_seg));
            let ptrs = &mut self.ptrs[at..];
            for (i, &(img_at, y0, x0)) in pos.iter().enumerate() {
                let col = ptrs[i..].iter_mut().step_by(mr);
                if wide {
                    for (ky, p) in col.enumerate() {
                        let iy = y0.wrapping_add(ky * dh);
                        if iy < is.h {
                            *p = img_at + (iy * is.w + x0) * c;
                        }
                    }
                } else if y0 < is.h && y0 + y_span < is.h && x_inside(x0) {
                    // Every tap inside: offsets from the first tap's address.
                    let first = img_at + (y0 * is.w + x0) * c;
                    for (p, &o) in col.zip(self.offsets.iter()) {
                        *p = first + o;
                    }
                } else {
                    let taps_yx = (0..kh).flat_map(|ky| (0..kw).map(move |kx| (ky, kx)));
                    for (p, (ky, kx)) in col.zip(taps_yx) {
                        let (iy, ix) = (y0.wrapping_add(ky * dh), x0.wrapping_add(kx * dw));
                        if iy < is.h && ix < is.w {
                            *p = img_at + (iy * is.w + ix) * c;
                        }
                    }
                }
            }
            t0 += m;
        }
    }
}
