//! CIM status codes (DSP0200 §5.3.2) and the error that carries one.

use std::fmt;

/// The status codes a CIM operation can end with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CimStatus {
    Failed = 1,
    AccessDenied = 2,
    InvalidNamespace = 3,
    InvalidParameter = 4,
    InvalidClass = 5,
    NotFound = 6,
    NotSupported = 7,
    ClassHasChildren = 8,
    ClassHasInstances = 9,
    InvalidSuperclass = 10,
    AlreadyExists = 11,
    NoSuchProperty = 12,
    TypeMismatch = 13,
    QueryLanguageNotSupported = 14,
    InvalidQuery = 15,
    MethodNotAvailable = 16,
    MethodNotFound = 17,
    NamespaceNotEmpty = 20,
    InvalidEnumerationContext = 21,
    InvalidOperationTimeout = 22,
    PullHasBeenAbandoned = 23,
    PullCannotBeAbandoned = 24,
    FilteredEnumerationNotSupported = 25,
    ContinuationOnErrorNotSupported = 26,
    ServerLimitsExceeded = 27,
    ServerIsShuttingDown = 28,
}

impl CimStatus {
    /// The numeric code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The status for a numeric code.
    pub fn from_code(code: u32) -> Option<CimStatus> {
        use CimStatus::*;
        Some(match code {
            1 => Failed,
            2 => AccessDenied,
            3 => InvalidNamespace,
            4 => InvalidParameter,
            5 => InvalidClass,
            6 => NotFound,
            7 => NotSupported,
            8 => ClassHasChildren,
            9 => ClassHasInstances,
            10 => InvalidSuperclass,
            11 => AlreadyExists,
            12 => NoSuchProperty,
            13 => TypeMismatch,
            14 => QueryLanguageNotSupported,
            15 => InvalidQuery,
            16 => MethodNotAvailable,
            17 => MethodNotFound,
            20 => NamespaceNotEmpty,
            21 => InvalidEnumerationContext,
            22 => InvalidOperationTimeout,
            23 => PullHasBeenAbandoned,
            24 => PullCannotBeAbandoned,
            25 => FilteredEnumerationNotSupported,
            26 => ContinuationOnErrorNotSupported,
            27 => ServerLimitsExceeded,
            28 => ServerIsShuttingDown,
            _ => return None,
        })
    }

    /// The DMTF symbolic name (`CIM_ERR_NOT_FOUND`).
    pub fn symbol(self) -> &'static str {
        use CimStatus::*;
        match self {
            Failed => "CIM_ERR_FAILED",
            AccessDenied => "CIM_ERR_ACCESS_DENIED",
            InvalidNamespace => "CIM_ERR_INVALID_NAMESPACE",
            InvalidParameter => "CIM_ERR_INVALID_PARAMETER",
            InvalidClass => "CIM_ERR_INVALID_CLASS",
            NotFound => "CIM_ERR_NOT_FOUND",
            NotSupported => "CIM_ERR_NOT_SUPPORTED",
            ClassHasChildren => "CIM_ERR_CLASS_HAS_CHILDREN",
            ClassHasInstances => "CIM_ERR_CLASS_HAS_INSTANCES",
            InvalidSuperclass => "CIM_ERR_INVALID_SUPERCLASS",
            AlreadyExists => "CIM_ERR_ALREADY_EXISTS",
            NoSuchProperty => "CIM_ERR_NO_SUCH_PROPERTY",
            TypeMismatch => "CIM_ERR_TYPE_MISMATCH",
            QueryLanguageNotSupported => "CIM_ERR_QUERY_LANGUAGE_NOT_SUPPORTED",
            InvalidQuery => "CIM_ERR_INVALID_QUERY",
            MethodNotAvailable => "CIM_ERR_METHOD_NOT_AVAILABLE",
            MethodNotFound => "CIM_ERR_METHOD_NOT_FOUND",
            NamespaceNotEmpty => "CIM_ERR_NAMESPACE_NOT_EMPTY",
            InvalidEnumerationContext => "CIM_ERR_INVALID_ENUMERATION_CONTEXT",
            InvalidOperationTimeout => "CIM_ERR_INVALID_OPERATION_TIMEOUT",
            PullHasBeenAbandoned => "CIM_ERR_PULL_HAS_BEEN_ABANDONED",
            PullCannotBeAbandoned => "CIM_ERR_PULL_CANNOT_BE_ABANDONED",
            FilteredEnumerationNotSupported => "CIM_ERR_FILTERED_ENUMERATION_NOT_SUPPORTED",
            ContinuationOnErrorNotSupported => "CIM_ERR_CONTINUATION_ON_ERROR_NOT_SUPPORTED",
            ServerLimitsExceeded => "CIM_ERR_SERVER_LIMITS_EXCEEDED",
            ServerIsShuttingDown => "CIM_ERR_SERVER_IS_SHUTTING_DOWN",
        }
    }
}

impl fmt::Display for CimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

/// A failed CIM operation: the status code and a message for the client.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{status}: {description}")]
pub struct CimError {
    pub status: CimStatus,
    pub description: String,
}

impl CimError {
    /// An error with a status and message.
    pub fn new(status: CimStatus, description: impl Into<String>) -> Self {
        CimError {
            status,
            description: description.into(),
        }
    }

    /// `CIM_ERR_NOT_FOUND` for an object.
    pub fn not_found(what: impl fmt::Display) -> Self {
        Self::new(CimStatus::NotFound, format!("{what} does not exist"))
    }

    /// `CIM_ERR_INVALID_PARAMETER` with a message.
    pub fn invalid_parameter(msg: impl Into<String>) -> Self {
        Self::new(CimStatus::InvalidParameter, msg)
    }

    /// `CIM_ERR_NOT_SUPPORTED` with a message.
    pub fn not_supported(msg: impl Into<String>) -> Self {
        Self::new(CimStatus::NotSupported, msg)
    }

    /// `CIM_ERR_FAILED` with a message.
    pub fn failed(msg: impl Into<String>) -> Self {
        Self::new(CimStatus::Failed, msg)
    }
}

/// Result of a CIM operation.
pub type CimResult<T> = std::result::Result<T, CimError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in (1..=28).filter(|c| !(18..=19).contains(c)) {
            let s = CimStatus::from_code(c).expect("known code");
            assert_eq!(s.code(), c);
            assert!(s.symbol().starts_with("CIM_ERR_"));
        }
        assert_eq!(CimStatus::from_code(0), None);
        assert_eq!(CimStatus::from_code(18), None);
    }
}
