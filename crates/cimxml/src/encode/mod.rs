//! CIM-XML encoding: a compact escaping writer and encoders for values,
//! objects and messages. Encoding cannot fail.

/// Requests, responses and export messages.
mod messages;
/// Instances, classes, properties, qualifiers.
mod objects;
/// Values, key bindings and paths.
mod values;
/// The escaping XML writer.
mod writer;

pub use messages::{
    encode_export_indication, encode_export_response, encode_intrinsic_response,
    encode_method_response, encode_request, PROTOCOL_VERSION,
};
