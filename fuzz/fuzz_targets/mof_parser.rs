//! Fuzz target: the MOF compiler. The body, and what it asserts, is
//! `vine_fuzz::mof_parser` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::mof_parser(data));
