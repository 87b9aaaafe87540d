//! Fuzz target `linear`: see `zeropoint_fuzz::linear`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::linear::run(data));
