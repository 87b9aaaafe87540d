//! Helpers shared by the integration tests: an owned description of a GEMM (operands,
//! zero points, layout, strides) and of an output stage, and runners that push them
//! through the public API. Expected values are computed by each test file itself.
#![allow(dead_code)]

use core::ops::Range;

use zeropoint::kernels::scalar::reference::Int8;
use zeropoint::{
    Engine, Matrix, MatrixMut, OutType, OutputStage, PackedWeights, PerChannel, QType,
    QuantizedMultiplier, Requantization, Result, WeightLayout,
};

/// A storage type usable as A, B and requantized output.
pub trait Code: QType + Int8 + OutType {
    /// The code whose byte is `b` (u8: `b`; i8: `b as i8`).
    fn from_byte(b: u8) -> Self;
}
impl Code for u8 {
    fn from_byte(b: u8) -> u8 {
        b
    }
}
impl Code for i8 {
    fn from_byte(b: u8) -> i8 {
        b as i8
    }
}

/// An output element type, with a sentinel to detect writes and a lossless i64 view
/// (f32 as its bit pattern).
pub trait OutVal: OutType {
    const SENTINEL: Self;
    fn to_i64(self) -> i64;
}
impl OutVal for u8 {
    const SENTINEL: u8 = 0xA5;
    fn to_i64(self) -> i64 {
        self as i64
    }
}
impl OutVal for i8 {
    const SENTINEL: i8 = -91;
    fn to_i64(self) -> i64 {
        self as i64
    }
}
impl OutVal for i32 {
    const SENTINEL: i32 = 0x5A5A_5A5A;
    fn to_i64(self) -> i64 {
        self as i64
    }
}
impl OutVal for f32 {
    const SENTINEL: f32 = -7.25e-3;
    fn to_i64(self) -> i64 {
        self.to_bits() as i64
    }
}

/// SplitMix64, for deterministic data without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }
    /// A byte, one in three an extreme (0x00, 0x7f, 0x80, 0xff: 0/127/128/255 as u8,
    /// 0/127/−128/−1 as i8).
    pub fn byte(&mut self) -> u8 {
        let r = self.next_u64();
        if r.is_multiple_of(3) {
            [0x00, 0x7f, 0x80, 0xff][(r >> 8) as usize % 4]
        } else {
            (r >> 16) as u8
        }
    }
    /// A value of `lo..=hi`, often an end (or 0 when inside).
    pub fn point(&mut self, lo: i32, hi: i32) -> i32 {
        match self.next_u64() % 4 {
            0 => lo,
            1 => hi,
            2 => 0.clamp(lo, hi),
            _ => self.range(lo as i64, hi as i64) as i32,
        }
    }
}

/// The range of an 8-bit type.
/// A command that runs `exe` (a binary built for this test's target) the way cargo runs
/// this test: through the target's runner from `CARGO_TARGET_<TRIPLE>_RUNNER` when set
/// (CI's qemu lanes: `qemu-x86_64 -cpu Haswell`, `qemu-aarch64 -cpu max`, …), so that a
/// child process sees the same emulated CPU as its parent.
#[allow(dead_code)]
pub fn target_command(exe: &std::path::Path) -> std::process::Command {
    let var = if cfg!(target_arch = "x86_64") {
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER"
    } else {
        "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER"
    };
    match std::env::var(var) {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut parts = runner.split_whitespace();
            let mut cmd = std::process::Command::new(parts.next().expect("non-empty runner"));
            cmd.args(parts).arg(exe);
            cmd
        }
        _ => std::process::Command::new(exe),
    }
}

pub fn type_range(signed: bool) -> (i32, i32) {
    if signed {
        (-128, 127)
    } else {
        (0, 255)
    }
}

/// One GEMM's operands, in the caller's domain. B is stored K×N or N×K with a stride.
#[derive(Clone, Debug)]
pub struct GemmInput {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_signed: bool,
    pub b_signed: bool,
    pub nxk: bool,
    /// Elements between rows of A (`>= k`).
    pub a_stride: usize,
    /// Elements between rows of B as stored (`>= k` for N×K, `>= n` for K×N).
    pub b_stride: usize,
    /// A's bytes (`m·a_stride`), read as i8 when `a_signed`.
    pub a: Vec<u8>,
    /// B's bytes (`rows·b_stride`), read as i8 when `b_signed`.
    pub b: Vec<u8>,
    /// A's zero point, in A's type range.
    pub za: i32,
    /// B's zero points (N values; only `zb[0]` is used when not per channel).
    pub zb: Vec<i32>,
    pub zb_per_channel: bool,
}

impl GemmInput {
    /// Rows of B as stored.
    pub fn b_rows(&self) -> usize {
        if self.nxk {
            self.n
        } else {
            self.k
        }
    }
    /// Columns of B as stored.
    pub fn b_cols(&self) -> usize {
        if self.nxk {
            self.k
        } else {
            self.n
        }
    }
    /// `A[i][kk]` as an integer.
    pub fn a_at(&self, i: usize, kk: usize) -> i32 {
        let byte = self.a[i * self.a_stride + kk];
        if self.a_signed {
            byte as i8 as i32
        } else {
            byte as i32
        }
    }
    /// `B[kk][j]` as an integer.
    pub fn b_at(&self, kk: usize, j: usize) -> i32 {
        let idx = if self.nxk {
            j * self.b_stride + kk
        } else {
            kk * self.b_stride + j
        };
        let byte = self.b[idx];
        if self.b_signed {
            byte as i8 as i32
        } else {
            byte as i32
        }
    }
    /// B's zero point of column `j`.
    pub fn zb_at(&self, j: usize) -> i32 {
        if self.zb_per_channel {
            self.zb[j]
        } else {
            self.zb[0]
        }
    }
    /// The column zero points, N values.
    pub fn zb_full(&self) -> Vec<i32> {
        (0..self.n).map(|j| self.zb_at(j)).collect()
    }
    pub fn layout(&self) -> WeightLayout {
        if self.nxk {
            WeightLayout::NxK
        } else {
            WeightLayout::KxN
        }
    }
    /// A short description for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "M×N×K={}×{}×{} A={} B={} {:?} a_stride={} b_stride={} za={} zb={}",
            self.m,
            self.n,
            self.k,
            if self.a_signed { "i8" } else { "u8" },
            if self.b_signed { "i8" } else { "u8" },
            self.layout(),
            self.a_stride,
            self.b_stride,
            self.za,
            if self.zb_per_channel {
                format!("{:?}", self.zb)
            } else {
                format!("{}", self.zb[0])
            }
        )
    }

    /// A random input; `mode` 0/1: random bytes biased to the extremes and zero points
    /// often at the ends; 2: every product `−255·255` (maximal negative); 3: every product
    /// `+255·255`; 4: each element at one end of its type at random.
    #[allow(clippy::too_many_arguments)]
    pub fn random(
        rng: &mut Rng,
        m: usize,
        n: usize,
        k: usize,
        a_signed: bool,
        b_signed: bool,
        nxk: bool,
        mode: u32,
    ) -> GemmInput {
        let a_stride = k + rng.range(0, 3) as usize;
        let b_rows = if nxk { n } else { k };
        let b_stride = if nxk { k } else { n } + rng.range(0, 2) as usize;
        let a: Vec<u8> = (0..m * a_stride).map(|_| rng.byte()).collect();
        let b: Vec<u8> = (0..b_rows * b_stride).map(|_| rng.byte()).collect();
        let (alo, ahi) = type_range(a_signed);
        let (blo, bhi) = type_range(b_signed);
        let zb_per_channel = rng.next_u64().is_multiple_of(2);
        let za = rng.point(alo, ahi);
        let zb = if zb_per_channel {
            (0..n).map(|_| rng.point(blo, bhi)).collect()
        } else {
            vec![rng.point(blo, bhi); n.max(1)]
        };
        let mut inp = GemmInput {
            m,
            n,
            k,
            a_signed,
            b_signed,
            nxk,
            a_stride,
            b_stride,
            a,
            b,
            za,
            zb,
            zb_per_channel,
        };
        inp.apply_mode(mode, rng.next_u64());
        inp
    }

    /// Overrides the values for the extreme modes (see [`GemmInput::random`]).
    pub fn apply_mode(&mut self, mode: u32, seed: u64) {
        let (alo, ahi) = type_range(self.a_signed);
        let (blo, bhi) = type_range(self.b_signed);
        let mut rng = Rng(seed);
        match mode {
            2 | 3 => {
                self.a.iter_mut().for_each(|x| *x = ahi as u8);
                self.za = alo;
                let (bv, zv) = if mode == 2 { (blo, bhi) } else { (bhi, blo) };
                self.b.iter_mut().for_each(|x| *x = bv as u8);
                self.zb.iter_mut().for_each(|z| *z = zv);
            }
            4 => {
                self.a.iter_mut().for_each(|x| {
                    *x = if rng.next_u64().is_multiple_of(2) {
                        alo
                    } else {
                        ahi
                    } as u8
                });
                self.b.iter_mut().for_each(|x| {
                    *x = if rng.next_u64().is_multiple_of(2) {
                        blo
                    } else {
                        bhi
                    } as u8
                });
                self.za = if rng.next_u64().is_multiple_of(2) {
                    alo
                } else {
                    ahi
                };
                let zv = if rng.next_u64().is_multiple_of(2) {
                    blo
                } else {
                    bhi
                };
                self.zb.iter_mut().for_each(|z| *z = zv);
            }
            _ => {}
        }
    }

    fn typed<T: Code>(bytes: &[u8]) -> Vec<T> {
        bytes.iter().map(|&b| T::from_byte(b)).collect()
    }

    /// Packs B with `engine`.
    pub fn pack(&self, engine: &Engine) -> Result<PackedWeights> {
        if self.b_signed {
            self.pack_as::<i8>(engine)
        } else {
            self.pack_as::<u8>(engine)
        }
    }

    fn pack_as<B: Code>(&self, engine: &Engine) -> Result<PackedWeights> {
        let b: Vec<B> = Self::typed(&self.b);
        let zb: Vec<B> = self.zb.iter().map(|&z| B::from_byte(z as u8)).collect();
        let zp = if self.zb_per_channel {
            PerChannel::Channel(&zb[..])
        } else {
            PerChannel::Tensor(zb[0])
        };
        let mat = Matrix::with_stride(&b, self.b_rows(), self.b_cols(), self.b_stride);
        engine.pack_weights(mat, self.layout(), zp)
    }

    /// Runs the whole GEMM through `Engine::gemm` (when `engine` is given) or the free
    /// `gemm`; see [`GemmInput::run`].
    pub fn run_full(
        &self,
        engine: Option<&Engine>,
        packed: &PackedWeights,
        stage: &StageDesc,
    ) -> Result<Vec<i64>> {
        self.run(engine, packed, stage, None)
    }

    /// Runs the block `rows × cols` (or, for `None`, the whole output through `gemm`)
    /// through the public API (`Engine::gemm_range` / `Engine::gemm` when `engine` is
    /// given, else the free functions) and returns it row-major as i64 (f32 as bits).
    /// The destination has a gap after each row, checked untouched.
    pub fn run(
        &self,
        engine: Option<&Engine>,
        packed: &PackedWeights,
        stage: &StageDesc,
        block: Option<(Range<usize>, Range<usize>)>,
    ) -> Result<Vec<i64>> {
        if self.a_signed {
            self.run_a::<i8>(engine, packed, stage, block)
        } else {
            self.run_a::<u8>(engine, packed, stage, block)
        }
    }

    fn run_a<A: Code>(
        &self,
        engine: Option<&Engine>,
        packed: &PackedWeights,
        stage: &StageDesc,
        block: Option<(Range<usize>, Range<usize>)>,
    ) -> Result<Vec<i64>> {
        match stage.out {
            Out::I32 => self.run_ao::<A, i32>(engine, packed, stage, block),
            Out::Quant { signed: true, .. } => self.run_ao::<A, i8>(engine, packed, stage, block),
            Out::Quant { signed: false, .. } => self.run_ao::<A, u8>(engine, packed, stage, block),
            Out::F32 { .. } => self.run_ao::<A, f32>(engine, packed, stage, block),
        }
    }

    fn run_ao<A: Code, O: OutVal>(
        &self,
        engine: Option<&Engine>,
        packed: &PackedWeights,
        stage: &StageDesc,
        block: Option<(Range<usize>, Range<usize>)>,
    ) -> Result<Vec<i64>> {
        let full = block.is_none();
        let (rows, cols) = block.unwrap_or((0..self.m, 0..self.n));
        let a: Vec<A> = Self::typed(&self.a);
        let za = A::from_byte(self.za as u8);
        let am = Matrix::with_stride(&a, self.m, self.k, self.a_stride);
        let (h, w) = (rows.len(), cols.len());
        let gap = 2;
        let stride = w + gap;
        let mut out = vec![O::SENTINEL; h * stride];
        let om = MatrixMut::with_stride(&mut out, h, w, stride);
        let st = stage.stage();
        match (engine, full) {
            (Some(e), true) => e.gemm(am, za, packed, &st, om)?,
            (None, true) => zeropoint::gemm(am, za, packed, &st, om)?,
            (Some(e), false) => {
                e.gemm_range(am, za, packed, &st, rows.clone(), cols.clone(), om)?
            }
            (None, false) => {
                zeropoint::gemm_range(am, za, packed, &st, rows.clone(), cols.clone(), om)?
            }
        }
        let mut res = Vec::with_capacity(h * w);
        for r in 0..h {
            res.extend(out[r * stride..r * stride + w].iter().map(|v| v.to_i64()));
            for g in 0..gap {
                assert_eq!(
                    out[r * stride + w + g].to_i64(),
                    O::SENTINEL.to_i64(),
                    "{}: block {rows:?}×{cols:?} wrote into the gap after row {r}",
                    self.describe()
                );
            }
        }
        Ok(res)
    }
}

/// How u8/i8 output is requantized, with owned parameters (one value, or one per column).
#[derive(Clone, Debug)]
pub enum SchemeDesc {
    Fp32(Vec<f32>),
    Double(Vec<QuantizedMultiplier>),
    Single(Vec<QuantizedMultiplier>),
}

/// What is stored.
#[derive(Clone, Debug)]
pub enum Out {
    I32,
    Quant {
        scheme: SchemeDesc,
        zp: i32,
        clamp: Option<(i32, i32)>,
        signed: bool,
    },
    F32 {
        scales: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
}

/// An owned output stage.
#[derive(Clone, Debug)]
pub struct StageDesc {
    pub bias: Option<Vec<i32>>,
    pub out: Out,
    /// Per-column parameters (else element 0 of each parameter array).
    pub per_channel: bool,
}

fn pc<T: Copy>(v: &[T], per_channel: bool) -> PerChannel<'_, T> {
    if per_channel {
        PerChannel::Channel(v)
    } else {
        PerChannel::Tensor(v[0])
    }
}

/// The parameter of column `j`.
pub fn param<T: Copy>(v: &[T], per_channel: bool, j: usize) -> T {
    if per_channel {
        v[j]
    } else {
        v[0]
    }
}

impl StageDesc {
    pub fn i32(bias: Option<Vec<i32>>) -> Self {
        StageDesc {
            bias,
            out: Out::I32,
            per_channel: false,
        }
    }

    /// The public stage, borrowing from `self`.
    pub fn stage(&self) -> OutputStage<'_> {
        let mut s = match &self.out {
            Out::I32 => OutputStage::i32(),
            Out::Quant {
                scheme, zp, clamp, ..
            } => {
                let rq = match scheme {
                    SchemeDesc::Fp32(v) => Requantization::Fp32(pc(v, self.per_channel)),
                    SchemeDesc::Double(v) => {
                        Requantization::DoubleRounding(pc(v, self.per_channel))
                    }
                    SchemeDesc::Single(v) => {
                        Requantization::SingleRounding(pc(v, self.per_channel))
                    }
                };
                let s = OutputStage::quantized(rq, *zp);
                match clamp {
                    Some((lo, hi)) => s.with_clamp(*lo, *hi),
                    None => s,
                }
            }
            Out::F32 { scales, bias } => {
                OutputStage::f32(pc(scales, self.per_channel), bias.as_deref())
            }
        };
        if let Some(b) = &self.bias {
            s = s.with_bias(b);
        }
        s
    }

    /// The clamp bounds of quantized output.
    pub fn bounds(&self) -> (i32, i32) {
        match &self.out {
            Out::Quant { clamp, signed, .. } => clamp.unwrap_or(type_range(*signed)),
            _ => (0, 0),
        }
    }

    /// Renders an output value (i64 view) for messages.
    pub fn show(&self, v: i64) -> String {
        match self.out {
            Out::F32 { .. } => {
                let f = f32::from_bits(v as u32);
                format!("{f:e} ({:#010x})", v as u32)
            }
            _ => format!("{v}"),
        }
    }

    /// A short description for failure messages.
    pub fn describe(&self) -> String {
        let kind = match &self.out {
            Out::I32 => "i32".to_string(),
            Out::Quant {
                scheme,
                zp,
                clamp,
                signed,
            } => {
                let s = match scheme {
                    SchemeDesc::Fp32(_) => "fp32",
                    SchemeDesc::Double(_) => "double-rounding",
                    SchemeDesc::Single(_) => "single-rounding",
                };
                format!(
                    "{} {s} zp={zp} clamp={clamp:?}",
                    if *signed { "i8" } else { "u8" }
                )
            }
            Out::F32 { bias, .. } => format!("f32 bias={}", bias.is_some()),
        };
        format!(
            "stage {kind} per_channel={} i32_bias={}",
            self.per_channel,
            self.bias.is_some()
        )
    }

    /// A random stage of kind `kind` (0..9: i32, i32+bias, u8/i8 × fp32/double/single,
    /// f32, f32+bias) for `n` columns, parameters across their full ranges.
    pub fn random(rng: &mut Rng, kind: usize, n: usize, per_channel: bool) -> StageDesc {
        let cnt = if per_channel { n } else { 1 };
        let bias = |rng: &mut Rng| -> Vec<i32> {
            (0..n)
                .map(|_| match rng.next_u64() % 4 {
                    0 => i32::MIN,
                    1 => i32::MAX,
                    _ => (rng.next_u64() as i32) >> rng.range(0, 31),
                })
                .collect()
        };
        let scale = |rng: &mut Rng| -> f32 {
            match rng.next_u64() % 8 {
                0 => 1.0,
                1 => f32::MIN_POSITIVE,
                2 => 3.0e38,
                _ => {
                    (1.0 + (rng.next_u64() % 4096) as f32 / 4096.0)
                        * 2f32.powi(rng.range(-34, 6) as i32)
                }
            }
        };
        let mult = |rng: &mut Rng| -> QuantizedMultiplier {
            let m0 = match rng.next_u64() % 4 {
                0 => 1 << 30,
                1 => i32::MAX,
                _ => rng.range(1 << 30, i32::MAX as i64) as i32,
            };
            let shift = match rng.next_u64() % 4 {
                0 => -31,
                1 => 30,
                _ => rng.range(-31, 30) as i32,
            };
            QuantizedMultiplier { m0, shift }
        };
        let with_bias = rng.next_u64().is_multiple_of(2);
        let out = match kind % 9 {
            0 => Out::I32,
            1 => {
                return StageDesc {
                    bias: Some(bias(rng)),
                    out: Out::I32,
                    per_channel,
                }
            }
            2..=7 => {
                let signed = kind % 2 == 1;
                let (lo, hi) = type_range(signed);
                let scheme = match (kind - 2) / 2 {
                    0 => SchemeDesc::Fp32((0..cnt).map(|_| scale(rng)).collect()),
                    1 => SchemeDesc::Double((0..cnt).map(|_| mult(rng)).collect()),
                    _ => SchemeDesc::Single((0..cnt).map(|_| mult(rng)).collect()),
                };
                let clamp = if rng.next_u64().is_multiple_of(3) {
                    let x = rng.point(lo, hi);
                    let y = rng.point(lo, hi);
                    Some((x.min(y), x.max(y)))
                } else {
                    None
                };
                Out::Quant {
                    scheme,
                    zp: rng.point(lo, hi),
                    clamp,
                    signed,
                }
            }
            _ => Out::F32 {
                scales: (0..cnt).map(|_| scale(rng)).collect(),
                bias: (rng.next_u64().is_multiple_of(2)).then(|| {
                    (0..n)
                        .map(|_| rng.range(-100_000, 100_000) as f32 * 0.37)
                        .collect()
                }),
            },
        };
        StageDesc {
            bias: with_bias.then(|| bias(rng)),
            out,
            per_channel,
        }
    }
}

/// The index of the first element where `got` and `want` differ.
pub fn first_diff<T: PartialEq>(got: &[T], want: &[T]) -> Option<usize> {
    got.iter().zip(want).position(|(g, w)| g != w)
}

/// Independent models of the element-wise definitions, in binary64 (see
/// `reference_model.rs` for why binary64-then-binary32 equals the binary32 operation).
pub mod model {
    /// Round to nearest, ties to even (values of magnitude ≥ 2^52, infinities and NaN
    /// are returned as they are).
    pub fn rhe(y: f64) -> f64 {
        if !y.is_finite() || y.abs() >= 4_503_599_627_370_496.0 {
            return y;
        }
        let f = y.floor();
        let d = y - f; // exact
        if d > 0.5 || (d == 0.5 && f % 2.0 != 0.0) {
            f + 1.0
        } else {
            f
        }
    }

    /// `saturate(round_half_even(x / scale) + zp)`; NaN gives `zp`.
    pub fn quantize(x: f32, scale: f32, zp: i32, qmin: i32, qmax: i32) -> i32 {
        if x.is_nan() {
            return zp;
        }
        let y = ((x as f64) / (scale as f64)) as f32 as f64;
        (rhe(y) + zp as f64).clamp(qmin as f64, qmax as f64) as i32
    }

    /// `f32(q − zp) · scale`.
    pub fn dequantize(q: i32, zp: i32, scale: f32) -> f32 {
        ((q as i64 - zp as i64) as f64 * scale as f64) as f32
    }

    /// The next f32 toward +∞ / −∞ (finite inputs).
    pub fn next_up(x: f32) -> f32 {
        if x == 0.0 {
            return f32::from_bits(1);
        }
        let b = x.to_bits();
        f32::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
    }

    pub fn next_down(x: f32) -> f32 {
        -next_up(-x)
    }
}
