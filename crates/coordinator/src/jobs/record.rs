use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{JobError, Result};

/// The step every job starts at.
pub const FIRST_STEP: &str = "start";

/// History entries kept per job; the first (creation) is always kept.
const HISTORY_CAP: usize = 32;

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub type UnixMillis = u64;

pub(crate) fn now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A random u64 without a dependency: std seeds each `RandomState` from
/// the OS (then varies it per call), which is plenty for ids and jitter.
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(now_ms());
    h.finish()
}

/// A job's id: `job-<creation ms>-<random>`, so ids sort by creation time.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    pub(crate) fn generate(now: UnixMillis) -> JobId {
        JobId(format!("job-{now:013}-{:08x}", random_u64() as u32))
    }

    /// The id as a string (the store key).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for JobId {
    fn from(s: String) -> Self {
        JobId(s)
    }
}

impl From<&str> for JobId {
    fn from(s: &str) -> Self {
        JobId(s.to_owned())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job is in its life.
///
/// ```text
/// Queued ──► Running ──► Succeeded | Failed | Cancelled
///   ▲  │      │  ▲ │
///   │  │      ▼  │ └──► Queued (manager shut down or restarted mid-job)
///   │  │   Retrying (transient error; runs again after back-off)
///   │  └──► Cancelled | Failed
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Cancelled,
}

impl JobState {
    /// Succeeded, Failed and Cancelled are final.
    pub fn is_terminal(self) -> bool {
        match self {
            JobState::Succeeded | JobState::Failed | JobState::Cancelled => true,
            JobState::Queued | JobState::Running | JobState::Retrying => false,
        }
    }

    /// Whether the state machine allows `self -> to`.
    pub fn can_move_to(self, to: JobState) -> bool {
        use JobState::*;
        match self {
            // Failed: the handler for its kind is gone.
            Queued => matches!(to, Running | Cancelled | Failed),
            // Queued: paused by shutdown or found interrupted at restart.
            Running => matches!(to, Queued | Retrying | Succeeded | Failed | Cancelled),
            Retrying => matches!(to, Running | Cancelled | Failed),
            Succeeded | Failed | Cancelled => false,
        }
    }
}

/// One line of a job's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: UnixMillis,
    pub state: JobState,
    pub step: String,
    pub note: String,
}

/// A job as stored in the `jobs` collection. Every change is written
/// (flushed) before the engine acts on it or reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    /// Which handler runs it.
    pub kind: String,
    /// The handler's input.
    pub params: Value,
    pub state: JobState,
    /// The step to run next (or running now); starts at [`FIRST_STEP`].
    pub step: String,
    /// 0–100.
    pub progress: u8,
    /// Failed tries of the current step (retries and interrupted runs);
    /// reset when a step completes.
    pub attempts: u32,
    /// Tries of one step before the job fails.
    pub max_attempts: u32,
    /// When a `Retrying` job runs again.
    #[serde(default)]
    pub next_attempt_at: Option<UnixMillis>,
    /// The last error (final when `Failed`).
    #[serde(default)]
    pub error: Option<String>,
    /// The handler's result when `Succeeded`.
    #[serde(default)]
    pub result: Option<Value>,
    pub created_at: UnixMillis,
    pub updated_at: UnixMillis,
    /// Set by cancel; honoured between steps.
    #[serde(default)]
    pub cancel_requested: bool,
    /// Who submitted it (user or component), if known.
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// The handler's last note ("defined domain web-3", …).
    #[serde(default)]
    pub note: Option<String>,
    /// Incremented on every write; orders updates for watchers.
    #[serde(default)]
    pub revision: u64,
    /// State changes and steps, oldest first (capped).
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// What earlier steps decided, for the later ones (see
    /// [`StepOutcome::ContinueWith`](super::StepOutcome::ContinueWith)).
    #[serde(default)]
    pub data: serde_json::Map<String, Value>,
}

/// What to submit: see [`JobEngine::submit_job`](super::JobEngine::submit_job).
#[derive(Clone, Debug, Default)]
pub struct NewJob {
    pub kind: String,
    pub params: Value,
    /// A second submit with the same key returns the first job.
    pub idempotency_key: Option<String>,
    pub owner: Option<String>,
    /// Overrides the engine's default.
    pub max_attempts: Option<u32>,
}

impl JobRecord {
    pub(crate) fn new(id: JobId, new: NewJob, max_attempts: u32, now: UnixMillis) -> JobRecord {
        let mut job = JobRecord {
            id,
            kind: new.kind,
            params: new.params,
            state: JobState::Queued,
            step: FIRST_STEP.to_owned(),
            progress: 0,
            attempts: 0,
            max_attempts: new.max_attempts.unwrap_or(max_attempts).max(1),
            next_attempt_at: None,
            error: None,
            result: None,
            created_at: now,
            updated_at: now,
            cancel_requested: false,
            owner: new.owner,
            idempotency_key: new.idempotency_key,
            note: None,
            revision: 0,
            history: Vec::new(),
            data: serde_json::Map::new(),
        };
        job.log(now, "submitted");
        job
    }

    /// Move to `to` if the state machine allows it, noting why.
    pub(crate) fn transition(&mut self, to: JobState, now: UnixMillis, note: &str) -> Result<()> {
        if !self.state.can_move_to(to) {
            return Err(JobError::IllegalTransition {
                id: self.id.clone(),
                from: self.state,
                to,
            });
        }
        self.state = to;
        if to != JobState::Retrying {
            self.next_attempt_at = None;
        }
        self.log(now, note);
        Ok(())
    }

    /// Record a completed step: the next step is stored before it runs.
    pub(crate) fn advance(
        &mut self,
        step: String,
        progress: u8,
        note: String,
        now: UnixMillis,
    ) -> Result<()> {
        if self.state != JobState::Running {
            return Err(JobError::IllegalTransition {
                id: self.id.clone(),
                from: self.state,
                to: JobState::Running,
            });
        }
        self.step = step;
        // Progress never goes backwards on a progress bar.
        self.progress = progress.min(100).max(self.progress);
        self.attempts = 0;
        self.error = None;
        let text = if note.is_empty() {
            format!("next step {}", self.step)
        } else {
            note.clone()
        };
        self.note = (!note.is_empty()).then_some(note);
        self.log(now, &text);
        Ok(())
    }

    fn log(&mut self, now: UnixMillis, note: &str) {
        if self.history.len() >= HISTORY_CAP {
            self.history.remove(1);
        }
        self.history.push(HistoryEntry {
            at: now,
            state: self.state,
            step: self.step.clone(),
            note: note.to_owned(),
        });
    }
}

/// Which jobs [`JobEngine::list`](super::JobEngine::list) returns; `None` matches all.
#[derive(Clone, Debug, Default)]
pub struct JobFilter {
    pub state: Option<JobState>,
    pub kind: Option<String>,
    pub owner: Option<String>,
    /// `Some(true)`: only jobs not yet final; `Some(false)`: only final ones.
    pub active: Option<bool>,
}

impl JobFilter {
    pub fn matches(&self, job: &JobRecord) -> bool {
        self.state.is_none_or(|s| s == job.state)
            && self.kind.as_ref().is_none_or(|k| *k == job.kind)
            && self
                .owner
                .as_ref()
                .is_none_or(|o| Some(o) == job.owner.as_ref())
            && self.active.is_none_or(|a| a != job.state.is_terminal())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobState::*;

    const ALL: [JobState; 6] = [Queued, Running, Retrying, Succeeded, Failed, Cancelled];

    #[test]
    fn transition_table() {
        let allowed = [
            (Queued, Running),
            (Queued, Cancelled),
            (Queued, Failed),
            (Running, Queued),
            (Running, Retrying),
            (Running, Succeeded),
            (Running, Failed),
            (Running, Cancelled),
            (Retrying, Running),
            (Retrying, Cancelled),
            (Retrying, Failed),
        ];
        for from in ALL {
            for to in ALL {
                assert_eq!(
                    from.can_move_to(to),
                    allowed.contains(&(from, to)),
                    "{from:?} -> {to:?}"
                );
            }
        }
    }

    #[test]
    fn terminal_states_are_final() {
        for s in ALL {
            assert_eq!(s.is_terminal(), matches!(s, Succeeded | Failed | Cancelled));
            if s.is_terminal() {
                assert!(ALL.iter().all(|&to| !s.can_move_to(to)));
            }
        }
    }

    fn job() -> JobRecord {
        JobRecord::new(
            JobId::from("job-1"),
            NewJob {
                kind: "k".into(),
                ..NewJob::default()
            },
            3,
            10,
        )
    }

    #[test]
    fn new_job_is_queued_at_first_step() {
        let j = job();
        assert_eq!(
            (j.state, j.step.as_str(), j.progress, j.attempts),
            (Queued, FIRST_STEP, 0, 0)
        );
        assert_eq!(j.history.len(), 1);
    }

    #[test]
    fn illegal_transition_names_both_states() {
        let mut j = job();
        let err = j.transition(Succeeded, 11, "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "job job-1: illegal transition Queued -> Succeeded"
        );
        assert_eq!(j.state, Queued);
    }

    #[test]
    fn advance_requires_running_resets_attempts_and_keeps_progress_monotonic() {
        let mut j = job();
        assert!(j.advance("two".into(), 50, String::new(), 11).is_err());
        j.transition(Running, 11, "started").unwrap();
        j.attempts = 2;
        j.advance("two".into(), 50, "defined".into(), 12).unwrap();
        assert_eq!((j.step.as_str(), j.progress, j.attempts), ("two", 50, 0));
        j.advance("three".into(), 20, String::new(), 13).unwrap();
        assert_eq!(j.progress, 50);
        j.advance("four".into(), 250, String::new(), 14).unwrap();
        assert_eq!(j.progress, 100);
    }

    #[test]
    fn history_is_capped_but_keeps_creation() {
        let mut j = job();
        j.transition(Running, 11, "started").unwrap();
        for i in 0..100 {
            j.advance(format!("s{i}"), 0, String::new(), 12 + i)
                .unwrap();
        }
        assert_eq!(j.history.len(), HISTORY_CAP);
        assert_eq!(j.history[0].note, "submitted");
        assert_eq!(j.history.last().unwrap().step, "s99");
    }

    #[test]
    fn filter_matches() {
        let mut j = job();
        j.owner = Some("alice".into());
        assert!(JobFilter::default().matches(&j));
        assert!(JobFilter {
            active: Some(true),
            ..Default::default()
        }
        .matches(&j));
        assert!(!JobFilter {
            active: Some(false),
            ..Default::default()
        }
        .matches(&j));
        assert!(!JobFilter {
            kind: Some("other".into()),
            ..Default::default()
        }
        .matches(&j));
        assert!(JobFilter {
            owner: Some("alice".into()),
            state: Some(Queued),
            ..Default::default()
        }
        .matches(&j));
    }

    #[test]
    fn ids_sort_by_creation_time() {
        let a = JobId::generate(1_700_000_000_000);
        let b = JobId::generate(1_700_000_000_001);
        assert!(a < b, "{a} {b}");
        assert_ne!(JobId::generate(5), JobId::generate(5));
    }
}
