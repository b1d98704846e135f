//! Fuzz target: CIM-XML operation requests and responses. The body, and what it asserts, is
//! `vine_fuzz::cimxml_decoder` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::cimxml_decoder(data));
