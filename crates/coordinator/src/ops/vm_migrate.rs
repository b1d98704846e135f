//! `vm.migrate`, and the moves `host.drain` is made of.
//!
//! 1. `start` — find the VM; the destination is the one asked for, or the
//!    least-loaded host with room that the source agent agrees it can move
//!    to (CheckVirtualSystemIsMigratableToHost); both are stored.
//! 2. `migrate` — look first: already on the destination (the step ran
//!    before a restart) skips ahead; on the source, MigrateVirtualSystemToHost
//!    starts the agent's job, whose id is stored.
//! 3. `follow` — poll the agent's job, storing its progress every couple of
//!    seconds, until it ends; then check the VM is on the destination.
//! 4. `sync` — reread both hosts into the inventory.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use vine_cim::{CimInstanceName, CimStatus};

use crate::jobs::{JobContext, JobRecord, StepOutcome, UnixMillis, FIRST_STEP};
use crate::placement::{self, HostLoad, Resources};
use crate::vni::{VmView, VniError, VIRT_NS};

use super::super::params::{MigrateVm, VM_MIGRATE};
use super::super::Services;
use super::steps::{
    agent, agent_error, agent_name_of, data, locate, need_str, next, next_with, now_ms, params,
    pool_error, resync, vm_on, Step,
};

/// How long `follow` polls before it stores progress and runs again.
const FOLLOW_SLICE: Duration = Duration::from_secs(2);
/// A migration still running after this long fails the job.
const MIGRATION_DEADLINE_MS: u64 = 10 * 60 * 1000;

/// What a VM takes on a host.
pub(crate) fn size_of(v: &VmView) -> Resources {
    Resources::new(u64::from(v.vcpus.unwrap_or(0)), v.memory_mib.unwrap_or(0))
}

/// The hosts a VM may go to: every host but `from` and those in `avoid`.
pub(crate) fn candidates(loads: &[HostLoad], from: &str, avoid: &HashSet<String>) -> Vec<HostLoad> {
    loads
        .iter()
        .filter(|l| l.name != from && !avoid.contains(&l.name))
        .cloned()
        .collect()
}

/// Picks where `v` goes from `from`: `to` when given (checked for room and
/// by the source agent), else by placement among the hosts the source
/// agent agrees to move it to.
pub(crate) async fn choose_dest(
    s: &Services,
    v: &VmView,
    from: &str,
    to: Option<&str>,
) -> Result<String, StepOutcome> {
    let vm = &v.name;
    let demand = size_of(v);
    let loads = s
        .pools
        .host_loads()
        .map_err(|e| pool_error("reading host loads", e))?;
    let ratios = s.pools.ratios();
    let src = agent(s, from)?;
    let mut avoid = HashSet::new();
    let mut refused: Vec<String> = Vec::new();
    loop {
        let pool = match to {
            Some(t) => loads.iter().filter(|l| l.name == t).cloned().collect(),
            None => candidates(&loads, from, &avoid),
        };
        if pool.is_empty() && !refused.is_empty() {
            return Err(StepOutcome::Fail(format!(
                "cannot move {vm} ({demand}) off host {from}: the agent of {from} refused every \
                 other host with room: {}",
                refused.join("; ")
            )));
        }
        let dest = match placement::place(demand, &pool, &HashSet::new(), &ratios) {
            Ok(d) => d,
            Err(e) => {
                let also = if refused.is_empty() {
                    String::new()
                } else {
                    format!("; refused by the agent of {from}: {}", refused.join("; "))
                };
                let onto = to.map(|t| format!(" onto host {t}")).unwrap_or_default();
                return Err(StepOutcome::Fail(format!(
                    "cannot move {vm} ({demand}) off host {from}{onto}: {e}{also}"
                )));
            }
        };
        let name = agent_name_of(s, &dest)?;
        let why = match src.check_migration(vm, &name).await {
            Ok(c) if c.migratable => return Ok(dest),
            Ok(c) => c
                .reason
                .unwrap_or_else(|| format!("it says {vm} cannot move to {name}")),
            Err(e) if e.is_transient() => {
                return Err(agent_error(&format!("checking the move of {vm}"), e))
            }
            Err(e @ VniError::NoVm { .. }) => {
                return Err(StepOutcome::Fail(format!("{e} (it moved meanwhile?)")))
            }
            Err(e) => e.to_string(),
        };
        if to.is_some() {
            return Err(StepOutcome::Fail(format!(
                "{vm} cannot move from host {from} to host {dest}: {why}"
            )));
        }
        refused.push(format!("{dest}: {why}"));
        avoid.insert(dest);
    }
}

/// The agent's migration job, as stored in step data.
fn job_ref(path: &CimInstanceName) -> Value {
    json!({
        "class": path.class_name.as_str(),
        "id": path.key_str("InstanceID").unwrap_or_default(),
    })
}

fn job_path(v: &Value) -> Option<CimInstanceName> {
    let class = v.get("class")?.as_str()?;
    let id = v.get("id")?.as_str()?;
    Some(
        CimInstanceName::new(class)
            .with_key("InstanceID", id)
            .with_namespace(VIRT_NS),
    )
}

/// How a started move stands.
pub(crate) enum Started {
    /// The VM is on the destination already.
    There,
    /// The agent's job to follow (`Null` when the agent finished at once).
    Job(Value),
}

/// Starts moving `vm` from `from` to `to`, after looking where it is.
pub(crate) async fn start_move(
    s: &Services,
    vm: &str,
    from: &str,
    to: &str,
) -> Result<Started, StepOutcome> {
    let on_from = vm_on(s, from, vm).await?.is_some();
    let on_to = vm_on(s, to, vm).await?.is_some();
    match (on_from, on_to) {
        (false, true) => return Ok(Started::There),
        // A live migration in flight shows the VM on both, or (test
        // driver, offline move) for a moment on neither: look again soon.
        (true, true) => {
            return Err(StepOutcome::Retry(format!(
                "{vm} is on both host {from} and host {to}: a migration is in flight"
            )))
        }
        (false, false) => {
            return Err(StepOutcome::Retry(format!(
                "{vm} is on neither host {from} nor host {to}: a migration may be in flight"
            )))
        }
        (true, false) => {}
    }
    let name = agent_name_of(s, to)?;
    match agent(s, from)?.start_migration(vm, &name).await {
        Ok(Some(path)) => Ok(Started::Job(job_ref(&path))),
        Ok(None) => Ok(Started::Job(Value::Null)),
        // The agent still holds the VM for a migration started before a
        // manager restart: wait for it to end.
        Err(e) if busy(&e) => Err(StepOutcome::Retry(format!(
            "host {from} is still busy with {vm}: {e}"
        ))),
        Err(e) => Err(agent_error(
            &format!("moving {vm} from host {from} to host {to}"),
            e,
        )),
    }
}

fn busy(e: &VniError) -> bool {
    e.cim_status() == Some(CimStatus::Failed) && e.to_string().contains("busy")
}

/// How a followed move stands.
pub(crate) enum Followed {
    /// The agent's job is at this percentage.
    Running(u16),
    /// The VM is on the destination.
    Done,
}

/// Follows the agent's job for up to [`FOLLOW_SLICE`]; when it has ended,
/// checks where the VM is.
pub(crate) async fn follow_move(
    s: &Services,
    vm: &str,
    from: &str,
    to: &str,
    job: Option<&Value>,
    started_at: Option<UnixMillis>,
) -> Result<Followed, StepOutcome> {
    if let Some(path) = job.and_then(job_path) {
        let src = agent(s, from)?;
        let until = tokio::time::Instant::now() + FOLLOW_SLICE;
        loop {
            let j = match src.job(&path).await {
                Ok(j) => j,
                Err(e) if e.is_transient() => {
                    return Err(agent_error(&format!("following the move of {vm}"), e))
                }
                // Gone (the agent restarted, or kept it past its expiry):
                // where the VM is tells how it ended.
                Err(_) => break,
            };
            if j.is_finished() {
                if j.state != 7 {
                    let error = j
                        .error
                        .or(j.status)
                        .unwrap_or_else(|| format!("job state {}", j.state));
                    return Err(StepOutcome::Fail(format!(
                        "moving {vm} from host {from} to host {to} failed: {error}"
                    )));
                }
                break;
            }
            let late =
                started_at.is_some_and(|t| now_ms().saturating_sub(t) > MIGRATION_DEADLINE_MS);
            if late {
                return Err(StepOutcome::Fail(format!(
                    "moving {vm} from host {from} to host {to} did not finish in {} minutes; \
                     the agent's job {} is still at {}%",
                    MIGRATION_DEADLINE_MS / 60_000,
                    path.key_str("InstanceID").unwrap_or_default(),
                    j.percent
                )));
            }
            if tokio::time::Instant::now() >= until {
                return Ok(Followed::Running(j.percent));
            }
            tokio::time::sleep(src.poll).await;
        }
    }
    let on_from = vm_on(s, from, vm).await?.is_some();
    let on_to = vm_on(s, to, vm).await?.is_some();
    match (on_from, on_to) {
        (false, true) => Ok(Followed::Done),
        (true, false) => Err(StepOutcome::Fail(format!(
            "the move of {vm} to host {to} ended but {vm} is still on host {from}"
        ))),
        (true, true) => Err(StepOutcome::Retry(format!(
            "{vm} is on both host {from} and host {to} after its move ended"
        ))),
        (false, false) => Err(StepOutcome::Fail(format!(
            "the move of {vm} from host {from} to host {to} ended but neither host has it; \
             the agents' logs say where its definition went"
        ))),
    }
}

/// Progress of a move's `follow` within `lo..hi`.
pub(crate) fn scaled(percent: u16, lo: u8, hi: u8) -> u8 {
    let span = u32::from(hi.saturating_sub(lo));
    lo + (span * u32::from(percent.min(100)) / 100) as u8
}

pub(crate) struct Migrate;

#[async_trait]
impl Step for Migrate {
    fn kind(&self) -> &'static str {
        VM_MIGRATE
    }

    fn subject(&self, job: &JobRecord) -> String {
        params::<MigrateVm>(job).map(|p| p.vm).unwrap_or_default()
    }

    async fn run(&self, s: &Services, _ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let p: MigrateVm = match params(job) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let r = match job.step.as_str() {
            FIRST_STEP => plan(s, &p).await,
            "migrate" => migrate(s, job, &p).await,
            "follow" => follow(s, job, &p).await,
            "sync" => sync(s, job, &p).await,
            other => Err(StepOutcome::Fail(format!("vm.migrate has no step {other}"))),
        };
        r.unwrap_or_else(|o| o)
    }
}

type Out = Result<StepOutcome, StepOutcome>;

async fn plan(s: &Services, p: &MigrateVm) -> Out {
    let vm = &p.vm;
    let (from, v) = locate(s, vm)
        .await?
        .ok_or_else(|| StepOutcome::Fail(format!("no host has a VM named {vm}")))?;
    if p.to.as_deref() == Some(from.as_str()) {
        return Err(StepOutcome::Fail(format!("{vm} is already on host {from}")));
    }
    let to = choose_dest(s, &v, &from, p.to.as_deref()).await?;
    Ok(next_with(
        "migrate",
        10,
        format!("moving {vm} from host {from} to host {to}"),
        data([("from", json!(from)), ("to", json!(to))]),
    ))
}

async fn migrate(s: &Services, job: &JobRecord, p: &MigrateVm) -> Out {
    let (from, to) = (need_str(job, "from")?, need_str(job, "to")?);
    Ok(match start_move(s, &p.vm, from, to).await? {
        Started::There => next(
            "sync",
            90,
            format!(
                "{} is on host {to} already (step ran before a restart)",
                p.vm
            ),
        ),
        Started::Job(j) => next_with(
            "follow",
            20,
            format!("the agent of {from} is moving {}", p.vm),
            data([("agent_job", j), ("started_at", json!(now_ms()))]),
        ),
    })
}

async fn follow(s: &Services, job: &JobRecord, p: &MigrateVm) -> Out {
    let (from, to) = (need_str(job, "from")?, need_str(job, "to")?);
    let started = job.data.get("started_at").and_then(Value::as_u64);
    Ok(
        match follow_move(s, &p.vm, from, to, job.data.get("agent_job"), started).await? {
            Followed::Running(pct) => next(
                "follow",
                scaled(pct, 20, 90),
                format!("moving {}: {pct}%", p.vm),
            ),
            Followed::Done => next("sync", 90, format!("{} is on host {to}", p.vm)),
        },
    )
}

async fn sync(s: &Services, job: &JobRecord, p: &MigrateVm) -> Out {
    let (from, to) = (need_str(job, "from")?, need_str(job, "to")?);
    resync(s, from).await?;
    resync(s, to).await?;
    Ok(StepOutcome::Done(
        json!({"vm": p.vm, "from": from, "to": to}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_scales_into_its_band() {
        assert_eq!(scaled(0, 20, 90), 20);
        assert_eq!(scaled(50, 20, 90), 55);
        assert_eq!(scaled(100, 20, 90), 90);
        assert_eq!(scaled(400, 20, 90), 90);
    }

    #[test]
    fn agent_jobs_round_trip_through_step_data() {
        let p = CimInstanceName::new("KVM_ConcreteJob")
            .with_key("InstanceID", "KVM:Job:1-2")
            .with_namespace(VIRT_NS);
        let back = job_path(&job_ref(&p)).unwrap();
        assert!(back.same_object(&p), "{back:?}");
        assert!(job_path(&Value::Null).is_none());
    }

    #[test]
    fn candidates_leave_out_the_source_and_refusals() {
        let l = |n: &str| HostLoad {
            name: n.into(),
            capacity: Resources::new(8, 8192),
            allocated: Resources::default(),
            healthy: true,
            maintenance: false,
        };
        let loads = [l("a"), l("b"), l("c")];
        let avoid: HashSet<String> = ["c".to_string()].into();
        let names: Vec<String> = candidates(&loads, "a", &avoid)
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(names, ["b"]);
    }
}
