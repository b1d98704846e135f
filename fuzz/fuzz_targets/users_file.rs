//! Fuzz target: the users file. The body, and what it asserts, is
//! `vine_fuzz::users_file` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::users_file(data));
