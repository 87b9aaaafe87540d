//! AVX-512 VNNI kernels (Ice Lake and later): `vpdpbusd` multiplies 64 u8×i8 pairs and
//! adds them into 16 i32 lanes, exactly (no intermediate saturation). Element-wise work
//! uses the `avx512bw` table; the output stage is `avx512bw::stage`; the packer borrows
//! the transposes of `avx512bw::pack`.

pub mod depthwise;
pub mod gemm;
pub mod pack;

pub use depthwise::DEPTHWISE;
pub use gemm::GEMM;
