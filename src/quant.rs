//! Quantize, dequantize, dynamic quantization and requantize over tensors
//! (SPEC.md §1–§3, §5), dispatched to the engine's element-wise table.

use crate::matrix::{Matrix, MatrixMut};
use crate::params::{check_scale, Granularity, QType, QuantParams, SymmetricRange};
use crate::stage::{OutType, OutputStage};
use crate::{Engine, Error, Result};

/// How the elements of a validated tensor map to parameters; iterating it allocates
/// nothing (quantize and dequantize run on activations, in the hot path).
enum Plan<'g, T: QType> {
    /// Nothing to do (no elements).
    Empty,
    /// One run over all elements.
    Tensor { numel: usize, scale: f32, zp: i32 },
    /// Per-axis: runs of `inner` elements, parameter `d`.
    Axis {
        outer: usize,
        dim: usize,
        inner: usize,
        scales: &'g [f32],
        zps: Option<&'g [T]>,
    },
    /// Per-block along `axis`.
    Block {
        outer: usize,
        dim: usize,
        inner: usize,
        block: usize,
        scales: &'g [f32],
        zps: Option<&'g [T]>,
    },
}

impl<T: QType> Plan<'_, T> {
    /// Calls `f(start, len, scale, zero_point)` for every run of elements sharing
    /// parameters, in order.
    fn for_each(&self, mut f: impl FnMut(usize, usize, f32, i32)) {
        let zp = |zps: Option<&[T]>, i: usize| zps.map_or(0, |z| z[i].to_i32());
        match *self {
            Plan::Empty => {}
            Plan::Tensor { numel, scale, zp } => f(0, numel, scale, zp),
            Plan::Axis {
                outer,
                dim,
                inner,
                scales,
                zps,
            } => {
                for o in 0..outer {
                    for (d, &scale) in scales.iter().enumerate().take(dim) {
                        f((o * dim + d) * inner, inner, scale, zp(zps, d));
                    }
                }
            }
            Plan::Block {
                outer,
                dim,
                inner,
                block,
                scales,
                zps,
            } => {
                let nb = dim.div_ceil(block);
                for o in 0..outer {
                    if inner == 1 {
                        // Blocks along the last axis are contiguous runs.
                        for b in 0..nb {
                            let d0 = b * block;
                            let i = o * nb + b;
                            f(o * dim + d0, block.min(dim - d0), scales[i], zp(zps, i));
                        }
                    } else {
                        for d in 0..dim {
                            for x in 0..inner {
                                let i = (o * nb + d / block) * inner + x;
                                f((o * dim + d) * inner + x, 1, scales[i], zp(zps, i));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Validates `shape` against the buffer lengths and the granularity's parameters.
fn plan<'g, T: QType>(
    len_in: usize,
    len_out: usize,
    shape: &[usize],
    g: &Granularity<'g, T>,
) -> Result<Plan<'g, T>> {
    let product = |dims: &[usize]| {
        dims.iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::Shape(format!("shape {shape:?} overflows usize")))
    };
    let numel = product(shape)?;
    if len_in != numel {
        return Err(Error::Shape(format!(
            "input has {len_in} elements but shape {shape:?} has {numel}"
        )));
    }
    if len_out != numel {
        return Err(Error::Shape(format!(
            "output has {len_out} elements but shape {shape:?} has {numel}"
        )));
    }
    let check_axis = |axis: usize| -> Result<(usize, usize, usize)> {
        if axis >= shape.len() {
            return Err(Error::Shape(format!(
                "axis {axis} out of range for rank {}",
                shape.len()
            )));
        }
        // Checked: with a zero elsewhere in the shape `numel` fits while a partial
        // product may not (e.g. [0, usize::MAX, 2]).
        Ok((
            product(&shape[..axis])?,
            shape[axis],
            product(&shape[axis + 1..])?,
        ))
    };
    let check_params = |scales: &[f32], zps: Option<&[T]>, count: usize| -> Result<()> {
        if scales.len() != count {
            return Err(Error::Shape(format!(
                "{} scales where {count} are needed",
                scales.len()
            )));
        }
        for (i, &s) in scales.iter().enumerate() {
            check_scale("scale", i, s)?;
        }
        match zps {
            Some(z) if z.len() != count => Err(Error::Shape(format!(
                "{} zero points where {count} are needed",
                z.len()
            ))),
            _ => Ok(()),
        }
    };
    let plan = match *g {
        Granularity::PerTensor(p) => Plan::Tensor {
            numel,
            scale: p.scale(),
            zp: p.zero_point().to_i32(),
        },
        Granularity::PerAxis {
            axis,
            scales,
            zero_points,
        } => {
            let (outer, dim, inner) = check_axis(axis)?;
            check_params(scales, zero_points, dim)?;
            Plan::Axis {
                outer,
                dim,
                inner,
                scales,
                zps: zero_points,
            }
        }
        Granularity::PerBlock {
            axis,
            block_size,
            scales,
            zero_points,
        } => {
            let (outer, dim, inner) = check_axis(axis)?;
            if block_size == 0 {
                return Err(Error::Shape("block_size must be at least 1".into()));
            }
            let count = outer
                .checked_mul(dim.div_ceil(block_size))
                .and_then(|c| c.checked_mul(inner))
                .ok_or_else(|| Error::Shape(format!("shape {shape:?} overflows usize")))?;
            check_params(scales, zero_points, count)?;
            Plan::Block {
                outer,
                dim,
                inner,
                block: block_size,
                scales,
                zps: zero_points,
            }
        }
    };
    // Validated; with no elements there is nothing to iterate (and the loops could
    // count to a huge `outer`).
    Ok(if numel == 0 { Plan::Empty } else { plan })
}

/// The mode of per-row dynamic quantization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DynamicMode {
    /// Each row gets [`QuantParams::from_range`] of its min and max (ONNX
    /// DynamicQuantizeLinear's formula, for u8 or i8).
    Asymmetric,
    /// Each row gets [`QuantParams::symmetric`] of its absolute maximum (the usual i8 path
    /// of LLM engines, zero point 0).
    Symmetric(SymmetricRange),
}

impl Engine {
    /// Quantizes a tensor of `shape` (row-major) with per-tensor, per-axis or per-block
    /// parameters (ONNX QuantizeLinear). Nothing is written unless every argument is valid.
    pub fn quantize<T: QType>(
        &self,
        x: &[f32],
        shape: &[usize],
        g: &Granularity<'_, T>,
        out: &mut [T],
    ) -> Result<()> {
        let t = self.elementwise_kernels();
        plan(x.len(), out.len(), shape, g)?.for_each(|start, len, s, z| {
            let (src, dst) = (&x[start..start + len], &mut out[start..start + len]);
            // SAFETY: the table was chosen by an engine for this CPU; the scale was
            // checked finite and positive; the zero point is a value of T.
            unsafe { T::quantize_with(t, src, dst, s, z) };
        });
        Ok(())
    }

    /// Dequantizes a tensor (ONNX DequantizeLinear): `(q − zp) · scale`.
    pub fn dequantize<T: QType>(
        &self,
        q: &[T],
        shape: &[usize],
        g: &Granularity<'_, T>,
        out: &mut [f32],
    ) -> Result<()> {
        let t = self.elementwise_kernels();
        plan(q.len(), out.len(), shape, g)?.for_each(|start, len, s, z| {
            let (src, dst) = (&q[start..start + len], &mut out[start..start + len]);
            // SAFETY: the table was chosen by an engine for this CPU.
            unsafe { T::dequantize_with(t, src, dst, s, z) };
        });
        Ok(())
    }

    /// Min, max of a non-empty finite slice; `NonFinite` names the first NaN/inf.
    fn finite_min_max(&self, what: &'static str, x: &[f32]) -> Result<(f32, f32)> {
        // SAFETY: the table was chosen by an engine for this CPU.
        let (lo, hi, finite) = unsafe { (self.elementwise_kernels().min_max)(x) };
        if !finite {
            let index = x.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(Error::NonFinite { what, index });
        }
        Ok((lo, hi))
    }

    /// ONNX DynamicQuantizeLinear: u8 parameters from the range of `x` (widened to 0),
    /// then quantize. Returns the parameters. `x` must be non-empty and finite.
    pub fn dynamic_quantize_linear(&self, x: &[f32], out: &mut [u8]) -> Result<QuantParams<u8>> {
        if x.is_empty() {
            return Err(Error::Shape(
                "dynamic quantization of an empty tensor".into(),
            ));
        }
        if out.len() != x.len() {
            return Err(Error::Shape(format!(
                "output has {} elements, input {}",
                out.len(),
                x.len()
            )));
        }
        let (lo, hi) = self.finite_min_max("input", x)?;
        let p = QuantParams::<u8>::from_range(lo, hi)?;
        self.quantize(x, &[x.len()], &Granularity::PerTensor(p), out)?;
        Ok(p)
    }

    /// Per-row dynamic quantization of an f32 matrix into u8 or i8, one set of parameters
    /// per row (written to `params`, `x.rows` entries). Every row must be finite.
    pub fn dynamic_quantize_rows<T: QType>(
        &self,
        x: Matrix<'_, f32>,
        mode: DynamicMode,
        mut out: MatrixMut<'_, T>,
        params: &mut [QuantParams<T>],
    ) -> Result<()> {
        x.check("input")?;
        out.check("output")?;
        if out.rows != x.rows || out.cols != x.cols {
            return Err(Error::Shape(format!(
                "output is {}×{} but input is {}×{}",
                out.rows, out.cols, x.rows, x.cols
            )));
        }
        if params.len() != x.rows {
            return Err(Error::Shape(format!(
                "{} parameter slots for {} rows",
                params.len(),
                x.rows
            )));
        }
        if x.cols == 0 {
            return Err(Error::Shape("dynamic quantization of empty rows".into()));
        }
        let row_params = |r: usize| -> Result<QuantParams<T>> {
            let row = &x.data[r * x.stride..r * x.stride + x.cols];
            let (lo, hi) = self.finite_min_max("input row", row)?;
            match mode {
                DynamicMode::Asymmetric => QuantParams::<T>::from_range(lo, hi),
                DynamicMode::Symmetric(range) => QuantParams::<T>::symmetric(hi.max(-lo), range),
            }
        };
        // Pass 1 validates every row, so that nothing (neither `out` nor `params`) is
        // written when one row is bad; pass 2 recomputes the cheap min/max rather than
        // keeping per-row results in an allocation.
        for r in 0..x.rows {
            row_params(r)?;
        }
        let t = self.elementwise_kernels();
        let o = out.reborrow();
        for (r, slot) in params.iter_mut().enumerate() {
            let p = row_params(r)?;
            let row = &x.data[r * x.stride..r * x.stride + x.cols];
            let dst = &mut o.data[r * o.stride..r * o.stride + x.cols];
            // SAFETY: table chosen for this CPU; the scale is valid by construction.
            unsafe { T::quantize_with(t, row, dst, p.scale(), p.zero_point().to_i32()) };
            *slot = p;
        }
        Ok(())
    }

    /// Applies an output stage to an i32 matrix (columns are the channels of per-channel
    /// parameters): requantize to u8/i8, add bias, dequantize to f32, or copy to i32.
    pub fn requantize<O: OutType>(
        &self,
        src: Matrix<'_, i32>,
        stage: &OutputStage<'_>,
        out: MatrixMut<'_, O>,
    ) -> Result<()> {
        src.check("input")?;
        out.check("output")?;
        if out.rows != src.rows || out.cols != src.cols {
            return Err(Error::Shape(format!(
                "output is {}×{} but input is {}×{}",
                out.rows, out.cols, src.rows, src.cols
            )));
        }
        let raw = stage.lower::<O>(src.cols)?;
        if src.cols == 0 {
            // Zero-width rows: nothing to do, and the buffers may be shorter than
            // `rows × stride` (`check` requires no storage for them).
            return Ok(());
        }
        let t = self.elementwise_kernels();
        for r in 0..src.rows {
            let row = &src.data[r * src.stride..r * src.stride + src.cols];
            let dst = out.data[r * out.stride..r * out.stride + src.cols].as_mut_ptr() as *mut u8;
            // SAFETY: table chosen for this CPU; `raw` validated for `src.cols` columns and
            // borrows from `stage`; `dst` holds `src.cols` elements of O.
            unsafe { (t.requantize_row)(row, raw.raw(), dst) };
        }
        Ok(())
    }
}

/// [`Engine::quantize`] on the global engine.
pub fn quantize<T: QType>(
    x: &[f32],
    shape: &[usize],
    g: &Granularity<'_, T>,
    out: &mut [T],
) -> Result<()> {
    Engine::global()?.quantize(x, shape, g, out)
}

/// [`Engine::dequantize`] on the global engine.
pub fn dequantize<T: QType>(
    q: &[T],
    shape: &[usize],
    g: &Granularity<'_, T>,
    out: &mut [f32],
) -> Result<()> {
    Engine::global()?.dequantize(q, shape, g, out)
}

/// [`Engine::dynamic_quantize_linear`] on the global engine.
pub fn dynamic_quantize_linear(x: &[f32], out: &mut [u8]) -> Result<QuantParams<u8>> {
    Engine::global()?.dynamic_quantize_linear(x, out)
}

/// [`Engine::dynamic_quantize_rows`] on the global engine.
pub fn dynamic_quantize_rows<T: QType>(
    x: Matrix<'_, f32>,
    mode: DynamicMode,
    out: MatrixMut<'_, T>,
    params: &mut [QuantParams<T>],
) -> Result<()> {
    Engine::global()?.dynamic_quantize_rows(x, mode, out, params)
}

/// [`Engine::requantize`] on the global engine.
pub fn requantize<O: OutType>(
    src: Matrix<'_, i32>,
    stage: &OutputStage<'_>,
    out: MatrixMut<'_, O>,
) -> Result<()> {
    Engine::global()?.requantize(src, stage, out)
}
