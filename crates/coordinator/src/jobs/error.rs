use vine_store::StoreError;

use super::record::{JobId, JobState};

/// `Result` of the job engine.
pub type Result<T, E = JobError> = std::result::Result<T, E>;

/// What can go wrong submitting, controlling or running jobs.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No handler is registered for this kind of job.
    #[error("no job handler for kind {kind:?}")]
    UnknownKind { kind: String },
    /// Two handlers claim the same kind.
    #[error("two job handlers for kind {kind:?}")]
    DuplicateHandler { kind: String },
    /// No job with this id.
    #[error("job {id} not found")]
    NotFound { id: JobId },
    /// The idempotency key is taken by a job with another kind or params.
    #[error(
        "idempotency key {key:?} already belongs to job {existing} with a different kind or \
         parameters"
    )]
    IdempotencyConflict { key: String, existing: JobId },
    /// A state change the state machine does not allow.
    #[error("job {id}: illegal transition {from:?} -> {to:?}")]
    IllegalTransition {
        id: JobId,
        from: JobState,
        to: JobState,
    },
    /// The store failed; nothing was acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}
