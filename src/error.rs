//! The error type of the safe API.

use core::fmt;

use zeropoint_kernels::Isa;

/// Everything the safe API can reject. Every variant names the argument at fault.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Error {
    /// Dimensions that do not fit together (e.g. A's columns ≠ B's rows), an axis past the
    /// rank, a block size of zero, a range outside the matrix.
    Shape(String),
    /// A buffer shorter than its shape and stride need.
    BufferTooSmall {
        /// Which buffer.
        what: &'static str,
        /// Elements needed.
        needed: usize,
        /// Elements given.
        got: usize,
    },
    /// A row stride smaller than the row length.
    Stride {
        /// Which matrix.
        what: &'static str,
        /// The stride given (elements).
        stride: usize,
        /// The smallest valid stride (elements).
        min: usize,
    },
    /// A scale that is NaN, infinite, zero or negative.
    Scale {
        /// Which scale.
        what: &'static str,
        /// Index in a per-channel array (0 for a single scale).
        index: usize,
        /// The value given.
        value: f32,
    },
    /// A zero point outside the storage type's range.
    ZeroPoint {
        /// Which zero point.
        what: &'static str,
        /// The value given.
        value: i32,
        /// Smallest allowed.
        min: i32,
        /// Largest allowed.
        max: i32,
    },
    /// Clamp bounds outside the output type's range, or `min > max`.
    Clamp {
        /// Lower bound given.
        min: i32,
        /// Upper bound given.
        max: i32,
        /// The output type's range.
        type_range: (i32, i32),
    },
    /// A real multiplier that cannot be represented as `m0 · 2^(shift − 31)`.
    Multiplier {
        /// The value given.
        value: f64,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A float range or absolute maximum that cannot give quantization parameters.
    Range {
        /// Why it was rejected.
        reason: String,
    },
    /// A NaN or infinite input where the operation needs finite values.
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Index of the first offending element.
        index: usize,
    },
    /// An output stage that does not fit the output buffer's type, or parameters of the
    /// wrong count.
    Stage(String),
    /// An instruction set this CPU does not support (or that is not compiled in).
    IsaUnavailable {
        /// The requested instruction set.
        isa: Isa,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// A `ZEROPOINT_ISA` value that names no instruction set.
    UnknownIsa(String),
    /// Packed weights used with a kernel of another layout.
    LayoutMismatch {
        /// The kernel the weights were packed for.
        packed_for: &'static str,
        /// The kernel that was asked to run them.
        requested: &'static str,
    },
}

/// `Result` with [`Error`].
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Shape(s) => write!(f, "shape error: {s}"),
            Error::BufferTooSmall { what, needed, got } => {
                write!(f, "{what} buffer too small: needs {needed} elements, has {got}")
            }
            Error::Stride { what, stride, min } => {
                write!(f, "{what} stride {stride} is smaller than its row length {min}")
            }
            Error::Scale { what, index, value } => write!(
                f,
                "{what}[{index}] = {value:e} is not a valid scale (must be finite and > 0)"
            ),
            Error::ZeroPoint { what, value, min, max } => {
                write!(f, "{what} = {value} is outside the storage range [{min}, {max}]")
            }
            Error::Clamp { min, max, type_range } => write!(
                f,
                "clamp [{min}, {max}] is not a non-empty sub-range of the output range [{}, {}]",
                type_range.0, type_range.1
            ),
            Error::Multiplier { value, reason } => {
                write!(f, "multiplier {value:e} cannot be used: {reason}")
            }
            Error::Range { reason } => write!(f, "invalid range: {reason}"),
            Error::NonFinite { what, index } => {
                write!(f, "{what}[{index}] is NaN or infinite")
            }
            Error::Stage(s) => write!(f, "output stage error: {s}"),
            Error::IsaUnavailable { isa, reason } => write!(f, "ISA {isa} unavailable: {reason}"),
            Error::UnknownIsa(s) => write!(
                f,
                "unknown ISA {s:?} (expected one of scalar, avx2, avxvnni, avx512bw, avx512vnni, amx, neon, dotprod, i8mm)"
            ),
            Error::LayoutMismatch { packed_for, requested } => write!(
                f,
                "weights were packed for kernel {packed_for} but kernel {requested} was asked to run them"
            ),
        }
    }
}

impl std::error::Error for Error {}
