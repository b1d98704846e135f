//! Fuzz target: instance paths / WBEM URIs. The body, and what it asserts, is
//! `vine_fuzz::cim_path` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::cim_path(data));
