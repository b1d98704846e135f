//! Fuzz target: libvirt domain XML. The body, and what it asserts, is
//! `vine_fuzz::libvirt_domain_xml` in `fuzz/src/lib.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vine_fuzz::libvirt_domain_xml(data));
