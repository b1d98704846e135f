//! Sender: executes a plan's commands through a [`CommandSink`] — in the
//! manager, the Virtual Node Interface — in dependency order, at most
//! `max_concurrent` migrations per wave, retrying failures, and keeping an
//! audit trail. A command whose dependency failed is skipped, never run.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::{Result, WorkloadError};
use crate::model::{Command, CommandKind};

/// Where commands go. The manager implements this over CIM-XML; the
/// simulator and `policy explain` use [`DryRunSink`].
pub trait CommandSink {
    /// Carries out one command; `Err` means it did not happen.
    fn execute(&mut self, command: &Command) -> Result<()>;
}

/// Outcome of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Done.
    Done,
    /// Failed after all attempts.
    Failed,
    /// Not run because a dependency did not succeed.
    Skipped,
}

/// One audit line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Unix time, seconds.
    pub at: u64,
    /// Command id.
    pub id: usize,
    /// What it was.
    pub what: String,
    /// Why it was issued.
    pub reason: String,
    /// Attempts made.
    pub attempts: u32,
    /// Result.
    pub outcome: Outcome,
    /// Last error, if any.
    pub error: Option<String>,
}

/// Runs plans.
#[derive(Debug, Clone)]
pub struct Sender {
    /// Migrations in flight at once.
    pub max_concurrent: usize,
    /// Attempts per command.
    pub attempts: u32,
    /// Everything sent so far.
    pub audit: Vec<AuditEntry>,
}

impl Sender {
    /// A sender with the policy's concurrency and 3 attempts per command.
    pub fn new(max_concurrent: usize) -> Self {
        Sender {
            max_concurrent: max_concurrent.max(1),
            attempts: 3,
            audit: Vec::new(),
        }
    }

    /// Executes `commands` (ids must be their positions, dependencies
    /// pointing backwards, as the prescriber builds them). Commands run in
    /// waves: a wave holds ready commands, at most `max_concurrent` of
    /// them migrations. Returns each command's outcome.
    pub fn run(&mut self, commands: &[Command], sink: &mut dyn CommandSink) -> Vec<Outcome> {
        let mut outcome: Vec<Option<Outcome>> = vec![None; commands.len()];
        loop {
            let mut wave = Vec::new();
            let mut migrations = 0;
            for c in commands {
                if outcome[c.id].is_some() {
                    continue;
                }
                let deps: Vec<Option<Outcome>> = c
                    .depends_on
                    .iter()
                    .map(|&d| outcome.get(d).copied().flatten())
                    .collect();
                if deps
                    .iter()
                    .any(|d| matches!(d, Some(Outcome::Failed | Outcome::Skipped)))
                {
                    outcome[c.id] = Some(Outcome::Skipped);
                    self.log(
                        c,
                        0,
                        Outcome::Skipped,
                        Some("a dependency did not succeed".into()),
                    );
                    continue;
                }
                if deps.iter().any(|d| d.is_none()) {
                    continue;
                }
                if matches!(c.kind, CommandKind::Migrate { .. }) {
                    if migrations == self.max_concurrent {
                        continue;
                    }
                    migrations += 1;
                }
                wave.push(c);
            }
            if wave.is_empty() {
                break;
            }
            for c in wave {
                let mut last = None;
                let mut attempts = 0;
                let mut o = Outcome::Failed;
                while attempts < self.attempts {
                    attempts += 1;
                    match sink.execute(c) {
                        Ok(()) => {
                            o = Outcome::Done;
                            break;
                        }
                        // Retrying cannot help a sink that lacks the means.
                        Err(WorkloadError::Unsupported { reason, .. }) => {
                            last = Some(reason);
                            o = Outcome::Skipped;
                            break;
                        }
                        Err(e) => last = Some(e.to_string()),
                    }
                }
                outcome[c.id] = Some(o);
                self.log(c, attempts, o, if o == Outcome::Done { None } else { last });
            }
        }
        outcome
            .into_iter()
            .map(|o| o.unwrap_or(Outcome::Skipped))
            .collect()
    }

    fn log(&mut self, c: &Command, attempts: u32, outcome: Outcome, error: Option<String>) {
        let at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.audit.push(AuditEntry {
            at,
            id: c.id,
            what: c.kind.describe(),
            reason: c.reason.clone(),
            attempts,
            outcome,
            error,
        });
    }
}

/// Executes nothing; records what would have been done.
#[derive(Debug, Clone, Default)]
pub struct DryRunSink {
    /// Commands "executed", in order.
    pub executed: Vec<Command>,
}

impl CommandSink for DryRunSink {
    fn execute(&mut self, command: &Command) -> Result<()> {
        self.executed.push(command.clone());
        Ok(())
    }
}

/// A sink that fails every command whose description contains a needle
/// (for tests of retries and skipping).
#[derive(Debug, Clone, Default)]
pub struct FailingSink {
    /// Commands containing this fail.
    pub needle: String,
    /// Calls made.
    pub calls: usize,
}

impl CommandSink for FailingSink {
    fn execute(&mut self, command: &Command) -> Result<()> {
        self.calls += 1;
        let what = command.kind.describe();
        if what.contains(&self.needle) {
            return Err(WorkloadError::Command {
                id: command.id,
                what,
                message: "injected failure".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Can migrate, cannot touch host power.
    struct NoPower(Vec<usize>);

    impl CommandSink for NoPower {
        fn execute(&mut self, c: &Command) -> Result<()> {
            if matches!(
                c.kind,
                CommandKind::PowerOn { .. } | CommandKind::PowerOff { .. }
            ) {
                return Err(WorkloadError::Unsupported {
                    id: c.id,
                    what: c.kind.describe(),
                    reason: "no power control".into(),
                });
            }
            self.0.push(c.id);
            Ok(())
        }
    }

    fn cmd(id: usize, kind: CommandKind, deps: Vec<usize>) -> Command {
        Command {
            id,
            kind,
            depends_on: deps,
            reason: "test".into(),
        }
    }

    fn mig(id: usize, vm: &str, deps: Vec<usize>) -> Command {
        cmd(
            id,
            CommandKind::Migrate {
                vm: vm.into(),
                from: "a".into(),
                to: "b".into(),
            },
            deps,
        )
    }

    #[test]
    fn dry_run_runs_in_dependency_order_with_concurrency() {
        let cmds = vec![
            cmd(0, CommandKind::PowerOn { host: "b".into() }, vec![]),
            mig(1, "x", vec![0]),
            mig(2, "y", vec![0]),
            mig(3, "z", vec![0]),
            cmd(4, CommandKind::PowerOff { host: "a".into() }, vec![1, 2, 3]),
        ];
        let mut s = Sender::new(2);
        let mut sink = DryRunSink::default();
        let out = s.run(&cmds, &mut sink);
        assert!(out.iter().all(|&o| o == Outcome::Done));
        let order: Vec<usize> = sink.executed.iter().map(|c| c.id).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
        assert_eq!(s.audit.len(), 5);
    }

    #[test]
    fn unsupported_is_skipped_once_with_its_dependents() {
        let cmds = vec![
            cmd(0, CommandKind::PowerOn { host: "b".into() }, vec![]),
            mig(1, "x", vec![0]),
            mig(2, "y", vec![]),
        ];
        let mut s = Sender::new(4);
        let mut sink = NoPower(vec![]);
        let out = s.run(&cmds, &mut sink);
        assert_eq!(out, vec![Outcome::Skipped, Outcome::Skipped, Outcome::Done]);
        assert_eq!(sink.0, vec![2], "only the independent migration ran");
        assert_eq!(s.audit[0].attempts, 1, "no retries");
        assert_eq!(s.audit[0].error.as_deref(), Some("no power control"));
    }

    #[test]
    fn failure_is_retried_then_dependents_skipped() {
        let cmds = vec![
            mig(0, "x", vec![]),
            cmd(1, CommandKind::PowerOff { host: "a".into() }, vec![0]),
        ];
        let mut s = Sender::new(4);
        let mut sink = FailingSink {
            needle: "migrate x".into(),
            calls: 0,
        };
        let out = s.run(&cmds, &mut sink);
        assert_eq!(out, vec![Outcome::Failed, Outcome::Skipped]);
        assert_eq!(sink.calls, 3, "three attempts, power-off never sent");
        assert_eq!(
            s.audit[0].error.as_deref(),
            Some("command 0 (migrate x a -> b) failed: injected failure")
        );
    }
}
