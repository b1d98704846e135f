//! Fuzz target: the node-address file. The body, and what it asserts, is
//! `vine_fuzz::node_addrs` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::node_addrs(data));
