//! Jobs (DSP1103 Job Control): long operations run as `<P>_ConcreteJob`s.
//!
//! A method that starts slow work calls [`JobTable::spawn`] and returns
//! 4096 with the job's path in its `Job` OUT parameter; the client polls
//! the job (or listens for `<P>_ConcreteJobModifiedIndication`) until
//! JobState is 7 Completed, 8 Terminated, 9 Killed or 10 Exception.
//!
//! Each job names the service that owns it (`<P>_OwningJobElement`) and
//! the elements it acts on (`<P>_AffectedJobElement`), and says what a
//! client may do to it through `RequestStateChange` ([`JobControl`]):
//! Terminate stops the work at its next [`JobHandle::checkpoint`]; Kill
//! drops the work at once, offered only by work that leaves nothing
//! half-done when dropped. The provider is in [`crate::job_provider`].
//!
//! The table is in memory only: the agent keeps no durable state (libvirt
//! holds the VMs), so jobs still running when the agent stops are lost and
//! the client sees CIM_ERR_NOT_FOUND for them afterwards. Finished jobs stay
//! visible for TimeBeforeRemoval (5 minutes) and are then removed.
//!
//! ```ignore
//! let spec = JobSpec::new("Migrate web", ctx.service_path(..)).affecting(vec![ctx.system_path("web")]);
//! let job = ctx.jobs.spawn(&ctx, spec, |h| async move {
//!     h.progress(10, "copying the definition");
//!     h.checkpoint()?;
//!     ctx2.call(move |hv| hv.migrate("web", &dest)).await?;
//!     Ok(())
//! });
//! Ok(MethodResult::code(4096).with_out("Job", job))
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::task::AbortHandle;
use vine_cim::{CimDateTime, CimError, CimInstance, CimInstanceName, CimResult};

use crate::context::VirtContext;
use crate::events::{publish_created, publish_deleted, publish_modified};
use crate::paths::instance_id_path;
use crate::state::rc;

/// How long a finished job stays visible (CIM_ConcreteJob's default).
pub const TIME_BEFORE_REMOVAL: Duration = Duration::from_secs(300);

const CREATED: &str = "ConcreteJobCreatedIndication";
const MODIFIED: &str = "ConcreteJobModifiedIndication";
const DELETED: &str = "ConcreteJobDeletedIndication";

/// JobState (CIM_ConcreteJob) values vine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    New,
    Running,
    /// Terminate was requested; the work stops at its next checkpoint.
    ShuttingDown,
    Completed,
    /// Stopped at a checkpoint after a Terminate request.
    Terminated,
    /// Dropped by a Kill request.
    Killed,
    Exception,
}

impl JobState {
    /// The CIM value.
    pub fn code(self) -> u16 {
        match self {
            JobState::New => 2,
            JobState::Running => 4,
            JobState::ShuttingDown => 6,
            JobState::Completed => 7,
            JobState::Terminated => 8,
            JobState::Killed => 9,
            JobState::Exception => 10,
        }
    }

    pub fn is_finished(self) -> bool {
        match self {
            JobState::New | JobState::Running | JobState::ShuttingDown => false,
            JobState::Completed | JobState::Terminated | JobState::Killed | JobState::Exception => {
                true
            }
        }
    }

    /// Whether a job may move from `self` to `to`.
    fn can_move_to(self, to: JobState) -> bool {
        use JobState::*;
        match (self, to) {
            (New, Running)
            | (New | Running | ShuttingDown, Completed | Exception | Killed)
            | (Running, ShuttingDown)
            | (ShuttingDown, Terminated) => true,
            (New, New | ShuttingDown | Terminated)
            | (Running, New | Running | Terminated)
            | (ShuttingDown, New | Running | ShuttingDown)
            | (Completed | Terminated | Killed | Exception, _) => false,
        }
    }
}

/// What `RequestStateChange` may do to a job: set by the work's author,
/// who knows where the work can stop safely.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JobControl {
    /// Terminate (4): the work stops at its next [`JobHandle::checkpoint`];
    /// work past its last checkpoint completes.
    pub terminate: bool,
    /// Kill (5): the work is dropped at its current await point.
    pub kill: bool,
}

/// A job to start: its name, owner, affected elements and control.
#[derive(Clone, Debug)]
pub struct JobSpec {
    pub name: String,
    /// The service that starts it (`<P>_OwningJobElement`).
    pub owner: CimInstanceName,
    /// What it acts on (`<P>_AffectedJobElement`).
    pub affected: Vec<CimInstanceName>,
    pub control: JobControl,
}

impl JobSpec {
    pub fn new(name: &str, owner: CimInstanceName) -> Self {
        JobSpec {
            name: name.to_string(),
            owner,
            affected: Vec::new(),
            control: JobControl::default(),
        }
    }

    pub fn affecting(mut self, elements: Vec<CimInstanceName>) -> Self {
        self.affected = elements;
        self
    }

    pub fn control(mut self, control: JobControl) -> Self {
        self.control = control;
        self
    }
}

/// A request of `CIM_ConcreteJob.RequestStateChange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobRequest {
    Start,
    Suspend,
    Terminate,
    Kill,
    Service,
}

impl JobRequest {
    /// The request for a RequestedState value; `None` outside the map.
    pub fn from_code(v: u16) -> Option<JobRequest> {
        Some(match v {
            2 => JobRequest::Start,
            3 => JobRequest::Suspend,
            4 => JobRequest::Terminate,
            5 => JobRequest::Kill,
            6 => JobRequest::Service,
            _ => return None,
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) struct JobRecord {
    id: String,
    spec: JobSpec,
    pub(crate) state: JobState,
    percent: u16,
    status: String,
    pub(crate) error: Option<CimError>,
    submitted: SystemTime,
    started: Option<SystemTime>,
    finished: Option<SystemTime>,
    last_change: SystemTime,
    stop_requested: bool,
    abort: Option<AbortHandle>,
}

/// The jobs of this agent. One per agent, in [`VirtContext::jobs`].
pub struct JobTable {
    jobs: Mutex<BTreeMap<String, JobRecord>>,
    next: AtomicU64,
    /// Distinguishes job ids across agent restarts.
    epoch: u64,
    changed: Notify,
}

impl Default for JobTable {
    fn default() -> Self {
        JobTable {
            jobs: Mutex::default(),
            next: AtomicU64::new(1),
            epoch: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            changed: Notify::new(),
        }
    }
}

/// Given to a job's work: reports progress and learns of Terminate.
#[derive(Clone)]
pub struct JobHandle {
    table: Arc<JobTable>,
    ctx: VirtContext,
    id: String,
}

impl JobHandle {
    /// Sets PercentComplete (0..=100) and the JobStatus text.
    pub fn progress(&self, percent: u16, status: &str) {
        self.table.update(&self.ctx, &self.id, |r| {
            r.percent = percent.min(100);
            r.status = status.to_string();
        });
    }

    /// A point where the work may stop: `Err` once a client asked to
    /// terminate the job (the job then ends Terminated, not Exception).
    pub fn checkpoint(&self) -> CimResult<()> {
        if self.stop_requested() {
            return Err(CimError::failed("terminated at a client's request"));
        }
        Ok(())
    }

    /// Whether a client asked to terminate the job.
    pub fn stop_requested(&self) -> bool {
        self.table
            .lock()
            .get(&self.id)
            .is_some_and(|r| r.stop_requested)
    }

    /// The job's path.
    pub fn path(&self) -> CimInstanceName {
        job_path(&self.ctx, &self.id)
    }
}

/// `<P>_ConcreteJob.InstanceID=<id>`.
pub fn job_path(ctx: &VirtContext, id: &str) -> CimInstanceName {
    instance_id_path(&ctx.class("ConcreteJob"), id)
}

impl JobTable {
    /// Starts `work` as job `spec` and returns the job's path at once. The
    /// job is Running while `work` runs, then Completed on `Ok`, Terminated
    /// when `work` stopped at a checkpoint after a Terminate request, or
    /// Exception with the error's status code and message in
    /// ErrorCode/ErrorDescription. The job's creation and each change are
    /// published as `<P>_ConcreteJobCreatedIndication` and
    /// `<P>_ConcreteJobModifiedIndication`.
    pub fn spawn<F, Fut>(
        self: &Arc<Self>,
        ctx: &VirtContext,
        spec: JobSpec,
        work: F,
    ) -> CimInstanceName
    where
        F: FnOnce(JobHandle) -> Fut + Send + 'static,
        Fut: Future<Output = CimResult<()>> + Send + 'static,
    {
        let id = format!(
            "{}:Job:{}-{}",
            ctx.prefix,
            self.epoch,
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let now = SystemTime::now();
        self.purge(ctx);
        let handle = JobHandle {
            table: self.clone(),
            ctx: ctx.clone(),
            id: id.clone(),
        };
        // Inserted Running with its abort handle before anyone can ask
        // for it; the work (its own task, so a panic fails the job rather
        // than leaving it Running) runs once the lock is released.
        let (task, created) = {
            let mut jobs = self.lock();
            let task = tokio::spawn(work(handle));
            let record = JobRecord {
                id: id.clone(),
                spec,
                state: JobState::Running,
                percent: 0,
                status: "Running".into(),
                error: None,
                submitted: now,
                started: Some(now),
                finished: None,
                last_change: now,
                stop_requested: false,
                abort: Some(task.abort_handle()),
            };
            let created = job_instance(ctx, &record);
            jobs.insert(id.clone(), record);
            (task, created)
        };
        publish_created(ctx, CREATED, &created);
        let path = job_path(ctx, &id);
        let table = self.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let outcome = task.await;
            let stop = table.lock().get(&id).is_some_and(|r| r.stop_requested);
            let (state, err) = match outcome {
                Ok(Ok(())) => (JobState::Completed, None),
                Ok(Err(e)) if stop => (JobState::Terminated, Some(e)),
                Ok(Err(e)) => (JobState::Exception, Some(e)),
                // Already marked Killed by the request that aborted it.
                Err(e) if e.is_cancelled() => return,
                Err(e) => (
                    JobState::Exception,
                    Some(CimError::failed(format!(
                        "the job stopped unexpectedly: {e}"
                    ))),
                ),
            };
            if state == JobState::Exception {
                if let Some(e) = &err {
                    tracing::warn!(job = %id, error = %e, "job failed");
                }
            }
            table.set_state(&ctx, &id, state, err);
        });
        path
    }

    /// Carries out a RequestStateChange on job `id`: the DSP1103 return
    /// code, or `None` when there is no such job.
    pub fn request(&self, ctx: &VirtContext, id: &str, req: JobRequest) -> Option<u32> {
        let (state, control) = {
            let jobs = self.lock();
            let r = jobs.get(id)?;
            (r.state, r.spec.control)
        };
        if state.is_finished() {
            return Some(rc::INVALID_STATE_TRANSITION);
        }
        let code = match req {
            // Jobs start when created and never pause.
            JobRequest::Start => rc::INVALID_STATE_TRANSITION,
            JobRequest::Suspend | JobRequest::Service => rc::NOT_SUPPORTED,
            JobRequest::Terminate if !control.terminate => rc::NOT_SUPPORTED,
            JobRequest::Kill if !control.kill => rc::NOT_SUPPORTED,
            JobRequest::Terminate => {
                self.update(ctx, id, |r| {
                    r.stop_requested = true;
                    if r.state.can_move_to(JobState::ShuttingDown) {
                        r.state = JobState::ShuttingDown;
                        r.status = "Terminate requested: stopping at the next safe point".into();
                    }
                });
                tracing::info!(job = id, "terminate requested");
                rc::JOB_STARTED
            }
            JobRequest::Kill => {
                let abort = self.lock().get(id).and_then(|r| r.abort.clone());
                if let Some(a) = abort {
                    a.abort();
                }
                tracing::info!(job = id, "killed");
                self.set_state(ctx, id, JobState::Killed, None);
                rc::COMPLETED
            }
        };
        Some(code)
    }

    /// The JobState of job `id`, `None` when there is no such job.
    pub fn state(&self, id: &str) -> Option<JobState> {
        self.lock().get(id).map(|r| r.state)
    }

    /// Waits until job `id` has finished (or `timeout` passes) and returns
    /// its final state and error.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Option<(JobState, Option<CimError>)> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.changed.notified();
            if let Some(r) = self.lock().get(id) {
                if r.state.is_finished() {
                    return Some((r.state, r.error.clone()));
                }
            } else {
                return None;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.lock().get(id).map(|r| (r.state, r.error.clone()));
            }
        }
    }

    /// Every job's instance.
    pub fn instances(&self, ctx: &VirtContext) -> Vec<CimInstance> {
        self.purge(ctx);
        self.lock().values().map(|r| job_instance(ctx, r)).collect()
    }

    /// (job, affected element) pairs for CIM_AffectedJobElement.
    pub fn affected(&self, ctx: &VirtContext) -> Vec<(CimInstanceName, CimInstanceName)> {
        self.purge(ctx);
        self.lock()
            .values()
            .flat_map(|r| {
                r.spec
                    .affected
                    .iter()
                    .map(|a| (job_path(ctx, &r.id), a.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// (job, owning service) pairs for CIM_OwningJobElement.
    pub fn owners(&self, ctx: &VirtContext) -> Vec<(CimInstanceName, CimInstanceName)> {
        self.purge(ctx);
        self.lock()
            .values()
            .map(|r| (job_path(ctx, &r.id), r.spec.owner.clone()))
            .collect()
    }

    /// The error of job `id`: `None` when there is no such job,
    /// `Some(None)` when it has none.
    pub fn error(&self, id: &str) -> Option<Option<CimError>> {
        self.lock().get(id).map(|r| r.error.clone())
    }

    /// Removes finished job `id`; `Err` with its state while it runs,
    /// `Ok(false)` when there is no such job.
    pub fn remove(&self, ctx: &VirtContext, id: &str) -> Result<bool, JobState> {
        let gone = {
            let mut jobs = self.lock();
            match jobs.get(id).map(|r| r.state) {
                None => return Ok(false),
                Some(s) if !s.is_finished() => return Err(s),
                Some(_) => jobs.remove(id),
            }
        };
        if let Some(r) = gone {
            publish_deleted(ctx, DELETED, &job_instance(ctx, &r));
        }
        Ok(true)
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JobRecord>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops finished jobs older than [`TIME_BEFORE_REMOVAL`].
    fn purge(&self, ctx: &VirtContext) {
        let now = SystemTime::now();
        let expired: Vec<JobRecord> = {
            let mut jobs = self.lock();
            let ids: Vec<String> = jobs
                .values()
                .filter(|r| {
                    r.finished.is_some_and(|f| {
                        now.duration_since(f).unwrap_or_default() >= TIME_BEFORE_REMOVAL
                    })
                })
                .map(|r| r.id.clone())
                .collect();
            ids.iter().filter_map(|id| jobs.remove(id)).collect()
        };
        for r in expired {
            publish_deleted(ctx, DELETED, &job_instance(ctx, &r));
        }
    }

    fn update(&self, ctx: &VirtContext, id: &str, f: impl FnOnce(&mut JobRecord)) {
        let (before, after) = {
            let mut jobs = self.lock();
            let Some(r) = jobs.get_mut(id) else { return };
            let before = job_instance(ctx, r);
            f(r);
            r.last_change = SystemTime::now();
            (before, job_instance(ctx, r))
        };
        self.changed.notify_waiters();
        publish_modified(ctx, MODIFIED, &before, after);
    }

    fn set_state(&self, ctx: &VirtContext, id: &str, to: JobState, error: Option<CimError>) {
        self.update(ctx, id, |r| {
            if !r.state.can_move_to(to) {
                tracing::debug!(job = %r.id, from = ?r.state, to = ?to, "job state move refused");
                return;
            }
            let now = SystemTime::now();
            r.state = to;
            r.abort = None;
            match to {
                JobState::New | JobState::ShuttingDown => {}
                JobState::Running => {
                    r.started = Some(now);
                    r.status = "Running".into();
                }
                JobState::Completed => {
                    r.finished = Some(now);
                    r.percent = 100;
                    r.status = if r.stop_requested {
                        "Completed: the work was past its last stopping point when \
                         Terminate was requested"
                            .into()
                    } else {
                        "Completed".into()
                    };
                }
                JobState::Terminated => {
                    r.finished = Some(now);
                    r.status = "Terminated at a client's request".into();
                }
                JobState::Killed => {
                    r.finished = Some(now);
                    r.status = "Killed at a client's request".into();
                }
                JobState::Exception => {
                    r.finished = Some(now);
                    r.status = match &error {
                        Some(e) => format!("Failed: {}", e.description),
                        None => "Failed".into(),
                    };
                    r.error = error;
                }
            }
        });
    }
}

fn elapsed(r: &JobRecord) -> Duration {
    let Some(start) = r.started else {
        return Duration::ZERO;
    };
    let end = r.finished.unwrap_or_else(SystemTime::now);
    end.duration_since(start).unwrap_or_default()
}

fn job_instance(ctx: &VirtContext, r: &JobRecord) -> CimInstance {
    let path = job_path(ctx, &r.id);
    // 17 Completed, 6 Error, 10 Stopped (CIM_ManagedSystemElement).
    let operational: Vec<u16> = match r.state {
        JobState::New | JobState::Running | JobState::ShuttingDown => vec![2],
        JobState::Completed => vec![2, 17],
        JobState::Terminated | JobState::Killed => vec![10, 17],
        JobState::Exception => vec![6, 17],
    };
    let mut inst = CimInstance::new(ctx.class("ConcreteJob"))
        .with("InstanceID", r.id.as_str())
        .with("Name", r.spec.name.as_str())
        .with("ElementName", r.spec.name.as_str())
        .with("Caption", r.spec.name.as_str())
        .with("JobState", r.state.code())
        .with("JobStatus", r.status.as_str())
        .with("PercentComplete", r.percent)
        .with("OperationalStatus", operational)
        .with("TimeSubmitted", CimDateTime::from_system_time(r.submitted))
        .with("ElapsedTime", CimDateTime::interval(elapsed(r)))
        .with(
            "TimeOfLastStateChange",
            CimDateTime::from_system_time(r.last_change),
        )
        .with(
            "TimeBeforeRemoval",
            CimDateTime::interval(TIME_BEFORE_REMOVAL),
        )
        .with("DeleteOnCompletion", true)
        .with(
            "ErrorCode",
            r.error.as_ref().map_or(0u16, |e| e.status.code() as u16),
        );
    if let Some(s) = r.started {
        inst.set("StartTime", CimDateTime::from_system_time(s));
    }
    if let Some(e) = &r.error {
        inst.set("ErrorDescription", e.description.as_str());
    }
    inst.path = Some(path);
    inst
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_jobs_do_not_move() {
        use JobState::*;
        assert!(New.can_move_to(Running));
        assert!(Running.can_move_to(Exception));
        assert!(Running.can_move_to(ShuttingDown));
        assert!(ShuttingDown.can_move_to(Terminated));
        assert!(ShuttingDown.can_move_to(Completed));
        assert!(
            !Running.can_move_to(Terminated),
            "only after a Terminate request"
        );
        for done in [Completed, Terminated, Killed, Exception] {
            assert!(done.is_finished());
            for to in [
                New,
                Running,
                ShuttingDown,
                Completed,
                Terminated,
                Killed,
                Exception,
            ] {
                assert!(!done.can_move_to(to), "{done:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn requested_states_follow_the_map() {
        assert_eq!(JobRequest::from_code(4), Some(JobRequest::Terminate));
        assert_eq!(JobRequest::from_code(5), Some(JobRequest::Kill));
        assert_eq!(JobRequest::from_code(7), None);
        assert_eq!(JobRequest::from_code(0), None);
    }
}
