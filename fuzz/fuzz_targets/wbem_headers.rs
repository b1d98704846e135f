//! Fuzz target: DSP0200 request headers and Basic credentials. The body, and what it asserts, is
//! `vine_fuzz::wbem_headers` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::wbem_headers(data));
