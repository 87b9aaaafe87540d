//! Scalar element-wise kernels: quantize, dequantize, requantize a row, min/max.

use super::requant::{dequantize, quantize_f32};
use crate::{ElementwiseKernels, Isa, OutputStage};

/// The scalar element-wise table.
pub static ELEMENTWISE: ElementwiseKernels = ElementwiseKernels {
    name: "scalar::elementwise",
    isa: Isa::Scalar,
    quantize_u8,
    quantize_i8,
    dequantize_u8,
    dequantize_i8,
    requantize_row,
    min_max,
};

/// Quantizes f32 to u8 (ONNX QuantizeLinear).
///
/// # Safety
/// None beyond the table's contract (kept `unsafe` for a uniform table type).
unsafe fn quantize_u8(src: &[f32], dst: &mut [u8], scale: f32, zp: i32) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = quantize_f32(x, scale, zp, 0, 255) as u8;
    }
}

/// Quantizes f32 to i8 (ONNX QuantizeLinear).
///
/// # Safety
/// None beyond the table's contract.
unsafe fn quantize_i8(src: &[f32], dst: &mut [i8], scale: f32, zp: i32) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = quantize_f32(x, scale, zp, -128, 127) as i8;
    }
}

/// Dequantizes u8 to f32.
///
/// # Safety
/// None beyond the table's contract.
unsafe fn dequantize_u8(src: &[u8], dst: &mut [f32], scale: f32, zp: i32) {
    for (d, &q) in dst.iter_mut().zip(src) {
        *d = dequantize(q as i32, zp, scale);
    }
}

/// Dequantizes i8 to f32.
///
/// # Safety
/// None beyond the table's contract.
unsafe fn dequantize_i8(src: &[i8], dst: &mut [f32], scale: f32, zp: i32) {
    for (d, &q) in dst.iter_mut().zip(src) {
        *d = dequantize(q as i32, zp, scale);
    }
}

/// Applies `stage` to a row of i32 values.
///
/// # Safety
/// `stage` valid for columns `0..src.len()`, `dst` for `src.len()` elements.
unsafe fn requantize_row(src: &[i32], stage: &OutputStage, dst: *mut u8) {
    for (j, &acc) in src.iter().enumerate() {
        // SAFETY: column j < src.len() and element j of dst are covered by the contract.
        unsafe { stage.store(acc, j, dst, j) };
    }
}

/// Minimum, maximum and whether every value is finite.
///
/// # Safety
/// None beyond the table's contract.
unsafe fn min_max(src: &[f32]) -> (f32, f32, bool) {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    let mut finite = true;
    for &x in src {
        finite &= x.is_finite();
        lo = if x < lo { x } else { lo };
        hi = if x > hi { x } else { hi };
    }
    (lo, hi, finite)
}
