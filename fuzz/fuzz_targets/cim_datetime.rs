//! Fuzz target: CIM datetime values. The body, and what it asserts, is
//! `vine_fuzz::cim_datetime` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::cim_datetime(data));
