//! Fuzz target: the WQL/CQL query parser. The body, and what it asserts, is
//! `vine_fuzz::query_parser` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::query_parser(data));
