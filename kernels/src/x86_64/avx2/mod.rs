//! AVX2 kernels (Haswell and later, Zen): 8 i32 lanes per ymm.

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
