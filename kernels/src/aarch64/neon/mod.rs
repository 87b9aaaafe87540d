//! Advanced SIMD kernels (every ARMv8-A CPU: Cortex-A53 and later): the exact
//! `smull` + `sadalp` GEMM, the element-wise table that every aarch64 engine uses, and
//! the 4-lane output stage and tile epilogue that the `dotprod` and `i8mm` kernels share.

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
