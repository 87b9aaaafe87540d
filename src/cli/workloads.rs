//! The benchmark workloads, shared by `cargo bench` (criterion, `benches/zeropoint.rs`
//! includes this file with `#[path]`) and the `zeropoint bench` subcommand, so that both
//! measure exactly the same thing under the same ids `<op>/<variant>/<shape>`.
//!
//! - GEMM u8×i8 → u8, requantized (Fp32 per-channel scales, i32 bias, zero point 128):
//!   256³, 512³, 1024³, 2048³; GEMV 1×4096×4096, 1×4096×11008, 1×11008×4096; small
//!   batches 8×4096×4096 and 32×4096×4096; convolution-shaped 3136×576×64. Shapes are
//!   written `MxKxN`.
//! - The same shapes in f32 with `matrixmultiply::sgemm` (one thread), the float
//!   baseline.
//! - quantize (f32 → u8) and dequantize (u8 → f32) of 2^20 and 2^24 values; requantize
//!   of 2^20 i32 (1024 rows × 1024 channels, Fp32 per-channel, → u8).
//! - weight packing of a 4096×4096 i8 matrix stored N×K (one row per output channel)
//!   and K×N, GB/s of source weights: `pack` is `Engine::pack_weights` (what a model load
//!   pays, allocation and first touch of the packed buffer included); `pack_kernel` is
//!   the kernel table's packer alone into a reused buffer, beside the portable packer of
//!   the same layout (`scalar::gemm::pack::<NR,KR>`, what every table used before it had
//!   its own) as the baseline.
//!
//! - the GEMM microkernel alone (`tile_l1`): one tile of `MR×NR` over depth K = 512
//!   and 1024, the same packed operands every call (resident in L1/L2), u8 output through
//!   the same Fp32 per-channel stage: the rate a kernel's GEMM approaches when nothing
//!   waits on memory, its edges or packing.
//!
//! Every kernel variant is reached by forcing its ISA through [`Engine::with_isa`], so a
//! kernel added to `zeropoint::variants()` is measured with no new code here.

use std::hint::black_box;

use zeropoint::kernels::{DstType, GemmKernel, PackAArgs, PackArgs, Scheme, TileArgs};
use zeropoint::{
    Engine, Granularity, Isa, Matrix, MatrixMut, OpKind, OutputStage, PackedWeights, PerChannel,
    QuantParams, Requantization, Variant, WeightLayout,
};

/// The variant name of the f32 baseline.
pub const F32_BASELINE: &str = "matrixmultiply::sgemm_f32";

/// One GEMM shape: `op` is `gemm` or `gemv` (M = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GemmShape {
    /// `gemm` or `gemv`.
    pub op: &'static str,
    /// Rows of A and C.
    pub m: usize,
    /// Depth.
    pub k: usize,
    /// Columns of B and C.
    pub n: usize,
}

const fn g(op: &'static str, m: usize, k: usize, n: usize) -> GemmShape {
    GemmShape { op, m, k, n }
}

/// Every GEMM / GEMV shape measured.
pub const GEMM_SHAPES: &[GemmShape] = &[
    g("gemm", 256, 256, 256),
    g("gemm", 512, 512, 512),
    g("gemm", 1024, 1024, 1024),
    g("gemm", 2048, 2048, 2048),
    g("gemv", 1, 4096, 4096),
    g("gemv", 1, 4096, 11008),
    g("gemv", 1, 11008, 4096),
    g("gemm", 8, 4096, 4096),
    g("gemm", 32, 4096, 4096),
    g("gemm", 3136, 576, 64),
];

impl GemmShape {
    /// `MxKxN`.
    pub fn label(&self) -> String {
        format!("{}x{}x{}", self.m, self.k, self.n)
    }

    /// Integer (or float) operations per call: `2·M·N·K`.
    pub fn ops(&self) -> u64 {
        2 * (self.m * self.n * self.k) as u64
    }

    /// Bytes of int8 weights (`K·N`).
    pub fn weight_bytes(&self) -> u64 {
        (self.k * self.n) as u64
    }

    /// Why `isa`'s kernel is not run at this shape, if it is not: the scalar kernel
    /// (about 6 GOPS) would take seconds per call above 1024³. `ZEROPOINT_BENCH_ALL=1`
    /// runs everything.
    pub fn skip_reason(&self, isa: Isa) -> Option<String> {
        let all = std::env::var("ZEROPOINT_BENCH_ALL").is_ok_and(|v| v == "1");
        (!all && isa == Isa::Scalar && self.m * self.n * self.k > 1 << 30).then(|| {
            format!(
                "scalar kernel above 1024³ (about {:.0} s per call); ZEROPOINT_BENCH_ALL=1 runs it",
                self.ops() as f64 / 6e9
            )
        })
    }
}

/// A fast deterministic byte generator (xorshift64).
pub fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let take = (n - out.len()).min(8);
        out.extend_from_slice(&x.to_le_bytes()[..take]);
    }
    out
}

/// The operands of one GEMM shape, shared by every variant.
pub struct GemmInputs {
    /// The shape.
    pub shape: GemmShape,
    /// A, `M×K` u8 (zero point 128).
    pub a: Vec<u8>,
    /// B, `N×K` i8 (one row per output channel), zero point 0.
    pub w: Vec<i8>,
    /// Per-channel requantization scales.
    pub scales: Vec<f32>,
    /// Per-channel i32 bias.
    pub bias: Vec<i32>,
}

impl GemmInputs {
    /// Random operands for `shape`.
    pub fn new(shape: GemmShape) -> Self {
        let GemmShape { m, k, n, .. } = shape;
        let a = pseudo_random_bytes(m * k, 1);
        let w = pseudo_random_bytes(k * n, 2)
            .into_iter()
            .map(|b| b as i8)
            .collect();
        // |acc| is about 74·74·sqrt(K) for random operands: aim that at ±64 codes.
        let base = 64.0 / (74.0 * 74.0 * (k as f32).sqrt());
        let scales = (0..n)
            .map(|j| base * (1.0 + (j % 7) as f32 / 8.0))
            .collect();
        let bias = (0..n).map(|j| (j as i32 % 2001 - 1000) * 17).collect();
        GemmInputs {
            shape,
            a,
            w,
            scales,
            bias,
        }
    }

    /// The output stage: bias, Fp32 per-channel requantization, zero point 128, to u8.
    pub fn stage(&self) -> OutputStage<'_> {
        OutputStage::quantized(Requantization::Fp32(PerChannel::Channel(&self.scales)), 128)
            .with_bias(&self.bias)
    }
}

/// One variant's packed weights and output buffer for a [`GemmInputs`].
pub struct GemmRun<'a> {
    engine: Engine,
    inputs: &'a GemmInputs,
    packed: PackedWeights,
    out: Vec<u8>,
}

impl<'a> GemmRun<'a> {
    /// Packs the weights for `engine`'s kernel.
    pub fn new(engine: Engine, inputs: &'a GemmInputs) -> zeropoint::Result<Self> {
        let GemmShape { m, k, n, .. } = inputs.shape;
        let packed = engine.pack_weights(
            Matrix::new(&inputs.w, n, k),
            WeightLayout::NxK,
            PerChannel::Tensor(0i8),
        )?;
        Ok(GemmRun {
            engine,
            inputs,
            packed,
            out: vec![0; m * n],
        })
    }

    /// One call.
    pub fn run(&mut self) {
        let GemmShape { m, k, n, .. } = self.inputs.shape;
        self.engine
            .gemm(
                Matrix::new(black_box(&self.inputs.a), m, k),
                128u8,
                &self.packed,
                &self.inputs.stage(),
                MatrixMut::new(&mut self.out, m, n),
            )
            .expect("benchmark GEMM arguments are valid");
        black_box(&mut self.out);
    }
}

impl GemmRun<'_> {
    /// One call split over `threads` scoped threads by rows, through the work-range API
    /// (`Engine::gemm_range`) as an engine with its own pool would do it: each thread
    /// writes its own rows of the output.
    pub fn run_threads(&mut self, threads: usize) {
        let GemmShape { m, k, n, .. } = self.inputs.shape;
        let mr = self.engine.gemm_kernel().mr;
        let rows_per = m.div_ceil(threads).div_ceil(mr) * mr;
        let (engine, inputs, packed) = (&self.engine, self.inputs, &self.packed);
        let stage = inputs.stage();
        std::thread::scope(|s| {
            for (t, out) in self.out.chunks_mut(rows_per * n).enumerate() {
                let stage = &stage;
                s.spawn(move || {
                    let r0 = t * rows_per;
                    let rows = out.len() / n;
                    engine
                        .gemm_range(
                            Matrix::new(black_box(&inputs.a), m, k),
                            128u8,
                            packed,
                            stage,
                            r0..r0 + rows,
                            0..n,
                            MatrixMut::new(out, rows, n),
                        )
                        .expect("benchmark GEMM arguments are valid");
                });
            }
        });
        black_box(&mut self.out);
    }
}

/// The f32 baseline of one GEMM shape (`matrixmultiply::sgemm`, one thread).
pub struct F32Gemm {
    shape: GemmShape,
    a: Vec<f32>,
    b: Vec<f32>,
    c: Vec<f32>,
}

impl F32Gemm {
    /// Random f32 operands for `shape` (B stored K×N row-major).
    pub fn new(shape: GemmShape) -> Self {
        let GemmShape { m, k, n, .. } = shape;
        let f = |v: u8| (v as f32 - 128.0) / 64.0;
        F32Gemm {
            shape,
            a: pseudo_random_bytes(m * k, 3).into_iter().map(f).collect(),
            b: pseudo_random_bytes(k * n, 4).into_iter().map(f).collect(),
            c: vec![0.0; m * n],
        }
    }

    /// One call: `C = A·B`.
    pub fn run(&mut self) {
        let GemmShape { m, k, n, .. } = self.shape;
        // SAFETY: A is m×k with row stride k, B is k×n with row stride n, C is m×n with
        // row stride n, all dense and exactly that long; column strides are 1.
        unsafe {
            matrixmultiply::sgemm(
                m,
                k,
                n,
                1.0,
                black_box(self.a.as_ptr()),
                k as isize,
                1,
                self.b.as_ptr(),
                n as isize,
                1,
                0.0,
                self.c.as_mut_ptr(),
                n as isize,
                1,
            )
        };
        black_box(&mut self.c);
    }
}

/// One weight-packing shape: a K×N i8 matrix stored in `layout`, packed by
/// `Engine::pack_weights` (allocation, the kernel's packer with its column sums, and the
/// zero-point correction arrays: everything a model load pays per weight matrix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackShape {
    /// Depth K.
    pub k: usize,
    /// Columns (output channels) N.
    pub n: usize,
    /// How the source is stored.
    pub layout: WeightLayout,
}

/// Every packing shape measured: the same realistic weight (4096×4096, 16 MiB) in both
/// source layouts.
pub const PACK_SHAPES: &[PackShape] = &[
    PackShape {
        k: 4096,
        n: 4096,
        layout: WeightLayout::NxK,
    },
    PackShape {
        k: 4096,
        n: 4096,
        layout: WeightLayout::KxN,
    },
];

impl PackShape {
    /// `KxN_nxk` or `KxN_kxn` (dimensions, then the source layout).
    pub fn label(&self) -> String {
        let layout = match self.layout {
            WeightLayout::NxK => "nxk",
            WeightLayout::KxN => "kxn",
        };
        format!("{}x{}_{layout}", self.k, self.n)
    }

    /// Bytes of source weights per call.
    pub fn bytes(&self) -> u64 {
        (self.k * self.n) as u64
    }
}

/// One packing workload: the source weights, packed with one engine per call.
pub struct PackRun {
    engine: Engine,
    shape: PackShape,
    w: Vec<i8>,
}

impl PackRun {
    /// Random i8 weights for `shape`, packed with `engine`.
    pub fn new(engine: Engine, shape: PackShape) -> Self {
        let w = pseudo_random_bytes(shape.k * shape.n, 7)
            .into_iter()
            .map(|b| b as i8)
            .collect();
        PackRun { engine, shape, w }
    }

    /// One call: packs the weights (and drops the result).
    pub fn run(&mut self) {
        let PackShape { k, n, layout } = self.shape;
        let (rows, cols) = match layout {
            WeightLayout::NxK => (n, k),
            WeightLayout::KxN => (k, n),
        };
        let packed = self
            .engine
            .pack_weights(
                Matrix::new(black_box(&self.w), rows, cols),
                layout,
                PerChannel::Tensor(0i8),
            )
            .expect("benchmark weights pack");
        black_box(&packed);
    }
}

/// A packer: `GemmKernel::pack`'s type.
pub type Packer = unsafe fn(&PackArgs);

/// The portable packer of the layout `nr`, `kr` (the baseline of the `pack_kernel`
/// rows) with its path-style name, for every geometry a table uses.
pub fn portable_packer(nr: usize, kr: usize) -> Option<(String, Packer)> {
    use zeropoint::kernels::scalar::gemm::pack;
    let f: Packer = match (nr, kr) {
        (8, 1) => pack::<8, 1>,
        (16, 2) => pack::<16, 2>,
        (32, 2) => pack::<32, 2>,
        (32, 4) => pack::<32, 4>,
        (4, 16) => pack::<4, 16>,
        (16, 4) => pack::<16, 4>,
        (16, 8) => pack::<16, 8>,
        _ => return None,
    };
    Some((format!("scalar::gemm::pack::<{nr},{kr}>"), f))
}

/// One kernel-level packing workload: a packer of `kernel`'s layout (the table's own or
/// the portable one) into a destination allocated (and touched) once.
pub struct PackKernelRun {
    packer: Packer,
    shape: PackShape,
    w: Vec<u8>,
    dst: Vec<i8>,
    colsum: Vec<i32>,
}

impl PackKernelRun {
    /// `packer` (the table's `pack` or [`portable_packer`] of its geometry) for the GEMM
    /// kernel of `engine`.
    pub fn new(engine: &Engine, packer: Packer, shape: PackShape) -> Self {
        let kernel = engine.gemm_kernel();
        PackKernelRun {
            packer,
            shape,
            w: pseudo_random_bytes(shape.k * shape.n, 7),
            dst: vec![0; kernel.packed_len(shape.k, shape.n)],
            colsum: vec![0; kernel.panels(shape.n) * kernel.nr],
        }
    }

    /// One call: packs the weights into the reused buffers.
    pub fn run(&mut self) {
        let PackShape { k, n, layout } = self.shape;
        let (k_stride, n_stride) = match layout {
            WeightLayout::NxK => (1, k),
            WeightLayout::KxN => (n, 1),
        };
        let args = PackArgs {
            src: black_box(self.w.as_ptr()),
            k_stride,
            n_stride,
            k,
            n,
            xor: 0,
            dst: self.dst.as_mut_ptr(),
            colsum: self.colsum.as_mut_ptr(),
        };
        // The engine holds only kernels whose ISA the CPU supports, and the portable
        // packer runs anywhere; `w` holds the K·N dense source the strides address; `dst`
        // and `colsum` have the sizes of the kernel's geometry, which is the packer's.
        // SAFETY: the conditions stated just above hold.
        unsafe { (self.packer)(&args) };
        black_box((&mut self.dst, &mut self.colsum));
    }
}

/// An element-wise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemOp {
    /// f32 → u8, per tensor.
    Quantize,
    /// u8 → f32, per tensor.
    Dequantize,
    /// i32 → u8 through an Fp32 per-channel output stage (1024 channels).
    Requantize,
}

/// One element-wise shape: `op` over `2^log2_len` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElemShape {
    /// The operation.
    pub op: ElemOp,
    /// log2 of the element count.
    pub log2_len: u32,
}

/// Every element-wise shape measured.
pub const ELEM_SHAPES: &[ElemShape] = &[
    ElemShape {
        op: ElemOp::Quantize,
        log2_len: 20,
    },
    ElemShape {
        op: ElemOp::Quantize,
        log2_len: 24,
    },
    ElemShape {
        op: ElemOp::Dequantize,
        log2_len: 20,
    },
    ElemShape {
        op: ElemOp::Dequantize,
        log2_len: 24,
    },
    ElemShape {
        op: ElemOp::Requantize,
        log2_len: 20,
    },
];

impl ElemShape {
    /// `quantize`, `dequantize` or `requantize`.
    pub fn op_name(&self) -> &'static str {
        match self.op {
            ElemOp::Quantize => "quantize",
            ElemOp::Dequantize => "dequantize",
            ElemOp::Requantize => "requantize",
        }
    }

    /// `2^20` etc.
    pub fn label(&self) -> String {
        format!("2^{}", self.log2_len)
    }

    /// Elements per call.
    pub fn len(&self) -> usize {
        1 << self.log2_len
    }

    /// Bytes read plus bytes written per call: every operation moves one 4-byte value
    /// (f32 or i32) and one byte code per element.
    pub fn bytes(&self) -> u64 {
        (self.len() * 5) as u64
    }
}

/// Channels (columns) of the requantize workload.
const REQUANT_CHANNELS: usize = 1024;

/// One element-wise workload with its buffers, for one engine.
pub struct ElemRun {
    engine: Engine,
    shape: ElemShape,
    f: Vec<f32>,
    q: Vec<u8>,
    acc: Vec<i32>,
    scales: Vec<f32>,
}

impl ElemRun {
    /// Buffers for `shape`, run with `engine`.
    pub fn new(engine: Engine, shape: ElemShape) -> Self {
        let len = shape.len();
        let bytes = pseudo_random_bytes(len, 5);
        let (f, acc) = match shape.op {
            // Values across [-10, 10] with many exact ties at scale 0.08.
            ElemOp::Quantize => (
                bytes.iter().map(|&b| (b as f32 - 128.0) * 0.078).collect(),
                vec![],
            ),
            ElemOp::Dequantize => (vec![0.0; len], vec![]),
            ElemOp::Requantize => (
                vec![],
                pseudo_random_bytes(4 * len, 6)
                    .chunks_exact(4)
                    .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) >> 12)
                    .collect(),
            ),
        };
        let q = match shape.op {
            ElemOp::Dequantize => bytes,
            _ => vec![0; len],
        };
        let scales = (0..REQUANT_CHANNELS)
            .map(|j| 1.0 / (2048.0 + j as f32))
            .collect();
        ElemRun {
            engine,
            shape,
            f,
            q,
            acc,
            scales,
        }
    }

    /// One call.
    pub fn run(&mut self) {
        let len = self.shape.len();
        let p = QuantParams::<u8>::new(0.08, 128).expect("valid parameters");
        let r = match self.shape.op {
            ElemOp::Quantize => self.engine.quantize(
                black_box(&self.f),
                &[len],
                &Granularity::PerTensor(p),
                &mut self.q,
            ),
            ElemOp::Dequantize => self.engine.dequantize(
                black_box(&self.q),
                &[len],
                &Granularity::PerTensor(p),
                &mut self.f,
            ),
            ElemOp::Requantize => {
                let rows = len / REQUANT_CHANNELS;
                let stage = OutputStage::quantized(
                    Requantization::Fp32(PerChannel::Channel(&self.scales)),
                    128,
                );
                self.engine.requantize(
                    Matrix::new(black_box(&self.acc), rows, REQUANT_CHANNELS),
                    &stage,
                    MatrixMut::new(&mut self.q, rows, REQUANT_CHANNELS),
                )
            }
        };
        r.expect("benchmark element-wise arguments are valid");
        black_box((&mut self.q, &mut self.f));
    }
}

/// The engine that runs variant `v`: its ISA forced through [`Engine::with_isa`].
/// `Err` says why it cannot be measured (not available on this CPU, or the engine for
/// that ISA picks another kernel of the same operation).
pub fn engine_for(v: &Variant) -> Result<Engine, String> {
    if !v.available {
        return Err(format!(
            "CPU lacks {}",
            v.isa.missing_feature().unwrap_or("the ISA")
        ));
    }
    let e = Engine::with_isa(v.isa).map_err(|e| e.to_string())?;
    let chosen = match v.op {
        OpKind::Gemm => e.gemm_kernel().name,
        OpKind::Elementwise => e.elementwise_kernels().name,
        OpKind::Depthwise => e.depthwise_kernel().name,
        OpKind::Ops => e.ops_kernels().name,
    };
    if chosen != v.name {
        return Err(format!(
            "Engine::with_isa({}) runs {chosen} instead (only the best kernel per ISA is reachable)",
            v.isa
        ));
    }
    Ok(e)
}

/// One layer benchmark, set up once: Conv2d 3×3 64 → 64 on 1×56×56×64 (padding 1), the
/// depthwise 3×3 on 1×56×56×128 (padding 1), or Linear M×K → N; all u8 → u8 with Fp32
/// requantization, weights from a fixed pattern.
pub struct LayerRun {
    kind: LayerKind,
    x: Vec<u8>,
    y: Vec<u8>,
    /// Operations per call (2 per multiply-add).
    pub ops: u64,
    /// Input bytes per call.
    pub input_bytes: u64,
}

enum LayerKind {
    Conv {
        conv: zeropoint::Conv2d,
        sq: zeropoint::layers::StaticQuant<u8, u8>,
        shape: zeropoint::layers::Nhwc,
    },
    Linear {
        lin: zeropoint::Linear,
        sq: zeropoint::layers::StaticQuant<u8, u8>,
        m: usize,
        k: usize,
        n: usize,
    },
}

fn pattern_f32(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect()
}

fn pattern_u8(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

impl LayerRun {
    /// The Conv2d (or, with `depthwise`, the depthwise) benchmark on `engine`.
    pub fn conv(engine: Engine, depthwise: bool) -> zeropoint::Result<LayerRun> {
        use zeropoint::layers::Nhwc;
        use zeropoint::{Activation, Conv2d, Conv2dGeometry, QuantParams, RequantScheme};
        let ch = if depthwise { 128 } else { 64 };
        let g = Conv2dGeometry::new(3, 3).with_padding([1; 4]);
        let (g, wlen) = if depthwise {
            (g.with_groups(ch), 9 * ch)
        } else {
            (g, ch * 9 * ch)
        };
        let wq = zeropoint::WeightQuantization::default();
        let conv = Conv2d::new(&engine, ch, ch, g, &pattern_f32(wlen), None, wq)?;
        let p = QuantParams::<u8>::new(0.05, 128)?;
        let out = if depthwise {
            p
        } else {
            QuantParams::new(1.0, 128u8)?
        };
        let sq = conv.static_quant(p, out, RequantScheme::Fp32, Activation::None)?;
        let shape = Nhwc::new(1, 56, 56, ch);
        let macs = if depthwise {
            56 * 56 * ch * 9
        } else {
            56 * 56 * ch * 9 * ch
        };
        Ok(LayerRun {
            kind: LayerKind::Conv { conv, sq, shape },
            x: pattern_u8(56 * 56 * ch),
            y: vec![0; 56 * 56 * ch],
            ops: 2 * macs as u64,
            input_bytes: (56 * 56 * ch) as u64,
        })
    }

    /// The Linear benchmark (`m` rows, `k` → `n` features) on `engine`.
    pub fn linear(engine: Engine, m: usize, k: usize, n: usize) -> zeropoint::Result<LayerRun> {
        use zeropoint::{Activation, Linear, QuantParams, RequantScheme};
        let wq = zeropoint::WeightQuantization::default();
        let lin = Linear::new(&engine, &pattern_f32(n * k), None, n, k, wq)?;
        let sq = lin.static_quant(
            QuantParams::<u8>::new(0.05, 128)?,
            QuantParams::new(2.0, 128u8)?,
            RequantScheme::Fp32,
            Activation::None,
        )?;
        Ok(LayerRun {
            kind: LayerKind::Linear { lin, sq, m, k, n },
            x: pattern_u8(m * k),
            y: vec![0; m * n],
            ops: 2 * (m * k * n) as u64,
            input_bytes: (m * k) as u64,
        })
    }

    /// One forward pass.
    pub fn run(&mut self) {
        let r = match &self.kind {
            LayerKind::Conv { conv, sq, shape } => conv.forward(sq, &self.x, *shape, &mut self.y),
            LayerKind::Linear { lin, sq, m, k, n } => lin.forward(
                sq,
                zeropoint::Matrix::new(&self.x, *m, *k),
                zeropoint::MatrixMut::new(&mut self.y, *m, *n),
            ),
        };
        r.expect("the benchmark layer's inputs are valid");
        std::hint::black_box(&self.y);
    }
}

/// Depths of the microkernel-alone rows (`tile_l1`).
pub const TILE_KS: &[usize] = &[512, 1024];

/// The shape label of a `tile_l1` row: `MRxNRxK`.
pub fn tile_label(kernel: &GemmKernel, k: usize) -> String {
    format!("{}x{}x{k}", kernel.mr, kernel.nr)
}

/// Tiles per [`TileRun::run`] call.
const TILE_CALLS: usize = 64;

/// 64-byte aligned bytes (packed operands: the kernels' vector and tile loads must not
/// split cache lines).
struct Aligned {
    buf: Vec<u8>,
    at: usize,
}

impl Aligned {
    fn zeroed(len: usize) -> Self {
        let buf = vec![0u8; len + 64];
        let at = buf.as_ptr().align_offset(64);
        Aligned { buf, at }
    }

    fn as_ptr(&self) -> *const u8 {
        self.buf[self.at..].as_ptr()
    }

    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.buf[self.at..].as_mut_ptr()
    }
}

/// The GEMM microkernel of one table alone: [`TILE_CALLS`] full tiles (`MR` rows × one
/// panel of `NR` columns, depth K) per run, on the same packed B panel and A rows (packed
/// the kernel's way when it reads A packed), u8 output through an Fp32 per-channel stage
/// with bias and zero point 128, as the GEMM rows. Nothing but the tile function runs.
pub struct TileRun {
    kernel: &'static GemmKernel,
    k: usize,
    a: Aligned,
    a_packed: bool,
    rowsum: Vec<i32>,
    b: Aligned,
    zb: Vec<i32>,
    colcorr: Vec<i32>,
    scales: Vec<f32>,
    bias: Vec<i32>,
    out: Vec<u8>,
}

impl TileRun {
    /// Packs one panel of pseudo-random weights and `MR` rows of A for `engine`'s GEMM
    /// kernel, depth `k` (≥ 1).
    pub fn new(engine: &Engine, k: usize) -> Self {
        let kernel = engine.gemm_kernel();
        let (mr, nr) = (kernel.mr, kernel.nr);
        let w = pseudo_random_bytes(k * nr, 11);
        let mut b = Aligned::zeroed(kernel.packed_len(k, nr));
        let mut colsum = vec![0i32; nr];
        let args = PackArgs {
            src: w.as_ptr(),
            k_stride: nr,
            n_stride: 1,
            k,
            n: nr,
            xor: 0,
            dst: b.as_mut_ptr() as *mut i8,
            colsum: colsum.as_mut_ptr(),
        };
        // The engine holds only kernels whose ISA the CPU supports; `w` is K×NR dense,
        // `b` holds the packed length of that shape and `colsum` NR entries.
        // SAFETY: the conditions stated just above hold.
        unsafe { (kernel.pack)(&args) };
        let rows = pseudo_random_bytes(mr * k, 13);
        let mut rowsum = vec![0i32; mr];
        let (a, a_packed) = match kernel.pack_a {
            Some(ap) => {
                let mut a = Aligned::zeroed((ap.tile_bytes)(k));
                let args = PackAArgs {
                    src: rows.as_ptr(),
                    stride: k,
                    xor: 0,
                    m: mr,
                    k,
                    mr,
                    dst: a.as_mut_ptr(),
                    rowsum: rowsum.as_mut_ptr(),
                };
                // The CPU supports the kernel's ISA (as above); `rows` holds MR rows of K
                // bytes, `a` one packed tile and `rowsum` MR entries.
                // SAFETY: the conditions stated just above hold.
                unsafe { (ap.pack)(&args) };
                (a, true)
            }
            None => {
                let mut a = Aligned::zeroed(mr * k);
                // SAFETY: `a` holds mr·k bytes from its aligned start; `rows` as many.
                unsafe { core::ptr::copy_nonoverlapping(rows.as_ptr(), a.as_mut_ptr(), mr * k) };
                (a, false)
            }
        };
        let zb = vec![0i32; nr];
        let colcorr = colsum.iter().map(|&s| s.wrapping_neg()).collect();
        TileRun {
            kernel,
            k,
            a,
            a_packed,
            rowsum,
            b,
            zb,
            colcorr,
            scales: (0..nr).map(|j| 1e-4 * (1.0 + j as f32 / 64.0)).collect(),
            bias: (0..nr as i32).map(|j| 97 * j - 1500).collect(),
            out: vec![0; mr * nr],
        }
    }

    /// Multiply-adds × 2 per run.
    pub fn ops(&self) -> u64 {
        (2 * self.kernel.mr * self.kernel.nr * self.k * TILE_CALLS) as u64
    }

    /// The kernel's tile shape and depth, e.g. `12x32x1024`.
    pub fn label(&self) -> String {
        tile_label(self.kernel, self.k)
    }

    /// [`TILE_CALLS`] tiles.
    pub fn run(&mut self) {
        let nr = self.kernel.nr;
        let mut stage = zeropoint::kernels::OutputStage::i32_plain();
        stage.dst_type = DstType::U8;
        stage.scheme = Scheme::Fp32;
        stage.param_stride = 1;
        stage.scale = self.scales.as_ptr();
        stage.bias = self.bias.as_ptr();
        stage.zero_point = 128;
        stage.qmin = 0;
        stage.qmax = 255;
        let args = TileArgs {
            a: self.a.as_ptr(),
            a_stride: if self.a_packed { 0 } else { self.k },
            a_xor: 0,
            a_packed: self.a_packed,
            rowsum: if self.a_packed {
                self.rowsum.as_ptr()
            } else {
                core::ptr::null()
            },
            za: 128,
            m: self.kernel.mr,
            k: self.k,
            b: self.b.as_ptr() as *const i8,
            zb: self.zb.as_ptr(),
            zb_nonzero: false,
            colcorr: self.colcorr.as_ptr(),
            lane_begin: 0,
            lane_end: nr,
            col0: 0,
            stage: &stage,
            dst: self.out.as_mut_ptr(),
            dst_stride: nr,
        };
        // A kernel with per-call state runs its tiles as the GEMM driver does, inside
        // one session.
        let tile = match self.kernel.session {
            // SAFETY: the CPU supports the kernel's ISA (the engine chose it); `end`
            // follows the tiles below.
            Some(s) => unsafe {
                (s.begin)();
                s.tile
            },
            None => self.kernel.tile,
        };
        for _ in 0..TILE_CALLS {
            // The CPU supports the kernel's ISA (the engine chose it), inside the
            // session if the kernel has one; A is MR rows of K bytes in place, or one
            // tile packed by the kernel's own packer with its row sums; B one panel
            // packed by the kernel's packer for depth K, with NR zero points and
            // corrections; the stage's per-channel arrays and the output hold NR
            // columns (× MR rows).
            // SAFETY: the conditions stated just above hold.
            unsafe { tile(black_box(&args)) };
        }
        if let Some(s) = self.kernel.session {
            // SAFETY: `begin` ran above on this thread.
            unsafe { (s.end)() };
        }
        black_box(&mut self.out);
    }
}
