//! Fuzz target `ops`: see `zeropoint_fuzz::ops`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::ops::run(data));
