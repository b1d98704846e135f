use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::engine::{lock, JobEngine};
use super::error::{JobError, Result};
use super::handler::{JobContext, StepOutcome};
use super::record::{now_ms, JobId, JobRecord, JobState};

/// Longest the scheduler sleeps without a reason to wake; a safety net.
const IDLE_WAKE: Duration = Duration::from_secs(1);
/// How long a job whose store write failed waits before it is tried again.
const STORE_RETRY_MS: u64 = 5_000;

impl JobEngine {
    /// Run jobs until `shutdown` completes, then let running steps finish,
    /// put their jobs back in the queue (to resume at the next step on the
    /// next start) and return.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let inner = &self.inner;
        inner.stopping.store(false, Ordering::SeqCst);
        self.release_recovered();
        let slots = Arc::new(Semaphore::new(inner.config.concurrency.max(1)));
        let mut tasks = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let now = now_ms();
            let (due, next_due) = self.take_due(now, slots.available_permits());
            for id in due {
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    // Cannot happen (we took no more than were free); requeue.
                    lock(&inner.pending).insert(id, now);
                    continue;
                };
                let engine = self.clone();
                tasks.spawn(async move { engine.run_job(id, permit).await });
            }
            let sleep = next_due
                .map(|t| Duration::from_millis(t.saturating_sub(now)))
                .unwrap_or(IDLE_WAKE)
                .min(IDLE_WAKE);
            tokio::select! {
                _ = &mut shutdown => break,
                _ = inner.wake.notified() => {}
                _ = tokio::time::sleep(sleep) => {}
                Some(done) = tasks.join_next(), if !tasks.is_empty() => log_join(done),
            }
        }
        inner.stopping.store(true, Ordering::SeqCst);
        tracing::info!(
            in_flight = tasks.len(),
            "job engine stopping after current steps"
        );
        while let Some(done) = tasks.join_next().await {
            log_join(done);
        }
    }

    /// Up to `limit` due jobs (oldest first), removed from the queue, and
    /// the time the next not-yet-due job is due.
    fn take_due(&self, now: u64, limit: usize) -> (Vec<JobId>, Option<u64>) {
        let mut pending = lock(&self.inner.pending);
        // A job re-queued by a task that has not quite ended yet waits for
        // that task: one run per job at a time.
        let running = lock(&self.inner.running);
        let mut due = Vec::new();
        let mut next_due: Option<u64> = None;
        for (id, &at) in pending.iter() {
            if running.contains_key(id) {
                continue;
            }
            if at <= now {
                if due.len() < limit {
                    due.push(id.clone());
                }
            } else {
                next_due = Some(next_due.map_or(at, |n| n.min(at)));
            }
        }
        for id in &due {
            pending.remove(id);
        }
        (due, next_due)
    }

    async fn run_job(&self, id: JobId, _permit: OwnedSemaphorePermit) {
        let flag = Arc::new(AtomicBool::new(false));
        // In `running` before the first store write, so a cancel stored
        // after it always finds the flag.
        lock(&self.inner.running).insert(id.clone(), flag.clone());
        let outcome = self.drive(&id, &flag).await;
        {
            let mut running = lock(&self.inner.running);
            if running.get(&id).is_some_and(|f| Arc::ptr_eq(f, &flag)) {
                running.remove(&id);
            }
        }
        if let Err(e) = outcome {
            // The store refused a write: the job keeps its last stored
            // state; try it again later rather than lose it.
            tracing::error!(job = %id, error = %e, "job engine could not store a job update; will retry");
            let still_active = self
                .get(&id)
                .map(|j| !j.state.is_terminal())
                .unwrap_or(true);
            if still_active {
                lock(&self.inner.pending).insert(id, now_ms() + STORE_RETRY_MS);
            }
        }
        self.inner.wake.notify_one();
    }

    /// Run one job's steps until it finishes, waits for a retry, or the
    /// engine stops.
    async fn drive(&self, id: &JobId, flag: &Arc<AtomicBool>) -> Result<()> {
        let mut job = match self.persist(id, |job| {
            if job.state == JobState::Running {
                // Left Running by a store write that failed in an earlier
                // run of this engine (only this engine runs it: the store
                // is locked to one process, and one task per job): re-run
                // the stored step, as after a crash.
                return Ok(());
            }
            let note = if job.attempts == 0 {
                format!("running step {}", job.step)
            } else {
                format!("running step {} (try {})", job.step, job.attempts + 1)
            };
            job.transition(JobState::Running, now_ms(), &note)
        }) {
            Ok(job) => job,
            // Finished or cancelled meanwhile: nothing to do.
            Err(JobError::IllegalTransition { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let Some(handler) = self.inner.handlers.get(&job.kind).cloned() else {
            let why = format!("no handler for kind {:?}", job.kind);
            self.finish(id, JobState::Failed, why, None)?;
            return Ok(());
        };
        loop {
            if job.cancel_requested || flag.load(Ordering::SeqCst) {
                let why = format!("cancelled before step {}", job.step);
                self.finish(id, JobState::Cancelled, why, None)?;
                // The handler may have seen the cancel after its last step
                // and released already; releasing is idempotent, and this
                // covers a cancel that landed after it looked.
                handler.abandoned(&job).await;
                return Ok(());
            }
            if self.inner.stopping.load(Ordering::SeqCst) {
                self.persist(id, |job| {
                    let note = format!("paused before step {} by manager shutdown", job.step);
                    job.transition(JobState::Queued, now_ms(), &note)
                })?;
                return Ok(());
            }
            let ctx = JobContext {
                job_id: id.clone(),
                attempt: job.attempts + 1,
                cancel: flag.clone(),
            };
            let outcome = run_step(handler.clone(), ctx, job.clone()).await;
            tracing::debug!(job = %id, step = %job.step, ?outcome, "step finished");
            match outcome {
                StepOutcome::Continue {
                    step,
                    progress,
                    note,
                } => {
                    job = self.persist(id, |job| {
                        job.advance(step.clone(), progress, note.clone(), now_ms())
                    })?;
                }
                StepOutcome::ContinueWith {
                    step,
                    progress,
                    note,
                    data,
                } => {
                    job = self.persist(id, |job| {
                        for (k, v) in &data {
                            job.data.insert(k.clone(), v.clone());
                        }
                        job.advance(step.clone(), progress, note.clone(), now_ms())
                    })?;
                }
                StepOutcome::Done(result) => {
                    let job = self.persist(id, |job| {
                        job.result = Some(result.clone());
                        job.progress = 100;
                        job.error = None;
                        job.transition(JobState::Succeeded, now_ms(), "succeeded")
                    })?;
                    tracing::info!(job = %id, kind = %job.kind, "job succeeded");
                    return Ok(());
                }
                StepOutcome::Fail(error) => {
                    let why = format!("step {} failed: {error}", job.step);
                    self.finish(id, JobState::Failed, why, Some(error))?;
                    return Ok(());
                }
                StepOutcome::Retry(error) => {
                    self.retry_later(id, &job, error)?;
                    return Ok(());
                }
            }
        }
    }

    fn retry_later(&self, id: &JobId, job: &JobRecord, error: String) -> Result<()> {
        let failures = job.attempts + 1;
        let delay = self.inner.config.backoff.delay_random(failures);
        let job = self.persist(id, |job| {
            job.attempts = failures;
            job.error = Some(error.clone());
            let now = now_ms();
            if job.attempts >= job.max_attempts {
                let why = format!(
                    "step {} failed {} times, giving up: {error}",
                    job.step, job.attempts
                );
                job.error = Some(why.clone());
                job.transition(JobState::Failed, now, &why)
            } else {
                job.next_attempt_at = Some(now + delay.as_millis() as u64);
                let note = format!("step {} failed ({error}); retry in {delay:?}", job.step);
                job.transition(JobState::Retrying, now, &note)
            }
        })?;
        if let (JobState::Retrying, Some(at)) = (job.state, job.next_attempt_at) {
            tracing::info!(job = %id, attempts = job.attempts, ?delay, %error, "job step will be retried");
            lock(&self.inner.pending).insert(id.clone(), at);
        } else {
            tracing::warn!(job = %id, error = ?job.error, "job failed");
        }
        Ok(())
    }

    fn finish(&self, id: &JobId, to: JobState, why: String, error: Option<String>) -> Result<()> {
        let job = self.persist(id, |job| {
            if to == JobState::Failed {
                job.error = Some(error.clone().unwrap_or_else(|| why.clone()));
            }
            job.transition(to, now_ms(), &why)
        })?;
        tracing::info!(job = %id, state = ?job.state, %why, "job finished");
        Ok(())
    }
}

/// Run a step in its own task so that a panicking handler fails its job
/// instead of taking the engine down.
async fn run_step(
    handler: Arc<dyn super::JobHandler>,
    ctx: JobContext,
    job: JobRecord,
) -> StepOutcome {
    let step = job.step.clone();
    match tokio::spawn(async move { handler.step(&ctx, &job).await }).await {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => StepOutcome::Fail(format!("handler panicked in step {step}")),
        Err(_) => StepOutcome::Fail(format!("step {step} was aborted")),
    }
}

fn log_join(done: std::result::Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(error = %e, "job task ended abnormally");
    }
}
