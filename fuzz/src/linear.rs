//! Target `linear`: the fully connected layer (`Linear`) on every engine — building it
//! from f32 weights, the static integer forward and the dynamic f32 → f32 forward.
//!
//! Decoded: in and out features (0..40; 0 is invalid), batch (0..6), the weight
//! quantization scheme, f32 weights and bias of every kind (ties, specials, every
//! magnitude; see [`Fill::f32s`]), whether there is a bias, the static parameters of
//! input and output (u8/i8 each, scales of any magnitude from 2^−40 to 2^8 or simple ones,
//! zero points), the requantization scheme and activation, the integer input, the f32
//! input of the dynamic forward.
//!
//! Checked, per engine: `Linear::new` and `static_quant` succeed or fail as on the scalar
//! engine and give the same quantized weights, scales and zero points (they do not depend
//! on the engine); the static forward equals the reference: `gemm_i32` of the input
//! codes and the layer's quantized weights with their zero points, then the layer's
//! stage (`StaticQuant::stage`) through the scalar engine's `requantize`; the dynamic
//! forward fails exactly when that reference does and otherwise equals, bit for bit
//! (f32), the scalar engine's `dynamic_quantize_rows` (asymmetric u8), then per row
//! `gemm_i32` with the row's zero point and the f32 stage `S_X[i]·S_W[j]` with the bias;
//! on `Err` nothing is written.

use zeropoint::kernels::scalar::reference::{gemm_i32, RefShape};
use zeropoint::layers::DynamicScratch;
use zeropoint::{
    Activation, DynamicMode, Engine, Linear, Matrix, MatrixMut, OutputStage, PerChannel,
    QuantParams, RequantScheme, WeightQuantization,
};

use crate::{assert_same_bits, engines, gen_scale, Code, Fill, Out, Reader, Rng, Writer};

/// A decoded fully connected case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LinearSpec {
    /// Input features (mod 41).
    pub k: u8,
    /// Output features (mod 41).
    pub n: u8,
    /// Batch (mod 6).
    pub m: u8,
    /// Weight quantization (mod 4): per-channel symmetric, per-tensor symmetric,
    /// per-channel asymmetric, per-tensor asymmetric.
    pub scheme: u8,
    /// The f32 weights (values relative to 0.01).
    pub w_fill: Fill,
    /// Odd: a bias from `bias_fill`.
    pub bias_mode: u8,
    /// The f32 bias (values relative to 0.001).
    pub bias_fill: Fill,
    /// The static input is i8 (else u8).
    pub x_signed: bool,
    /// The static output is i8 (else u8).
    pub y_signed: bool,
    /// Scale modes of input and output: odd a simple scale (1/16, 1/10, 3/8 or 2 by the
    /// seed), even any magnitude.
    pub scale_mode: [u8; 2],
    /// Seeds of the two scales.
    pub scale_seed: [u64; 2],
    /// Zero points of input and output, as bytes of their types.
    pub zp: [u8; 2],
    /// Requantization scheme (mod 3): Fp32, double rounding, single rounding.
    pub requant: u8,
    /// Activation (mod 3): none, ReLU, ReLU6.
    pub activation: u8,
    /// The static input codes.
    pub x_fill: Fill,
    /// The dynamic input (values relative to 0.5).
    pub f_fill: Fill,
}

impl LinearSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        LinearSpec {
            k: r.u8(),
            n: r.u8(),
            m: r.u8(),
            scheme: r.u8(),
            w_fill: Fill::decode(r),
            bias_mode: r.u8(),
            bias_fill: Fill::decode(r),
            x_signed: r.bool(),
            y_signed: r.bool(),
            scale_mode: [r.u8(), r.u8()],
            scale_seed: [r.u64(), r.u64()],
            zp: [r.u8(), r.u8()],
            requant: r.u8(),
            activation: r.u8(),
            x_fill: Fill::decode(r),
            f_fill: Fill::decode(r),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.u8(self.k);
        w.u8(self.n);
        w.u8(self.m);
        w.u8(self.scheme);
        self.w_fill.encode(w);
        w.u8(self.bias_mode);
        self.bias_fill.encode(w);
        w.bool(self.x_signed);
        w.bool(self.y_signed);
        w.u8(self.scale_mode[0]);
        w.u8(self.scale_mode[1]);
        w.u64(self.scale_seed[0]);
        w.u64(self.scale_seed[1]);
        w.u8(self.zp[0]);
        w.u8(self.zp[1]);
        w.u8(self.requant);
        w.u8(self.activation);
        self.x_fill.encode(w);
        self.f_fill.encode(w);
    }

    /// `(M, K, N)`.
    pub fn dims(&self) -> (usize, usize, usize) {
        (
            self.m as usize % 6,
            self.k as usize % 41,
            self.n as usize % 41,
        )
    }

    /// Scale `i` (0 input, 1 output).
    fn scale(&self, i: usize) -> f32 {
        if self.scale_mode[i] % 2 == 1 {
            [1.0 / 16.0, 0.1, 0.375, 2.0][self.scale_seed[i] as usize % 4]
        } else {
            gen_scale(&mut Rng(self.scale_seed[i]))
        }
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&LinearSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether the layer was built and both forwards
/// had to succeed.
pub fn check(s: &LinearSpec) -> bool {
    let (m, k, n) = s.dims();
    let weights = s.w_fill.f32s(n * k, 0.01);
    let bias = s.bias_fill.f32s(n, 0.001);
    let bias = (s.bias_mode % 2 == 1).then_some(&bias[..]);
    let scheme = [
        WeightQuantization::PerChannelSymmetric,
        WeightQuantization::PerTensorSymmetric,
        WeightQuantization::PerChannelAsymmetric,
        WeightQuantization::PerTensorAsymmetric,
    ][s.scheme as usize % 4];
    let scalar = Engine::with_isa(zeropoint::Isa::Scalar).expect("scalar is always available");
    let reference = Linear::new(&scalar, &weights, bias, n, k, scheme);
    let mut all_valid = reference.is_ok();
    for e in engines() {
        let what = || format!("linear on {}, M×K×N = {m}×{k}×{n}, spec {s:?}", e.label);
        let lin = Linear::new(&e.engine, &weights, bias, n, k, scheme);
        assert_eq!(
            lin.is_ok(),
            reference.is_ok(),
            "{}: new gave {:?}, scalar {:?}",
            what(),
            lin.as_ref().err(),
            reference.as_ref().err()
        );
        let (Ok(lin), Ok(r)) = (lin, &reference) else {
            continue;
        };
        assert_eq!(lin.weights(), r.weights(), "{}: weights", what());
        assert_eq!(
            lin.weight_zero_points(),
            r.weight_zero_points(),
            "{}: zero points",
            what()
        );
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            bits(lin.weight_scales()),
            bits(r.weight_scales()),
            "{}: scales",
            what()
        );
        assert_eq!(bits(lin.bias()), bits(r.bias()), "{}: bias", what());
        let ok = match (s.x_signed, s.y_signed) {
            (false, false) => check_static::<u8, u8>(s, &lin, &what),
            (false, true) => check_static::<u8, i8>(s, &lin, &what),
            (true, false) => check_static::<i8, u8>(s, &lin, &what),
            (true, true) => check_static::<i8, i8>(s, &lin, &what),
        };
        let dynamic_ok = check_dynamic(s, &lin, &what);
        all_valid &= ok && dynamic_ok;
    }
    all_valid
}

/// The static forward of `lin` against the reference; returns whether the parameters
/// were valid.
fn check_static<X: Code, Y: Code>(s: &LinearSpec, lin: &Linear, what: &dyn Fn() -> String) -> bool {
    let (m, k, n) = (s.dims().0, lin.in_features(), lin.out_features());
    let scalar = Engine::with_isa(zeropoint::Isa::Scalar).expect("scalar");
    let params = (
        QuantParams::new(s.scale(0), X::from_byte(s.zp[0])),
        QuantParams::new(s.scale(1), Y::from_byte(s.zp[1])),
    );
    let (Ok(px), Ok(py)) = params else {
        unreachable!("generated scales are valid")
    };
    let requant = [
        RequantScheme::Fp32,
        RequantScheme::DoubleRounding,
        RequantScheme::SingleRounding,
    ][s.requant as usize % 3];
    let act = [Activation::None, Activation::Relu, Activation::Relu6][s.activation as usize % 3];
    let q = lin.static_quant(px, py, requant, act);
    // The stage depends on the weights' scales and the parameters only: decide its
    // validity on the scalar engine's layer, built from the same weights.
    let Ok(q) = q else {
        return false;
    };
    let x: Vec<X> = s.x_fill.codes(m * k);
    // Reference: the integer GEMM of the codes with the layer's quantized weights (N×K,
    // one zero point per output), then the stage on the scalar engine.
    let zw: Vec<i32> = lin.weight_zero_points().iter().map(|&z| z as i32).collect();
    assert_eq!(zw.len(), n, "{}: one weight zero point per output", what());
    let mut acc = vec![0i32; m * n];
    let shape = RefShape {
        m,
        n,
        k,
        a_stride: k,
        b_k_stride: 1,
        b_n_stride: k,
    };
    gemm_i32(
        shape,
        &x,
        px.zero_point().val(),
        lin.weights(),
        &zw,
        &mut acc,
    );
    let stage = q.stage();
    let mut want = vec![Y::SENTINEL; m * n];
    scalar
        .requantize(
            Matrix::new(&acc, m, n),
            &stage,
            MatrixMut::new(&mut want, m, n),
        )
        .unwrap_or_else(|e| panic!("{}: the reference stage failed: {e}", what()));
    let mut got = vec![Y::SENTINEL; m * n];
    let r = lin.forward(&q, Matrix::new(&x, m, k), MatrixMut::new(&mut got, m, n));
    assert!(r.is_ok(), "{}: static forward gave {r:?}", what());
    assert_same_bits(&|| format!("{} (static)", what()), &got, &want);
    true
}

/// The dynamic forward of `lin` against the reference; returns whether it had to
/// succeed.
fn check_dynamic(s: &LinearSpec, lin: &Linear, what: &dyn Fn() -> String) -> bool {
    let (m, k, n) = (s.dims().0, lin.in_features(), lin.out_features());
    let scalar = Engine::with_isa(zeropoint::Isa::Scalar).expect("scalar");
    let x = s.f_fill.f32s(m * k, 0.5);
    // Reference: per row, asymmetric u8 dynamic quantization, the integer GEMM with the
    // row's zero point, then the f32 stage S_X[i]·S_W[j] with the layer's bias.
    let mut want = vec![f32::SENTINEL; m * n];
    let valid = (|| -> zeropoint::Result<()> {
        let mut q = vec![0u8; m * k];
        let mut params = vec![QuantParams::<u8>::from_range(0.0, 0.0)?; m];
        if m > 0 {
            scalar.dynamic_quantize_rows(
                Matrix::new(&x, m, k),
                DynamicMode::Asymmetric,
                MatrixMut::new(&mut q, m, k),
                &mut params,
            )?;
        }
        let zw: Vec<i32> = lin.weight_zero_points().iter().map(|&z| z as i32).collect();
        let mut rows = Vec::with_capacity(m);
        for (i, p) in params.iter().enumerate() {
            let mut acc = vec![0i32; n];
            let shape = RefShape {
                m: 1,
                n,
                k,
                a_stride: k,
                b_k_stride: 1,
                b_n_stride: k,
            };
            gemm_i32(
                shape,
                &q[i * k..(i + 1) * k],
                p.zero_point() as i32,
                lin.weights(),
                &zw,
                &mut acc,
            );
            let scales: Vec<f32> = lin
                .weight_scales()
                .iter()
                .map(|&sw| p.scale() * sw)
                .collect();
            let mut row = vec![0f32; n];
            scalar.requantize(
                Matrix::new(&acc, 1, n),
                &OutputStage::f32(PerChannel::Channel(&scales), Some(lin.bias())),
                MatrixMut::new(&mut row, 1, n),
            )?;
            rows.push(row);
        }
        // Only once every row is valid: the layer writes nothing otherwise.
        for (i, row) in rows.iter().enumerate() {
            want[i * n..(i + 1) * n].copy_from_slice(row);
        }
        Ok(())
    })()
    .is_ok();
    let mut got = vec![f32::SENTINEL; m * n];
    let r = lin.forward_dynamic(
        Matrix::new(&x, m, k),
        MatrixMut::new(&mut got, m, n),
        &mut DynamicScratch::default(),
    );
    assert_eq!(r.is_ok(), valid, "{}: dynamic forward gave {r:?}", what());
    assert_same_bits(&|| format!("{} (dynamic)", what()), &got, &want);
    valid
}
