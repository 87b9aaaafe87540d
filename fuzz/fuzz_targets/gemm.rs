//! Fuzz target `gemm`: see `zeropoint_fuzz::gemm`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::gemm::run(data));
