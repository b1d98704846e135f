//! Fuzz target: the synthetic-load file. The body, and what it asserts, is
//! `vine_fuzz::synthetic_load` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::synthetic_load(data));
