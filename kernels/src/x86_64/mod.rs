//! x86_64 kernels, one folder per instruction set with the same file names:
//! `gemm.rs` (packer + microkernel), `depthwise.rs` (depthwise kernel on its packed
//! layout), `quant.rs` (element-wise table), and for the
//! 512-bit sets `stage.rs` (the fused output stage on 16 lanes, shared by `avx512bw` and
//! `avx512vnni`, which both have AVX-512 F+BW).
//!
//! Every function here needs the features of its folder; the tables are only handed out
//! by the safe crate after run-time detection.

pub mod avx2;
pub mod avx512bw;
pub mod avx512vnni;
