//! Jobs (DSP1103 Job Control): long operations run as `<P>_ConcreteJob`s.
//!
//! A method that starts slow work calls [`JobTable::spawn`] and returns
//! 4096 with the job's path in its `Job` OUT parameter; the client polls
//! the job (or listens for `<P>_ConcreteJobModifiedIndication`) until
//! JobState is 7 Completed or 10 Exception.
//!
//! The table is in memory only: the agent keeps no durable state (libvirt
//! holds the VMs), so jobs still running when the agent stops are lost and
//! the client sees CIM_ERR_NOT_FOUND for them afterwards. Finished jobs stay
//! visible for TimeBeforeRemoval (5 minutes) and are then removed.
//!
//! ```ignore
//! let job = ctx.jobs.spawn(&ctx, "Migrate web", vec![ctx.system_path("web")], |h| async move {
//!     h.progress(10, "copying the definition");
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

use async_trait::async_trait;
use tokio::sync::Notify;
use vine_cim::{
    CimClass, CimDateTime, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue,
    CimResult, CimStatus,
};
use vine_wbem::provider::{
    InstanceProvider, MethodProvider, MethodResult, MethodTarget, RequestContext,
};

use crate::context::VirtContext;
use crate::events::publish_modified;
use crate::paths::instance_id_path;

/// How long a finished job stays visible (CIM_ConcreteJob's default).
pub const TIME_BEFORE_REMOVAL: Duration = Duration::from_secs(300);

/// JobState (CIM_ConcreteJob) values vine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    New,
    Running,
    Completed,
    Exception,
}

impl JobState {
    /// The CIM value.
    pub fn code(self) -> u16 {
        match self {
            JobState::New => 2,
            JobState::Running => 4,
            JobState::Completed => 7,
            JobState::Exception => 10,
        }
    }

    pub fn is_finished(self) -> bool {
        match self {
            JobState::New | JobState::Running => false,
            JobState::Completed | JobState::Exception => true,
        }
    }

    /// Whether a job may move from `self` to `to`.
    fn can_move_to(self, to: JobState) -> bool {
        match (self, to) {
            (JobState::New, JobState::Running)
            | (JobState::New | JobState::Running, JobState::Completed | JobState::Exception) => {
                true
            }
            (JobState::New, JobState::New)
            | (JobState::Running, JobState::New | JobState::Running)
            | (JobState::Completed | JobState::Exception, _) => false,
        }
    }
}

#[derive(Clone, Debug)]
struct JobRecord {
    id: String,
    name: String,
    state: JobState,
    percent: u16,
    status: String,
    error: Option<CimError>,
    submitted: SystemTime,
    started: Option<SystemTime>,
    finished: Option<SystemTime>,
    last_change: SystemTime,
    affected: Vec<CimInstanceName>,
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

/// Given to a job's work: reports progress on the job.
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
    /// Starts `work` as a job named `name` that affects `affected` (for
    /// AffectedJobElement) and returns the job's path at once. The job is
    /// Running while `work` runs, then Completed on `Ok`, or Exception with
    /// the error's status code and message in ErrorCode/ErrorDescription.
    /// Each state change is published as a `<P>_ConcreteJobModifiedIndication`.
    pub fn spawn<F, Fut>(
        self: &Arc<Self>,
        ctx: &VirtContext,
        name: &str,
        affected: Vec<CimInstanceName>,
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
        self.purge();
        self.lock().insert(
            id.clone(),
            JobRecord {
                id: id.clone(),
                name: name.to_string(),
                state: JobState::New,
                percent: 0,
                status: "Queued".into(),
                error: None,
                submitted: now,
                started: None,
                finished: None,
                last_change: now,
                affected,
            },
        );
        let handle = JobHandle {
            table: self.clone(),
            ctx: ctx.clone(),
            id: id.clone(),
        };
        let path = job_path(ctx, &id);
        let table = self.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            table.set_state(&ctx, &id, JobState::Running, None);
            // The work runs in its own task so a panic in it fails the job
            // instead of leaving it Running forever.
            let outcome = tokio::spawn(work(handle)).await;
            let (state, err) = match outcome {
                Ok(Ok(())) => (JobState::Completed, None),
                Ok(Err(e)) => (JobState::Exception, Some(e)),
                Err(e) => (
                    JobState::Exception,
                    Some(CimError::failed(format!(
                        "the job stopped unexpectedly: {e}"
                    ))),
                ),
            };
            if let Some(e) = &err {
                tracing::warn!(job = %id, error = %e, "job failed");
            }
            table.set_state(&ctx, &id, state, err);
        });
        path
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
        self.purge();
        self.lock().values().map(|r| job_instance(ctx, r)).collect()
    }

    /// (job, affected element) pairs for CIM_AffectedJobElement.
    pub fn affected(&self, ctx: &VirtContext) -> Vec<(CimInstanceName, CimInstanceName)> {
        self.purge();
        self.lock()
            .values()
            .flat_map(|r| {
                r.affected
                    .iter()
                    .map(|a| (job_path(ctx, &r.id), a.clone()))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, JobRecord>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops finished jobs older than [`TIME_BEFORE_REMOVAL`].
    fn purge(&self) {
        let now = SystemTime::now();
        self.lock().retain(|_, r| {
            r.finished
                .is_none_or(|f| now.duration_since(f).unwrap_or_default() < TIME_BEFORE_REMOVAL)
        });
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
        publish_modified(ctx, "ConcreteJobModifiedIndication", &before, after);
    }

    fn set_state(&self, ctx: &VirtContext, id: &str, to: JobState, error: Option<CimError>) {
        self.update(ctx, id, |r| {
            if !r.state.can_move_to(to) {
                tracing::error!(job = %r.id, from = ?r.state, to = ?to, "job state move refused");
                return;
            }
            let now = SystemTime::now();
            r.state = to;
            match to {
                JobState::New => {}
                JobState::Running => {
                    r.started = Some(now);
                    r.status = "Running".into();
                }
                JobState::Completed => {
                    r.finished = Some(now);
                    r.percent = 100;
                    r.status = "Completed".into();
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
    let operational: Vec<u16> = match r.state {
        JobState::New | JobState::Running => vec![2],
        JobState::Completed => vec![2, 17],
        JobState::Exception => vec![6, 17],
    };
    let mut inst = CimInstance::new(ctx.class("ConcreteJob"))
        .with("InstanceID", r.id.as_str())
        .with("Name", r.name.as_str())
        .with("ElementName", r.name.as_str())
        .with("Caption", r.name.as_str())
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

/// Serves `<P>_ConcreteJob` (get, enumerate, delete of finished jobs) and
/// `<P>_AffectedJobElement`.
pub struct JobProvider {
    ctx: VirtContext,
}

impl JobProvider {
    pub fn new(ctx: VirtContext) -> Self {
        JobProvider { ctx }
    }
}

#[async_trait]
impl InstanceProvider for JobProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        if class.name.matches(&ctx.class("ConcreteJob")) {
            return Ok(ctx.jobs.instances(ctx));
        }
        let assoc = ctx.class("AffectedJobElement");
        Ok(ctx
            .jobs
            .affected(ctx)
            .into_iter()
            .map(|(job, element)| {
                crate::assoc::link(
                    &assoc,
                    ("AffectingElement", job),
                    ("AffectedElement", element),
                )
            })
            .collect())
    }

    async fn delete_instance(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<()> {
        if !class.name.matches(&self.ctx.class("ConcreteJob")) {
            return Err(CimError::not_supported("associations are not deleted"));
        }
        let id = name
            .key_str("InstanceID")
            .ok_or_else(|| CimError::invalid_parameter("InstanceID key is missing"))?;
        let mut jobs = self.ctx.jobs.lock();
        match jobs.get(id).map(|r| r.state) {
            None => Err(CimError::not_found(name.local())),
            Some(s) if !s.is_finished() => Err(CimError::new(
                CimStatus::Failed,
                format!("job {id} is still running; delete it once it has finished"),
            )),
            Some(_) => {
                jobs.remove(id);
                Ok(())
            }
        }
    }
}

#[async_trait]
impl MethodProvider for JobProvider {
    async fn invoke_method(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        _target: &MethodTarget,
        method: &CimMethod,
        _params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        // Jobs cannot be suspended or killed: the libvirt calls behind them
        // are not interruptible.
        if method.name.matches("RequestStateChange") || method.name.matches("GetErrors") {
            return Ok(MethodResult::code(1));
        }
        Err(CimError::new(
            CimStatus::MethodNotAvailable,
            format!("{} is not implemented", method.name),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_jobs_do_not_move() {
        assert!(JobState::New.can_move_to(JobState::Running));
        assert!(JobState::Running.can_move_to(JobState::Exception));
        assert!(!JobState::Completed.can_move_to(JobState::Running));
        assert!(!JobState::Exception.can_move_to(JobState::Completed));
    }
}
