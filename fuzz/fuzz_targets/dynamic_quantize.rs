//! Fuzz target `dynamic_quantize`: see `zeropoint_fuzz::dynamic_quantize`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::dynamic_quantize::run(data));
