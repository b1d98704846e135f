//! What a CIM client sees when the coordinator refuses or fails. Messages
//! are the coordinator's, which already say what to change.

use vine_cim::{CimError, CimStatus};
use vine_coordinator::jobs::JobError;
use vine_coordinator::ops::{ErrorKind, OpsError};

/// The CIM error for a coordinator error.
pub fn to_cim(e: &OpsError) -> CimError {
    let status = match e.kind() {
        ErrorKind::NotFound => CimStatus::NotFound,
        ErrorKind::Invalid => CimStatus::InvalidParameter,
        // Busy with another job, or refused by admission control: the
        // request was well formed but cannot be done now.
        ErrorKind::Conflict | ErrorKind::NoRoom | ErrorKind::Internal => CimStatus::Failed,
    };
    CimError::new(status, e.to_string())
}

/// Whether the coordinator has no handler for a job kind yet (the method
/// then answers 1 Not Supported rather than an error).
pub fn is_unsupported_kind(e: &OpsError) -> bool {
    matches!(e, OpsError::Jobs(JobError::UnknownKind { .. }))
}
