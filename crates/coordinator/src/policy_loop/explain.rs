//! Explain: what a policy would do to the live data centre now. The
//! snapshot is the one the loop would build ([`observe`](super::observe)),
//! the engine a fresh one run once (no profiles yet, so the forecast is
//! the current sample), and nothing is sent: each command comes back with
//! its reason as a dry run, or as skipped when this manager could not
//! carry it out (or a command it depends on). The answer has the shape of
//! an audit round ([`RoundAudit`]) plus what was looked at.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use vine_workload::stages::sender::{DryRunSink, Outcome, Sender};
use vine_workload::{Engine, Policy, Snapshot};

use super::audit::{CommandAudit, CommandOutcome, RoundAudit};
use super::{now_ms, observe};
use crate::ops::Coordinator;

/// The answer of `POST /api/v1/policies/explain`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explained {
    /// The round, as `GET /api/v1/policies/audit` shows rounds
    /// (`dry_run` is always true; `version` is 0 for a text not stored).
    #[serde(flatten)]
    pub round: RoundAudit,
    /// Hosts in the snapshot.
    pub hosts: usize,
    /// Hosts whose agent reported this time.
    pub hosts_reporting: usize,
    /// VMs holding host resources.
    pub vms: usize,
    /// Findings against the inventory: a scope matching no host,
    /// constraints no placement can meet.
    pub warnings: Vec<String>,
}

/// Runs `policy` (stored as `version`, 0 for none) once on `snap`.
pub fn explain_on(snap: &Snapshot, policy: Policy, version: u32) -> Explained {
    let warnings = policy
        .check_against(snap)
        .into_iter()
        .map(|p| match p.help {
            Some(h) => format!("{} ({h})", p.message),
            None => p.message,
        })
        .collect();
    let name = policy.name.clone();
    let max_concurrent = policy.migration.max_concurrent;
    let plan = Engine::new(policy).plan(snap);
    let mut sender = Sender::new(max_concurrent);
    sender.attempts = 1;
    // Every command kind has a job here: all would be sent.
    let outcomes = sender.run(&plan.commands, &mut DryRunSink::default());
    let commands = plan
        .commands
        .iter()
        .zip(outcomes)
        .map(|(c, o)| {
            let entry = sender.audit.iter().rev().find(|a| a.id == c.id);
            CommandAudit {
                id: c.id,
                what: c.kind.describe(),
                reason: c.reason.clone(),
                outcome: match o {
                    Outcome::Done => CommandOutcome::DryRun,
                    Outcome::Failed | Outcome::Skipped => CommandOutcome::Skipped,
                },
                attempts: 0,
                error: entry.and_then(|a| a.error.clone()),
                job: None,
                depends_on: c.depends_on.clone(),
            }
        })
        .collect();
    Explained {
        round: RoundAudit {
            id: String::new(),
            policy: name,
            version,
            round: plan.round,
            at: now_ms(),
            dry_run: true,
            hot: plan.hot,
            cold: plan.cold,
            held: plan.held,
            unresolved: plan.unresolved,
            notes: plan.notes,
            commands,
        },
        hosts: snap.hosts.len(),
        hosts_reporting: snap
            .hosts
            .iter()
            .filter(|h| h.reported_at.is_some())
            .count(),
        vms: snap.vms.len(),
        warnings,
    }
}

/// Observes the live data centre as the loop does and explains `policy`
/// on it.
pub async fn explain(
    c: &Coordinator,
    policy: Policy,
    version: u32,
    report_timeout: Duration,
) -> Result<Explained, String> {
    let snap = observe::observe(c, report_timeout).await?;
    Ok(explain_on(&snap, policy, version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vine_workload::model::{HostState, VmState};

    fn host(name: &str) -> HostState {
        HostState {
            name: name.into(),
            cpu_capacity: 2000.0,
            core_capacity: 1000.0,
            mem_mb: 16_384.0,
            net_mbps: 0.0,
            idle_watts: 0.0,
            max_watts: 0.0,
            labels: Vec::new(),
            powered_on: true,
            reported_at: Some(100.0),
            maintenance: false,
            can_power_off: true,
        }
    }

    fn vm(name: &str, host: usize, used: f64) -> VmState {
        VmState {
            name: name.into(),
            host,
            cpu_size: 1000.0,
            vcpus: 1,
            cpu_used: used,
            mem_mb: 512.0,
            net_mbps: 0.0,
            migrating: false,
            service: None,
        }
    }

    fn policy(extra: &str) -> Policy {
        let text = format!(
            "name = \"web\"\n[thresholds.cpu]\nupper = 0.8\nlower = 0.1\n\
             [power]\nconsolidate = false\npower_off_idle = false\n{extra}"
        );
        vine_workload::policy::parse_str(&text, "web.toml").unwrap()
    }

    #[test]
    fn a_hot_host_gets_a_move_with_its_reason_and_nothing_is_sent() {
        // a: 1.8 of 2 cores busy; b: idle.
        let snap = Snapshot {
            time_s: 100.0,
            hosts: vec![host("a"), host("b")],
            vms: vec![vm("x", 0, 900.0), vm("y", 0, 900.0), vm("z", 1, 0.0)],
        };
        let e = explain_on(&snap, policy(""), 3);
        assert_eq!((e.hosts, e.hosts_reporting, e.vms), (2, 2, 3));
        assert_eq!(e.round.hot, ["a"]);
        assert_eq!((e.round.policy.as_str(), e.round.version), ("web", 3));
        assert!(e.round.dry_run);
        assert_eq!(e.round.commands.len(), 1, "{e:#?}");
        let c = &e.round.commands[0];
        assert!(c.what.starts_with("migrate ") && c.what.ends_with(" a -> b"));
        assert_eq!(c.outcome, CommandOutcome::DryRun);
        assert!(!c.reason.is_empty());
        // The wire form is an audit round's, with the counts beside it.
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["commands"][0]["outcome"], "dry-run");
        assert_eq!(v["hot"][0], "a");
        assert_eq!(v["hosts"], 2);
    }

    #[test]
    fn explain_warns_of_empty_scopes_and_shows_what_would_be_sent() {
        let snap = Snapshot {
            time_s: 100.0,
            hosts: vec![host("a")],
            vms: vec![vm("x", 0, 100.0)],
        };
        // A non-default allocation resizes every VM a fresh engine sees;
        // a scope that matches no host is warned about.
        let e = explain_on(
            &snap,
            policy("[allocation]\nshares = 2048\n[scope]\nkind = \"pool\"\nname = \"gold\"\n"),
            0,
        );
        assert!(
            e.warnings.iter().any(|w| w.contains("matches none")),
            "{:?}",
            e.warnings
        );
        let e = explain_on(&snap, policy("[allocation]\nshares = 2048\n"), 0);
        let resize = e
            .round
            .commands
            .iter()
            .find(|c| c.what.starts_with("resize x"))
            .unwrap_or_else(|| panic!("{:#?}", e.round.commands));
        assert_eq!(resize.outcome, CommandOutcome::DryRun);
    }
}
