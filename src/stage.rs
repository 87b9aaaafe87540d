//! The safe output stage: what a GEMM (or [`crate::requantize`]) does with each i32
//! accumulator before storing it (SPEC.md §5).

use core::marker::PhantomData;

use zeropoint_kernels::{DstType, QuantizedMultiplier, Scheme};

use crate::params::{check_multiplier, check_scale};
use crate::{Error, Result};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
    impl Sealed for i32 {}
    impl Sealed for f32 {}
}

/// An output element type: u8, i8 (requantized), i32 (accumulators), f32 (dequantized).
pub trait OutType:
    sealed::Sealed + Copy + Default + PartialEq + core::fmt::Debug + Send + Sync + 'static
{
    /// The kernels' name for the type.
    const DST: DstType;
    /// The integer range (u8/i8 only; others unused).
    const RANGE: (i32, i32);
}
impl OutType for u8 {
    const DST: DstType = DstType::U8;
    const RANGE: (i32, i32) = (0, 255);
}
impl OutType for i8 {
    const DST: DstType = DstType::I8;
    const RANGE: (i32, i32) = (-128, 127);
}
impl OutType for i32 {
    const DST: DstType = DstType::I32;
    const RANGE: (i32, i32) = (i32::MIN, i32::MAX);
}
impl OutType for f32 {
    const DST: DstType = DstType::F32;
    const RANGE: (i32, i32) = (0, 0);
}

/// A parameter given once for the whole tensor, or once per output channel (column).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PerChannel<'a, T> {
    /// One value for every column.
    Tensor(T),
    /// One value per column.
    Channel(&'a [T]),
}

impl<T: Copy> PerChannel<'_, T> {
    pub(crate) fn check_len(&self, what: &str, n: usize) -> Result<()> {
        match self {
            PerChannel::Channel(v) if v.len() != n => Err(Error::Stage(format!(
                "{what}: {} per-channel values for {n} output columns",
                v.len()
            ))),
            _ => Ok(()),
        }
    }

    pub(crate) fn values(&self) -> &[T] {
        match self {
            PerChannel::Tensor(v) => core::slice::from_ref(v),
            PerChannel::Channel(v) => v,
        }
    }

    pub(crate) fn stride(&self) -> usize {
        usize::from(matches!(self, PerChannel::Channel(_)))
    }
}

/// How i32 accumulators become u8/i8 (SPEC.md §5).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Requantization<'a> {
    /// `f32(acc) · scale`, clamp in float, round half to even, `+ zp` (ONNX
    /// QLinearMatMul, XNNPACK fp32, MLAS).
    Fp32(PerChannel<'a, f32>),
    /// gemmlowp / TFLite reference: SRDHM then RoundingDivideByPOT.
    DoubleRounding(PerChannel<'a, QuantizedMultiplier>),
    /// ruy / TFLite single rounding: `(acc·m0 + 2^(s−1)) >> s` in 64-bit.
    SingleRounding(PerChannel<'a, QuantizedMultiplier>),
}

/// What is stored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Output<'a> {
    /// The i32 accumulators (plus bias); output type i32.
    I32,
    /// Requantized to u8/i8: requantize, `+ zero_point`, clamp to
    /// [`OutputStage::clamp`].
    Quantized {
        /// The scheme and its parameters.
        requant: Requantization<'a>,
        /// Output zero point, in the output type's range.
        zero_point: i32,
    },
    /// Dequantized: `f32(acc) · scale[j]`, then `+ bias[j]` (two roundings, no FMA);
    /// output type f32.
    F32 {
        /// Scales (finite, > 0).
        scale: PerChannel<'a, f32>,
        /// Optional f32 bias per column (finite).
        bias: Option<&'a [f32]>,
    },
}

/// The fused output stage: an optional i32 bias per column (added with wrapping), then
/// [`Output`], then for quantized output the clamp.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutputStage<'a> {
    /// i32 bias, one per output column.
    pub bias: Option<&'a [i32]>,
    /// What to store.
    pub output: Output<'a>,
    /// Clamp bounds for quantized output, within the output type's range; `None` for the
    /// whole range. ReLU is `(zero_point, max)`, ReLU6 `(zero_point, q(6.0))`. Given with
    /// a non-quantized output it is an error.
    pub clamp: Option<(i32, i32)>,
}

impl<'a> OutputStage<'a> {
    /// Raw i32 accumulators.
    pub fn i32() -> Self {
        OutputStage {
            bias: None,
            output: Output::I32,
            clamp: None,
        }
    }

    /// Requantized output with the whole output range.
    pub fn quantized(requant: Requantization<'a>, zero_point: i32) -> Self {
        OutputStage {
            bias: None,
            output: Output::Quantized {
                requant,
                zero_point,
            },
            clamp: None,
        }
    }

    /// Dequantized f32 output.
    pub fn f32(scale: PerChannel<'a, f32>, bias: Option<&'a [f32]>) -> Self {
        OutputStage {
            bias: None,
            output: Output::F32 { scale, bias },
            clamp: None,
        }
    }

    /// Adds an i32 bias per column.
    pub fn with_bias(mut self, bias: &'a [i32]) -> Self {
        self.bias = Some(bias);
        self
    }

    /// Sets clamp bounds (quantized output only).
    pub fn with_clamp(mut self, min: i32, max: i32) -> Self {
        self.clamp = Some((min, max));
        self
    }

    /// Validates the stage for `n` output columns of type `O` and returns the raw form
    /// the kernels read, which borrows from `self` (a per-tensor parameter is read from
    /// inside `self`), so it cannot outlive it.
    pub(crate) fn lower<O: OutType>(&self, n: usize) -> Result<Lowered<'_>> {
        let mut raw = zeropoint_kernels::OutputStage::i32_plain();
        raw.dst_type = O::DST;
        if let Some(b) = self.bias {
            if b.len() != n {
                return Err(Error::Stage(format!(
                    "bias has {} values for {n} output columns",
                    b.len()
                )));
            }
            raw.bias = b.as_ptr();
        }
        if self.clamp.is_some() && !matches!(self.output, Output::Quantized { .. }) {
            return Err(Error::Stage(
                "a clamp applies to quantized (u8/i8) output only".into(),
            ));
        }
        // Match by reference: the raw stage points into `self`, never into a copy.
        match &self.output {
            Output::I32 => {
                if O::DST != DstType::I32 {
                    return Err(Error::Stage(format!(
                        "i32 output stage but the output buffer holds {:?}",
                        O::DST
                    )));
                }
            }
            Output::Quantized {
                requant,
                zero_point,
            } => {
                let zero_point = *zero_point;
                if !matches!(O::DST, DstType::U8 | DstType::I8) {
                    return Err(Error::Stage(format!(
                        "quantized output stage but the output buffer holds {:?}",
                        O::DST
                    )));
                }
                let (tmin, tmax) = O::RANGE;
                if !(tmin..=tmax).contains(&zero_point) {
                    return Err(Error::ZeroPoint {
                        what: "output zero point",
                        value: zero_point,
                        min: tmin,
                        max: tmax,
                    });
                }
                let (qmin, qmax) = self.clamp.unwrap_or((tmin, tmax));
                if qmin > qmax || qmin < tmin || qmax > tmax {
                    return Err(Error::Clamp {
                        min: qmin,
                        max: qmax,
                        type_range: (tmin, tmax),
                    });
                }
                raw.zero_point = zero_point;
                raw.qmin = qmin;
                raw.qmax = qmax;
                match requant {
                    Requantization::Fp32(s) => {
                        s.check_len("requantization scale", n)?;
                        for (i, &v) in s.values().iter().enumerate() {
                            check_scale("requantization scale", i, v)?;
                        }
                        raw.scheme = Scheme::Fp32;
                        raw.param_stride = s.stride();
                        raw.scale = s.values().as_ptr();
                    }
                    Requantization::DoubleRounding(m) | Requantization::SingleRounding(m) => {
                        m.check_len("multiplier", n)?;
                        for &v in m.values() {
                            check_multiplier(v)?;
                        }
                        raw.scheme = if matches!(requant, Requantization::DoubleRounding(_)) {
                            Scheme::DoubleRounding
                        } else {
                            Scheme::SingleRounding
                        };
                        raw.param_stride = m.stride();
                        raw.multiplier = m.values().as_ptr();
                    }
                }
            }
            Output::F32 { scale, bias } => {
                let bias = *bias;
                if O::DST != DstType::F32 {
                    return Err(Error::Stage(format!(
                        "f32 output stage but the output buffer holds {:?}",
                        O::DST
                    )));
                }
                scale.check_len("output scale", n)?;
                for (i, &v) in scale.values().iter().enumerate() {
                    check_scale("output scale", i, v)?;
                }
                raw.param_stride = scale.stride();
                raw.scale = scale.values().as_ptr();
                if let Some(b) = bias {
                    if b.len() != n {
                        return Err(Error::Stage(format!(
                            "f32 bias has {} values for {n} output columns",
                            b.len()
                        )));
                    }
                    if let Some(i) = b.iter().position(|v| !v.is_finite()) {
                        return Err(Error::NonFinite {
                            what: "f32 bias",
                            index: i,
                        });
                    }
                    raw.f32_bias = b.as_ptr();
                }
            }
        }
        Ok(Lowered {
            raw,
            _stage: PhantomData,
        })
    }
}

/// The raw output stage the kernels read, from [`OutputStage::lower`]. Its parameter
/// pointers point into the stage it was lowered from — a per-tensor scale or multiplier
/// into that [`OutputStage`] value itself — so it borrows the stage: lowering a
/// temporary and keeping the result does not compile. (`Conv2d` once lowered each
/// group's stage from a temporary slice of the caller's stage; its per-tensor
/// multipliers were then read from freed stack memory, found by the `conv` fuzz target.)
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lowered<'s> {
    raw: zeropoint_kernels::OutputStage,
    _stage: PhantomData<&'s ()>,
}

impl Lowered<'_> {
    /// The raw stage, valid while the borrow lasts.
    pub(crate) fn raw(&self) -> &zeropoint_kernels::OutputStage {
        &self.raw
    }
}
