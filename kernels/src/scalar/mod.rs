//! The scalar reference: portable Rust, runs on every CPU, and defines the semantics
//! that every SIMD variant must reproduce bit for bit (SPEC.md is its prose form).
//!
//! - [`requant`]: rounding, quantize/dequantize of one value, fixed-point multipliers.
//! - [`quant`]: the element-wise kernel table.
//! - [`gemm`]: the packed-B microkernel `gemm_u8i8_4x8c1` and its packer.
//! - [`ops`]: the quantized add (QLinearAdd) and the pooling kernels.
//! - [`reference`](mod@reference): GEMM written as its definition, on unpacked operands.
//! - [`depthwise`]: the depthwise definition and the scalar depthwise kernel (`i16`
//!   layout).

pub mod depthwise;
pub mod gemm;
pub mod ops;
pub mod quant;
pub mod reference;
pub mod requant;

pub use depthwise::DEPTHWISE;
pub use gemm::GEMM;
pub use ops::OPS;
pub use quant::ELEMENTWISE;
