use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;

use super::record::{JobId, JobRecord};

/// Runs one kind of job, one step at a time.
///
/// The engine calls [`JobHandler::step`] with the job as stored; the step
/// does one piece of work and says what comes next. The engine stores that
/// answer (flushed) before it runs the next step or reports the result.
///
/// # The contract: a step may run more than once
///
/// If the manager dies during a step, nothing records whether the step's
/// effect happened, so after the restart the **same step runs again**. A
/// step must therefore check reality before acting — "is domain web-3
/// already defined?", "is the VM already on the target host?" — and skip
/// what is done. That is how "never done twice" holds across a crash.
/// Handlers whose steps cannot check (say, a fire-and-forget call) return
/// `false` from [`JobHandler::resumable`]; an interrupted job of theirs is
/// marked `Failed` with the step it was in, for a human to look at.
///
/// Steps should also be short: cancellation and shutdown are honoured
/// between steps; a long step can poll [`JobContext::cancel_requested`].
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The job kind this handler runs ("vm.create", "vm.migrate", …).
    fn kind(&self) -> &str;

    /// Whether an interrupted step may be re-run (see the contract above).
    fn resumable(&self) -> bool {
        true
    }

    /// The objects the job acts on while it is active, as `vm:NAME` or
    /// `host:NAME`: the engine indexes active jobs by them so "is anything
    /// at VM x?" is a lookup (see [`JobEngine::active_on`](super::JobEngine::active_on)).
    /// Asked again after every stored change (a drain moves one VM after
    /// another).
    fn touches(&self, _job: &JobRecord) -> Vec<String> {
        Vec::new()
    }

    /// Called once when the engine ends a job without running a step of
    /// it — cancelled while queued or waiting for a retry, or ended by the
    /// recovery at start — with the job as stored after: release what it
    /// holds (room kept for it, a pool membership), as a failing step's
    /// cleanup would.
    async fn abandoned(&self, _job: &JobRecord) {}

    /// Run the step `job.step` (starting at [`FIRST_STEP`](super::FIRST_STEP)).
    async fn step(&self, ctx: &JobContext, job: &JobRecord) -> StepOutcome;
}

/// What a step reports back.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    /// The step is done; `step` runs next (stored first), at `progress` %.
    Continue {
        step: String,
        progress: u8,
        note: String,
    },
    /// As `Continue`, and these keys are merged into the job's
    /// [`JobRecord::data`] in the same write: what a step decided (the
    /// host it placed a VM on) survives a crash for the steps after it.
    ContinueWith {
        step: String,
        progress: u8,
        note: String,
        data: serde_json::Map<String, Value>,
    },
    /// The job is done, with this result.
    Done(Value),
    /// A transient failure: run this step again after back-off, unless the
    /// job's attempts are used up.
    Retry(String),
    /// A permanent failure: the job fails with this error.
    Fail(String),
}

impl StepOutcome {
    /// `Continue` to `step` at `progress` % without a note.
    pub fn next(step: impl Into<String>, progress: u8) -> StepOutcome {
        StepOutcome::Continue {
            step: step.into(),
            progress,
            note: String::new(),
        }
    }
}

/// What a running step can see of the engine.
#[derive(Clone, Debug)]
pub struct JobContext {
    pub(crate) job_id: JobId,
    pub(crate) attempt: u32,
    pub(crate) cancel: Arc<AtomicBool>,
}

impl JobContext {
    /// The job being run.
    pub fn job_id(&self) -> &JobId {
        &self.job_id
    }

    /// Which try of this step this is: 1, then 2 after a retry or restart.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Whether someone asked to cancel the job. The engine stops it after
    /// this step; a long step may stop early and return `Continue` so the
    /// engine can record where it got to.
    pub fn cancel_requested(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }
}
