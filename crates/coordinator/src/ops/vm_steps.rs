//! What every VM and host job shares: reading parameters and step data,
//! turning agent errors into retries or failures, finding where a VM
//! really is, and the wrapper that records an event when a job ends.
//!
//! `VINE_TEST_STEP_PAUSE_MS` (tests only): after a step has acted and
//! before its outcome is stored, sleep this long. Crash tests use it to
//! kill the manager at the worst moment — the effect happened, the record
//! of it did not. Unset (the default) it costs nothing.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::events::Severity;
use crate::inventory::InventoryError;
use crate::jobs::{JobContext, JobHandler, JobRecord, StepOutcome};
use crate::pools::PoolError;
use crate::vni::{AgentConn, VmView, VniError};

use super::Services;

/// One kind of job, as the VM and host handlers write it: the step, plus
/// what to say when the job ends and what to undo when it fails.
#[async_trait]
pub(crate) trait Step: Send + Sync + 'static {
    fn kind(&self) -> &'static str;

    /// Runs `job.step`.
    async fn run(&self, s: &Services, ctx: &JobContext, job: &JobRecord) -> StepOutcome;

    /// What the job is about (a VM or host name), for its events.
    fn subject(&self, job: &JobRecord) -> String;

    /// What the job acts on while active (see [`JobHandler::touches`]):
    /// a VM job its VM.
    fn touches(&self, job: &JobRecord) -> Vec<String> {
        vec![format!("vm:{}", self.subject(job))]
    }

    /// Called once when the job is about to fail or be cancelled: release
    /// what it held.
    async fn failed(&self, _s: &Services, _job: &JobRecord) {}
}

/// A [`Step`] as the engine runs it.
pub(crate) struct Tracked<S> {
    step: S,
    services: Arc<Services>,
}

impl<S: Step> Tracked<S> {
    pub(crate) fn handler(step: S, services: &Arc<Services>) -> Arc<dyn JobHandler> {
        Arc::new(Tracked {
            step,
            services: services.clone(),
        })
    }
}

/// The test-only pause (see the module doc).
fn test_pause() -> Option<Duration> {
    static PAUSE: OnceLock<Option<Duration>> = OnceLock::new();
    *PAUSE.get_or_init(|| {
        std::env::var("VINE_TEST_STEP_PAUSE_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    })
}

#[async_trait]
impl<S: Step> JobHandler for Tracked<S> {
    fn kind(&self) -> &str {
        self.step.kind()
    }

    fn touches(&self, job: &JobRecord) -> Vec<String> {
        self.step.touches(job)
    }

    /// Cancelled while waiting (or ended at recovery): the same release
    /// as a failing step's.
    async fn abandoned(&self, job: &JobRecord) {
        self.step.failed(&self.services, job).await;
    }

    async fn step(&self, ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let s = &self.services;
        let out = self.step.run(s, ctx, job).await;
        let subject = self.step.subject(job);
        let kind = self.step.kind();
        let goes_on = matches!(
            out,
            StepOutcome::Continue { .. } | StepOutcome::ContinueWith { .. }
        );
        if goes_on {
            if let Some(p) = test_pause() {
                tokio::time::sleep(p).await;
            }
        }
        match &out {
            // The engine cancels a job between steps without calling it
            // again: release what it holds now. (A cancel landing between
            // this check and the engine's is released by the engine, via
            // `abandoned`.)
            StepOutcome::Continue { .. } | StepOutcome::ContinueWith { .. } => {
                if ctx.cancel_requested() {
                    self.step.failed(s, job).await;
                    let msg = format!("{kind} {} cancelled after step {}", job.id, job.step);
                    record(s, Severity::Warning, "job.cancelled", &subject, msg);
                }
            }
            StepOutcome::Done(result) => {
                let msg = format!("{kind} {} succeeded: {}", job.id, summary(result));
                record(s, Severity::Info, "job.succeeded", &subject, msg);
            }
            StepOutcome::Fail(error) => {
                self.step.failed(s, job).await;
                let msg = format!("{kind} {} failed in step {}: {error}", job.id, job.step);
                record(s, Severity::Error, "job.failed", &subject, msg);
            }
            // The engine fails the job when this retry uses up its tries.
            StepOutcome::Retry(error) if job.attempts + 1 >= job.max_attempts => {
                self.step.failed(s, job).await;
                let msg = format!(
                    "{kind} {} failed in step {} after {} tries: {error}",
                    job.id,
                    job.step,
                    job.attempts + 1
                );
                record(s, Severity::Error, "job.failed", &subject, msg);
            }
            StepOutcome::Retry(_) => {}
        }
        out
    }
}

fn record(s: &Services, sev: Severity, kind: &str, subject: &str, msg: String) {
    if let Err(e) = s.events.record(sev, kind, subject, msg) {
        tracing::warn!(error = %e, kind, subject, "cannot record event");
    }
}

/// A job result in one line: `vm=web-1 host=a`.
fn summary(result: &Value) -> String {
    match result {
        Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_array() && !v.is_object())
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// The job's parameters as `P`, or a failure saying they are unreadable
/// (only a job stored by another version could have that).
pub(crate) fn params<P: DeserializeOwned>(job: &JobRecord) -> Result<P, StepOutcome> {
    serde_json::from_value(job.params.clone())
        .map_err(|e| StepOutcome::Fail(format!("the job's parameters cannot be read: {e}")))
}

/// A string an earlier step stored in the job's data.
pub(crate) fn data_str<'a>(job: &'a JobRecord, key: &str) -> Option<&'a str> {
    job.data.get(key).and_then(Value::as_str)
}

/// A string an earlier step must have stored.
pub(crate) fn need_str<'a>(job: &'a JobRecord, key: &str) -> Result<&'a str, StepOutcome> {
    data_str(job, key).ok_or_else(|| {
        StepOutcome::Fail(format!(
            "step {} needs `{key}` from an earlier step, and the job has none",
            job.step
        ))
    })
}

/// Step data from `(key, value)` pairs.
pub(crate) fn data<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `ContinueWith` in one line.
pub(crate) fn next_with(
    step: &str,
    progress: u8,
    note: impl Into<String>,
    data: Map<String, Value>,
) -> StepOutcome {
    StepOutcome::ContinueWith {
        step: step.into(),
        progress,
        note: note.into(),
        data,
    }
}

/// `Continue` with a note.
pub(crate) fn next(step: &str, progress: u8, note: impl Into<String>) -> StepOutcome {
    StepOutcome::Continue {
        step: step.into(),
        progress,
        note: note.into(),
    }
}

/// An agent that did not answer is worth another try; one that answered
/// with an error has said no, and its message is the reason.
pub(crate) fn agent_error(what: &str, e: VniError) -> StepOutcome {
    if e.is_transient() {
        StepOutcome::Retry(format!("{what}: {e}"))
    } else {
        StepOutcome::Fail(format!("{what}: {e}"))
    }
}

/// Inventory errors: an agent error as [`agent_error`], a store error is
/// retried, an unknown host fails.
pub(crate) fn inventory_error(what: &str, e: InventoryError) -> StepOutcome {
    match e {
        InventoryError::Agent(e) => agent_error(what, e),
        InventoryError::Store(e) => StepOutcome::Retry(format!("{what}: {e}")),
        other => StepOutcome::Fail(format!("{what}: {other}")),
    }
}

/// Pool errors: store trouble is retried, a refusal fails.
pub(crate) fn pool_error(what: &str, e: PoolError) -> StepOutcome {
    match e {
        PoolError::Store(e) | PoolError::Inventory(InventoryError::Store(e)) => {
            StepOutcome::Retry(format!("{what}: {e}"))
        }
        PoolError::Inventory(e) => inventory_error(what, e),
        other => StepOutcome::Fail(format!("{what}: {other}")),
    }
}

/// The connection to `host`'s agent.
pub(crate) fn agent(s: &Services, host: &str) -> Result<Arc<AgentConn>, StepOutcome> {
    s.inventory
        .agent(host)
        .map_err(|e| inventory_error(&format!("host {host}"), e))
}

/// The VM named `vm` on `host`, asking its agent (not the inventory).
pub(crate) async fn vm_on(
    s: &Services,
    host: &str,
    vm: &str,
) -> Result<Option<VmView>, StepOutcome> {
    let a = agent(s, host)?;
    let vms = a
        .vms()
        .await
        .map_err(|e| agent_error(&format!("listing the VMs of host {host}"), e))?;
    Ok(vms.into_iter().find(|v| v.name == vm))
}

/// Where `vm` is, asking agents: the host the inventory names first, then
/// every other host. `Ok(None)` only when every agent answered and none
/// has it; a host that does not answer makes it a retry.
pub(crate) async fn locate(
    s: &Services,
    vm: &str,
) -> Result<Option<(String, VmView)>, StepOutcome> {
    let hint = s
        .inventory
        .find_vm(vm)
        .map_err(|e| inventory_error("reading the inventory", e))?
        .map(|r| r.host);
    let mut hosts: Vec<String> = s
        .inventory
        .hosts()
        .map_err(|e| inventory_error("reading the inventory", e))?
        .into_iter()
        .map(|h| h.name)
        .collect();
    if let Some(h) = &hint {
        hosts.retain(|n| n != h);
        hosts.insert(0, h.clone());
    }
    let mut silent = Vec::new();
    for host in hosts {
        match vm_on(s, &host, vm).await {
            Ok(Some(v)) => return Ok(Some((host, v))),
            Ok(None) => {}
            Err(StepOutcome::Retry(why)) => silent.push(why),
            Err(other) => return Err(other),
        }
    }
    if silent.is_empty() {
        Ok(None)
    } else {
        Err(StepOutcome::Retry(format!(
            "cannot tell where VM {vm} is: {}",
            silent.join("; ")
        )))
    }
}

/// Rereads `host` into the inventory.
pub(crate) async fn resync(s: &Services, host: &str) -> Result<(), StepOutcome> {
    s.inventory
        .resync_host(host)
        .await
        .map(|_| ())
        .map_err(|e| inventory_error(&format!("resyncing host {host}"), e))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether the manager restarted while this job was in its current step
/// (the step may have acted already).
pub(crate) fn interrupted(job: &JobRecord) -> bool {
    let cut = format!("manager restarted during step {}", job.step);
    job.history
        .iter()
        .rev()
        .take_while(|h| h.step == job.step)
        .any(|h| h.note.starts_with(&cut))
}

/// The name the source agent knows a destination host by: its host
/// system's Name when seen (for qemu/xen that is the machine's name), else
/// the manager's name for it (a `--peer` name).
pub(crate) fn agent_name_of(s: &Services, host: &str) -> Result<String, StepOutcome> {
    let rec = s
        .inventory
        .host(host)
        .map_err(|e| inventory_error("reading the inventory", e))?;
    Ok(rec.system_name.unwrap_or(rec.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{HistoryEntry, JobId, JobState};
    use serde_json::json;

    fn job_with(history: &[(&str, &str)], step: &str) -> JobRecord {
        let mut j: JobRecord = serde_json::from_value(json!({
            "id": "job-1", "kind": "vm.power", "params": {}, "state": "running",
            "step": step, "progress": 0, "attempts": 0, "max_attempts": 5,
            "created_at": 0, "updated_at": 0
        }))
        .unwrap();
        j.id = JobId::from("job-1");
        j.history = history
            .iter()
            .map(|(s, n)| HistoryEntry {
                at: 0,
                state: JobState::Queued,
                step: s.to_string(),
                note: n.to_string(),
            })
            .collect();
        j
    }

    #[test]
    fn interrupted_looks_only_at_the_current_step() {
        let j = job_with(
            &[
                ("start", "submitted"),
                (
                    "start",
                    "manager restarted during step start; resuming at that step",
                ),
                ("sync", "next step sync"),
            ],
            "sync",
        );
        assert!(!interrupted(&j));
        let j = job_with(
            &[
                ("start", "submitted"),
                ("start", "running step start"),
                (
                    "start",
                    "manager restarted during step start; resuming at that step",
                ),
            ],
            "start",
        );
        assert!(interrupted(&j));
    }

    #[test]
    fn summaries_keep_scalars() {
        assert_eq!(
            summary(&json!({"vm": "web-1", "host": "a", "moved": [1, 2], "vcpus": 2})),
            "host=a vcpus=2 vm=web-1"
        );
    }

    #[test]
    fn transient_agent_errors_retry_and_answers_fail() {
        let down = VniError::Call {
            agent: "http://a".into(),
            source: vine_wbem::client::ClientError::Connect("refused".into()),
        };
        assert!(matches!(agent_error("x", down), StepOutcome::Retry(m) if m.contains("refused")));
        let no = VniError::NoVm {
            agent: "http://a".into(),
            vm: "web".into(),
        };
        assert!(
            matches!(agent_error("x", no), StepOutcome::Fail(m) if m.contains("no VM named web"))
        );
    }
}
