//! AVX-VNNI: the 256-bit VEX form of `vpdpbusd` (Alder Lake and later client cores,
//! Sapphire Rapids, Zen 5), for CPUs that have it without AVX-512. Only the GEMM and the
//! packer of its layout differ from AVX2; the element-wise and depthwise tables of `avx2`
//! serve this ISA too.

pub mod gemm;
pub mod pack;

pub use gemm::GEMM;
