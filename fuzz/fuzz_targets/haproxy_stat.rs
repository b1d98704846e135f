//! Fuzz target: HAProxy `show stat` / `show info` output. The body, and what it asserts, is
//! `vine_fuzz::haproxy_stat` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::haproxy_stat(data));
