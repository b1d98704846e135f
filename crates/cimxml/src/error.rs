//! Decode errors and the limits that bound a decode.

use std::fmt;

use vine_cim::{CimError, CimStatus};

/// Why a document could not be decoded. Each kind maps to one DSP0200
/// `CIMError` header value, which the HTTP layer chooses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    /// Not well-formed XML (`request-not-well-formed`).
    NotWellFormed,
    /// Well-formed XML that is not a valid CIM-XML message, including a DTD,
    /// invalid UTF-8 and bad parameter values (`request-not-valid`).
    NotValid,
    /// The document exceeds a [`DecodeLimits`] bound.
    LimitExceeded,
    /// `DTDVERSION` is not 2.x (`unsupported-dtd-version`).
    UnsupportedDtdVersion,
    /// `CIMVERSION` is not 2.x (`unsupported-cim-version`).
    UnsupportedCimVersion,
    /// `PROTOCOLVERSION` is not 1.x (`unsupported-protocol-version`).
    UnsupportedProtocolVersion,
    /// A `MULTIREQ`/`MULTIRSP`/`MULTIEXPREQ` (`multiple-requests-unsupported`).
    MultipleRequestsUnsupported,
}

impl DecodeErrorKind {
    /// The DSP0200 `CIMError` header value for this kind.
    pub fn cim_error_header(self) -> &'static str {
        match self {
            DecodeErrorKind::NotWellFormed => "request-not-well-formed",
            DecodeErrorKind::NotValid | DecodeErrorKind::LimitExceeded => "request-not-valid",
            DecodeErrorKind::UnsupportedDtdVersion => "unsupported-dtd-version",
            DecodeErrorKind::UnsupportedCimVersion => "unsupported-cim-version",
            DecodeErrorKind::UnsupportedProtocolVersion => "unsupported-protocol-version",
            DecodeErrorKind::MultipleRequestsUnsupported => "multiple-requests-unsupported",
        }
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DecodeErrorKind::NotWellFormed => "not well-formed",
            DecodeErrorKind::NotValid => "not valid",
            DecodeErrorKind::LimitExceeded => "limit exceeded",
            DecodeErrorKind::UnsupportedDtdVersion => "unsupported DTD version",
            DecodeErrorKind::UnsupportedCimVersion => "unsupported CIM version",
            DecodeErrorKind::UnsupportedProtocolVersion => "unsupported protocol version",
            DecodeErrorKind::MultipleRequestsUnsupported => "multiple requests unsupported",
        })
    }
}

/// A CIM-XML document that could not be decoded: the kind, a message for
/// logs and clients, and the byte offset near which decoding stopped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("CIM-XML {kind} at byte {position}: {message}")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub message: String,
    pub position: u64,
}

impl DecodeError {
    /// An error of `kind` at `position`.
    pub fn new(kind: DecodeErrorKind, message: impl Into<String>, position: u64) -> Self {
        DecodeError {
            kind,
            message: message.into(),
            position,
        }
    }

    /// A `NotValid` error at `position`.
    pub fn invalid(message: impl Into<String>, position: u64) -> Self {
        Self::new(DecodeErrorKind::NotValid, message, position)
    }

    /// The CIM error a dispatcher returns when a parameter helper rejects a
    /// value: DSP0200 wants `CIM_ERR_INVALID_PARAMETER` there, not HTTP 400.
    pub fn into_invalid_parameter(self) -> CimError {
        CimError::new(CimStatus::InvalidParameter, self.message)
    }
}

/// Result of a decode.
pub type Result<T> = std::result::Result<T, DecodeError>;

/// Bounds on what a decode accepts, so that hostile input costs bounded
/// memory and time. Embedded objects count against the same limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Largest document, in bytes.
    pub max_input_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most elements in one document, embedded objects included.
    pub max_elements: usize,
    /// Longest attribute value, in bytes (before unescaping).
    pub max_attribute_bytes: usize,
    /// Longest text content of one element, in bytes (after unescaping).
    pub max_text_bytes: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_input_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_elements: 1_000_000,
            max_attribute_bytes: 64 * 1024,
            max_text_bytes: 16 * 1024 * 1024,
        }
    }
}
