//! Fuzz target: arbitrary bytes into the CIM-XML decoders. Any input must
//! give a value or a `DecodeError`, never a panic, and a decoded request
//! must survive a re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vine_cimxml::{decode_request, decode_response, encode_request, DecodeLimits};

fuzz_target!(|data: &[u8]| {
    let limits = DecodeLimits::default();
    if let Ok(msg) = decode_request(data, &limits) {
        // What we decoded, we must be able to write and read again.
        let _ = decode_request(&encode_request(&msg), &limits);
    }
    let _ = decode_response(data, &limits);
    let _ = vine_cimxml::decode_export_indication(data, &limits);
});
