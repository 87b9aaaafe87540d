//! Fuzz target `pack`: see `zeropoint_fuzz::pack`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::pack::run(data));
