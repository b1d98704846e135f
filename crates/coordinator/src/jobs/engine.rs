use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::{watch, Notify};
use vine_store::{names, Collection, Store, StoreError};

use super::backoff::Backoff;
use super::error::{JobError, Result};
use super::handler::JobHandler;
use super::record::{now_ms, JobFilter, JobId, JobRecord, JobState, NewJob, UnixMillis};

/// How the engine runs jobs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Jobs running at once.
    pub concurrency: usize,
    pub backoff: Backoff,
    /// Tries of one step before a job fails, unless the job says otherwise.
    pub max_attempts: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: 8,
            backoff: Backoff::default(),
            max_attempts: 5,
        }
    }
}

/// The durable job engine. Cheap to clone; all clones share one engine.
///
/// 1. [`JobEngine::new`] opens the `jobs` collection and recovers: a job
///    found `Running` was cut off by a crash, so it is queued to re-run its
///    stored step, or failed with the reason (handler not resumable,
///    attempts used up, no handler).
/// 2. [`JobEngine::submit`] stores a `Queued` job and returns its id.
/// 3. [`JobEngine::run`] runs due jobs, at most `concurrency` at once,
///    storing every state change before acting on it.
#[derive(Clone)]
pub struct JobEngine {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) jobs: Collection<JobRecord>,
    keys: Collection<String>,
    pub(crate) handlers: HashMap<String, Arc<dyn JobHandler>>,
    pub(crate) config: EngineConfig,
    /// Wakes the scheduler: a job was queued, or a slot freed.
    pub(crate) wake: Notify,
    /// Jobs waiting to run (not in flight), with the time they are due.
    pub(crate) pending: Mutex<BTreeMap<JobId, UnixMillis>>,
    /// Jobs in flight, with their cancel flags.
    pub(crate) running: Mutex<HashMap<JobId, Arc<AtomicBool>>>,
    watchers: Mutex<HashMap<JobId, watch::Sender<JobRecord>>>,
    /// Every job not yet final, as last stored, indexed by what it touches.
    active: Mutex<ActiveJobs>,
    /// What the recovery at start could not resume, for the event log.
    recovery: Mutex<Vec<Recovered>>,
    /// Jobs the recovery ended, whose handlers `run` tells first.
    to_release: Mutex<Vec<JobRecord>>,
    /// Set when `run` is asked to stop: workers pause between steps.
    pub(crate) stopping: AtomicBool,
}

/// Lock a mutex, shrugging off poisoning: the maps stay consistent because
/// no code path panics while holding them.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl JobEngine {
    /// Open the engine on `store` with these handlers, and recover jobs left
    /// `Running` by a previous process.
    pub fn new(
        store: &Store,
        handlers: Vec<Arc<dyn JobHandler>>,
        config: EngineConfig,
    ) -> Result<JobEngine> {
        let mut by_kind = HashMap::new();
        for h in handlers {
            let kind = h.kind().to_owned();
            if by_kind.insert(kind.clone(), h).is_some() {
                return Err(JobError::DuplicateHandler { kind });
            }
        }
        let engine = JobEngine {
            inner: Arc::new(Inner {
                jobs: store.collection(names::JOBS)?,
                keys: store.collection(names::JOB_KEYS)?,
                handlers: by_kind,
                config,
                wake: Notify::new(),
                pending: Mutex::new(BTreeMap::new()),
                running: Mutex::new(HashMap::new()),
                watchers: Mutex::new(HashMap::new()),
                active: Mutex::new(ActiveJobs::default()),
                recovery: Mutex::new(Vec::new()),
                to_release: Mutex::new(Vec::new()),
                stopping: AtomicBool::new(false),
            }),
        };
        engine.recover()?;
        Ok(engine)
    }

    /// Submit a job; see [`JobEngine::submit_job`].
    pub fn submit(
        &self,
        kind: &str,
        params: Value,
        idempotency_key: Option<String>,
    ) -> Result<JobId> {
        self.submit_job(NewJob {
            kind: kind.to_owned(),
            params,
            idempotency_key,
            ..NewJob::default()
        })
    }

    /// Store a new `Queued` job (flushed) and return its id. With an
    /// idempotency key that was used before, return that job instead of
    /// creating a second one — or `IdempotencyConflict` if its kind or
    /// params differ.
    pub fn submit_job(&self, new: NewJob) -> Result<JobId> {
        if !self.inner.handlers.contains_key(&new.kind) {
            return Err(JobError::UnknownKind { kind: new.kind });
        }
        let now = now_ms();
        let mut id = JobId::generate(now);
        if let Some(key) = &new.idempotency_key {
            // The key is reserved before the job is written: a crash in
            // between leaves a reservation without a job, which the next
            // submit with the key fills in — never two jobs for one key.
            match self.inner.keys.insert_new(key, &id.to_string()) {
                Ok(()) => {}
                Err(StoreError::AlreadyExists { .. }) => {
                    let existing = self
                        .inner
                        .keys
                        .get(key)?
                        .map(JobId::from)
                        .unwrap_or(id.clone());
                    if let Some(job) = self.inner.jobs.get(existing.as_str())? {
                        return same_job(key, &new, job);
                    }
                    id = existing;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let record = JobRecord::new(id.clone(), new.clone(), self.inner.config.max_attempts, now);
        match self.inner.jobs.insert_new(id.as_str(), &record) {
            Ok(()) => {}
            // A racing submit with the same key filled the reservation first.
            Err(StoreError::AlreadyExists { .. }) => {
                let job = self.get(&id)?;
                let key = new.idempotency_key.clone().unwrap_or_default();
                return same_job(&key, &new, job);
            }
            Err(e) => return Err(e.into()),
        }
        tracing::info!(job = %id, kind = %record.kind, "job submitted");
        self.track(record, true);
        lock(&self.inner.pending).insert(id.clone(), 0);
        self.inner.wake.notify_one();
        Ok(id)
    }

    /// The job as stored.
    pub fn get(&self, id: &JobId) -> Result<JobRecord> {
        self.inner
            .jobs
            .get(id.as_str())?
            .ok_or_else(|| JobError::NotFound { id: id.clone() })
    }

    /// Jobs matching `filter`, oldest first.
    pub fn list(&self, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        if filter.active == Some(true) {
            // The active jobs are in memory: no need to decode every job
            // ever stored.
            let active = lock(&self.inner.active);
            return Ok(active
                .jobs
                .values()
                .filter(|job| filter.matches(job))
                .cloned()
                .collect());
        }
        Ok(self
            .inner
            .jobs
            .list()?
            .into_iter()
            .map(|(_, job)| job)
            .filter(|job| filter.matches(job))
            .collect())
    }

    /// Active jobs that touch `object` (`vm:NAME`, `host:NAME`; see
    /// [`JobHandler::touches`]), oldest first.
    pub fn active_on(&self, object: &str) -> Vec<JobRecord> {
        let active = lock(&self.inner.active);
        active
            .by_object
            .get(object)
            .into_iter()
            .flatten()
            .filter_map(|id| active.jobs.get(id).cloned())
            .collect()
    }

    /// Whether a job was submitted with idempotency key `key` (two point
    /// reads, not a scan).
    pub fn key_used(&self, key: &str) -> Result<bool> {
        Ok(match self.inner.keys.get(key)? {
            Some(id) => self.inner.jobs.contains(&id)?,
            None => false,
        })
    }

    /// Runs the handler's [`JobHandler::abandoned`] for `job` on the
    /// current runtime (cancel is called from request handlers, inside
    /// one); without a runtime it is left to the next start.
    fn release(&self, job: JobRecord) {
        let Some(h) = self.inner.handlers.get(&job.kind).cloned() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move { h.abandoned(&job).await });
            }
            Err(_) => {
                tracing::warn!(job = %job.id, "no runtime to release a cancelled job's hold on")
            }
        }
    }

    /// The jobs the recovery at start could not resume, and why: for the
    /// event log (the coordinator records one event each).
    pub fn recovery_report(&self) -> Vec<Recovered> {
        lock(&self.inner.recovery).clone()
    }

    /// Tells the handlers of jobs the recovery ended, so they release
    /// what those held (called by `run` when it starts; each in its own
    /// task, so a slow agent does not hold the queue up).
    pub(crate) fn release_recovered(&self) {
        let jobs = std::mem::take(&mut *lock(&self.inner.to_release));
        for job in jobs {
            self.release(job);
        }
    }

    /// Keeps the active-job index in step with a job as just stored;
    /// `new` for a job submitted or recovered (the only ways in).
    fn track(&self, job: JobRecord, new: bool) {
        let touches = match self.inner.handlers.get(&job.kind) {
            Some(h) if !job.state.is_terminal() => h.touches(&job),
            _ => Vec::new(),
        };
        lock(&self.inner.active).track(job, touches, new);
    }

    /// Ask for a job to stop. A queued or retrying job is cancelled at once;
    /// a running one stops before its next step (its handler can see
    /// [`JobContext::cancel_requested`](super::JobContext::cancel_requested)).
    /// Cancelling a finished job changes nothing. Returns the job as stored.
    pub fn cancel(&self, id: &JobId) -> Result<JobRecord> {
        let current = self.get(id)?;
        if current.state.is_terminal() {
            return Ok(current);
        }
        let mut was = current.state;
        let job = self.persist(id, |job| {
            if job.state.is_terminal() {
                return Ok(());
            }
            job.cancel_requested = true;
            // Read here, not from `current`: the closure runs again on a
            // CAS retry and then sees the state that won.
            was = job.state;
            match job.state {
                JobState::Queued | JobState::Retrying => {
                    job.transition(JobState::Cancelled, now_ms(), "cancelled before it ran")
                }
                JobState::Running => Ok(()),
                JobState::Succeeded | JobState::Failed | JobState::Cancelled => Ok(()),
            }
        })?;
        if job.state == JobState::Cancelled {
            lock(&self.inner.pending).remove(id);
            // Not running, so no step's cleanup will run: let the handler
            // release what the job holds now, not at the next restart.
            // (A job that was running is released by its own worker.)
            if was != JobState::Running {
                self.release(job.clone());
            }
        }
        if let Some(flag) = lock(&self.inner.running).get(id) {
            flag.store(true, Ordering::SeqCst);
        }
        tracing::info!(job = %id, state = ?job.state, "job cancel requested");
        Ok(job)
    }

    /// Follow a job: the receiver holds the job as last stored and changes
    /// with every stored update; its sender closes when the job is final.
    pub fn watch(&self, id: &JobId) -> Result<watch::Receiver<JobRecord>> {
        // Read under the lock so an update stored meanwhile is either in
        // this read or published to the new sender afterwards.
        let mut watchers = lock(&self.inner.watchers);
        let job = self.get(id)?;
        if job.state.is_terminal() {
            return Ok(watch::channel(job).1);
        }
        let sender = watchers
            .entry(id.clone())
            .or_insert_with(|| watch::channel(job.clone()).0);
        sender.send_if_modified(|cur| replace_if_newer(cur, &job));
        Ok(sender.subscribe())
    }

    /// Read-modify-write a job (CAS, flushed), then tell watchers.
    pub(crate) fn persist<F>(&self, id: &JobId, mut f: F) -> Result<JobRecord>
    where
        F: FnMut(&mut JobRecord) -> Result<()>,
    {
        let stored = self.inner.jobs.update(id.as_str(), |current| {
            let mut job = current.ok_or_else(|| JobError::NotFound { id: id.clone() })?;
            f(&mut job)?;
            job.revision += 1;
            job.updated_at = now_ms();
            Ok::<_, JobError>(Some(job))
        })?;
        let job = stored.ok_or_else(|| JobError::NotFound { id: id.clone() })?;
        self.track(job.clone(), false);
        self.publish(&job);
        Ok(job)
    }

    fn publish(&self, job: &JobRecord) {
        let mut watchers = lock(&self.inner.watchers);
        if let Some(sender) = watchers.get(&job.id) {
            sender.send_if_modified(|cur| replace_if_newer(cur, job));
            if job.state.is_terminal() || sender.receiver_count() == 0 {
                watchers.remove(&job.id);
            }
        }
    }

    /// Make the stored jobs consistent after a (possibly unclean) stop and
    /// index the ones waiting to run.
    fn recover(&self) -> Result<()> {
        let now = now_ms();
        let mut pending = BTreeMap::new();
        for (_, job) in self.inner.jobs.list()? {
            match job.state {
                JobState::Succeeded | JobState::Failed | JobState::Cancelled => {}
                JobState::Queued | JobState::Retrying => {
                    pending.insert(job.id.clone(), job.next_attempt_at.unwrap_or(0));
                    self.track(job, true);
                }
                JobState::Running => {
                    // Tracked first: the recovery's own store write then
                    // finds it (and drops it if it fails the job).
                    self.track(job.clone(), true);
                    match self.recover_interrupted(&job.id, now) {
                        Ok(j) if j.state == JobState::Queued => {
                            pending.insert(j.id.clone(), 0);
                        }
                        Ok(j) => {
                            lock(&self.inner.recovery).push(Recovered {
                                job: j.id.clone(),
                                kind: j.kind.clone(),
                                state: j.state,
                                why: j.history.last().map(|h| h.note.clone()).unwrap_or_default(),
                            });
                            lock(&self.inner.to_release).push(j);
                        }
                        // One job's record that cannot be written must not
                        // keep the manager from starting: it stays as
                        // stored (Running) for the next start, and says so.
                        Err(e) => {
                            tracing::error!(job = %job.id, error = %e, "cannot recover job");
                            lock(&self.inner.recovery).push(Recovered {
                                job: job.id.clone(),
                                kind: job.kind.clone(),
                                state: job.state,
                                why: format!(
                                    "manager restarted during step {}, and recording that \
                                     failed: {e}; the job is left as it was until the next start",
                                    job.step
                                ),
                            });
                        }
                    }
                }
            }
        }
        *lock(&self.inner.pending) = pending;
        Ok(())
    }

    fn recover_interrupted(&self, id: &JobId, now: UnixMillis) -> Result<JobRecord> {
        let job = self.persist(id, |job| {
            let cut = format!("manager restarted during step {}", job.step);
            job.attempts += 1;
            let (to, why) = match self.inner.handlers.get(&job.kind) {
                _ if job.cancel_requested => {
                    (JobState::Cancelled, format!("{cut}; cancel was requested"))
                }
                None => (
                    JobState::Failed,
                    format!("{cut}; no handler for kind {:?}", job.kind),
                ),
                Some(h) if !h.resumable() => (
                    JobState::Failed,
                    format!(
                        "{cut}; kind {:?} is not resumable, so whether that step took effect is \
                         unknown: check and resubmit",
                        job.kind
                    ),
                ),
                Some(_) if job.attempts >= job.max_attempts => (
                    JobState::Failed,
                    format!(
                        "{cut}; attempts exhausted ({} of {})",
                        job.attempts, job.max_attempts
                    ),
                ),
                Some(_) => (JobState::Queued, format!("{cut}; resuming at that step")),
            };
            if to == JobState::Failed {
                job.error = Some(why.clone());
            }
            job.transition(to, now, &why)
        })?;
        match job.state {
            JobState::Queued => {
                tracing::warn!(job = %id, step = %job.step, "resuming job interrupted by restart")
            }
            state => {
                tracing::warn!(job = %id, ?state, error = ?job.error, "job interrupted by restart not resumed")
            }
        }
        Ok(job)
    }
}

/// A job the recovery at start did not resume: failed or cancelled with
/// the reason, or left alone because its record could not be written.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovered {
    pub job: JobId,
    pub kind: String,
    /// As stored after the recovery.
    pub state: JobState,
    pub why: String,
}

/// The jobs not yet final and, for each object, the ids of those touching
/// it.
#[derive(Default)]
struct ActiveJobs {
    jobs: BTreeMap<JobId, JobRecord>,
    by_object: HashMap<String, BTreeSet<JobId>>,
    touches: HashMap<JobId, Vec<String>>,
}

impl ActiveJobs {
    /// Takes in `job` as stored. Two writers may report their stored
    /// versions out of order, so an older revision never replaces a newer
    /// one, and a job already dropped (it ended) is not brought back by a
    /// late report of an earlier state: only a submit (revision 0) or the
    /// recovery at start adds a job.
    fn track(&mut self, job: JobRecord, touches: Vec<String>, new: bool) {
        let id = job.id.clone();
        match self.jobs.get(&id) {
            Some(cur) if cur.revision > job.revision => return,
            Some(_) => {}
            // Ended already (the index drops only ended jobs), or ending.
            None if !new || job.state.is_terminal() => return,
            None => {}
        }
        if let Some(old) = self.touches.remove(&id) {
            for o in old {
                if let Some(ids) = self.by_object.get_mut(&o) {
                    ids.remove(&id);
                    if ids.is_empty() {
                        self.by_object.remove(&o);
                    }
                }
            }
        }
        if job.state.is_terminal() {
            self.jobs.remove(&id);
            return;
        }
        for o in &touches {
            self.by_object
                .entry(o.clone())
                .or_default()
                .insert(id.clone());
        }
        self.touches.insert(id.clone(), touches);
        self.jobs.insert(id, job);
    }
}

fn replace_if_newer(current: &mut JobRecord, new: &JobRecord) -> bool {
    if new.revision > current.revision {
        *current = new.clone();
        true
    } else {
        false
    }
}

fn same_job(key: &str, new: &NewJob, existing: JobRecord) -> Result<JobId> {
    if existing.kind == new.kind && existing.params == new.params {
        tracing::debug!(job = %existing.id, key, "idempotent resubmit");
        Ok(existing.id)
    } else {
        Err(JobError::IdempotencyConflict {
            key: key.to_owned(),
            existing: existing.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::record::NewJob;

    fn job(state: JobState, revision: u64) -> JobRecord {
        let mut j = JobRecord::new(
            JobId::from("job-1"),
            NewJob {
                kind: "k".into(),
                ..NewJob::default()
            },
            3,
            0,
        );
        j.state = state;
        j.revision = revision;
        j
    }

    fn on(a: &ActiveJobs, o: &str) -> usize {
        a.by_object.get(o).map_or(0, BTreeSet::len)
    }

    #[test]
    fn the_active_index_follows_the_newest_revision_and_drops_ended_jobs() {
        let mut a = ActiveJobs::default();
        a.track(job(JobState::Queued, 0), vec!["host:h".into()], true);
        // A drain moves on to a VM: its objects change with its data.
        a.track(
            job(JobState::Running, 2),
            vec!["host:h".into(), "vm:x".into()],
            false,
        );
        assert_eq!((on(&a, "host:h"), on(&a, "vm:x")), (1, 1));
        // An older write reported late changes nothing.
        a.track(job(JobState::Queued, 1), vec!["host:h".into()], false);
        assert_eq!(a.jobs[&JobId::from("job-1")].revision, 2);
        assert_eq!(on(&a, "vm:x"), 1);
        a.track(job(JobState::Succeeded, 3), Vec::new(), false);
        assert!(a.jobs.is_empty() && a.by_object.is_empty() && a.touches.is_empty());
        // A late report of a running state does not bring it back.
        a.track(job(JobState::Running, 2), vec!["vm:x".into()], false);
        assert!(a.jobs.is_empty() && a.by_object.is_empty());
    }
}
