//! Where the engine's commands go in a live manager: each one becomes a
//! coordinator job (the same checked requests the REST API makes) and the
//! sink waits for the job to end, so "done" means done. Commands this
//! manager has no job for are refused as unsupported, which the sender
//! audits as skipped without retrying.
//!
//! [`CommandSink::execute`] is synchronous; the sink runs on a blocking
//! thread and waits for jobs on the runtime through its handle.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vine_workload::model::{Command, CommandKind};
use vine_workload::stages::sender::CommandSink;
use vine_workload::WorkloadError;

use crate::jobs::{JobId, JobRecord, JobState};
use crate::ops::params::MigrateVm;
use crate::ops::Coordinator;

/// Why a command kind is not carried out.
pub const NOT_YET: &str = "not supported by this manager yet";

/// Why this manager cannot carry out a command of `kind`, if it cannot.
pub fn unsupported(kind: &CommandKind) -> Option<&'static str> {
    match kind {
        CommandKind::Migrate { .. } | CommandKind::Scale { .. } => None,
        // CPU shares and host power have no job kind here yet (hosts'
        // power needs their BMCs).
        CommandKind::Resize { .. } | CommandKind::PowerOn { .. } | CommandKind::PowerOff { .. } => {
            Some(NOT_YET)
        }
    }
}

/// Runs commands as coordinator jobs.
pub struct JobSink {
    coordinator: Arc<Coordinator>,
    runtime: tokio::runtime::Handle,
    /// Jobs are owned by `policy:<name>`.
    owner: String,
    /// How long one job may take before the command counts as failed (the
    /// job itself goes on).
    timeout: Duration,
    /// The job of each command, by command id.
    pub jobs: HashMap<usize, String>,
}

impl JobSink {
    pub fn new(
        coordinator: Arc<Coordinator>,
        runtime: tokio::runtime::Handle,
        policy: &str,
        timeout: Duration,
    ) -> Self {
        JobSink {
            coordinator,
            runtime,
            owner: format!("policy:{policy}"),
            timeout,
            jobs: HashMap::new(),
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
            // CPU shares and host power have no job kind here yet (hosts'
            // power needs their BMCs).
            CommandKind::Resize { .. }
            | CommandKind::PowerOn { .. }
            | CommandKind::PowerOff { .. } => Err(WorkloadError::Unsupported {
                id: c.id,
                what: c.kind.describe(),
                reason: NOT_YET.into(),
            }),
        }
    }
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

impl CommandSink for JobSink {
    fn execute(&mut self, c: &Command) -> vine_workload::Result<()> {
        let id = self.submit(c)?;
        self.jobs.insert(c.id, id.to_string());
        let job = self
            .runtime
            .block_on(wait_job(&self.coordinator, &id, self.timeout))
            .map_err(|m| failed(c, m))?;
        match job.state {
            JobState::Succeeded => Ok(()),
            state => Err(failed(
                c,
                format!(
                    "job {id} ended {state:?}: {}",
                    job.error.unwrap_or_else(|| "no reason given".into())
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{HostHealth, HostRecord, Inventory, VmRecord};
    use crate::ops::CoordinatorConfig;
    use crate::vni::{HostCapacity, VmState};
    use vine_store::{names, Store};
    use vine_wbem::client::{ClientConfig, TlsVerify};
    use vine_workload::stages::sender::{Outcome, Sender};

    /// A coordinator whose inventory has hosts a and b and VM x on a; no
    /// agents and no job runner, so submitted jobs stay queued.
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
    async fn commands_become_jobs_or_are_skipped_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let rt = tokio::runtime::Handle::current();
        let cmds = vec![
            cmd(0, CommandKind::PowerOn { host: "b".into() }),
            cmd(1, migrate("x", "a", "b")),
            cmd(2, migrate("x", "b", "a")),
            cmd(
                3,
                CommandKind::Resize {
                    vm: "x".into(),
                    shares: 1024,
                    reservation: 0.0,
                    limit: 1.0,
                },
            ),
        ];
        let sink_c = c.clone();
        let (out, audit, jobs) = tokio::task::spawn_blocking(move || {
            let mut sink = JobSink::new(sink_c, rt, "web", Duration::from_millis(300));
            let mut s = Sender::new(4);
            s.attempts = 1;
            let out = s.run(&cmds, &mut sink);
            (out, s.audit, sink.jobs)
        })
        .await
        .unwrap();
        assert_eq!(
            out,
            [
                Outcome::Skipped,
                Outcome::Failed,
                Outcome::Failed,
                Outcome::Skipped
            ]
        );
        assert_eq!(audit[0].error.as_deref(), Some(NOT_YET));
        // The move was submitted as the REST API would, owned by the
        // policy; nothing runs jobs here, so it times out as a failure.
        let job = c.job(&JobId::from(jobs[&1].as_str())).unwrap();
        assert_eq!(job.kind, "vm.migrate");
        assert_eq!(job.params["vm"], "x");
        assert_eq!(job.params["to"], "b");
        assert_eq!(job.owner.as_deref(), Some("policy:web"));
        let e1 = audit.iter().find(|a| a.id == 1).unwrap();
        assert!(
            e1.error.as_deref().unwrap().contains("still Queued"),
            "{e1:?}"
        );
        // A plan made before x moved is not carried out.
        let e2 = audit.iter().find(|a| a.id == 2).unwrap();
        assert!(
            e2.error
                .as_deref()
                .unwrap()
                .contains("VM x is on host a now, not b"),
            "{e2:?}"
        );
        assert!(!jobs.contains_key(&2));
    }
}
