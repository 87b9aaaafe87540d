//! Quantized layers built on the GEMM and the output stage (SPEC.md, "Layers").
//!
//! The integer-only pipeline of a quantized layer, done once here so that engines need
//! not write the algebra themselves:
//!
//! ```text
//! weights  q_W = quantize(W)        per output channel (default) or per tensor, i8
//! bias     q_b = round(b / (S_W·S_X))   i32, zero point 0
//! forward  acc = Σ (q_X − Z_X)(q_W − Z_W)   + q_b      (i32; the Z terms are folded by
//!                                                       the packed weights' correction)
//!          q_Y = clamp(requantize(acc, M = S_W·S_X/S_Y) + Z_Y)   (fused ReLU / ReLU6)
//! ```
//!
//! - [`Linear`]: fully connected, integer-only static forward and a dynamic f32 → f32
//!   forward.
//! - [`Conv2d`]: NHWC convolution with kernel size, stride, padding, dilation and groups
//!   (bounded im2col blocks through the GEMM; depthwise through the engine's depthwise
//!   kernel). [`Conv2d::forward_range`] computes any range of output pixels with a
//!   caller-owned [`ConvScratch`], so an engine can split a convolution over its own
//!   threads (`forward_par` with the `rayon` feature).
//! - [`Engine::add`](crate::Engine::add) (ONNX QLinearAdd with numpy broadcasting,
//!   [`QTensor`], [`broadcast_shape`]), [`Engine::global_avg_pool`](crate::Engine::global_avg_pool),
//!   [`Engine::max_pool`](crate::Engine::max_pool): on the engine's add and pooling
//!   kernels (scalar, AVX2, AVX-512BW, NEON); [`add`], [`add_broadcast`],
//!   [`global_avg_pool`], [`max_pool`] run them on [`Engine::global`](crate::Engine::global).
//! - [`MinMaxObserver`], [`MovingAverageMinMaxObserver`]: calibration.
//!
//! Layers keep the [`Engine`](crate::Engine) they were built with; the results are identical bit for
//! bit on every engine.

mod conv;
mod depthwise;
mod linear;
mod observer;
mod ops;

pub use conv::{Conv2d, Conv2dGeometry, ConvScratch};
pub use linear::{DynamicScratch, Linear};
pub use observer::{MinMaxObserver, MovingAverageMinMaxObserver};
pub use ops::{add, add_broadcast, broadcast_shape, global_avg_pool, max_pool, Pool2d, QTensor};

use core::marker::PhantomData;
use core::ops::Range;

use crate::params::check_scale;
use crate::{
    quantize_multiplier, Error, OutType, Output, OutputStage, PerChannel, QType, QuantParams,
    QuantizedMultiplier, Requantization, Result, SymmetricRange,
};

/// The shape of an NHWC tensor (batch, height, width, channels), stored row-major with
/// the channel fastest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nhwc {
    /// Batch.
    pub n: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
    /// Channels.
    pub c: usize,
}

impl Nhwc {
    /// A shape.
    pub fn new(n: usize, h: usize, w: usize, c: usize) -> Self {
        Nhwc { n, h, w, c }
    }

    /// Number of elements, or a shape error on overflow.
    pub fn numel(&self) -> Result<usize> {
        self.n
            .checked_mul(self.h)
            .and_then(|v| v.checked_mul(self.w))
            .and_then(|v| v.checked_mul(self.c))
            .ok_or_else(|| Error::Shape(format!("{self:?} overflows usize")))
    }
}

/// Checks that a buffer holds exactly the elements of `shape`.
pub(crate) fn check_tensor(what: &str, len: usize, shape: Nhwc) -> Result<()> {
    let numel = shape.numel()?;
    if len != numel {
        return Err(Error::Shape(format!(
            "{what} has {len} elements but its shape {}×{}×{}×{} needs {numel}",
            shape.n, shape.h, shape.w, shape.c
        )));
    }
    Ok(())
}

/// How f32 weights are quantized to i8, one set of parameters per output channel or one
/// for the whole tensor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WeightQuantization {
    /// Per output channel, symmetric ([`SymmetricRange::Restricted`]: `[−127, 127]`,
    /// zero point 0, `S = absmax / 127`). The default.
    #[default]
    PerChannelSymmetric,
    /// One symmetric scale for the tensor.
    PerTensorSymmetric,
    /// Per output channel, asymmetric ([`QuantParams::from_range`], zero point per
    /// channel, folded by the GEMM's packed correction).
    PerChannelAsymmetric,
    /// One asymmetric scale and zero point for the tensor.
    PerTensorAsymmetric,
}

/// How the i32 accumulators are requantized in a static forward (the schemes of
/// [`Requantization`], with the multipliers computed by the layer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RequantScheme {
    /// [`Requantization::Fp32`] with `scale_j = f32(S_W[j]·S_X/S_Y)` (computed in f64).
    #[default]
    Fp32,
    /// [`Requantization::DoubleRounding`] with [`quantize_multiplier`]`(S_W[j]·S_X/S_Y)`.
    DoubleRounding,
    /// [`Requantization::SingleRounding`] with [`quantize_multiplier`]`(S_W[j]·S_X/S_Y)`.
    SingleRounding,
}

/// An activation fused into the output clamp.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activation {
    /// No activation: clamp to the output type's range.
    #[default]
    None,
    /// ReLU: clamp to `[Z_Y, max]`.
    Relu,
    /// ReLU6: clamp to `[Z_Y, q_Y(6.0)]`.
    Relu6,
}

/// Quantized weights: N rows of K codes, with N scales and zero points.
#[derive(Clone, Debug)]
pub(crate) struct QWeights {
    pub q: Vec<i8>,
    pub scales: Vec<f32>,
    pub zero_points: Vec<i8>,
}

/// Quantizes `n × k` f32 weights (row = output channel) to i8.
pub(crate) fn quantize_weights(
    w: &[f32],
    n: usize,
    k: usize,
    scheme: WeightQuantization,
) -> Result<QWeights> {
    let numel = n
        .checked_mul(k)
        .ok_or_else(|| Error::Shape(format!("weights {n}×{k} overflow usize")))?;
    if w.len() != numel {
        return Err(Error::Shape(format!(
            "weights have {} values for {n} output channels × {k}",
            w.len()
        )));
    }
    if let Some(index) = w.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite {
            what: "weights",
            index,
        });
    }
    let params_of = |vals: &[f32]| -> Result<QuantParams<i8>> {
        let (lo, hi) = vals
            .iter()
            .fold((0.0f32, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        match scheme {
            WeightQuantization::PerChannelSymmetric | WeightQuantization::PerTensorSymmetric => {
                QuantParams::symmetric(hi.max(-lo), SymmetricRange::Restricted)
            }
            _ => QuantParams::from_range(lo, hi),
        }
    };
    let per_channel = matches!(
        scheme,
        WeightQuantization::PerChannelSymmetric | WeightQuantization::PerChannelAsymmetric
    );
    let tensor = if per_channel {
        None
    } else {
        Some(params_of(w)?)
    };
    let mut q = vec![0i8; numel];
    let mut scales = Vec::with_capacity(n);
    let mut zero_points = Vec::with_capacity(n);
    for j in 0..n {
        let row = &w[j * k..(j + 1) * k];
        let p = match tensor {
            Some(p) => p,
            None => params_of(row)?,
        };
        for (d, &v) in q[j * k..(j + 1) * k].iter_mut().zip(row) {
            *d = p.quantize(v);
        }
        scales.push(p.scale());
        zero_points.push(p.zero_point());
    }
    Ok(QWeights {
        q,
        scales,
        zero_points,
    })
}

/// Whether every zero point is the same (then the weights are packed per tensor).
pub(crate) fn zero_points_of(z: &[i8]) -> PerChannel<'_, i8> {
    match z {
        [first, rest @ ..] if rest.iter().all(|v| v == first) => PerChannel::Tensor(*first),
        _ => PerChannel::Channel(z),
    }
}

/// Quantizes an f32 bias with scale `s` (zero point 0): `round_half_even(b / s)` in f64,
/// which must fit in i32.
fn quantize_bias(b: f32, s: f32, index: usize) -> Result<i32> {
    let q = (b as f64 / s as f64).round_ties_even();
    if !(q >= i32::MIN as f64 && q <= i32::MAX as f64) {
        return Err(Error::Range {
            reason: format!("bias[{index}] = {b:e} with scale {s:e} does not fit in i32 ({q:e})"),
        });
    }
    Ok(q as i32)
}

/// The precomputed parameters of a static (integer-only) forward of one layer: the i32
/// bias quantized with `S_W[j]·S_X`, the requantization multipliers `S_W[j]·S_X/S_Y`,
/// the output zero point and the fused-activation clamp. Built by
/// [`Linear::static_quant`] or [`Conv2d::static_quant`] for given input and output
/// parameters; independent of the layer's weights otherwise, so one layer can serve
/// several calibrations.
#[derive(Clone, Debug)]
pub struct StaticQuant<X: QType, Y: QType> {
    input: QuantParams<X>,
    output: QuantParams<Y>,
    scheme: RequantScheme,
    bias: Vec<i32>,
    fp32: Vec<f32>,
    multipliers: Vec<QuantizedMultiplier>,
    clamp: (i32, i32),
    _y: PhantomData<Y>,
}

impl<X: QType, Y: QType + OutType> StaticQuant<X, Y> {
    /// Builds the parameters for output channels with weight scales `w_scales` and f32
    /// bias `bias` (same length, or `None` for zero).
    pub(crate) fn new(
        w_scales: &[f32],
        bias: &[f32],
        input: QuantParams<X>,
        output: QuantParams<Y>,
        scheme: RequantScheme,
        activation: Activation,
    ) -> Result<Self> {
        let n = w_scales.len();
        debug_assert_eq!(bias.len(), n);
        let (sx, sy) = (input.scale(), output.scale());
        let mut qbias = Vec::with_capacity(n);
        let mut fp32 = Vec::new();
        let mut multipliers = Vec::new();
        for (j, (&sw, &b)) in w_scales.iter().zip(bias).enumerate() {
            let bias_scale = sw * sx;
            check_scale("bias scale S_W·S_X", j, bias_scale)?;
            qbias.push(quantize_bias(b, bias_scale, j)?);
            let m = sw as f64 * sx as f64 / sy as f64;
            match scheme {
                RequantScheme::Fp32 => {
                    let s = m as f32;
                    check_scale("requantization scale S_W·S_X/S_Y", j, s)?;
                    fp32.push(s);
                }
                _ => multipliers.push(quantize_multiplier(m)?),
            }
        }
        let zy = output.zero_point().to_i32();
        let clamp = match activation {
            Activation::None => (Y::MIN, Y::MAX),
            Activation::Relu => (zy, Y::MAX),
            Activation::Relu6 => (zy, output.quantize(6.0).to_i32()),
        };
        Ok(StaticQuant {
            input,
            output,
            scheme,
            bias: qbias,
            fp32,
            multipliers,
            clamp,
            _y: PhantomData,
        })
    }

    /// The input parameters.
    pub fn input(&self) -> QuantParams<X> {
        self.input
    }

    /// The output parameters.
    pub fn output(&self) -> QuantParams<Y> {
        self.output
    }

    /// The quantized bias (scale `S_W[j]·S_X`, zero point 0).
    pub fn bias(&self) -> &[i32] {
        &self.bias
    }

    /// The clamp of the fused activation.
    pub fn clamp(&self) -> (i32, i32) {
        self.clamp
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.bias.len()
    }

    /// The output stage of every output channel (for [`Linear::forward_with_stage`] /
    /// [`Conv2d::forward_with_stage`] or a GEMM of one's own).
    pub fn stage(&self) -> OutputStage<'_> {
        let cols = 0..self.bias.len();
        let requant = match self.scheme {
            RequantScheme::Fp32 => {
                Requantization::Fp32(PerChannel::Channel(&self.fp32[cols.clone()]))
            }
            RequantScheme::DoubleRounding => {
                Requantization::DoubleRounding(PerChannel::Channel(&self.multipliers[cols.clone()]))
            }
            RequantScheme::SingleRounding => {
                Requantization::SingleRounding(PerChannel::Channel(&self.multipliers[cols.clone()]))
            }
        };
        OutputStage {
            bias: Some(&self.bias[cols]),
            output: Output::Quantized {
                requant,
                zero_point: self.output.zero_point().to_i32(),
            },
            clamp: Some(self.clamp),
        }
    }

    pub(crate) fn check_channels(&self, n: usize) -> Result<()> {
        if self.bias.len() != n {
            return Err(Error::Stage(format!(
                "static parameters for {} output channels used with a layer of {n}",
                self.bias.len()
            )));
        }
        Ok(())
    }
}

/// The output stage restricted to columns `cols` (per-channel parameters sliced).
pub(crate) fn slice_stage<'a>(stage: &OutputStage<'a>, cols: Range<usize>) -> OutputStage<'a> {
    fn pc<'a, T: Copy>(p: PerChannel<'a, T>, cols: &Range<usize>) -> PerChannel<'a, T> {
        match p {
            PerChannel::Channel(v) if v.len() >= cols.end => PerChannel::Channel(&v[cols.clone()]),
            other => other,
        }
    }
    let sl = |b: &'a [i32]| {
        if b.len() >= cols.end {
            &b[cols.clone()]
        } else {
            b
        }
    };
    let output = match stage.output {
        Output::I32 => Output::I32,
        Output::Quantized {
            requant,
            zero_point,
        } => Output::Quantized {
            requant: match requant {
                Requantization::Fp32(s) => Requantization::Fp32(pc(s, &cols)),
                Requantization::DoubleRounding(m) => Requantization::DoubleRounding(pc(m, &cols)),
                Requantization::SingleRounding(m) => Requantization::SingleRounding(pc(m, &cols)),
            },
            zero_point,
        },
        Output::F32 { scale, bias } => Output::F32 {
            scale: pc(scale, &cols),
            bias: bias.map(|b| {
                if b.len() >= cols.end {
                    &b[cols.clone()]
                } else {
                    b
                }
            }),
        },
    };
    OutputStage {
        bias: stage.bias.map(sl),
        output,
        clamp: stage.clamp,
    }
}
