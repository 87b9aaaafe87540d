//! Fuzz target `quantize`: see `zeropoint_fuzz::quantize`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::quantize::run(data));
