//! The manager's live policy loop: VINE's pipeline on the real data centre.
//!
//! Every interval, for each stored policy (its active version):
//!
//! 1. **Observe** — ask every host's agent for its utilization (DSP1053
//!    metrics through the Virtual Node Interface), reread hosts whose
//!    agent disagrees with the inventory about which VMs run there, and
//!    build a [`Snapshot`](vine_workload::Snapshot) ([`snapshot`]). A host
//!    whose agent does not answer has no report, so the engine holds it:
//!    nothing moves off or onto it.
//! 2. **Plan** — run the policy's [`Engine`]. One engine per policy lives
//!    across rounds (profiles, cool-downs, the hourly budget); a new stored
//!    version replaces its policy in place. A version that no longer
//!    validates is never used: the last good one keeps running.
//! 3. **Execute** — [`run::run_all`] runs the commands through a
//!    [`JobSink`]: each command is a coordinator job (`vm.migrate`,
//!    `vs.scale`) and the sink waits for it; up to the policy's
//!    `max_concurrent` migrations run at once, never two commands on one
//!    VM, dependents after what they depend on. What this manager cannot
//!    do yet is audited as skipped. With `dry_run` nothing is sent.
//! 4. **Record** — commands and outcomes go to the event log, and rounds
//!    that did or found something to the [`PolicyAudit`]
//!    (`GET /api/v1/policies/audit`).

/// The stored audit trail of rounds.
pub mod audit;
/// One run of a policy on the live data centre, nothing sent.
pub mod explain;
/// Agents' reports + inventory → snapshot.
pub mod observe;
/// Several commands at once, within the policy's limits.
pub mod run;
/// Commands as coordinator jobs.
pub mod sink;
/// Inventory + utilization → snapshot.
pub mod snapshot;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use vine_workload::{Engine, Plan, Snapshot};

use crate::events::Severity;
use crate::jobs::UnixMillis;
use crate::ops::Coordinator;
use crate::policies::{self, PolicyVersion};

pub use audit::{CommandAudit, CommandOutcome, PolicyAudit, RoundAudit};
pub use sink::JobSink;

/// How the loop runs.
#[derive(Clone, Debug)]
pub struct PolicyLoopConfig {
    /// Time between rounds; zero disables the loop.
    pub interval: Duration,
    /// Plan and audit, send nothing.
    pub dry_run: bool,
    /// How long one command's job may take before it counts as failed.
    pub job_timeout: Duration,
    /// How long an agent may take to report its utilization.
    pub report_timeout: Duration,
}

impl Default for PolicyLoopConfig {
    fn default() -> Self {
        PolicyLoopConfig {
            interval: Duration::from_secs(30),
            dry_run: false,
            job_timeout: Duration::from_secs(15 * 60),
            report_timeout: Duration::from_secs(10),
        }
    }
}

/// One policy's engine and what the loop remembers about it.
struct Running {
    engine: Engine,
    /// The stored version the engine runs.
    version: u32,
    /// A newer version found not to validate (reported once).
    refused: Option<u32>,
    /// The last kept round, to keep only rounds that differ.
    last: Option<RoundAudit>,
}

/// The loop. [`PolicyLoop::round`] runs one round (tests call it);
/// [`PolicyLoop::run`] runs rounds every interval.
pub struct PolicyLoop {
    coordinator: Arc<Coordinator>,
    config: PolicyLoopConfig,
    audit: PolicyAudit,
    running: HashMap<String, Running>,
    /// Versions that never validated, for policies with no good one.
    refused: HashMap<String, u32>,
}

fn now_ms() -> UnixMillis {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl PolicyLoop {
    pub fn new(
        coordinator: Arc<Coordinator>,
        config: PolicyLoopConfig,
    ) -> Result<Self, vine_store::StoreError> {
        Ok(PolicyLoop {
            audit: PolicyAudit::open(&coordinator.services.store)?,
            coordinator,
            config,
            running: HashMap::new(),
            refused: HashMap::new(),
        })
    }

    /// Runs a round every interval until `shutdown` resolves (a round in
    /// progress finishes first). A zero interval returns at once.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        if self.config.interval.is_zero() {
            tracing::info!("policy loop disabled (interval 0)");
            return;
        }
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(self.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            self.round().await;
        }
    }

    fn event(&self, severity: Severity, kind: &str, subject: &str, message: String) {
        if let Err(e) = self
            .coordinator
            .events()
            .record(severity, kind, subject, message)
        {
            tracing::warn!(error = %e, "cannot record a policy event");
        }
    }

    /// Brings the engine of `v.name` to version `v`, unless that version
    /// does not validate. Returns whether an engine is ready.
    fn load(&mut self, v: &PolicyVersion) -> bool {
        if self
            .running
            .get(&v.name)
            .is_some_and(|r| r.version == v.version)
        {
            return true;
        }
        let origin = format!("{} v{}", v.name, v.version);
        match policies::check(&v.text, &origin) {
            Ok(p) => {
                match self.running.get_mut(&v.name) {
                    Some(r) => {
                        r.engine.set_policy(p);
                        r.version = v.version;
                        r.refused = None;
                    }
                    None => {
                        self.running.insert(
                            v.name.clone(),
                            Running {
                                engine: Engine::new(p),
                                version: v.version,
                                refused: None,
                                last: None,
                            },
                        );
                    }
                }
                tracing::info!(policy = %v.name, version = v.version, "policy in force");
                true
            }
            Err(problems) => {
                let first = problems
                    .first()
                    .map(|p| p.message.clone())
                    .unwrap_or_default();
                let (seen, keeps) = match self.running.get_mut(&v.name) {
                    Some(r) => (
                        r.refused.replace(v.version) == Some(v.version),
                        Some(r.version),
                    ),
                    None => (
                        self.refused.insert(v.name.clone(), v.version) == Some(v.version),
                        None,
                    ),
                };
                if !seen {
                    let msg = match keeps {
                        Some(k) => format!(
                            "version {} does not validate ({first}); version {k} keeps running",
                            v.version
                        ),
                        None => format!(
                            "version {} does not validate ({first}); the policy is not run",
                            v.version
                        ),
                    };
                    self.event(Severity::Error, "policy.invalid", &v.name, msg);
                }
                keeps.is_some()
            }
        }
    }

    /// Runs every policy once. Returns the rounds (kept or not).
    pub async fn round(&mut self) -> Vec<RoundAudit> {
        let versions = match self.coordinator.services.policies.list() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the policies");
                return Vec::new();
            }
        };
        let names: HashSet<&str> = versions.iter().map(|v| v.name.as_str()).collect();
        self.running.retain(|n, _| names.contains(n.as_str()));
        let mut out = Vec::new();
        let mut snap: Option<Snapshot> = None;
        for v in &versions {
            if !self.load(v) {
                continue;
            }
            let s = match snap.take() {
                Some(s) => s,
                None => match self.observe().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot observe the data centre");
                        return out;
                    }
                },
            };
            let Some(r) = self.running.get_mut(&v.name) else {
                continue;
            };
            let plan = r.engine.plan(&s);
            let max_concurrent = r.engine.policy().migration.max_concurrent;
            let version = r.version;
            let round = self.execute(&v.name, version, plan, max_concurrent).await;
            // What ran changed the data centre: the next policy looks again.
            if !round
                .commands
                .iter()
                .any(|c| c.outcome == CommandOutcome::Done)
            {
                snap = Some(s);
            }
            self.keep(&round);
            out.push(round);
        }
        out
    }

    /// Stores the round if it says something new, and logs its commands.
    fn keep(&mut self, round: &RoundAudit) {
        for c in &round.commands {
            let (sev, kind) = match c.outcome {
                CommandOutcome::Done => (Severity::Info, "policy.command"),
                CommandOutcome::DryRun => (Severity::Info, "policy.dry-run"),
                CommandOutcome::Failed | CommandOutcome::Skipped => {
                    (Severity::Warning, "policy.command")
                }
            };
            let outcome = serde_json::to_value(c.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let mut msg = format!(
                "policy {} v{} round {}: {}: {outcome}",
                round.policy, round.version, round.round, c.what
            );
            if let Some(j) = &c.job {
                msg.push_str(&format!(" (job {j})"));
            }
            if let Some(e) = &c.error {
                msg.push_str(&format!(": {e}"));
            }
            msg.push_str(&format!("; because {}", c.reason));
            let subject = c.what.split_whitespace().nth(1).unwrap_or(&round.policy);
            self.event(sev, kind, subject, msg);
        }
        let Some(r) = self.running.get_mut(&round.policy) else {
            return;
        };
        if !round.worth_keeping(r.last.as_ref()) {
            return;
        }
        let newly_held: Vec<&String> = round
            .held
            .iter()
            .filter(|h| r.last.as_ref().is_none_or(|l| !l.held.contains(h)))
            .collect();
        let held_msg = (!newly_held.is_empty()).then(|| {
            format!(
                "policy {} holds host(s) {}: {}",
                round.policy,
                newly_held
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                round.notes.join("; ")
            )
        });
        r.last = Some(round.clone());
        if let Some(m) = held_msg {
            self.event(Severity::Warning, "policy.held", &round.policy, m);
        }
        if let Err(e) = self.audit.record(round.clone()) {
            tracing::warn!(error = %e, "cannot store the policy audit");
        }
    }

    /// Carries out a plan (or records it, in dry-run mode).
    async fn execute(
        &self,
        policy: &str,
        version: u32,
        plan: Plan,
        max_concurrent: usize,
    ) -> RoundAudit {
        let mut round = RoundAudit {
            id: String::new(),
            policy: policy.to_string(),
            version,
            round: plan.round,
            at: now_ms(),
            dry_run: self.config.dry_run,
            hot: plan.hot,
            cold: plan.cold,
            held: plan.held,
            unresolved: plan.unresolved,
            notes: plan.notes,
            commands: Vec::new(),
        };
        if plan.commands.is_empty() {
            return round;
        }
        if self.config.dry_run {
            round.commands = plan
                .commands
                .iter()
                .map(|c| CommandAudit {
                    id: c.id,
                    what: c.kind.describe(),
                    reason: c.reason.clone(),
                    outcome: CommandOutcome::DryRun,
                    attempts: 0,
                    error: None,
                    job: None,
                    depends_on: c.depends_on.clone(),
                })
                .collect();
            return round;
        }
        let sink = Arc::new(JobSink::new(
            self.coordinator.clone(),
            policy,
            self.config.job_timeout,
        ));
        let ran = run::run_all(sink, &plan.commands, max_concurrent).await;
        for (c, r) in plan.commands.iter().zip(ran) {
            round.commands.push(CommandAudit {
                id: c.id,
                what: c.kind.describe(),
                reason: c.reason.clone(),
                outcome: r.outcome,
                attempts: r.attempts,
                error: r.error,
                job: r.job,
                depends_on: c.depends_on.clone(),
            });
        }
        round
    }

    /// Reads every agent's utilization and the inventory into a snapshot.
    async fn observe(&self) -> Result<Snapshot, String> {
        observe::observe(&self.coordinator, self.config.report_timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::Inventory;
    use crate::jobs::JobFilter;
    use crate::ops::CoordinatorConfig;
    use vine_store::{names, Store};
    use vine_wbem::client::{ClientConfig, TlsVerify};

    fn text(upper: f64) -> String {
        vine_workload::policy::DEFAULT_POLICY_TOML
            .replacen("name = \"default\"", "name = \"web\"", 1)
            .replacen("upper = 0.95", &format!("upper = {upper}"), 1)
    }

    /// A coordinator with no hosts on a fresh store.
    fn coordinator(dir: &std::path::Path) -> (Store, Arc<Coordinator>) {
        let store = Store::open(dir).unwrap();
        let client = ClientConfig {
            url: String::new(),
            user: "admin".into(),
            password: String::new(),
            tls: TlsVerify::Insecure,
            timeout: Duration::from_secs(1),
        };
        let inv = Arc::new(Inventory::open(&store, client).unwrap());
        let c = Coordinator::open(&store, inv, CoordinatorConfig::default()).unwrap();
        (store, c)
    }

    #[tokio::test]
    async fn dry_run_audits_the_plan_and_submits_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_store, c) = coordinator(dir.path());
        let config = PolicyLoopConfig {
            dry_run: true,
            ..PolicyLoopConfig::default()
        };
        let mut l = PolicyLoop::new(c.clone(), config).unwrap();
        let plan = Plan {
            round: 7,
            commands: vec![vine_workload::Command {
                id: 0,
                kind: vine_workload::CommandKind::Migrate {
                    vm: "x".into(),
                    from: "a".into(),
                    to: "b".into(),
                },
                depends_on: vec![],
                reason: "a is overloaded".into(),
            }],
            hot: vec!["a".into()],
            ..Plan::default()
        };
        l.running.insert(
            "web".into(),
            Running {
                engine: Engine::new(vine_workload::Policy::builtin_default()),
                version: 1,
                refused: None,
                last: None,
            },
        );
        let round = l.execute("web", 1, plan, 4).await;
        assert!(round.dry_run);
        assert_eq!(round.commands.len(), 1);
        assert_eq!(round.commands[0].outcome, CommandOutcome::DryRun);
        assert_eq!(round.commands[0].what, "migrate x a -> b");
        l.keep(&round);
        assert!(c.list_jobs(&JobFilter::default()).unwrap().is_empty());
        let kept = l.audit.recent(10, Some("web")).unwrap();
        assert_eq!((kept.len(), kept[0].round), (1, 7));
        let events = c.events().recent(10).unwrap();
        assert!(
            events
                .iter()
                .any(|e| e.kind == "policy.dry-run" && e.subject == "x"),
            "{events:?}"
        );
    }

    #[tokio::test]
    async fn a_version_that_does_not_validate_never_replaces_the_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, c) = coordinator(dir.path());
        c.services
            .policies
            .apply(&text(0.8), "web.toml", None)
            .unwrap();
        let mut l = PolicyLoop::new(c.clone(), PolicyLoopConfig::default()).unwrap();
        l.round().await;
        assert_eq!(l.running["web"].version, 1);

        // A stored text the checker refuses (as if it had grown stricter
        // since it was applied): written past `apply`, which would refuse.
        let bad = PolicyVersion {
            name: "web".into(),
            version: 2,
            text: text(0.8).replacen("lower = 0.6", "lower = 0.99", 1),
            applied_at: 0,
            applied_by: None,
            note: "applied".into(),
        };
        store
            .collection::<PolicyVersion>(names::POLICIES)
            .unwrap()
            .put("web/00000002", &bad)
            .unwrap();
        l.round().await;
        l.round().await;
        let r = &l.running["web"];
        assert_eq!(r.version, 1, "the last good version keeps running");
        assert_eq!(r.engine.policy().cpu.upper, 0.8);
        let invalid: Vec<_> = c
            .events()
            .recent(100)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "policy.invalid")
            .collect();
        assert_eq!(invalid.len(), 1, "reported once: {invalid:?}");
        assert!(
            invalid[0].message.contains("version 1 keeps running"),
            "{}",
            invalid[0].message
        );

        // A good version 3 takes over in the same engine.
        c.services
            .policies
            .apply(&text(0.7), "web.toml", None)
            .unwrap();
        l.round().await;
        let r = &l.running["web"];
        assert_eq!((r.version, r.engine.policy().cpu.upper), (3, 0.7));
    }
}
