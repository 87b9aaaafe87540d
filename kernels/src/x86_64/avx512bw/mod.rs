//! AVX-512 F+BW+VL kernels (Skylake-SP and later) and the 16-lane output stage that the
//! `avx512vnni` kernels share.

pub mod depthwise;
pub mod gemm;
pub mod ops;
pub mod pack;
pub mod quant;
pub mod stage;

pub use depthwise::DEPTHWISE;
pub use gemm::GEMM;
pub use ops::OPS;
pub use quant::ELEMENTWISE;
