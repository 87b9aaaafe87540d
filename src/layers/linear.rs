//! The quantized fully connected layer.

use super::{
    quantize_weights, zero_points_of, Activation, RequantScheme, StaticQuant, WeightQuantization,
};
use crate::params::check_scale;
use crate::{
    DynamicMode, Engine, Error, Matrix, MatrixMut, OutType, OutputStage, PackedWeights, PerChannel,
    QType, QuantParams, Result, WeightLayout,
};

/// A fully connected layer `y = x·Wᵀ + b` with i8 weights, `W` given as f32
/// `[out_features × in_features]` (one row per output channel).
///
/// - [`Linear::forward`]: integer-only, u8/i8 → u8/i8, with the parameters of a
///   [`StaticQuant`] (input/output quantization, requantization scheme, fused
///   activation).
/// - [`Linear::forward_dynamic`]: f32 → f32; each input row is quantized to u8 on the fly
///   ([`DynamicMode::Asymmetric`]), then `y[i][j] = f32(acc)·(S_X[i]·S_W[j]) + b[j]`
///   (the f32 output stage: two roundings, no FMA, `S_X[i]·S_W[j]` rounded to f32), with
///   `acc = Σ_k (x − Z_X[i])(w − Z_W[j])`. The per-row scales make the output scale an
///   outer product, which a GEMM output stage (per column) cannot hold: one GEMM gives
///   `Σ_k x·(w − Z_W[j])` for all rows, `Z_X[i]·Σ_k (w − Z_W[j])` is subtracted
///   (wrapping: the same i32 as with the zero point in the GEMM), and each row then goes
///   through the f32 output stage ([`Engine::requantize`]).
#[derive(Clone, Debug)]
pub struct Linear {
    engine: Engine,
    in_features: usize,
    out_features: usize,
    packed: PackedWeights,
    weights: Vec<i8>,
    w_scales: Vec<f32>,
    w_zero_points: Vec<i8>,
    /// `Σ_k (w[j][k] − Z_W[j])` per output channel (wrapping), for the dynamic forward.
    w_colsum: Vec<i32>,
    bias: Vec<f32>,
}

/// Reusable buffers for [`Linear::forward_dynamic`] (they grow to the largest batch).
#[derive(Clone, Debug, Default)]
pub struct DynamicScratch {
    q: Vec<u8>,
    params: Vec<QuantParams<u8>>,
    scales: Vec<f32>,
    acc: Vec<i32>,
}

impl Linear {
    /// Quantizes `weights` (`out_features × in_features`, row-major, finite) with
    /// `scheme` and packs them for `engine`. `bias` has `out_features` finite values, or
    /// `None` for zero. Both dimensions must be ≥ 1.
    pub fn new(
        engine: &Engine,
        weights: &[f32],
        bias: Option<&[f32]>,
        out_features: usize,
        in_features: usize,
        scheme: WeightQuantization,
    ) -> Result<Self> {
        if out_features == 0 || in_features == 0 {
            return Err(Error::Shape(format!(
                "Linear needs at least one input and one output feature, got {in_features} → {out_features}"
            )));
        }
        let bias = match bias {
            None => vec![0.0; out_features],
            Some(b) if b.len() != out_features => {
                return Err(Error::Shape(format!(
                    "bias has {} values for {out_features} output features",
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
        let qw = quantize_weights(weights, out_features, in_features, scheme)?;
        let packed = engine.pack_weights(
            Matrix::new(&qw.q, out_features, in_features),
            WeightLayout::NxK,
            zero_points_of(&qw.zero_points),
        )?;
        let w_colsum = (0..out_features)
            .map(|j| {
                let z = qw.zero_points[j] as i32;
                qw.q[j * in_features..(j + 1) * in_features]
                    .iter()
                    .fold(0i32, |s, &w| s.wrapping_add(w as i32 - z))
            })
            .collect();
        Ok(Linear {
            engine: *engine,
            w_colsum,
            in_features,
            out_features,
            packed,
            weights: qw.q,
            w_scales: qw.scales,
            w_zero_points: qw.zero_points,
            bias,
        })
    }

    /// Input features K.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output features N.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// The quantized weights, `out_features × in_features`.
    pub fn weights(&self) -> &[i8] {
        &self.weights
    }

    /// The weight scale of each output channel (repeated for per-tensor weights).
    pub fn weight_scales(&self) -> &[f32] {
        &self.w_scales
    }

    /// The weight zero point of each output channel.
    pub fn weight_zero_points(&self) -> &[i8] {
        &self.w_zero_points
    }

    /// The f32 bias.
    pub fn bias(&self) -> &[f32] {
        &self.bias
    }

    /// The engine the weights were packed for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Bytes a deployed integer layer needs: the i8 weights and per output channel the
    /// i32 bias and an f32 requantization multiplier, plus an i8 zero point per channel
    /// when the weights are asymmetric (some zero point ≠ 0).
    pub fn quantized_bytes(&self) -> usize {
        let zp = usize::from(self.w_zero_points.iter().any(|&z| z != 0));
        self.weights.len() + self.out_features * (4 + 4 + zp)
    }

    /// The static parameters for input `input` and output `output` (see
    /// [`StaticQuant`]). Errors: a bias that does not fit i32 at scale `S_W·S_X`, a
    /// multiplier out of range.
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

    /// Integer-only forward: `x` is `batch × in_features` quantized with `q.input()`,
    /// `out` is `batch × out_features`, written with `q.output()`.
    pub fn forward<X: QType, Y: QType + OutType>(
        &self,
        q: &StaticQuant<X, Y>,
        x: Matrix<'_, X>,
        out: MatrixMut<'_, Y>,
    ) -> Result<()> {
        q.check_channels(self.out_features)?;
        self.engine
            .gemm(x, q.input().zero_point(), &self.packed, &q.stage(), out)
    }

    /// The raw GEMM of the layer with any output stage (per-channel parameters indexed
    /// by output feature): for engines that want i32 accumulators or their own stage.
    pub fn forward_with_stage<X: QType, O: OutType>(
        &self,
        x: Matrix<'_, X>,
        x_zero_point: X,
        stage: &OutputStage<'_>,
        out: MatrixMut<'_, O>,
    ) -> Result<()> {
        self.engine.gemm(x, x_zero_point, &self.packed, stage, out)
    }

    /// Dynamic forward f32 → f32 (see the type's documentation). `x` is `batch ×
    /// in_features`, finite; `out` is `batch × out_features`. Nothing is written unless
    /// every argument is valid.
    pub fn forward_dynamic(
        &self,
        x: Matrix<'_, f32>,
        out: MatrixMut<'_, f32>,
        scratch: &mut DynamicScratch,
    ) -> Result<()> {
        x.check("input")?;
        out.check("output")?;
        let (m, k, n) = (x.rows, self.in_features, self.out_features);
        if x.cols != k {
            return Err(Error::Shape(format!(
                "input has {} columns for {k} input features",
                x.cols
            )));
        }
        if out.rows != m || out.cols != n {
            return Err(Error::Shape(format!(
                "output is {}×{} but the layer gives {m}×{n}",
                out.rows, out.cols
            )));
        }
        if m == 0 {
            return Ok(());
        }
        let s = scratch;
        s.q.resize(m * k, 0);
        s.params.resize(m, QuantParams::from_range(0.0, 0.0)?);
        s.scales.resize(n, 0.0);
        self.engine.dynamic_quantize_rows(
            x,
            DynamicMode::Asymmetric,
            MatrixMut::new(&mut s.q[..m * k], m, k),
            &mut s.params[..m],
        )?;
        // Every row's scales S_X[i]·S_W[j] must be valid f32 scales before anything is
        // written (a product can underflow to 0 for extreme inputs).
        for (i, p) in s.params[..m].iter().enumerate() {
            for &sw in &self.w_scales {
                check_scale("dynamic scale S_X·S_W", i, p.scale() * sw)?;
            }
        }
        // One GEMM for every row with A's zero point 0, then per row the exact
        // correction `− Z_X[i]·Σ_k (w − Z_W[j])` (wrapping, so the accumulators equal those
        // of a GEMM with zero point Z_X[i]) and the f32 output stage.
        s.acc.resize(m * n, 0);
        self.engine.gemm(
            Matrix::new(&s.q[..m * k], m, k),
            0u8,
            &self.packed,
            &OutputStage::i32(),
            MatrixMut::new(&mut s.acc[..m * n], m, n),
        )?;
        for i in 0..m {
            let p = s.params[i];
            let za = p.zero_point() as i32;
            for (d, &sw) in s.scales.iter_mut().zip(&self.w_scales) {
                *d = p.scale() * sw;
            }
            let acc = &mut s.acc[i * n..(i + 1) * n];
            for (a, &cs) in acc.iter_mut().zip(&self.w_colsum) {
                *a = a.wrapping_sub(za.wrapping_mul(cs));
            }
            let stage = OutputStage::f32(PerChannel::Channel(&s.scales), Some(&self.bias));
            let row = &mut out.data[i * out.stride..i * out.stride + n];
            self.engine
                .requantize(Matrix::new(acc, 1, n), &stage, MatrixMut::new(row, 1, n))?;
        }
        Ok(())
    }
}
