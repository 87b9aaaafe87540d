//! Dot-product kernels (FEAT_DotProd, ARMv8.2+: Cortex-A55/A76/A78, Neoverse N1/V1,
//! Apple M1): `sdot` multiplies 4 groups of 4 i8×i8 pairs and adds each group's sum into
//! one i32 lane, exactly (no intermediate rounding or saturation). Element-wise work
//! uses the `neon` table; the output stage is `neon::stage`. The depthwise kernel also
//! serves `i8mm` engines.

pub mod depthwise;
pub mod gemm;
pub(crate) mod insn;
pub mod pack;

pub use depthwise::DEPTHWISE;
pub use gemm::GEMM;
