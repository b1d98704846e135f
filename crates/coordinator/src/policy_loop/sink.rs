//! Where the engine's commands go in a live manager: each one becomes a
//! coordinator job (the same checked requests the REST API makes) and the
//! sink waits for the job to end, so "done" means done (a resize sets
//! the VM's CPU shares, limit and reservation through `vm.resize`).
//! Host power becomes `host.power` (off through the host's agent, on by
//! Wake-on-LAN or a BMC command).
//! [`run_all`](super::run::run_all) runs several at once.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use vine_workload::model::{Command, CommandKind};
use vine_workload::WorkloadError;

use super::audit::CommandOutcome;
use super::run::{Executor, Ran};
use crate::jobs::{JobId, JobRecord, JobState};
use crate::ops::params::{HostPowerState, MigrateVm, PowerHost, ResizeVm};
use crate::ops::Coordinator;

/// Runs commands as coordinator jobs.
pub struct JobSink {
    coordinator: Arc<Coordinator>,
    /// Jobs are owned by `policy:<name>`.
    owner: String,
    /// How long one job may take before the command counts as failed (the
    /// job itself goes on).
    timeout: Duration,
}

impl JobSink {
    pub fn new(coordinator: Arc<Coordinator>, policy: &str, timeout: Duration) -> Self {
        JobSink {
            coordinator,
            owner: format!("policy:{policy}"),
            timeout,
        }
    }

    fn submit(&self, c: &Command) -> Result<JobId, WorkloadError> {
        let fail = |message: String| failed(c, message);
        match &c.kind {
            CommandKind::Migrate { vm, from, to } => {
                // The plan was made on a snapshot: the VM may have moved or
                // gone since, and then this move is no longer the one meant.
                let rec = self
                    .coordinator
                    .inventory()
                    .find_vm(vm)
                    .map_err(|e| fail(e.to_string()))?
                    .ok_or_else(|| fail(format!("VM {vm} is gone")))?;
                if rec.host != *from {
                    return Err(fail(format!(
                        "VM {vm} is on host {} now, not {from}",
                        rec.host
                    )));
                }
                self.coordinator
                    .migrate_vm(
                        MigrateVm {
                            vm: vm.clone(),
                            to: Some(to.clone()),
                        },
                        Some(&self.owner),
                        None,
                    )
                    .map_err(|e| fail(e.to_string()))
            }
            CommandKind::Scale { service, nodes } => self
                .coordinator
                .scale_vs(service, *nodes, Some(&self.owner))
                .map_err(|e| fail(e.to_string())),
            // The whole allocation, every time (a limit of 1.0 is "no cap"
            // and a reservation of 0 "none", which undo earlier ones); the
            // fractions of the VM's CPU size are percent of a core per vCPU
            // below, and vm.resize refuses what rounds out of range.
            CommandKind::Resize {
                vm,
                shares,
                reservation,
                limit,
            } => self
                .coordinator
                .resize_vm(
                    ResizeVm {
                        vm: vm.clone(),
                        vcpus: None,
                        memory_mib: None,
                        cpu_shares: Some(*shares),
                        cpu_limit_pct: Some(percent(*limit)),
                        cpu_reservation_pct: Some(percent(*reservation)),
                    },
                    Some(&self.owner),
                    None,
                )
                .map_err(|e| fail(e.to_string())),
            CommandKind::PowerOn { host } | CommandKind::PowerOff { host } => {
                let state = match c.kind {
                    CommandKind::PowerOn { .. } => HostPowerState::On,
                    _ => HostPowerState::Off,
                };
                self.coordinator
                    .power_host(
                        PowerHost {
                            host: host.clone(),
                            state,
                        },
                        Some(&self.owner),
                        None,
                    )
                    .map_err(|e| fail(e.to_string()))
            }
        }
    }
}

/// A fraction (0..=1, checked by the policy) as a whole percentage.
fn percent(fraction: f64) -> u32 {
    (fraction * 100.0).round().clamp(0.0, f64::from(u32::MAX)) as u32
}

fn failed(c: &Command, message: String) -> WorkloadError {
    WorkloadError::Command {
        id: c.id,
        what: c.kind.describe(),
        message,
    }
}

/// Waits until job `id` is final, at most `timeout`.
pub async fn wait_job(
    coordinator: &Coordinator,
    id: &JobId,
    timeout: Duration,
) -> Result<JobRecord, String> {
    let mut rx = coordinator.jobs.watch(id).map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let job = rx.borrow_and_update().clone();
        if job.state.is_terminal() {
            return Ok(job);
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            // The engine closes the channel once the job is final.
            Ok(Err(_)) => return coordinator.job(id).map_err(|e| e.to_string()),
            Err(_) => {
                return Err(format!(
                    "job {id} is still {:?} after {} s; it goes on, the command counts as failed",
                    job.state,
                    timeout.as_secs()
                ))
            }
        }
    }
}

#[async_trait]
impl Executor for JobSink {
    async fn execute(&self, c: &Command) -> Ran {
        let ran = |outcome, attempts, error: Option<String>, job: Option<String>| Ran {
            outcome,
            attempts,
            error,
            job,
        };
        let id = match self.submit(c) {
            Ok(id) => id,
            Err(WorkloadError::Unsupported { reason, .. }) => {
                return ran(CommandOutcome::Skipped, 0, Some(reason), None)
            }
            Err(e) => return ran(CommandOutcome::Failed, 1, Some(e.to_string()), None),
        };
        let job = Some(id.to_string());
        match wait_job(&self.coordinator, &id, self.timeout).await {
            Err(m) => ran(
                CommandOutcome::Failed,
                1,
                Some(failed(c, m).to_string()),
                job,
            ),
            Ok(j) => match j.state {
                JobState::Succeeded => ran(CommandOutcome::Done, 1, None, job),
                state => ran(
                    CommandOutcome::Failed,
                    1,
                    Some(
                        failed(
                            c,
                            format!(
                                "job {id} ended {state:?}: {}",
                                j.error.unwrap_or_else(|| "no reason given".into())
                            ),
                        )
                        .to_string(),
                    ),
                    job,
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{HostHealth, HostRecord, Inventory, VmRecord};
    use crate::ops::CoordinatorConfig;
    use crate::policy_loop::run::run_all;
    use crate::vni::{HostCapacity, VmState};
    use vine_store::{names, Store};
    use vine_wbem::client::{ClientConfig, TlsVerify};

    /// A coordinator whose inventory has hosts a and b, VM x on a, y and
    /// z on b; no agents and no job runner, so submitted jobs stay queued.
    fn coordinator(dir: &std::path::Path) -> Arc<Coordinator> {
        let store = Store::open(dir).unwrap();
        let client = ClientConfig {
            url: String::new(),
            user: "admin".into(),
            password: String::new(),
            tls: TlsVerify::Insecure,
            timeout: Duration::from_secs(1),
        };
        let inv = Arc::new(Inventory::open(&store, client).unwrap());
        let hosts = store.collection::<HostRecord>(names::HOSTS).unwrap();
        for h in ["a", "b"] {
            let mut r = inv.add_host(h, &format!("http://{h}.invalid")).unwrap();
            r.health = HostHealth::Up;
            r.capacity = Some(HostCapacity {
                vcpus: 8,
                memory_mib: 16_384,
            });
            hosts.put(h, &r).unwrap();
        }
        let vms = store.collection::<VmRecord>(names::VMS).unwrap();
        let x = VmRecord {
            name: "x".into(),
            host: "a".into(),
            uuid: None,
            state: VmState::Running,
            vcpus: Some(1),
            memory_mib: Some(512),
        };
        vms.put("a/x", &x).unwrap();
        let y = VmRecord {
            name: "y".into(),
            host: "b".into(),
            ..x
        };
        vms.put("b/y", &y).unwrap();
        let z = VmRecord {
            name: "z".into(),
            ..y.clone()
        };
        vms.put("b/z", &z).unwrap();
        Coordinator::open(&store, inv, CoordinatorConfig::default()).unwrap()
    }

    fn cmd(id: usize, kind: CommandKind) -> Command {
        Command {
            id,
            kind,
            depends_on: vec![],
            reason: "test".into(),
        }
    }

    fn migrate(vm: &str, from: &str, to: &str) -> CommandKind {
        CommandKind::Migrate {
            vm: vm.into(),
            from: from.into(),
            to: to.into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commands_become_jobs_or_fail_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let cmds = vec![
            cmd(0, CommandKind::PowerOn { host: "b".into() }),
            cmd(1, migrate("x", "a", "b")),
            cmd(2, migrate("x", "b", "a")),
            cmd(
                3,
                CommandKind::Resize {
                    vm: "y".into(),
                    shares: 2048,
                    reservation: 0.0,
                    limit: 1.0,
                },
            ),
            cmd(
                4,
                CommandKind::Resize {
                    vm: "z".into(),
                    shares: 512,
                    reservation: 0.25,
                    limit: 0.504,
                },
            ),
            cmd(
                5,
                CommandKind::Resize {
                    vm: "y".into(),
                    shares: 1,
                    reservation: 0.0,
                    limit: 1.0,
                },
            ),
            cmd(
                6,
                CommandKind::Resize {
                    vm: "y".into(),
                    shares: 1024,
                    reservation: 0.0,
                    limit: 0.0,
                },
            ),
        ];
        let sink = Arc::new(JobSink::new(c.clone(), "web", Duration::from_millis(300)));
        let out = run_all(sink, &cmds, 4).await;
        let outcomes: Vec<CommandOutcome> = out.iter().map(|r| r.outcome).collect();
        assert_eq!(
            outcomes,
            [
                CommandOutcome::Failed,
                CommandOutcome::Failed,
                CommandOutcome::Failed,
                CommandOutcome::Failed,
                CommandOutcome::Failed,
                CommandOutcome::Failed,
                CommandOutcome::Failed,
            ]
        );
        // b is on: the power-on is refused as the REST API would refuse
        // it, and nothing was submitted.
        let e0 = out[0].error.as_deref().unwrap_or_default();
        assert!(e0.contains("host b is On, not Off"), "{e0}");
        assert!(out[0].job.is_none());
        // The move was submitted as the REST API would, owned by the
        // policy; nothing runs jobs here, so it times out as a failure.
        let job = c.job(&JobId::from(out[1].job.as_deref().unwrap())).unwrap();
        assert_eq!(job.kind, "vm.migrate");
        assert_eq!(job.params["vm"], "x");
        assert_eq!(job.params["to"], "b");
        assert_eq!(job.owner.as_deref(), Some("policy:web"));
        let e1 = &out[1];
        assert!(
            e1.error.as_deref().unwrap().contains("still Queued"),
            "{e1:?}"
        );
        // A plan made before x moved is not carried out (and waited for
        // the first move of x to end: never two commands on one VM).
        let e2 = &out[2];
        assert!(
            e2.error
                .as_deref()
                .unwrap()
                .contains("VM x is on host a now, not b"),
            "{e2:?}"
        );
        assert!(e2.job.is_none());

        // A resize becomes one vm.resize job, owned by the policy, with
        // the whole allocation: shares, and limit and reservation in
        // percent of a core per vCPU (1.0 = no cap: 100; 0 = none: 0).
        // Queued here: no runner, so it times out.
        let job = c.job(&JobId::from(out[3].job.as_deref().unwrap())).unwrap();
        assert_eq!(job.kind, "vm.resize");
        assert_eq!(job.params["vm"], "y");
        assert_eq!(job.params["cpu_shares"], 2048);
        assert_eq!(job.params["cpu_limit_pct"], 100);
        assert_eq!(job.params["cpu_reservation_pct"], 0);
        assert!(job.params["vcpus"].is_null() && job.params["memory_mib"].is_null());
        assert_eq!(job.owner.as_deref(), Some("policy:web"));
        let job = c.job(&JobId::from(out[4].job.as_deref().unwrap())).unwrap();
        assert_eq!(job.params["vm"], "z");
        assert_eq!(job.params["cpu_shares"], 512);
        assert_eq!(job.params["cpu_limit_pct"], 50, "0.504 rounds to 50 %");
        assert_eq!(job.params["cpu_reservation_pct"], 25);
        // Shares libvirt would refuse are refused before any job.
        let e5 = out[5].error.as_deref().unwrap();
        assert!(e5.contains("cpu_shares 1 is out of range"), "{e5}");
        assert!(out[5].job.is_none());
        // So is a limit of nothing at all.
        let e6 = out[6].error.as_deref().unwrap();
        assert!(
            e6.contains("cpu_limit_pct 0 is out of range: give 1 to 100"),
            "{e6}"
        );
        assert!(out[6].job.is_none());
    }
}
