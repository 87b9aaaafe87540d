//! Quantized elementwise add and pooling on NHWC tensors.

use zeropoint_kernels::scalar::requant::{dequantize, quantize_f32};

use super::{check_tensor, Activation, Nhwc};
use crate::{
    Engine, Error, Matrix, MatrixMut, OutType, OutputStage, PerChannel, QType, QuantParams,
    Requantization, Result,
};

/// Quantized elementwise add with ONNX QLinearAdd semantics, in f32 as its reference
/// does: `c = saturate(round_half_even((a_f + b_f) / S_C) + Z_C)` with
/// `a_f = f32(a − Z_A)·S_A` and `b_f = f32(b − Z_B)·S_B` (each a single f32 rounding,
/// then one rounded f32 sum), then the fused activation clamps to `[Z_C, …]` (ReLU) or
/// `[Z_C, q_C(6)]` (ReLU6). The inputs may have different scales and zero points; the
/// three buffers have the same length (no broadcasting).
#[allow(clippy::too_many_arguments)]
pub fn add<T: QType>(
    a: &[T],
    a_params: QuantParams<T>,
    b: &[T],
    b_params: QuantParams<T>,
    out: &mut [T],
    out_params: QuantParams<T>,
    activation: Activation,
) -> Result<()> {
    if a.len() != b.len() || out.len() != a.len() {
        return Err(Error::Shape(format!(
            "add: a has {} elements, b {}, output {}",
            a.len(),
            b.len(),
            out.len()
        )));
    }
    let (sa, za) = (a_params.scale(), a_params.zero_point().to_i32());
    let (sb, zb) = (b_params.scale(), b_params.zero_point().to_i32());
    let (sc, zc) = (out_params.scale(), out_params.zero_point().to_i32());
    let (lo, hi) = match activation {
        Activation::None => (T::MIN, T::MAX),
        Activation::Relu => (zc, T::MAX),
        Activation::Relu6 => (zc, out_params.quantize(6.0).to_i32()),
    };
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let sum = dequantize(x.to_i32(), za, sa) + dequantize(y.to_i32(), zb, sb);
        let q = quantize_f32(sum, sc, zc, T::MIN, T::MAX);
        *o = T::from_i32(q.clamp(lo, hi));
    }
    Ok(())
}

/// Global average pooling of an NHWC tensor to `n × c`: per image and channel,
/// `acc = Σ (x − Z_X)` over the `h·w` pixels (exact in i32), then the
/// [`Requantization::Fp32`] output stage with `scale = f32(S_X / (S_Y·h·w))` (computed in
/// f64) and zero point `Z_Y`: `round_half_even(f32(acc)·scale) + Z_Y`, saturated. `h·w`
/// must be ≥ 1 and small enough that the sum fits i32 (`h·w ≤ 2^23`).
pub fn global_avg_pool<T: QType + OutType>(
    input: &[T],
    shape: Nhwc,
    input_params: QuantParams<T>,
    out: &mut [T],
    out_params: QuantParams<T>,
) -> Result<()> {
    check_tensor("input", input.len(), shape)?;
    let hw = shape.h.saturating_mul(shape.w);
    if hw == 0 {
        return Err(Error::Shape(format!(
            "global average pooling over {}×{} pixels",
            shape.h, shape.w
        )));
    }
    if hw > 1 << 23 {
        return Err(Error::Shape(format!(
            "global average pooling over {hw} pixels may overflow the i32 sum"
        )));
    }
    let (n, c) = (shape.n, shape.c);
    if Some(out.len()) != n.checked_mul(c) {
        return Err(Error::Shape(format!(
            "output has {} elements for {n} images × {c} channels",
            out.len()
        )));
    }
    let scale = (input_params.scale() as f64 / (out_params.scale() as f64 * hw as f64)) as f32;
    let stage = OutputStage::quantized(
        Requantization::Fp32(PerChannel::Tensor(scale)),
        out_params.zero_point().to_i32(),
    );
    let engine = Engine::global()?;
    let zx = input_params.zero_point().to_i32();
    let mut acc = vec![0i32; n * c];
    for (img, sums) in acc.chunks_exact_mut(c.max(1)).enumerate().take(n) {
        for px in input[img * hw * c..(img + 1) * hw * c].chunks_exact(c.max(1)) {
            for (s, &x) in sums.iter_mut().zip(px) {
                *s += x.to_i32() - zx;
            }
        }
    }
    engine.requantize(Matrix::new(&acc, n, c), &stage, MatrixMut::new(out, n, c))
}

/// The window of [`max_pool`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Pool2d {
    /// Window `(height, width)`, each ≥ 1.
    pub kernel: (usize, usize),
    /// Stride `(vertical, horizontal)`, each ≥ 1.
    pub stride: (usize, usize),
    /// Padding `(top, left, bottom, right)`; padded positions never win the max.
    pub padding: [usize; 4],
}

impl Pool2d {
    /// The output shape for `input`: `(h + top + bottom − kh) / sh + 1`, likewise for
    /// the width. Errors: a zero window or stride, a window larger than the padded input,
    /// a padding ≥ the window (a window could lie entirely in the padding), an empty image.
    pub fn output_shape(&self, input: Nhwc) -> Result<Nhwc> {
        let (kh, kw) = self.kernel;
        let (sh, sw) = self.stride;
        let [pt, pl, pb, pr] = self.padding;
        if kh == 0 || kw == 0 || sh == 0 || sw == 0 {
            return Err(Error::Shape(format!(
                "pooling window {self:?} has a zero size or stride"
            )));
        }
        if input.h == 0 || input.w == 0 {
            return Err(Error::Shape(format!(
                "pooling an empty {}×{} image",
                input.h, input.w
            )));
        }
        if pt >= kh || pb >= kh || pl >= kw || pr >= kw {
            return Err(Error::Shape(format!(
                "pooling padding {:?} must be smaller than the window {:?}",
                self.padding, self.kernel
            )));
        }
        let (ph, pw) = match (
            pt.checked_add(pb).and_then(|p| p.checked_add(input.h)),
            pl.checked_add(pr).and_then(|p| p.checked_add(input.w)),
        ) {
            (Some(ph), Some(pw)) => (ph, pw),
            _ => {
                return Err(Error::Shape(format!(
                    "padding {:?} overflows usize",
                    self.padding
                )))
            }
        };
        if ph < kh || pw < kw {
            return Err(Error::Shape(format!(
                "pooling window {:?} larger than the padded input {ph}×{pw}",
                self.kernel
            )));
        }
        Ok(Nhwc::new(
            input.n,
            (ph - kh) / sh + 1,
            (pw - kw) / sw + 1,
            input.c,
        ))
    }
}

/// Max pooling of an NHWC tensor (the output has the input's quantization parameters:
/// the max commutes with the monotonic quantization). `out` holds
/// [`Pool2d::output_shape`] elements.
pub fn max_pool<T: QType>(input: &[T], shape: Nhwc, pool: &Pool2d, out: &mut [T]) -> Result<()> {
    check_tensor("input", input.len(), shape)?;
    let os = pool.output_shape(shape)?;
    check_tensor("output", out.len(), os)?;
    let (kh, kw) = pool.kernel;
    let (sh, sw) = pool.stride;
    let [pt, pl, _, _] = pool.padding;
    let c = shape.c;
    if c == 0 {
        return Ok(());
    }
    for img in 0..shape.n {
        for oy in 0..os.h {
            for ox in 0..os.w {
                let o = ((img * os.h + oy) * os.w + ox) * c;
                let dst = &mut out[o..o + c];
                dst.fill(T::from_i32(T::MIN));
                for ky in 0..kh {
                    let iy = oy * sh + ky;
                    if iy < pt || iy - pt >= shape.h {
                        continue;
                    }
                    for kx in 0..kw {
                        let ix = ox * sw + kx;
                        if ix < pl || ix - pl >= shape.w {
                            continue;
                        }
                        let i = ((img * shape.h + iy - pt) * shape.w + ix - pl) * c;
                        for (d, &x) in dst.iter_mut().zip(&input[i..i + c]) {
                            if x.to_i32() > d.to_i32() {
                                *d = x;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}
