//! The event log: what happened in the data centre (a job finished, a host
//! stopped answering, a node was replaced), newest last, for the console
//! and `GET /api/v1/events`. Stored, trimmed to the newest entries.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use vine_store::{names, Collection, Store, StoreError};

use crate::jobs::UnixMillis;

/// How many events are kept.
pub const KEEP: usize = 10_000;

/// How much an event matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Sorts by time: `<ms, 13 digits>-<sequence>`.
    pub id: String,
    pub at: UnixMillis,
    pub severity: Severity,
    /// What kind of thing happened: `job.succeeded`, `host.unreachable`, …
    pub kind: String,
    /// What it happened to: a job id, host or VM name.
    pub subject: String,
    pub message: String,
}

/// The stored log.
pub struct EventLog {
    coll: Collection<Event>,
    seq: AtomicU64,
}

impl EventLog {
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(EventLog {
            coll: store.collection(names::EVENTS)?,
            seq: AtomicU64::new(0),
        })
    }

    /// Appends an event (flushed) and trims the oldest beyond [`KEEP`].
    pub fn record(
        &self,
        severity: Severity,
        kind: &str,
        subject: &str,
        message: impl Into<String>,
    ) -> Result<Event, StoreError> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let ev = Event {
            id: format!("{at:013}-{seq:06}"),
            at,
            severity,
            kind: kind.into(),
            subject: subject.into(),
            message: message.into(),
        };
        self.coll.put(&ev.id, &ev)?;
        if self.coll.len() > KEEP + KEEP / 10 {
            let ids = self.coll.ids()?;
            for id in ids.iter().take(ids.len().saturating_sub(KEEP)) {
                self.coll.delete(id)?;
            }
        }
        Ok(ev)
    }

    /// The newest `n` events, oldest first.
    pub fn recent(&self, n: usize) -> Result<Vec<Event>, StoreError> {
        let all = self.coll.list()?;
        let skip = all.len().saturating_sub(n);
        Ok(all.into_iter().skip(skip).map(|(_, e)| e).collect())
    }

    /// Events after `id` (for polling clients), oldest first.
    pub fn since(&self, id: &str) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .coll
            .list()?
            .into_iter()
            .filter(|(k, _)| k.as_str() > id)
            .map(|(_, e)| e)
            .collect())
    }
}
