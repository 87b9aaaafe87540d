//! Quantization parameters: storage types, scale and zero point, their constructors,
//! granularity, and fixed-point multipliers (SPEC.md §1 and §5).

use zeropoint_kernels::scalar::requant::{dequantize, quantize_f32};
use zeropoint_kernels::{ElementwiseKernels, QuantizedMultiplier, SHIFT_RANGE};

use crate::{Error, Result};

mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for i8 {}
}

/// An 8-bit quantized storage type: `u8` or `i8` (room is left for i4/u4).
pub trait QType:
    sealed::Sealed + Copy + Default + PartialEq + core::fmt::Debug + Send + Sync + 'static
{
    /// Smallest code.
    const MIN: i32;
    /// Largest code.
    const MAX: i32;
    /// Name for messages (`"u8"`, `"i8"`).
    const NAME: &'static str;
    /// Whether the type is signed.
    const SIGNED: bool;
    /// The code as i32.
    fn to_i32(self) -> i32;
    /// The code for `v`, which must lie in `MIN..=MAX`.
    fn from_i32(v: i32) -> Self;
    /// Reinterprets a slice of codes as bytes.
    fn as_bytes(s: &[Self]) -> &[u8];
    #[doc(hidden)]
    /// Reinterprets a mutable byte slice as codes (every byte is a valid code).
    fn from_bytes_mut(s: &mut [u8]) -> &mut [Self];
    #[doc(hidden)]
    /// # Safety
    /// The CPU supports the table's ISA, `scale` finite > 0, `zp` in range.
    unsafe fn quantize_with(
        t: &ElementwiseKernels,
        src: &[f32],
        dst: &mut [Self],
        scale: f32,
        zp: i32,
    );
    #[doc(hidden)]
    /// # Safety
    /// The CPU supports the table's ISA.
    unsafe fn dequantize_with(
        t: &ElementwiseKernels,
        src: &[Self],
        dst: &mut [f32],
        scale: f32,
        zp: i32,
    );
}

impl QType for u8 {
    const MIN: i32 = 0;
    const MAX: i32 = 255;
    const NAME: &'static str = "u8";
    const SIGNED: bool = false;
    fn to_i32(self) -> i32 {
        self as i32
    }
    fn from_i32(v: i32) -> Self {
        v as u8
    }
    fn as_bytes(s: &[Self]) -> &[u8] {
        s
    }
    fn from_bytes_mut(s: &mut [u8]) -> &mut [Self] {
        s
    }
    unsafe fn quantize_with(
        t: &ElementwiseKernels,
        src: &[f32],
        dst: &mut [u8],
        scale: f32,
        zp: i32,
    ) {
        // SAFETY: forwarded contract.
        unsafe { (t.quantize_u8)(src, dst, scale, zp) }
    }
    unsafe fn dequantize_with(
        t: &ElementwiseKernels,
        src: &[u8],
        dst: &mut [f32],
        scale: f32,
        zp: i32,
    ) {
        // SAFETY: forwarded contract.
        unsafe { (t.dequantize_u8)(src, dst, scale, zp) }
    }
}

impl QType for i8 {
    const MIN: i32 = -128;
    const MAX: i32 = 127;
    const NAME: &'static str = "i8";
    const SIGNED: bool = true;
    fn to_i32(self) -> i32 {
        self as i32
    }
    fn from_i32(v: i32) -> Self {
        v as i8
    }
    fn as_bytes(s: &[Self]) -> &[u8] {
        // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is
        // valid for both.
        unsafe { core::slice::from_raw_parts(s.as_ptr() as *const u8, s.len()) }
    }
    fn from_bytes_mut(s: &mut [u8]) -> &mut [Self] {
        // SAFETY: as for `as_bytes`; the result borrows `s` mutably for its lifetime.
        unsafe { core::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut i8, s.len()) }
    }
    unsafe fn quantize_with(
        t: &ElementwiseKernels,
        src: &[f32],
        dst: &mut [i8],
        scale: f32,
        zp: i32,
    ) {
        // SAFETY: forwarded contract.
        unsafe { (t.quantize_i8)(src, dst, scale, zp) }
    }
    unsafe fn dequantize_with(
        t: &ElementwiseKernels,
        src: &[i8],
        dst: &mut [f32],
        scale: f32,
        zp: i32,
    ) {
        // SAFETY: forwarded contract.
        unsafe { (t.dequantize_i8)(src, dst, scale, zp) }
    }
}

/// Checks that `value` is a usable scale: finite and > 0.
pub(crate) fn check_scale(what: &'static str, index: usize, value: f32) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::Scale { what, index, value })
    }
}

/// Which integer range a symmetric quantization uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SymmetricRange {
    /// `[−127, 127]` for i8 (`[1, 255]` around 128 for u8): `scale = amax / 127`, so the
    /// range is symmetric and `−amax` is representable (TFLite weights, most engines).
    #[default]
    Restricted,
    /// `[−128, 127]` for i8 (`[0, 255]` around 128 for u8): `scale = amax / 127.5`
    /// (PyTorch's symmetric observers); `+amax` saturates to 127.
    Full,
}

/// Per-tensor quantization parameters: `r = scale · (q − zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantParams<T: QType> {
    scale: f32,
    zero_point: T,
}

impl<T: QType> QuantParams<T> {
    /// Parameters from a scale (finite, > 0) and a zero point.
    pub fn new(scale: f32, zero_point: T) -> Result<Self> {
        check_scale("scale", 0, scale)?;
        Ok(QuantParams { scale, zero_point })
    }

    /// The scale.
    pub fn scale(&self) -> f32 {
        self.scale
    }

    /// The zero point.
    pub fn zero_point(&self) -> T {
        self.zero_point
    }

    /// Asymmetric parameters covering `[min, max]`, widened to include 0.0:
    /// `S = (r_max − r_min) / (q_max − q_min)` and `Z = round(q_min − r_min / S)` (ties to
    /// even, clamped to the type), so that 0.0 is represented exactly by `Z`. All
    /// arithmetic is binary32. A degenerate range (`min = max = 0`) gives `S = 1`, `Z =
    /// q_min − 0 = q_min`. NaN, infinite bounds, `min > max`, or a range whose width
    /// overflows f32 are errors; a range so narrow that `S` underflows to 0 is treated as
    /// degenerate.
    pub fn from_range(min: f32, max: f32) -> Result<Self> {
        if !min.is_finite() || !max.is_finite() {
            return Err(Error::Range {
                reason: format!("bounds [{min:e}, {max:e}] are not finite"),
            });
        }
        if min > max {
            return Err(Error::Range {
                reason: format!("min {min:e} > max {max:e}"),
            });
        }
        let lo = min.min(0.0);
        let hi = max.max(0.0);
        let width = hi - lo;
        if !width.is_finite() {
            return Err(Error::Range {
                reason: format!("width of [{min:e}, {max:e}] overflows f32"),
            });
        }
        let mut scale = width / (T::MAX - T::MIN) as f32;
        if scale == 0.0 {
            scale = 1.0;
        }
        let z = zeropoint_kernels::scalar::requant::round_half_even(T::MIN as f32 - lo / scale);
        let z = (z as i32).clamp(T::MIN, T::MAX);
        Ok(QuantParams {
            scale,
            zero_point: T::from_i32(z),
        })
    }

    /// Symmetric parameters for values in `[−absmax, absmax]`: zero point 0 for i8 and
    /// 128 for u8; `scale = absmax / 127` ([`SymmetricRange::Restricted`]) or
    /// `absmax / 127.5` ([`SymmetricRange::Full`]). `absmax = 0` gives `scale = 1`.
    /// Negative, NaN or infinite `absmax` is an error.
    pub fn symmetric(absmax: f32, range: SymmetricRange) -> Result<Self> {
        if !(absmax.is_finite() && absmax >= 0.0) {
            return Err(Error::Range {
                reason: format!("absmax {absmax:e} must be finite and >= 0"),
            });
        }
        let denom = match range {
            SymmetricRange::Restricted => 127.0,
            SymmetricRange::Full => 127.5,
        };
        let mut scale = absmax / denom;
        if scale == 0.0 {
            scale = 1.0;
        }
        let zp = if T::SIGNED { 0 } else { 128 };
        Ok(QuantParams {
            scale,
            zero_point: T::from_i32(zp),
        })
    }

    /// The integer range a symmetric quantization with `range` uses for `T`.
    pub fn symmetric_bounds(range: SymmetricRange) -> (i32, i32) {
        match range {
            SymmetricRange::Restricted => (T::MIN + 1, T::MAX),
            SymmetricRange::Full => (T::MIN, T::MAX),
        }
    }

    /// Quantizes one value (SPEC.md §2).
    pub fn quantize(&self, x: f32) -> T {
        T::from_i32(quantize_f32(
            x,
            self.scale,
            self.zero_point.to_i32(),
            T::MIN,
            T::MAX,
        ))
    }

    /// Dequantizes one value (SPEC.md §2).
    pub fn dequantize(&self, q: T) -> f32 {
        dequantize(q.to_i32(), self.zero_point.to_i32(), self.scale)
    }
}

/// How quantization parameters map to the elements of a tensor (ONNX QuantizeLinear /
/// DequantizeLinear semantics).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Granularity<'a, T: QType> {
    /// One scale and zero point for the whole tensor.
    PerTensor(QuantParams<T>),
    /// One scale (and zero point) per index along `axis` (per-channel).
    PerAxis {
        /// The axis; `shape[axis]` parameters.
        axis: usize,
        /// `shape[axis]` scales.
        scales: &'a [f32],
        /// `shape[axis]` zero points, or `None` for all zero.
        zero_points: Option<&'a [T]>,
    },
    /// One scale (and zero point) per block of `block_size` consecutive indices along
    /// `axis`: the parameter tensors have the input's shape with `shape[axis]` replaced by
    /// `ceil(shape[axis] / block_size)`, row-major.
    PerBlock {
        /// The axis the blocks run along.
        axis: usize,
        /// Elements per block (≥ 1); the last block may be shorter.
        block_size: usize,
        /// The scales, shaped as described.
        scales: &'a [f32],
        /// The zero points, shaped as the scales, or `None` for all zero.
        zero_points: Option<&'a [T]>,
    },
}

/// Converts a real multiplier to fixed point `m0 · 2^(shift − 31)` with `m0` in
/// `[2^30, 2^31)`: `real = q · 2^e` with `q` in `[0.5, 1)`, `m0 = round(q · 2^31)` (ties
/// away from zero); when rounding gives `2^31`, `m0 = 2^30` and `e + 1`. The multiplier
/// must be finite, > 0 and give `shift` in `−31..=30`, i.e. lie in about
/// `[2^−32, 2^30)`; anything else is an error (never a silent zero).
pub fn quantize_multiplier(real: f64) -> Result<QuantizedMultiplier> {
    if !real.is_finite() || real <= 0.0 {
        return Err(Error::Multiplier {
            value: real,
            reason: "must be finite and > 0",
        });
    }
    // frexp for a positive finite f64: subnormals are far below the accepted range.
    let bits = real.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    if biased == 0 {
        return Err(Error::Multiplier {
            value: real,
            reason: "smaller than 2^-32",
        });
    }
    let mut e = biased - 1022; // real = q · 2^e, q in [0.5, 1)
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    let mut m0 = (q * (1u64 << 31) as f64).round() as i64;
    if m0 == 1i64 << 31 {
        m0 /= 2;
        e += 1;
    }
    if e < SHIFT_RANGE.0 {
        return Err(Error::Multiplier {
            value: real,
            reason: "smaller than 2^-32 (shift below -31)",
        });
    }
    if e > SHIFT_RANGE.1 {
        return Err(Error::Multiplier {
            value: real,
            reason: "2^30 or larger (shift above 30)",
        });
    }
    Ok(QuantizedMultiplier {
        m0: m0 as i32,
        shift: e,
    })
}

/// Checks a fixed-point multiplier built by hand.
pub fn check_multiplier(m: QuantizedMultiplier) -> Result<()> {
    if m.m0 < (1 << 30) {
        return Err(Error::Multiplier {
            value: multiplier_to_real(m),
            reason: "m0 must be in [2^30, 2^31)",
        });
    }
    if !(SHIFT_RANGE.0..=SHIFT_RANGE.1).contains(&m.shift) {
        return Err(Error::Multiplier {
            value: multiplier_to_real(m),
            reason: "shift must be in -31..=30",
        });
    }
    Ok(())
}

/// The real value `m0 · 2^(shift − 31)` of a fixed-point multiplier.
pub fn multiplier_to_real(m: QuantizedMultiplier) -> f64 {
    // Saturating: `check_multiplier` reports the value of any hand-built multiplier,
    // including shifts near i32::MIN (exact for every valid shift).
    m.m0 as f64 * 2f64.powi(m.shift.saturating_sub(31))
}
