//! CIM-XML decoding: a limit-enforcing pull reader and recursive-descent
//! decoders for values, objects and messages.

/// Requests, responses and export messages.
mod messages;
/// Instances, classes, properties, qualifiers.
mod objects;
/// The limit-enforcing pull reader.
mod reader;
/// `IRETURNVALUE` contents per operation.
mod returns;
/// Values, key bindings and paths.
mod values;

pub use messages::{
    decode_export_indication, decode_export_response, decode_request, decode_response,
};
