//! Fuzz target: policy files (TOML → policy or problems with line:column). The body, and what it asserts, is
//! `vine_fuzz::policy_file` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::policy_file(data));
