//! Rounding and requantization primitives: the executable form of SPEC.md §2 and §5.
//!
//! Every function here is plain integer or IEEE-754 binary32 arithmetic with no
//! platform-dependent step (no fused multiply-add, no reciprocal estimates), so its
//! result is the same on every CPU. The SIMD variants must reproduce these functions
//! bit for bit.

/// `2^23`: adding then subtracting it rounds a binary32 of magnitude below `2^23` to an
/// integer in the current (default: round-half-to-even) rounding mode.
const MAGIC: f32 = 8_388_608.0;

/// Rounds `x` to the nearest integer, ties to even (IEEE-754 `roundTiesToEven`).
///
/// NaN and infinities are returned unchanged; values of magnitude `>= 2^23` are already
/// integers and are returned unchanged. The sign of zero is kept (`-0.4` rounds to `-0.0`).
#[inline(always)]
pub fn round_half_even(x: f32) -> f32 {
    let mag = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    if mag < MAGIC {
        let r = (mag + MAGIC) - MAGIC;
        f32::from_bits(r.to_bits() | (x.to_bits() & 0x8000_0000))
    } else {
        x
    }
}

/// Converts an already rounded, already clamped binary32 (an integer in i32 range) to i32.
#[inline(always)]
fn to_i32_exact(x: f32) -> i32 {
    x as i32
}

/// `saturate(round_half_even(x / scale) + zero_point)` into `[qmin, qmax]` (ONNX
/// QuantizeLinear). NaN maps to `zero_point` (it represents 0.0); ±inf saturate.
///
/// `scale` must be finite and positive and `qmin <= zero_point <= qmax` (checked by the
/// safe API). The division is a true IEEE division, not a multiplication by `1/scale`.
#[inline(always)]
pub fn quantize_f32(x: f32, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> i32 {
    let y = x / scale;
    if y.is_nan() {
        return zero_point;
    }
    // round_half_even(y) + zp clamped to [qmin, qmax] equals round_half_even(clamp(y,
    // qmin - zp, qmax - zp)) + zp because the bounds are integers and rounding is
    // monotonic; clamping first keeps every intermediate inside i32.
    let lo = (qmin - zero_point) as f32;
    let hi = (qmax - zero_point) as f32;
    let c = if y < lo {
        lo
    } else if y > hi {
        hi
    } else {
        y
    };
    to_i32_exact(round_half_even(c)) + zero_point
}

/// `f32(q - zero_point) * scale` (ONNX DequantizeLinear): one exact integer subtraction,
/// one conversion (exact: |q − zp| < 2^24), one rounded multiplication.
#[inline(always)]
pub fn dequantize(q: i32, zero_point: i32, scale: f32) -> f32 {
    (q - zero_point) as f32 * scale
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `a·b / 2^31` rounded to nearest with
/// ties toward +∞ (gemmlowp's nudge-and-truncate: `trunc((ab + nudge) / 2^31)` with
/// `nudge = 2^30` or `1 − 2^30` by the sign of `ab`, which equals `floor((ab + 2^30) /
/// 2^31)`), and the single overflowing case `a = b = i32::MIN` saturated to `i32::MAX`.
#[inline(always)]
pub fn srdhm(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division truncates toward zero, as in gemmlowp (not an arithmetic shift).
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^exponent` rounded to nearest, ties away from
/// zero. `exponent` is in `0..=31`.
#[inline(always)]
pub fn rdbpot(x: i32, exponent: u32) -> i32 {
    debug_assert!(exponent <= 31);
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> exponent) + i32::from(remainder > threshold)
}

/// A real multiplier `M = m0 · 2^(shift − 31)` in fixed point: `m0` in Q0.31 within
/// `[2^30, 2^31)` and `shift` in `-31..=30` (so `M` lies in `[2^-32, 2^30)`).
///
/// Built by `zeropoint::quantize_multiplier`, validated by `zeropoint::check_multiplier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C)]
pub struct QuantizedMultiplier {
    /// The mantissa in Q0.31, `2^30 <= m0 <= 2^31 − 1`.
    pub m0: i32,
    /// The power of two: positive shifts left, negative shifts right; `-31..=30`.
    pub shift: i32,
}

/// Smallest and largest allowed [`QuantizedMultiplier::shift`].
pub const SHIFT_RANGE: (i32, i32) = (-31, 30);

/// Double-rounding fixed-point multiply (gemmlowp, TFLite reference without
/// `TFLITE_SINGLE_ROUNDING`): `RDBPOT(SRDHM(x · 2^left, m0), right)` where
/// `left = max(shift, 0)`, `right = max(−shift, 0)`. The left shift saturates to i32
/// (TFLite leaves its overflow undefined).
#[inline(always)]
pub fn multiply_double_rounding(x: i32, m: QuantizedMultiplier) -> i32 {
    let left = m.shift.max(0) as u32;
    let right = (-m.shift).max(0) as u32;
    let shifted = ((x as i64) << left).clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    rdbpot(srdhm(shifted, m.m0), right)
}

/// Single-rounding fixed-point multiply (ruy, TFLite with `TFLITE_SINGLE_ROUNDING`):
/// `(x·m0 + 2^(s−1)) >> s` in 64-bit with `s = 31 − shift` (`1..=62`), an arithmetic shift
/// (ties toward +∞). The result is returned in i64; callers clamp.
#[inline(always)]
pub fn multiply_single_rounding(x: i32, m: QuantizedMultiplier) -> i64 {
    let s = (31 - m.shift) as u32;
    (x as i64 * m.m0 as i64 + (1i64 << (s - 1))) >> s
}

/// Fp32 requantization (ONNX QLinearMatMul, XNNPACK `fp32`, MLAS): `f32(acc) · scale`
/// (one rounded multiplication), clamped in float to `[qmin − zp, qmax − zp]`, rounded half
/// to even, plus `zp`. `scale` is finite and positive.
#[inline(always)]
pub fn requantize_fp32(acc: i32, scale: f32, zero_point: i32, qmin: i32, qmax: i32) -> i32 {
    let y = acc as f32 * scale;
    let lo = (qmin - zero_point) as f32;
    let hi = (qmax - zero_point) as f32;
    let c = if y < lo {
        lo
    } else if y > hi {
        hi
    } else {
        y
    };
    to_i32_exact(round_half_even(c)) + zero_point
}

/// Adds the output zero point to a fixed-point result and clamps to `[qmin, qmax]`,
/// computed in i64 so that no intermediate overflows.
#[inline(always)]
pub fn add_zero_point_clamp(x: i64, zero_point: i32, qmin: i32, qmax: i32) -> i32 {
    (x + zero_point as i64).clamp(qmin as i64, qmax as i64) as i32
}

/// The three requantization schemes of SPEC.md §5, element-wise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Scheme {
    /// `f32(acc)·scale`, clamp, round half to even, `+ zp`.
    Fp32 = 0,
    /// gemmlowp: SRDHM then RoundingDivideByPOT, `+ zp`, clamp.
    DoubleRounding = 1,
    /// ruy / TFLite single rounding in 64-bit, `+ zp`, clamp.
    SingleRounding = 2,
}
