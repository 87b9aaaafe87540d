//! x86_64 kernels, one folder per instruction set with the same file names:
//! `gemm.rs` (microkernel and table), `pack.rs` (the SIMD packer of its layout),
//! `depthwise.rs` (depthwise kernel on its packed layout), `quant.rs` (element-wise
//! table), `ops.rs` (add and pooling, in `avx2` and `avx512bw`), and for the 512-bit sets
//! `stage.rs` (the fused output stage on 16 lanes, shared by `avx512bw` and
//! `avx512vnni`, which both have AVX-512 F+BW). `avxvnni` has only `gemm.rs` and
//! `pack.rs` (its NR = 16, KR = 4 layout is its own), `amx` only `gemm.rs`: the AVX2
//! (resp. AVX-512) element-wise, depthwise, add/pooling and output-stage code serves
//! them, and `amx` packs with the `avx512vnni` packer.
//!
//! Every function here needs the features of its folder; the tables are only handed out
//! by the safe crate after run-time detection.

pub mod amx;
pub mod avx2;
pub mod avx512bw;
pub mod avx512vnni;
pub mod avxvnni;
