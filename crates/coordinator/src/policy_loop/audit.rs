//! The policy loop's audit trail: one stored record per round that did
//! something or changed its mind (commands issued, hosts found hot, held
//! or unresolved), newest last, trimmed to the newest [`KEEP`]. Served as
//! `GET /api/v1/policies/audit`.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use vine_store::{names, Collection, Store, StoreError};

use crate::jobs::UnixMillis;

/// How many rounds are kept.
pub const KEEP: usize = 2_000;

/// What became of one command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommandOutcome {
    /// Its job succeeded.
    Done,
    /// It was tried and did not happen.
    Failed,
    /// Not tried: unsupported here, or a command it depends on did not
    /// succeed.
    Skipped,
    /// `--policy-dry-run`: recorded, not sent.
    DryRun,
}

/// One command of a round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandAudit {
    /// Position in the round's plan.
    pub id: usize,
    /// `migrate web-1 host-a -> host-b`.
    pub what: String,
    /// Why the engine issued it.
    pub reason: String,
    pub outcome: CommandOutcome,
    /// Tries made (0 when not tried).
    pub attempts: u32,
    /// Why it failed or was skipped.
    #[serde(default)]
    pub error: Option<String>,
    /// The coordinator job that carried it out.
    #[serde(default)]
    pub job: Option<String>,
    /// Commands of the same round (by `id`) that had to succeed first.
    #[serde(default)]
    pub depends_on: Vec<usize>,
}

/// One round of one policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RoundAudit {
    /// Sorts by time: `<ms, 13 digits>-<sequence>`.
    #[serde(default)]
    pub id: String,
    pub policy: String,
    /// The stored version that ran.
    pub version: u32,
    /// The engine's round number (restarts at 1 with the manager).
    pub round: u64,
    pub at: UnixMillis,
    pub dry_run: bool,
    /// Hosts found overloaded.
    pub hot: Vec<String>,
    /// Hosts found underloaded.
    pub cold: Vec<String>,
    /// Hosts whose data could not be trusted: nothing moved off or onto
    /// them.
    pub held: Vec<String>,
    /// Overloaded hosts no move could relieve.
    pub unresolved: Vec<String>,
    /// The engine's remarks (why hosts were held, …).
    pub notes: Vec<String>,
    pub commands: Vec<CommandAudit>,
}

impl RoundAudit {
    /// Whether anything in the round is worth keeping beside `previous`
    /// (the last kept round of the same policy): commands, or a different
    /// picture of the hosts.
    pub fn worth_keeping(&self, previous: Option<&RoundAudit>) -> bool {
        if !self.commands.is_empty() {
            return true;
        }
        match previous {
            None => !(self.hot.is_empty() && self.held.is_empty() && self.unresolved.is_empty()),
            Some(p) => {
                p.version != self.version
                    || p.hot != self.hot
                    || p.held != self.held
                    || p.unresolved != self.unresolved
            }
        }
    }
}

/// The stored trail.
pub struct PolicyAudit {
    coll: Collection<RoundAudit>,
    seq: AtomicU64,
}

impl PolicyAudit {
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(PolicyAudit {
            coll: store.collection(names::POLICY_AUDIT)?,
            seq: AtomicU64::new(0),
        })
    }

    /// Stores a round (flushed), giving it its id; trims the oldest
    /// beyond [`KEEP`].
    pub fn record(&self, mut round: RoundAudit) -> Result<RoundAudit, StoreError> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        round.id = format!("{:013}-{seq:06}", round.at);
        self.coll.put(&round.id, &round)?;
        if self.coll.len() > KEEP + KEEP / 10 {
            let ids = self.coll.ids()?;
            for id in ids.iter().take(ids.len().saturating_sub(KEEP)) {
                self.coll.delete(id)?;
            }
        }
        Ok(round)
    }

    /// The newest `n` rounds, oldest first, optionally of one policy.
    pub fn recent(&self, n: usize, policy: Option<&str>) -> Result<Vec<RoundAudit>, StoreError> {
        let all: Vec<RoundAudit> = self
            .coll
            .list()?
            .into_iter()
            .map(|(_, r)| r)
            .filter(|r| policy.is_none_or(|p| r.policy == p))
            .collect();
        let skip = all.len().saturating_sub(n);
        Ok(all.into_iter().skip(skip).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_rounds_are_not_kept_and_changes_are() {
        let quiet = RoundAudit {
            policy: "p".into(),
            version: 1,
            ..RoundAudit::default()
        };
        assert!(!quiet.worth_keeping(None));
        let held = RoundAudit {
            held: vec!["b".into()],
            ..quiet.clone()
        };
        assert!(held.worth_keeping(None));
        assert!(!held.worth_keeping(Some(&held)), "same picture again");
        assert!(quiet.worth_keeping(Some(&held)), "b is trusted again");
        let v2 = RoundAudit {
            version: 2,
            ..held.clone()
        };
        assert!(v2.worth_keeping(Some(&held)), "a new version ran");
    }

    #[test]
    fn rounds_are_stored_in_order_and_filtered_by_policy() {
        let dir = tempfile::tempdir().unwrap();
        let a = PolicyAudit::open(&vine_store::Store::open(dir.path()).unwrap()).unwrap();
        for (i, p) in ["web", "batch", "web"].iter().enumerate() {
            a.record(RoundAudit {
                policy: (*p).into(),
                round: i as u64,
                at: 1_000 + i as u64,
                ..RoundAudit::default()
            })
            .unwrap();
        }
        let web: Vec<u64> = a
            .recent(10, Some("web"))
            .unwrap()
            .iter()
            .map(|r| r.round)
            .collect();
        assert_eq!(web, [0, 2]);
        let last = a.recent(1, None).unwrap();
        assert_eq!((last.len(), last[0].round), (1, 2));
        assert!(last[0].id.starts_with("0000000001002-"));
    }
}
