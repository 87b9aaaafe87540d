//! Output stages decoded from fuzz input, shared by the `gemm` and `requantize` targets:
//! the safe [`zeropoint::OutputStage`] handed to the API, the independent validity rule
//! (SPEC.md §5, §7), and the raw [`zeropoint::kernels::OutputStage`] whose `store` is the
//! reference for each accumulator.

use zeropoint::kernels::{DstType, QuantizedMultiplier, Scheme};
use zeropoint::{OutputStage, PerChannel, Requantization};

use crate::{gen_scale, F32Params, Fill, Out, OutKind, Reader, Rng, Writer};

/// An output stage as decoded: raw fields, turned into values for `n` columns and an
/// output type by [`StageSpec::values`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct StageSpec {
    /// 0 i32, 1 quantized, 2 f32 (modulo 3).
    pub kind: u8,
    /// 0 Fp32, 1 DoubleRounding, 2 SingleRounding (modulo 3).
    pub scheme: u8,
    /// Per-channel (else per-tensor) parameters.
    pub per_channel: bool,
    /// 15 (mod 16): one parameter too many; 14: one too few; else the right count.
    pub count_delta: u8,
    /// f32 scales (Fp32 requantization and f32 output).
    pub scales: F32Params,
    /// 0 all multipliers `(mult_m0, mult_shift)`; 1 generated valid; 2 generated with
    /// one raw (modulo 3).
    pub mult_mode: u8,
    /// Raw multiplier `m0`.
    pub mult_m0: i32,
    /// Raw multiplier shift.
    pub mult_shift: i32,
    /// Seed of generated multipliers.
    pub mult_seed: u64,
    /// 3 (mod 4): the zero point is `zp_raw` as is; else it is mapped into the output
    /// type's range.
    pub zp_mode: u8,
    /// Raw zero point.
    pub zp_raw: i32,
    /// 0 no clamp, 1 `(clamp_lo, clamp_hi)` as is, 2 ReLU `(zp, max)`, 3 both mapped
    /// into the type's range and sorted (modulo 4).
    pub clamp_mode: u8,
    /// Raw lower clamp.
    pub clamp_lo: i32,
    /// Raw upper clamp.
    pub clamp_hi: i32,
    /// Odd: an i32 bias filled by `bias_fill`.
    pub bias_mode: u8,
    /// The i32 bias values.
    pub bias_fill: Fill,
    /// 15 (mod 16): bias one too long; 14: one too short; else `n` (both biases).
    pub bias_len_delta: u8,
    /// Odd: an f32 bias (f32 output) from `f32_bias`.
    pub f32_bias_mode: u8,
    /// The f32 bias values.
    pub f32_bias: F32Params,
}

impl StageSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        StageSpec {
            kind: r.u8(),
            scheme: r.u8(),
            per_channel: r.bool(),
            count_delta: r.u8(),
            scales: F32Params::decode(r),
            mult_mode: r.u8(),
            mult_m0: r.i32(),
            mult_shift: r.i32(),
            mult_seed: r.u64(),
            zp_mode: r.u8(),
            zp_raw: r.i32(),
            clamp_mode: r.u8(),
            clamp_lo: r.i32(),
            clamp_hi: r.i32(),
            bias_mode: r.u8(),
            bias_fill: Fill::decode(r),
            bias_len_delta: r.u8(),
            f32_bias_mode: r.u8(),
            f32_bias: F32Params::decode(r),
        }
    }

    /// Encodes the fields in the order [`StageSpec::decode`] reads them.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.kind);
        w.u8(self.scheme);
        w.bool(self.per_channel);
        w.u8(self.count_delta);
        self.scales.encode(w);
        w.u8(self.mult_mode);
        w.i32(self.mult_m0);
        w.i32(self.mult_shift);
        w.u64(self.mult_seed);
        w.u8(self.zp_mode);
        w.i32(self.zp_raw);
        w.u8(self.clamp_mode);
        w.i32(self.clamp_lo);
        w.i32(self.clamp_hi);
        w.u8(self.bias_mode);
        self.bias_fill.encode(w);
        w.u8(self.bias_len_delta);
        w.u8(self.f32_bias_mode);
        self.f32_bias.encode(w);
    }

    /// The stage's values for `n` output columns written as `out`.
    pub fn values(&self, n: usize, out: OutKind) -> StageValues {
        let (tmin, tmax) = match out {
            OutKind::I8 => (-128, 127),
            _ => (0, 255),
        };
        let with_delta = |d: u8, n: usize| match d % 16 {
            15 => n + 1,
            14 => n.saturating_sub(1),
            _ => n,
        };
        let count = if self.per_channel {
            with_delta(self.count_delta, n)
        } else {
            1
        };
        let bias_len = with_delta(self.bias_len_delta, n);
        let scales = self.scales.values(count, gen_scale);
        let mut rng = Rng(self.mult_seed);
        let raw = QuantizedMultiplier {
            m0: self.mult_m0,
            shift: self.mult_shift,
        };
        let mut mults: Vec<QuantizedMultiplier> = (0..count)
            .map(|_| match self.mult_mode % 3 {
                0 => raw,
                _ => QuantizedMultiplier {
                    m0: (1 << 30) + rng.below(1 << 30) as i32,
                    shift: rng.below(62) as i32 - 31,
                },
            })
            .collect();
        if self.mult_mode % 3 == 2 && count > 0 {
            let i = rng.below(count as u64) as usize;
            mults[i] = raw;
        }
        let into_range = |v: i32| tmin + v.rem_euclid(tmax - tmin + 1);
        let zp = if self.zp_mode % 4 == 3 {
            self.zp_raw
        } else {
            into_range(self.zp_raw)
        };
        let clamp = match self.clamp_mode % 4 {
            0 => None,
            1 => Some((self.clamp_lo, self.clamp_hi)),
            2 => Some((zp, tmax)),
            _ => {
                let (a, b) = (into_range(self.clamp_lo), into_range(self.clamp_hi));
                Some((a.min(b), a.max(b)))
            }
        };
        StageValues {
            kind: self.kind % 3,
            scheme: [Scheme::Fp32, Scheme::DoubleRounding, Scheme::SingleRounding]
                [self.scheme as usize % 3],
            per_channel: self.per_channel,
            scales,
            mults,
            zp,
            clamp,
            bias: (self.bias_mode % 2 == 1).then(|| self.bias_fill.i32s(bias_len)),
            f32_bias: (self.f32_bias_mode % 2 == 1).then(|| {
                self.f32_bias
                    .values(bias_len, |r| (r.below(2001) as f32 - 1000.0) * 0.37)
            }),
        }
    }
}

/// The values of a stage, owning its parameter arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct StageValues {
    /// 0 i32, 1 quantized, 2 f32.
    pub kind: u8,
    /// The requantization scheme (quantized output).
    pub scheme: Scheme,
    /// Per-channel parameters.
    pub per_channel: bool,
    /// Scales (Fp32 scheme, f32 output); one value when per tensor.
    pub scales: Vec<f32>,
    /// Multipliers (fixed-point schemes); one value when per tensor.
    pub mults: Vec<QuantizedMultiplier>,
    /// Output zero point.
    pub zp: i32,
    /// Clamp bounds.
    pub clamp: Option<(i32, i32)>,
    /// i32 bias.
    pub bias: Option<Vec<i32>>,
    /// f32 bias (f32 output).
    pub f32_bias: Option<Vec<f32>>,
}

fn per_channel<T: Copy>(v: &[T], per: bool) -> PerChannel<'_, T> {
    if per {
        PerChannel::Channel(v)
    } else {
        PerChannel::Tensor(v[0])
    }
}

impl StageValues {
    /// The safe stage handed to the API.
    pub fn safe(&self) -> OutputStage<'_> {
        let mut s = match self.kind {
            0 => OutputStage::i32(),
            1 => {
                let requant = match self.scheme {
                    Scheme::Fp32 => {
                        Requantization::Fp32(per_channel(&self.scales, self.per_channel))
                    }
                    Scheme::DoubleRounding => {
                        Requantization::DoubleRounding(per_channel(&self.mults, self.per_channel))
                    }
                    Scheme::SingleRounding => {
                        Requantization::SingleRounding(per_channel(&self.mults, self.per_channel))
                    }
                };
                OutputStage::quantized(requant, self.zp)
            }
            _ => OutputStage::f32(
                per_channel(&self.scales, self.per_channel),
                self.f32_bias.as_deref(),
            ),
        };
        if let Some(b) = &self.bias {
            s = s.with_bias(b);
        }
        if let Some((lo, hi)) = self.clamp {
            s = s.with_clamp(lo, hi);
        }
        s
    }

    /// Whether the API must accept this stage for `n` columns of output type `O`
    /// (SPEC.md §5 and §7), decided independently of the library.
    pub fn valid<O: Out>(&self, n: usize) -> bool {
        let scale_ok = |s: &f32| s.is_finite() && *s > 0.0;
        let count_ok = |len: usize| !self.per_channel || len == n;
        if self.bias.as_ref().is_some_and(|b| b.len() != n) {
            return false;
        }
        if self.clamp.is_some() && self.kind != 1 {
            return false;
        }
        match self.kind {
            0 => O::DST == DstType::I32,
            1 => {
                if !matches!(O::DST, DstType::U8 | DstType::I8) {
                    return false;
                }
                let (tmin, tmax) = O::RANGE;
                let (lo, hi) = self.clamp.unwrap_or((tmin, tmax));
                let params_ok = match self.scheme {
                    Scheme::Fp32 => count_ok(self.scales.len()) && self.scales.iter().all(scale_ok),
                    _ => {
                        count_ok(self.mults.len())
                            && self
                                .mults
                                .iter()
                                .all(|m| m.m0 >= 1 << 30 && (-31..=30).contains(&m.shift))
                    }
                };
                (tmin..=tmax).contains(&self.zp)
                    && lo <= hi
                    && lo >= tmin
                    && hi <= tmax
                    && params_ok
            }
            _ => {
                O::DST == DstType::F32
                    && count_ok(self.scales.len())
                    && self.scales.iter().all(scale_ok)
                    && self
                        .f32_bias
                        .as_ref()
                        .is_none_or(|b| b.len() == n && b.iter().all(|v| v.is_finite()))
            }
        }
    }

    /// The raw stage whose `store` is the reference, pointing into `self`. Only for a
    /// stage that is [`StageValues::valid`] for `O` and the column count.
    pub fn raw<O: Out>(&self) -> zeropoint::kernels::OutputStage {
        let mut raw = zeropoint::kernels::OutputStage::i32_plain();
        raw.dst_type = O::DST;
        raw.scheme = self.scheme;
        raw.param_stride = usize::from(self.per_channel);
        if let Some(b) = &self.bias {
            raw.bias = b.as_ptr();
        }
        if !self.scales.is_empty() {
            raw.scale = self.scales.as_ptr();
        }
        if !self.mults.is_empty() {
            raw.multiplier = self.mults.as_ptr();
        }
        if let Some(b) = &self.f32_bias {
            raw.f32_bias = b.as_ptr();
        }
        let (qmin, qmax) = self.clamp.unwrap_or(O::RANGE);
        raw.zero_point = self.zp;
        raw.qmin = qmin;
        raw.qmax = qmax;
        raw
    }

    /// The reference value of accumulator `acc` in column `col` (of `n` columns, for
    /// which the stage is valid).
    pub fn reference<O: Out>(
        &self,
        raw: &zeropoint::kernels::OutputStage,
        acc: i32,
        col: usize,
    ) -> O {
        let mut out = O::SENTINEL;
        // SAFETY: the stage is valid for the column count, so every per-channel array
        // holds at least `col + 1` values (per-tensor ones 1, read with stride 0) and the
        // pointers of `raw` point into `self`, alive for this call; `out` is one element
        // of the stage's destination type `O`.
        unsafe { raw.store(acc, col, (&mut out as *mut O).cast::<u8>(), 0) };
        out
    }
}
