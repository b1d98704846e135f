//! Fuzz target: REST API JSON request bodies. The body, and what it asserts, is
//! `vine_fuzz::api_bodies` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::api_bodies(data));
