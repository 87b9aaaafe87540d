//! Target `dynamic_quantize`: ONNX DynamicQuantizeLinear (u8) and the per-row dynamic
//! quantization (u8/i8; asymmetric, symmetric restricted or full), on every engine.
//!
//! Decoded: which function, the type and mode, rows (0..9) and columns (0..71), stride
//! padding (filled with NaN when asked: it must not be read), a buffer one element
//! short or a parameter slice of the wrong length, and the values (arbitrary bits —
//! NaN/inf must be `Err` — ties, specials, every magnitude).
//!
//! Checked, per engine: success exactly when the input is valid (non-empty, finite,
//! parameters constructible); on `Err` neither the output nor the parameter slots are
//! written; on success the parameters equal `QuantParams::from_range` / `symmetric` of
//! the min / max / absolute max computed here, and every code equals `quantize_f32`
//! with them, bit for bit.

use zeropoint::kernels::scalar::requant::quantize_f32;
use zeropoint::{DynamicMode, Matrix, MatrixMut, QuantParams, SymmetricRange};

use crate::{assert_same_bits, buffer_len, engines, layout_ok, Code, Fill, Out, Reader, Writer};

/// A decoded dynamic-quantization case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct DynamicSpec {
    /// Per-row (else DynamicQuantizeLinear on `rows·cols` values).
    pub per_row: bool,
    /// i8 output (per-row only; else u8).
    pub signed: bool,
    /// 0 asymmetric, 1 symmetric restricted, 2 symmetric full (mod 3; per-row only).
    pub mode: u8,
    /// Rows (mod 9).
    pub rows: u8,
    /// Columns (mod 71).
    pub cols: u8,
    /// Extra row stride of the input (mod 4).
    pub pad: u8,
    /// Extra row stride of the output (mod 4).
    pub out_pad: u8,
    /// 13 (mod 16): input one short; 14: output one short; 15: one parameter slot too
    /// many.
    pub short: u8,
    /// Fill the input's stride padding with NaN (which must be ignored).
    pub nan_padding: bool,
    /// The values.
    pub x_fill: Fill,
    /// Bit pattern of the scale the values are generated around (ties).
    pub scale_bits: u32,
}

impl DynamicSpec {
    /// Decodes the fields in order.
    pub fn decode(r: &mut Reader<'_>) -> Self {
        DynamicSpec {
            per_row: r.bool(),
            signed: r.bool(),
            mode: r.u8(),
            rows: r.u8(),
            cols: r.u8(),
            pad: r.u8(),
            out_pad: r.u8(),
            short: r.u8(),
            nan_padding: r.bool(),
            x_fill: Fill::decode(r),
            scale_bits: r.u32(),
        }
    }

    /// Encodes the fields in decoding order.
    pub fn encode(&self, w: &mut Writer) {
        w.bool(self.per_row);
        w.bool(self.signed);
        w.u8(self.mode);
        w.u8(self.rows);
        w.u8(self.cols);
        w.u8(self.pad);
        w.u8(self.out_pad);
        w.u8(self.short);
        w.bool(self.nan_padding);
        self.x_fill.encode(w);
        w.u32(self.scale_bits);
    }

    fn scale(&self) -> f32 {
        let s = f32::from_bits(self.scale_bits);
        if s.is_finite() && s > 0.0 {
            s
        } else {
            1.0
        }
    }
}

/// Fuzz entry point.
pub fn run(data: &[u8]) {
    let _ = check(&DynamicSpec::decode(&mut Reader::new(data)));
}

/// Runs every check on one spec; returns whether it was valid.
pub fn check(s: &DynamicSpec) -> bool {
    if !s.per_row {
        check_linear(s)
    } else if s.signed {
        check_rows::<i8>(s)
    } else {
        check_rows::<u8>(s)
    }
}

/// Min and max of finite values, in the order the values come; `None` if empty or any
/// is not finite.
fn min_max(x: &[f32]) -> Option<(f32, f32)> {
    if x.is_empty() || !x.iter().all(|v| v.is_finite()) {
        return None;
    }
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in x {
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    }
    Some((lo, hi))
}

fn quantize_all<T: Code>(p: &QuantParams<T>, x: &[f32]) -> Vec<T> {
    x.iter()
        .map(|&v| {
            T::from_i32(quantize_f32(
                v,
                p.scale(),
                p.zero_point().val(),
                T::MIN,
                T::MAX,
            ))
        })
        .collect()
}

fn check_linear(s: &DynamicSpec) -> bool {
    let len = (s.rows as usize % 9) * (s.cols as usize % 71);
    let x = s.x_fill.f32s(len, s.scale());
    let out_len = len.saturating_sub(usize::from(s.short % 16 == 14));
    let params = min_max(&x).map(|(lo, hi)| QuantParams::<u8>::from_range(lo, hi));
    let valid = out_len == len && matches!(params, Some(Ok(_)));
    let expected = match &params {
        Some(Ok(p)) if valid => quantize_all(p, &x),
        _ => vec![u8::SENTINEL; out_len],
    };
    for e in engines() {
        let what = || {
            format!(
                "dynamic_quantize_linear on {}, {len} values, spec {s:?}",
                e.label
            )
        };
        let mut got = vec![u8::SENTINEL; out_len];
        let r = e.engine.dynamic_quantize_linear(&x, &mut got);
        assert_eq!(r.is_ok(), valid, "{}: gave {r:?}", what());
        if let (Ok(p), Some(Ok(want))) = (&r, &params) {
            assert_eq!(p, want, "{}: parameters", what());
        }
        assert_same_bits(&what, &got, &expected);
    }
    valid
}

fn check_rows<T: Code>(s: &DynamicSpec) -> bool {
    let (rows, cols) = (s.rows as usize % 9, s.cols as usize % 71);
    let stride = cols + (s.pad % 4) as usize;
    let x_len = buffer_len(rows, cols, stride, usize::from(s.short % 16 == 13));
    let mut x = s.x_fill.f32s(x_len, s.scale());
    if s.nan_padding {
        for (i, v) in x.iter_mut().enumerate() {
            if i % stride >= cols {
                *v = f32::NAN;
            }
        }
    }
    let out_stride = cols + (s.out_pad % 4) as usize;
    let out_len = buffer_len(rows, cols, out_stride, usize::from(s.short % 16 == 14));
    let slots = rows + usize::from(s.short % 16 == 15);
    let mode = match s.mode % 3 {
        0 => DynamicMode::Asymmetric,
        1 => DynamicMode::Symmetric(SymmetricRange::Restricted),
        _ => DynamicMode::Symmetric(SymmetricRange::Full),
    };
    let layouts_ok = layout_ok(x_len, rows, cols, stride)
        && layout_ok(out_len, rows, cols, out_stride)
        && slots == rows
        && cols > 0;
    // Per row: the parameters, or None when the row is not finite or they cannot be
    // constructed.
    let row_params: Vec<Option<QuantParams<T>>> = if layouts_ok {
        (0..rows)
            .map(|r| {
                let (lo, hi) = min_max(&x[r * stride..r * stride + cols])?;
                match mode {
                    DynamicMode::Asymmetric => QuantParams::from_range(lo, hi).ok(),
                    DynamicMode::Symmetric(range) => {
                        QuantParams::symmetric(hi.max(-lo), range).ok()
                    }
                }
            })
            .collect()
    } else {
        vec![]
    };
    let valid = layouts_ok && row_params.iter().all(Option::is_some);
    let sentinel = QuantParams::<T>::new(123.0, T::from_i32(T::MAX)).expect("valid");
    let mut expected = vec![T::SENTINEL; out_len];
    let mut expected_params = vec![sentinel; slots];
    if valid {
        for (r, p) in row_params.iter().enumerate() {
            let p = p.expect("valid");
            let q = quantize_all(&p, &x[r * stride..r * stride + cols]);
            expected[r * out_stride..r * out_stride + cols].copy_from_slice(&q);
            expected_params[r] = p;
        }
    }
    for e in engines() {
        let what = || {
            format!(
                "dynamic_quantize_rows::<{}> on {}, {rows}×{cols}, spec {s:?}",
                T::NAME,
                e.label
            )
        };
        let mut got = vec![T::SENTINEL; out_len];
        let mut params = vec![sentinel; slots];
        let r = e.engine.dynamic_quantize_rows(
            Matrix::with_stride(&x[..], rows, cols, stride),
            mode,
            MatrixMut::with_stride(&mut got, rows, cols, out_stride),
            &mut params,
        );
        assert_eq!(r.is_ok(), valid, "{}: gave {r:?}", what());
        assert_eq!(params, expected_params, "{}: parameters", what());
        assert_same_bits(&what, &got, &expected);
    }
    valid
}
