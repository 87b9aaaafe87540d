//! Quantize, dequantize, dynamic quantization and requantize over tensors
//! (SPEC.md §1–§3, §5), dispatched to the engine's element-wise table.

use crate::matrix::{Matrix, MatrixMut};
use crate::params::{check_scale, Granularity, QType, QuantParams, SymmetricRange};
use crate::stage::{OutType, OutputStage};
use crate::{Engine, Error, Result};

/// A contiguous run of elements that share one parameter index.
struct Run {
    start: usize,
    len: usize,
    param: usize,
}

/// Validates `shape` against a buffer length and the granularity, and lists the runs of
/// elements sharing parameters. Returns `(runs, scales, zero points)`.
fn plan<'g, T: QType>(
    len_in: usize,
    len_out: usize,
    shape: &[usize],
    g: &'g Granularity<'g, T>,
) -> Result<(Vec<Run>, Vec<f32>, Vec<i32>)> {
    let numel = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::Shape(format!("shape {shape:?} overflows usize")))?;
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
        let product = |dims: &[usize]| {
            dims.iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| Error::Shape(format!("shape {shape:?} overflows usize")))
        };
        Ok((
            product(&shape[..axis])?,
            shape[axis],
            product(&shape[axis + 1..])?,
        ))
    };
    let params =
        |scales: &[f32], zps: Option<&[T]>, count: usize| -> Result<(Vec<f32>, Vec<i32>)> {
            if scales.len() != count {
                return Err(Error::Shape(format!(
                    "{} scales where {count} are needed",
                    scales.len()
                )));
            }
            for (i, &s) in scales.iter().enumerate() {
                check_scale("scale", i, s)?;
            }
            let z = match zps {
                Some(z) if z.len() != count => {
                    return Err(Error::Shape(format!(
                        "{} zero points where {count} are needed",
                        z.len()
                    )))
                }
                Some(z) => z.iter().map(|v| v.to_i32()).collect(),
                None => vec![0; count],
            };
            Ok((scales.to_vec(), z))
        };
    match *g {
        Granularity::PerTensor(p) => Ok((
            vec![Run {
                start: 0,
                len: numel,
                param: 0,
            }],
            vec![p.scale()],
            vec![p.zero_point().to_i32()],
        )),
        Granularity::PerAxis {
            axis,
            scales,
            zero_points,
        } => {
            let (outer, dim, inner) = check_axis(axis)?;
            let (s, z) = params(scales, zero_points, dim)?;
            if numel == 0 {
                // Validated; no runs (the loops below could count to a huge `outer`).
                return Ok((Vec::new(), s, z));
            }
            let mut runs = Vec::with_capacity(outer * dim);
            for o in 0..outer {
                for d in 0..dim {
                    runs.push(Run {
                        start: (o * dim + d) * inner,
                        len: inner,
                        param: d,
                    });
                }
            }
            Ok((runs, s, z))
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
            let nb = dim.div_ceil(block_size);
            let (s, z) = params(scales, zero_points, outer * nb * inner)?;
            if numel == 0 {
                return Ok((Vec::new(), s, z));
            }
            let mut runs = Vec::new();
            for o in 0..outer {
                if inner == 1 {
                    for b in 0..nb {
                        let d0 = b * block_size;
                        runs.push(Run {
                            start: o * dim + d0,
                            len: block_size.min(dim - d0),
                            param: o * nb + b,
                        });
                    }
                } else {
                    for d in 0..dim {
                        for i in 0..inner {
                            runs.push(Run {
                                start: (o * dim + d) * inner + i,
                                len: 1,
                                param: (o * nb + d / block_size) * inner + i,
                            });
                        }
                    }
                }
            }
            Ok((runs, s, z))
        }
    }
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
        let (runs, scales, zps) = plan(x.len(), out.len(), shape, g)?;
        let t = self.elementwise_kernels();
        for r in runs {
            let (s, z) = (scales[r.param], zps[r.param]);
            let src = &x[r.start..r.start + r.len];
            let dst = &mut out[r.start..r.start + r.len];
            // SAFETY: the table was chosen by an engine for this CPU; the scale was
            // checked finite and positive; the zero point is a value of T.
            unsafe { T::quantize_with(t, src, dst, s, z) };
        }
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
        let (runs, scales, zps) = plan(q.len(), out.len(), shape, g)?;
        let t = self.elementwise_kernels();
        for r in runs {
            let (s, z) = (scales[r.param], zps[r.param]);
            let src = &q[r.start..r.start + r.len];
            let dst = &mut out[r.start..r.start + r.len];
            // SAFETY: the table was chosen by an engine for this CPU.
            unsafe { T::dequantize_with(t, src, dst, s, z) };
        }
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
        // Validate every row before writing anything.
        let mut chosen = Vec::with_capacity(x.rows);
        for r in 0..x.rows {
            let row = &x.data[r * x.stride..r * x.stride + x.cols];
            let (lo, hi) = self.finite_min_max("input row", row)?;
            chosen.push(match mode {
                DynamicMode::Asymmetric => QuantParams::<T>::from_range(lo, hi)?,
                DynamicMode::Symmetric(range) => QuantParams::<T>::symmetric(hi.max(-lo), range)?,
            });
        }
        let t = self.elementwise_kernels();
        let o = out.reborrow();
        for (r, p) in chosen.into_iter().enumerate() {
            let row = &x.data[r * x.stride..r * x.stride + x.cols];
            let dst = &mut o.data[r * o.stride..r * o.stride + x.cols];
            // SAFETY: table chosen for this CPU; the scale is valid by construction.
            unsafe { T::quantize_with(t, row, dst, p.scale(), p.zero_point().to_i32()) };
            params[r] = p;
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
            unsafe { (t.requantize_row)(row, &raw, dst) };
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
