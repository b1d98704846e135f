//! Fuzz target: CIM-XML export (indication) requests and responses. The body, and what it asserts, is
//! `vine_fuzz::cimxml_export` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::cimxml_export(data));
