//! The fused output stage: what happens to an i32 accumulator before it is stored.
//!
//! Semantics (SPEC.md §5), for the accumulator `acc` of column `j`:
//! 1. `acc = acc.wrapping_add(bias[j])` when an i32 bias is given;
//! 2. then by destination type:
//!    - `I32`: store `acc`;
//!    - `U8`/`I8`: requantize with the [`Scheme`] and the column's parameters, add the
//!      output zero point, clamp to `[qmin, qmax]` (a subset of the type's range);
//!    - `F32`: `f32(acc) · scale[j]`, then `+ f32_bias[j]` when given: two separately
//!      rounded operations, never a fused multiply-add.
//!
//! The element-wise methods here are the reference that every SIMD store must equal.

use crate::scalar::requant::{
    add_zero_point_clamp, multiply_double_rounding, multiply_single_rounding, requantize_fp32,
    QuantizedMultiplier, Scheme,
};

/// The element type written by a GEMM or requantize call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DstType {
    /// i32 accumulators (after the optional bias).
    I32 = 0,
    /// Requantized u8.
    U8 = 1,
    /// Requantized i8.
    I8 = 2,
    /// Dequantized f32.
    F32 = 3,
}

impl DstType {
    /// Size of one element in bytes.
    pub const fn size(self) -> usize {
        match self {
            DstType::U8 | DstType::I8 => 1,
            DstType::I32 | DstType::F32 => 4,
        }
    }
}

/// A validated output stage, in the form the kernels read. Built by the safe crate.
///
/// Per-column parameters are read at index `j * param_stride` (`param_stride` is 0 for
/// per-tensor parameters, 1 for per-channel), where `j` is the global output column.
/// Every non-null pointer is valid for every index a call can reach.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct OutputStage {
    /// The destination element type.
    pub dst_type: DstType,
    /// The requantization scheme (used when `dst_type` is `U8` or `I8`).
    pub scheme: Scheme,
    /// 0 for per-tensor parameters, 1 for per-column (per-channel) parameters.
    pub param_stride: usize,
    /// i32 bias, one per output column (always per column), or null for none.
    pub bias: *const i32,
    /// f32 scales for `Scheme::Fp32` and for `DstType::F32`, or null.
    pub scale: *const f32,
    /// Fixed-point multipliers for the two fixed-point schemes, or null.
    pub multiplier: *const QuantizedMultiplier,
    /// f32 bias added after scaling for `DstType::F32`, one per column, or null.
    pub f32_bias: *const f32,
    /// Output zero point (`U8`/`I8`).
    pub zero_point: i32,
    /// Lower clamp bound (`U8`/`I8`), within the type's range.
    pub qmin: i32,
    /// Upper clamp bound (`U8`/`I8`), within the type's range, `>= qmin`.
    pub qmax: i32,
}

impl OutputStage {
    /// A stage that stores raw i32 accumulators.
    pub const fn i32_plain() -> Self {
        OutputStage {
            dst_type: DstType::I32,
            scheme: Scheme::Fp32,
            param_stride: 0,
            bias: core::ptr::null(),
            scale: core::ptr::null(),
            multiplier: core::ptr::null(),
            f32_bias: core::ptr::null(),
            zero_point: 0,
            qmin: 0,
            qmax: 0,
        }
    }

    /// Adds the i32 bias of column `col`, if any (wrapping).
    ///
    /// # Safety
    /// `self.bias` is null or valid for index `col`.
    #[inline(always)]
    pub unsafe fn add_bias(&self, acc: i32, col: usize) -> i32 {
        if self.bias.is_null() {
            acc
        } else {
            // SAFETY: the caller guarantees `bias` is valid for `col`.
            acc.wrapping_add(unsafe { *self.bias.add(col) })
        }
    }

    /// Requantizes `acc` (bias already added) for column `col` to an integer in
    /// `[qmin, qmax]`.
    ///
    /// # Safety
    /// The parameter pointer of `self.scheme` is valid for index `col * param_stride`.
    #[inline(always)]
    pub unsafe fn requantize(&self, acc: i32, col: usize) -> i32 {
        let p = col * self.param_stride;
        match self.scheme {
            Scheme::Fp32 => {
                // SAFETY: caller guarantees `scale` is valid for `p`.
                let s = unsafe { *self.scale.add(p) };
                requantize_fp32(acc, s, self.zero_point, self.qmin, self.qmax)
            }
            Scheme::DoubleRounding => {
                // SAFETY: caller guarantees `multiplier` is valid for `p`.
                let m = unsafe { *self.multiplier.add(p) };
                add_zero_point_clamp(
                    multiply_double_rounding(acc, m) as i64,
                    self.zero_point,
                    self.qmin,
                    self.qmax,
                )
            }
            Scheme::SingleRounding => {
                // SAFETY: caller guarantees `multiplier` is valid for `p`.
                let m = unsafe { *self.multiplier.add(p) };
                add_zero_point_clamp(
                    multiply_single_rounding(acc, m),
                    self.zero_point,
                    self.qmin,
                    self.qmax,
                )
            }
        }
    }

    /// Dequantizes `acc` (bias already added) for column `col`: `f32(acc)·scale`, then
    /// `+ f32_bias`.
    ///
    /// # Safety
    /// `scale` is valid for index `col * param_stride`; `f32_bias` is null or valid for
    /// index `col`.
    #[inline(always)]
    pub unsafe fn dequantize(&self, acc: i32, col: usize) -> f32 {
        // SAFETY: caller guarantees `scale` is valid for this index.
        let s = unsafe { *self.scale.add(col * self.param_stride) };
        let y = acc as f32 * s;
        if self.f32_bias.is_null() {
            y
        } else {
            // SAFETY: caller guarantees `f32_bias` is valid for `col`.
            y + unsafe { *self.f32_bias.add(col) }
        }
    }

    /// Applies the whole stage to `acc` of column `col` and writes element `idx` of the
    /// destination `dst` (a byte pointer to an array of `dst_type`).
    ///
    /// # Safety
    /// The pointers of `self` are valid for `col` as described on the type, and `dst` is
    /// valid for writing element `idx` of `dst_type`.
    #[inline(always)]
    pub unsafe fn store(&self, acc: i32, col: usize, dst: *mut u8, idx: usize) {
        // SAFETY: forwarded caller contract for `bias`.
        let acc = unsafe { self.add_bias(acc, col) };
        // SAFETY: (all arms) forwarded caller contract for parameters and `dst[idx]`;
        // unaligned writes make no alignment assumption on `dst`.
        unsafe {
            match self.dst_type {
                DstType::I32 => (dst as *mut i32).add(idx).write_unaligned(acc),
                DstType::U8 => *dst.add(idx) = self.requantize(acc, col) as u8,
                DstType::I8 => *dst.add(idx) = self.requantize(acc, col) as i8 as u8,
                DstType::F32 => (dst as *mut f32)
                    .add(idx)
                    .write_unaligned(self.dequantize(acc, col)),
            }
        }
    }
}

/// What a vector store of the output stage does, resolved once per tile (the SIMD
/// epilogues dispatch on it before their row loops): the destination type and, for u8/i8,
/// the requantization scheme.
pub(crate) mod kind {
    /// i32 out.
    pub const I32: u8 = 0;
    /// f32 out.
    pub const F32: u8 = 1;
    /// u8/i8 out, Fp32 scheme.
    pub const FP32: u8 = 2;
    /// u8/i8 out, gemmlowp double rounding.
    pub const DOUBLE: u8 = 3;
    /// u8/i8 out, single rounding.
    pub const SINGLE: u8 = 4;
    /// Not resolved: the store matches on the stage per vector. Used for the partial
    /// tile heights, so only full tiles are compiled once per kind (five copies of every
    /// tile height made sanitizer builds of the fuzz targets take over ten minutes).
    pub const ANY: u8 = 255;
}

/// The [`kind`] of a stage.
#[inline(always)]
pub(crate) fn stage_kind(stage: &OutputStage) -> u8 {
    match (stage.dst_type, stage.scheme) {
        (DstType::I32, _) => kind::I32,
        (DstType::F32, _) => kind::F32,
        (_, Scheme::Fp32) => kind::FP32,
        (_, Scheme::DoubleRounding) => kind::DOUBLE,
        (_, Scheme::SingleRounding) => kind::SINGLE,
    }
}
