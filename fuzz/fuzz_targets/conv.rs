//! Fuzz target `conv`: see `zeropoint_fuzz::conv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::conv::run(data));
