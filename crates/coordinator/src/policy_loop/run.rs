//! Running a round's commands at once, within the policy's limits:
//!
//! 1. Commands start in the prescriber's order (by id) as soon as every
//!    command they depend on is done; one whose dependency failed or was
//!    skipped is skipped, never run.
//! 2. At most `max_concurrent` migrations run at once (the policy's
//!    `migration.max_concurrent`); other kinds are not counted.
//! 3. Never two commands on one subject (a VM, a host's power, a virtual
//!    server) at once: a later command on it waits until the earlier one
//!    has ended, whatever its outcome.
//!
//! The hourly and per-round budgets are the engine's: it plans no more
//! moves than they allow. An [`Executor`] carries out one command and says
//! how it ended; the live one is the [`JobSink`](super::JobSink).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use vine_workload::{Command, CommandKind};

use super::audit::CommandOutcome;

/// How one command ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Ran {
    /// Done, Failed or Skipped.
    pub outcome: CommandOutcome,
    /// Tries made (0 when not tried).
    pub attempts: u32,
    /// Why it failed or was skipped.
    pub error: Option<String>,
    /// The job that carried it out.
    pub job: Option<String>,
}

impl Ran {
    fn skipped(why: &str) -> Ran {
        Ran {
            outcome: CommandOutcome::Skipped,
            attempts: 0,
            error: Some(why.into()),
            job: None,
        }
    }
}

/// Carries out one command and waits for its end.
#[async_trait]
pub trait Executor: Send + Sync + 'static {
    async fn execute(&self, c: &Command) -> Ran;
}

/// Why a command whose dependency did not succeed is not run.
pub const DEPENDENCY: &str = "a dependency did not succeed";

/// What a command acts on; two commands on one subject never overlap.
fn subject(k: &CommandKind) -> String {
    match k {
        CommandKind::Migrate { vm, .. } | CommandKind::Resize { vm, .. } => format!("vm:{vm}"),
        CommandKind::PowerOn { host } | CommandKind::PowerOff { host } => format!("host:{host}"),
        CommandKind::Scale { service, .. } => format!("vs:{service}"),
    }
}

fn is_migration(c: &Command) -> bool {
    matches!(c.kind, CommandKind::Migrate { .. })
}

/// Runs `commands` (ids are their positions) through `exec`, up to
/// `max_concurrent` migrations at once. Returns each command's end, by id.
pub async fn run_all<E: Executor>(
    exec: Arc<E>,
    commands: &[Command],
    max_concurrent: usize,
) -> Vec<Ran> {
    let max = max_concurrent.max(1);
    let mut ended: Vec<Option<Ran>> = vec![None; commands.len()];
    let mut started = vec![false; commands.len()];
    let mut busy: HashSet<String> = HashSet::new();
    let mut migrating = 0usize;
    let mut tasks = tokio::task::JoinSet::new();
    let mut by_task: HashMap<tokio::task::Id, usize> = HashMap::new();
    loop {
        // Start, in order, everything that may start now.
        for (i, c) in commands.iter().enumerate() {
            if started[i] {
                continue;
            }
            let deps: Vec<Option<&Ran>> = c
                .depends_on
                .iter()
                .map(|&d| ended.get(d).and_then(Option::as_ref))
                .collect();
            if deps
                .iter()
                .any(|d| d.is_some_and(|r| r.outcome != CommandOutcome::Done))
            {
                started[i] = true;
                ended[i] = Some(Ran::skipped(DEPENDENCY));
                continue;
            }
            if deps.iter().any(Option::is_none) {
                continue;
            }
            let subj = subject(&c.kind);
            // An earlier command on the same subject goes first.
            let earlier_open = commands[..i]
                .iter()
                .enumerate()
                .any(|(j, e)| ended[j].is_none() && subject(&e.kind) == subj);
            if earlier_open || busy.contains(&subj) {
                continue;
            }
            if is_migration(c) {
                if migrating >= max {
                    continue;
                }
                migrating += 1;
            }
            started[i] = true;
            busy.insert(subj);
            let exec = exec.clone();
            let c = c.clone();
            let handle = tasks.spawn(async move { exec.execute(&c).await });
            by_task.insert(handle.id(), i);
        }
        let Some(joined) = tasks.join_next_with_id().await else {
            break;
        };
        let (id, ran) = match joined {
            Ok((id, ran)) => (id, ran),
            Err(e) => (
                e.id(),
                Ran {
                    outcome: CommandOutcome::Failed,
                    attempts: 1,
                    error: Some(format!("the command's task stopped: {e}")),
                    job: None,
                },
            ),
        };
        let Some(i) = by_task.remove(&id) else {
            continue;
        };
        busy.remove(&subject(&commands[i].kind));
        if is_migration(&commands[i]) {
            migrating -= 1;
        }
        ended[i] = Some(ran);
    }
    // Left over: waiting on a dependency that does not exist.
    ended
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Ran::skipped(DEPENDENCY)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Duration;

    /// Records what ran when; each command takes `ms`; commands whose
    /// description contains `fail` fail.
    #[derive(Default)]
    struct Clock {
        ms: u64,
        fail: Option<String>,
        log: Mutex<Vec<(usize, &'static str)>>,
        in_flight: Mutex<(usize, usize)>,
    }

    #[async_trait]
    impl Executor for Clock {
        async fn execute(&self, c: &Command) -> Ran {
            {
                let mut f = self.in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            self.log.lock().unwrap().push((c.id, "start"));
            tokio::time::sleep(Duration::from_millis(self.ms)).await;
            self.log.lock().unwrap().push((c.id, "end"));
            self.in_flight.lock().unwrap().0 -= 1;
            let failed = self
                .fail
                .as_ref()
                .is_some_and(|f| c.kind.describe().contains(f.as_str()));
            Ran {
                outcome: if failed {
                    CommandOutcome::Failed
                } else {
                    CommandOutcome::Done
                },
                attempts: 1,
                error: failed.then(|| "injected".into()),
                job: Some(format!("job-{}", c.id)),
            }
        }
    }

    fn mig(id: usize, vm: &str, deps: Vec<usize>) -> Command {
        Command {
            id,
            kind: CommandKind::Migrate {
                vm: vm.into(),
                from: "a".into(),
                to: "b".into(),
            },
            depends_on: deps,
            reason: "test".into(),
        }
    }

    fn power_off(id: usize, deps: Vec<usize>) -> Command {
        Command {
            id,
            kind: CommandKind::PowerOff { host: "a".into() },
            depends_on: deps,
            reason: "test".into(),
        }
    }

    fn start_of(log: &[(usize, &str)], id: usize) -> usize {
        log.iter().position(|e| *e == (id, "start")).unwrap()
    }

    fn end_of(log: &[(usize, &str)], id: usize) -> usize {
        log.iter().position(|e| *e == (id, "end")).unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn up_to_n_migrations_at_once_then_their_dependents() {
        let exec = Arc::new(Clock {
            ms: 100,
            ..Clock::default()
        });
        let cmds = vec![
            mig(0, "v0", vec![]),
            mig(1, "v1", vec![]),
            mig(2, "v2", vec![]),
            mig(3, "v3", vec![]),
            mig(4, "v4", vec![]),
            power_off(5, vec![0, 1, 2, 3, 4]),
        ];
        let t = std::time::Instant::now();
        let out = run_all(exec.clone(), &cmds, 2).await;
        let took = t.elapsed();
        assert!(
            out.iter().all(|r| r.outcome == CommandOutcome::Done),
            "{out:?}"
        );
        assert_eq!(out[3].job.as_deref(), Some("job-3"));
        // Five moves two at a time: three waves, then the power-off.
        assert_eq!(
            exec.in_flight.lock().unwrap().1,
            2,
            "never more than 2 at once"
        );
        assert!(took >= Duration::from_millis(400), "{took:?}");
        assert!(
            took < Duration::from_millis(900),
            "ran concurrently: {took:?}"
        );
        let log = exec.log.lock().unwrap().clone();
        // In the prescriber's order; the power-off after every move.
        assert!(start_of(&log, 0) < start_of(&log, 2) && start_of(&log, 2) < start_of(&log, 4));
        for m in 0..5 {
            assert!(end_of(&log, m) < start_of(&log, 5), "{log:?}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_two_commands_on_one_vm_and_failures_skip_only_dependents() {
        let exec = Arc::new(Clock {
            ms: 50,
            fail: Some("migrate x".into()),
            ..Clock::default()
        });
        let cmds = vec![
            mig(0, "x", vec![]),
            mig(1, "x", vec![]),
            mig(2, "y", vec![]),
            power_off(3, vec![0]),
            power_off(4, vec![2]),
            // A dependency that is not in the plan.
            mig(5, "z", vec![9]),
        ];
        let out = run_all(exec.clone(), &cmds, 8).await;
        let outcomes: Vec<CommandOutcome> = out.iter().map(|r| r.outcome).collect();
        use CommandOutcome::*;
        assert_eq!(outcomes, [Failed, Failed, Done, Skipped, Done, Skipped]);
        assert_eq!(out[3].error.as_deref(), Some(DEPENDENCY));
        assert_eq!(out[3].attempts, 0, "never tried");
        let log = exec.log.lock().unwrap().clone();
        // x's second move starts only after its first ended; y ran
        // alongside the first.
        assert!(end_of(&log, 0) < start_of(&log, 1), "{log:?}");
        assert!(start_of(&log, 2) < end_of(&log, 0), "{log:?}");
        assert!(!log.iter().any(|e| e.0 == 3 || e.0 == 5), "{log:?}");
    }
}
