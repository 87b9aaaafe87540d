//! AMX-INT8: `tdpbusd` on tile registers (Sapphire Rapids and later). Only the GEMM
//! differs from AVX-512 VNNI: the weights use the same packed layout, the fused output
//! stage is the AVX-512 one, and the element-wise and depthwise tables are AVX-512BW's.

pub mod gemm;

pub use gemm::GEMM;
