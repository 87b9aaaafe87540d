//! Fuzz target `params`: see `zeropoint_fuzz::params`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| zeropoint_fuzz::params::run(data));
