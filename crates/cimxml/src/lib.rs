//! CIM-XML for vine: DSP0201 (v2.4) encoding and decoding of CIM objects
//! and the DSP0200 (v1.4) operation messages that carry them. No I/O: the
//! HTTP layer hands bytes in and takes bytes out.
//!
//! Start with the server side, [`decode_request`] → [`RequestMessage`] and
//! [`encode_intrinsic_response`] / [`encode_method_response`], or the
//! client side, [`encode_request`] and [`decode_response`]. Indication
//! delivery uses [`encode_export_indication`] and friends. The dispatcher
//! reads intrinsic parameters through the helpers in [`params`].
//!
//! Decoding is a streaming pull over quick-xml with no DTD processing and no
//! entities beyond XML's five and character references; every input is
//! bounded by [`DecodeLimits`] and answered with a value or a
//! [`DecodeError`], never a panic.

/// Decoders for values, objects and messages.
mod decode;
/// Encoders for values, objects and messages.
mod encode;
/// Decode errors and limits.
pub mod error;
/// Requests, responses and their parts.
pub mod message;
/// Typed getters for intrinsic parameters.
pub mod params;

pub use decode::{
    decode_export_indication, decode_export_response, decode_request, decode_response,
};
pub use encode::{
    encode_export_indication, encode_export_response, encode_intrinsic_response,
    encode_method_response, encode_request, PROTOCOL_VERSION,
};
pub use error::{DecodeError, DecodeErrorKind, DecodeLimits};
pub use message::{
    ExportIndication, IntrinsicMethod, IntrinsicResponse, MethodResponse, MethodTarget, ObjectName,
    ObjectWithPath, ParamValue, Request, RequestMessage, ResponseBody, ReturnValue,
};
pub use params::{
    param, param_bool, param_class, param_class_name, param_instance, param_instance_name,
    param_object_name, param_property_list, param_qualifier_decl, param_string, param_u32,
    param_u64, param_value,
};
