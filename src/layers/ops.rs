//! Quantized elementwise add (ONNX QLinearAdd, with numpy broadcasting) and pooling on
//! NHWC tensors, run by an [`Engine`]'s add and pooling table
//! ([`zeropoint_kernels::OpsKernels`]: scalar, AVX2, AVX-512BW, NEON; identical bits on
//! every engine).
//!
//! The add's loop nest (validated once, no checks inside):
//!
//! ```text
//! out_shape = broadcast(a.shape, b.shape)          (numpy / ONNX multidirectional)
//! dims      = out_shape without its size-1 axes, adjacent axes merged where both
//!             operands step through them alike   → (size, a_step, b_step) outer..inner
//! for each index of the outer dims (odometer):
//!     kernel.add(run of the innermost dim: a_step, b_step ∈ {0, 1})
//! ```
//!
//! Optimisations: (1) merging makes equal shapes one run and a per-channel vector over
//! NHWC one run per pixel; (2) such a short vector is tiled to runs of up to 2048 codes
//! (`tile_vector`), so the kernel call and its tails are paid per 2048 codes, not per
//! pixel; (3) a broadcast operand (step 0) has its `f32(x − Z)·S` computed once per
//! run; (4) both broadcast: one code computed, then filled.

use zeropoint_kernels::AddArgs;

use super::{check_tensor, Activation, Nhwc};
use crate::{
    Engine, Error, Matrix, MatrixMut, OutType, OutputStage, PerChannel, QType, QuantParams,
    Requantization, Result,
};

/// A quantized tensor operand: codes in row-major order, its shape (any rank; `[]` is a
/// scalar) and its quantization parameters.
#[derive(Clone, Copy, Debug)]
pub struct QTensor<'a, T: QType> {
    /// The codes, `shape.iter().product()` of them.
    pub data: &'a [T],
    /// The shape, outermost axis first.
    pub shape: &'a [usize],
    /// Scale and zero point.
    pub params: QuantParams<T>,
}

impl<'a, T: QType> QTensor<'a, T> {
    /// A tensor of `data` with `shape` and `params`.
    pub fn new(data: &'a [T], shape: &'a [usize], params: QuantParams<T>) -> Self {
        QTensor {
            data,
            shape,
            params,
        }
    }
}

/// The broadcast shape of two shapes (numpy / ONNX multidirectional broadcasting): the
/// shapes are aligned at their last axis (the shorter one padded with leading 1s); on
/// each axis the sizes must be equal or one of them 1, and the result is the other
/// size (so 1 with 0 gives 0). Anything else is [`Error::Shape`].
pub fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let r = a.len().max(b.len());
    let dim = |s: &[usize], i: usize| (i + s.len()).checked_sub(r).map_or(1, |j| s[j]);
    (0..r)
        .map(|i| match (dim(a, i), dim(b, i)) {
            (x, y) if x == y => Ok(x),
            (1, y) => Ok(y),
            (x, 1) => Ok(x),
            (x, y) => Err(Error::Shape(format!(
                "shapes {a:?} and {b:?} do not broadcast: axis {i} has sizes {x} and {y}"
            ))),
        })
        .collect()
}

/// The number of elements of a shape, or a shape error on overflow.
fn numel(what: &str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| Error::Shape(format!("{what} shape {shape:?} overflows usize")))
}

/// The loop nest of a broadcast add: `(size, a_step, b_step)` per axis, outer first,
/// with size-1 axes dropped and mergeable neighbours merged. The innermost steps are 0
/// or 1. Empty when the output has one element.
fn broadcast_dims(a: &[usize], b: &[usize], out: &[usize]) -> Vec<(usize, usize, usize)> {
    let r = out.len();
    let dim = |s: &[usize], i: usize| (i + s.len()).checked_sub(r).map_or(1, |j| s[j]);
    // Row-major element strides of each operand over the padded shape; 0 where the
    // operand is broadcast.
    let mut dims = Vec::with_capacity(r);
    let (mut sa, mut sb) = (1usize, 1usize);
    for i in (0..r).rev() {
        let (da, db) = (dim(a, i), dim(b, i));
        if out[i] != 1 {
            dims.push((
                out[i],
                if da == 1 { 0 } else { sa },
                if db == 1 { 0 } else { sb },
            ));
        }
        sa *= da;
        sb *= db;
    }
    dims.reverse();
    // Merge an outer axis into the next inner one when both operands step through the
    // pair as through one axis (stride_outer = stride_inner · size_inner; also 0 = 0).
    let mut merged: Vec<(usize, usize, usize)> = Vec::with_capacity(dims.len());
    for (n, x, y) in dims.into_iter().rev() {
        match merged.last_mut() {
            Some((m, p, q)) if x == *p * *m && y == *q * *m => *m *= n,
            _ => merged.push((n, x, y)),
        }
    }
    merged.reverse();
    merged
}

/// Which operand [`tile_vector`] tiled.
enum Operand {
    A,
    B,
}

/// Runs of at least this many codes (when the outer axis allows) for a per-channel
/// vector: a kernel call per run of `C` codes costs as much as the run for small `C`.
const TILE: usize = 2048;

/// When one operand is a vector over the innermost axis only (stride 0 on every outer
/// axis) and the other is contiguous over the two innermost axes (a per-channel vector
/// `[C]` added to `[N, H, W, C]`), copies the vector `m` times (`m` the largest divisor
/// of the next axis' size with `m·C ≤ TILE`) and rewrites the two innermost axes
/// `(n1, C)` as `(n1/m, m·C)` with both operands at step 1: the same additions, in runs
/// `m` times longer. Returns the tiled copy, or `None` when the shapes do not qualify.
fn tile_vector(
    dims: &mut [(usize, usize, usize)],
    a: &[u8],
    b: &[u8],
) -> Option<(Operand, Vec<u8>)> {
    let k = dims.len();
    if k < 2 {
        return None;
    }
    let (n1, x1, y1) = dims[k - 2];
    let (len, xs, ys) = dims[k - 1];
    if (xs, ys) != (1, 1) || len >= TILE {
        return None;
    }
    let outer_zero =
        |f: fn(&(usize, usize, usize)) -> usize| dims[..k - 2].iter().all(|d| f(d) == 0);
    let (which, vector) = if (x1, y1) == (len, 0) && outer_zero(|d| d.2) {
        (Operand::B, &b[..len])
    } else if (x1, y1) == (0, len) && outer_zero(|d| d.1) {
        (Operand::A, &a[..len])
    } else {
        return None;
    };
    let m = (1..=(TILE / len).min(n1))
        .rev()
        .find(|m| n1.is_multiple_of(*m))
        .unwrap_or(1);
    if m < 2 {
        return None;
    }
    let tiled = vector.repeat(m);
    let step = match which {
        Operand::A => (0, len * m),
        Operand::B => (len * m, 0),
    };
    dims[k - 2] = (n1 / m, step.0, step.1);
    dims[k - 1] = (len * m, 1, 1);
    Some((which, tiled))
}

impl Engine {
    /// Quantized elementwise add with ONNX QLinearAdd semantics and numpy broadcasting
    /// (SPEC.md §8): `out` has the shape [`broadcast_shape`]`(a.shape, b.shape)` and
    /// holds, for each output index (each operand read at the index reduced to its own
    /// shape), `c = saturate(round_half_even((a_f + b_f) / S_C) + Z_C)` with
    /// `a_f = f32(a − Z_A)·S_A`, `b_f = f32(b − Z_B)·S_B` (each one f32 rounding, then one
    /// rounded f32 sum and a correctly rounded division), then the fused activation
    /// clamps to `[Z_C, max]` (ReLU) or `[Z_C, q_C(6)]` (ReLU6). Errors (before anything
    /// is written): shapes that do not broadcast, a buffer whose length is not its
    /// shape's element count (the output's: the broadcast shape's).
    pub fn add<T: QType>(
        &self,
        a: QTensor<'_, T>,
        b: QTensor<'_, T>,
        out: &mut [T],
        out_params: QuantParams<T>,
        activation: Activation,
    ) -> Result<()> {
        let out_shape = broadcast_shape(a.shape, b.shape)?;
        for (what, t) in [("a", &a), ("b", &b)] {
            let n = numel(what, t.shape)?;
            if t.data.len() != n {
                return Err(Error::Shape(format!(
                    "add: {what} has {} elements but its shape {:?} needs {n}",
                    t.data.len(),
                    t.shape
                )));
            }
        }
        let total = numel("output", &out_shape)?;
        if out.len() != total {
            return Err(Error::Shape(format!(
                "add: output has {} elements but the broadcast shape {out_shape:?} needs {total}",
                out.len()
            )));
        }
        if total == 0 {
            return Ok(());
        }
        let zc = out_params.zero_point().to_i32();
        let (lo, hi) = match activation {
            Activation::None => (T::MIN, T::MAX),
            Activation::Relu => (zc, T::MAX),
            Activation::Relu6 => (zc, out_params.quantize(6.0).to_i32()),
        };
        let mut dims = broadcast_dims(a.shape, b.shape, &out_shape);
        let (mut pa, mut pb) = (T::as_bytes(a.data).as_ptr(), T::as_bytes(b.data).as_ptr());
        let tiled = tile_vector(&mut dims, T::as_bytes(a.data), T::as_bytes(b.data));
        match &tiled {
            Some((Operand::A, t)) => pa = t.as_ptr(),
            Some((Operand::B, t)) => pb = t.as_ptr(),
            None => {}
        }
        let (len, a_step, b_step) = dims.last().copied().unwrap_or((1, 0, 0));
        let outer = &dims[..dims.len().saturating_sub(1)];
        let dst = out.as_mut_ptr() as *mut u8;
        let kernel = self.ops_kernels().add;
        let mut args = AddArgs {
            a: pa,
            a_step,
            b: pb,
            b_step,
            dst,
            len,
            signed: T::SIGNED,
            za: a.params.zero_point().to_i32(),
            sa: a.params.scale(),
            zb: b.params.zero_point().to_i32(),
            sb: b.params.scale(),
            zc,
            sc: out_params.scale(),
            lo,
            hi,
        };
        // Odometer over the outer axes: `idx` the index, `(oa, ob)` the operands'
        // element offsets; the output is contiguous, run after run.
        let mut idx = vec![0usize; outer.len()];
        let (mut oa, mut ob) = (0usize, 0usize);
        for run in 0..total / len {
            // The offsets address the first code of this run of each operand: `oa` is
            // Σ idx[i]·a_stride[i] over the outer axes, and the run reads `len` codes
            // at step 0 or 1 from it, inside `a` (the strides come from a's own shape,
            // whose element count was checked; a tiled vector has `len` codes and
            // stride 0 on every outer axis: `tile_vector`); likewise `b`; the run writes `len`
            // codes at `run·len`, inside `out` (`total` elements). The engine chose the
            // table for this CPU; the steps are 0 or 1 (innermost axis, see
            // `broadcast_dims`); `lo ≤ hi` inside the type, the parameters valid (by
            // `QuantParams`).
            // SAFETY: the conditions stated just above hold.
            unsafe {
                args.a = pa.add(oa);
                args.b = pb.add(ob);
                args.dst = dst.add(run * len);
                kernel(&args);
            }
            for (i, &(n, sa, sb)) in outer.iter().enumerate().rev() {
                idx[i] += 1;
                oa += sa;
                ob += sb;
                if idx[i] < n {
                    break;
                }
                idx[i] = 0;
                oa -= sa * n;
                ob -= sb * n;
            }
        }
        Ok(())
    }

    /// Global average pooling of an NHWC tensor to `n × c` (SPEC.md §8): per image and
    /// channel, `acc = Σ (x − Z_X)` over the `h·w` pixels (exact in i32, the table's
    /// `sum_pixels`), then the [`Requantization::Fp32`] output stage with
    /// `scale = f32(S_X / (S_Y·h·w))` (computed in f64) and zero point `Z_Y`:
    /// `round_half_even(f32(acc)·scale) + Z_Y`, saturated. `h·w` must be ≥ 1 and small
    /// enough that the sum fits i32 (`h·w ≤ 2^23`).
    pub fn global_avg_pool<T: QType + OutType>(
        &self,
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
        // i8 input is read as bytes `x ^ 0x80` with the zero point moved by 128.
        let zx = input_params.zero_point().to_i32();
        let (xor, zk) = if T::SIGNED {
            (0x80u8, zx + 128)
        } else {
            (0u8, zx)
        };
        let bytes = T::as_bytes(input);
        let sum = self.ops_kernels().sum_pixels;
        let mut acc = vec![0i32; n * c];
        for img in 0..n {
            let x = &bytes[img * hw * c..(img + 1) * hw * c];
            let a = &mut acc[img * c..(img + 1) * c];
            // The engine chose the table for this CPU; `x` holds `hw·c` bytes and `a`
            // `c` i32 (sliced just above); `xor` is 0 or 0x80.
            // SAFETY: the conditions stated just above hold.
            unsafe { sum(x.as_ptr(), hw, c, xor, zk, a.as_mut_ptr()) };
        }
        self.requantize(Matrix::new(&acc, n, c), &stage, MatrixMut::new(out, n, c))
    }

    /// Max pooling of an NHWC tensor (SPEC.md §8; the output has the input's
    /// quantization parameters: the max commutes with the monotonic quantization): each
    /// output code is the maximum over the window's taps inside the input (padding never
    /// wins). `out` holds [`Pool2d::output_shape`] elements.
    pub fn max_pool<T: QType>(
        &self,
        input: &[T],
        shape: Nhwc,
        pool: &Pool2d,
        out: &mut [T],
    ) -> Result<()> {
        check_tensor("input", input.len(), shape)?;
        let os = pool.output_shape(shape)?;
        check_tensor("output", out.len(), os)?;
        let (kh, kw) = pool.kernel;
        let (sh, sw) = pool.stride;
        let [pt, pl, _, _] = pool.padding;
        let c = shape.c;
        if c == 0 || os.numel()? == 0 {
            return Ok(());
        }
        let max = self.ops_kernels().max_pixel;
        let bytes = T::as_bytes(input);
        let dst = out.as_mut_ptr() as *mut u8;
        let mut taps: Vec<*const u8> = Vec::with_capacity(kh * kw);
        for img in 0..shape.n {
            let x = &bytes[img * shape.h * shape.w * c..(img + 1) * shape.h * shape.w * c];
            for oy in 0..os.h {
                for ox in 0..os.w {
                    taps.clear();
                    for ky in 0..kh {
                        let iy = (oy * sh + ky).wrapping_sub(pt);
                        if iy >= shape.h {
                            continue;
                        }
                        for kx in 0..kw {
                            let ix = (ox * sw + kx).wrapping_sub(pl);
                            if ix < shape.w {
                                taps.push(x[(iy * shape.w + ix) * c..][..c].as_ptr());
                            }
                        }
                    }
                    let o = ((img * os.h + oy) * os.w + ox) * c;
                    // The engine chose the table for this CPU; every tap points at `c`
                    // bytes of `x` (sliced above); `taps` is non-empty (a padding
                    // smaller than the window leaves every window a tap inside the
                    // input: `Pool2d::output_shape`); pixel `o` of `out` holds `c`
                    // codes (`out` has `os` elements, checked).
                    // SAFETY: the conditions stated just above hold.
                    unsafe { max(&taps, c, T::SIGNED, dst.add(o)) };
                }
            }
        }
        Ok(())
    }
}

/// Quantized elementwise add of two tensors of the same length (no broadcasting) on
/// [`Engine::global`]: see [`Engine::add`] (QLinearAdd; the inputs may have different
/// scales and zero points). The three buffers have the same length, else
/// [`Error::Shape`]; [`add_broadcast`] broadcasts.
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
    let shape = [a.len()];
    Engine::global()?.add(
        QTensor::new(a, &shape, a_params),
        QTensor::new(b, &shape, b_params),
        out,
        out_params,
        activation,
    )
}

/// [`Engine::add`] (QLinearAdd with numpy broadcasting) on [`Engine::global`].
pub fn add_broadcast<T: QType>(
    a: QTensor<'_, T>,
    b: QTensor<'_, T>,
    out: &mut [T],
    out_params: QuantParams<T>,
    activation: Activation,
) -> Result<()> {
    Engine::global()?.add(a, b, out, out_params, activation)
}

/// [`Engine::global_avg_pool`] on [`Engine::global`].
pub fn global_avg_pool<T: QType + OutType>(
    input: &[T],
    shape: Nhwc,
    input_params: QuantParams<T>,
    out: &mut [T],
    out_params: QuantParams<T>,
) -> Result<()> {
    Engine::global()?.global_avg_pool(input, shape, input_params, out, out_params)
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

/// [`Engine::max_pool`] on [`Engine::global`].
pub fn max_pool<T: QType>(input: &[T], shape: Nhwc, pool: &Pool2d, out: &mut [T]) -> Result<()> {
    Engine::global()?.max_pool(input, shape, pool, out)
}
