//! Durable jobs: every long operation (create a VM, migrate, scale a virtual
//! server, drain a host) runs as a job whose state machine lives in the
//! store, so a manager restart resumes it or fails it with the reason —
//! never loses it, never does it twice.
//!
//! Start at [`JobEngine`] and [`JobHandler`]. The protocol:
//!
//! 1. `submit` stores the job `Queued` (flushed) and only then returns its id.
//! 2. The engine stores `Running`, calls the handler's `step` for the stored
//!    step, and stores the outcome — the next step, success, a retry time or
//!    the failure — before it runs anything else or reports it.
//! 3. After a crash, a job found `Running` re-runs its stored step (steps
//!    check reality first; see [`JobHandler`]) or, if its handler is not
//!    resumable or its attempts are used up, becomes `Failed` with "manager
//!    restarted during step X; …".

/// Exponential back-off with cap and jitter.
mod backoff;
/// Submit, get, list, cancel, watch; recovery at start.
mod engine;
/// The job engine's error enum.
mod error;
/// The handler trait, step outcomes and the step context.
mod handler;
/// The stored job record and its state machine.
mod record;
/// The scheduler loop and the driving of one job's steps.
mod worker;

pub use backoff::Backoff;
pub use engine::{EngineConfig, JobEngine, Recovered};
pub use error::{JobError, Result};
pub use handler::{JobContext, JobHandler, StepOutcome};
pub use record::{
    HistoryEntry, JobFilter, JobId, JobRecord, JobState, NewJob, UnixMillis, FIRST_STEP,
};
