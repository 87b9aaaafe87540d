//! Fuzz target `requantize`: see `zeropoint_fuzz::requantize`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::requantize::run(data));
