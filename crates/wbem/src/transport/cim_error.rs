//! `CIMError` header values (DSP0200) and the HTTP status each goes with.

use http::StatusCode;

/// Why a request is rejected at the HTTP level; sent as the `CIMError`
/// response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CimErrorHeader {
    /// `CIMOperation`/`CIMExport` missing or not `MethodCall`/`MethodRequest`.
    UnsupportedOperation,
    /// `CIMBatch` present: multiple requests are not supported.
    MultipleRequestsUnsupported,
    /// `CIMProtocolVersion` or the message PROTOCOLVERSION is not 1.x.
    UnsupportedProtocolVersion,
    /// The CIM element's CIMVERSION is not supported.
    UnsupportedCimVersion,
    /// The CIM element's DTDVERSION is not supported.
    UnsupportedDtdVersion,
    /// `CIMMethod`/`CIMObject` missing, malformed, or disagreeing with the body.
    HeaderMismatch,
    /// The body is not a valid CIM-XML request (also: not UTF-8, wrong
    /// content type).
    RequestNotValid,
    /// The body is not well-formed XML.
    RequestNotWellFormed,
}

impl CimErrorHeader {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            CimErrorHeader::UnsupportedOperation => "unsupported-operation",
            CimErrorHeader::MultipleRequestsUnsupported => "multiple-requests-unsupported",
            CimErrorHeader::UnsupportedProtocolVersion => "unsupported-protocol-version",
            CimErrorHeader::UnsupportedCimVersion => "unsupported-cim-version",
            CimErrorHeader::UnsupportedDtdVersion => "unsupported-dtd-version",
            CimErrorHeader::HeaderMismatch => "header-mismatch",
            CimErrorHeader::RequestNotValid => "request-not-valid",
            CimErrorHeader::RequestNotWellFormed => "request-not-well-formed",
        }
    }

    /// The HTTP status sent with it: 501 for what the server does not
    /// implement, 400 for what the client got wrong.
    pub fn status(self) -> StatusCode {
        match self {
            CimErrorHeader::MultipleRequestsUnsupported
            | CimErrorHeader::UnsupportedProtocolVersion
            | CimErrorHeader::UnsupportedCimVersion
            | CimErrorHeader::UnsupportedDtdVersion => StatusCode::NOT_IMPLEMENTED,
            CimErrorHeader::UnsupportedOperation
            | CimErrorHeader::HeaderMismatch
            | CimErrorHeader::RequestNotValid
            | CimErrorHeader::RequestNotWellFormed => StatusCode::BAD_REQUEST,
        }
    }
}

impl std::fmt::Display for CimErrorHeader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_statuses() {
        use CimErrorHeader::*;
        let table = [
            (UnsupportedOperation, "unsupported-operation", 400),
            (
                MultipleRequestsUnsupported,
                "multiple-requests-unsupported",
                501,
            ),
            (
                UnsupportedProtocolVersion,
                "unsupported-protocol-version",
                501,
            ),
            (UnsupportedCimVersion, "unsupported-cim-version", 501),
            (UnsupportedDtdVersion, "unsupported-dtd-version", 501),
            (HeaderMismatch, "header-mismatch", 400),
            (RequestNotValid, "request-not-valid", 400),
            (RequestNotWellFormed, "request-not-well-formed", 400),
        ];
        for (h, v, s) in table {
            assert_eq!(h.as_str(), v);
            assert_eq!(h.status().as_u16(), s);
        }
    }
}
