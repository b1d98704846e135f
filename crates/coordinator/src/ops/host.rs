//! Host jobs: drain (move every VM away).
//!
//! `host.drain` moves the host's VMs one at a time, each to a host chosen
//! by placement (as `vm.migrate` without a destination):
//!
//! 1. `start` — count the host's VMs (asking its agent).
//! 2. `pick` — the first VM still on the host (by name) and where it goes;
//!    none left ends the job. A VM that fits nowhere fails the job, naming
//!    it; the VMs moved so far stay moved.
//! 3. `move`, `follow` — as `vm.migrate`'s `migrate` and `follow`.
//! 4. `moved` — reread both hosts, note the move, back to `pick`.
//!
//! Progress is the share of VMs moved. Submitting checks first that every
//! VM has somewhere to go (see [`plan_drain`]), so a drain that cannot
//! finish is refused before it starts.
//!
//! A drain puts its host in maintenance first — at submit, and again in
//! `start` (desired state stored before acting) — so nothing new lands on
//! it meanwhile, and leaves it there: the host is empty for a reason, and
//! `vine host maintenance NAME off` (PATCH /api/v1/hosts/NAME) opens it.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::jobs::{JobContext, JobHandler, JobId, JobRecord, StepOutcome, FIRST_STEP};
use crate::placement::{self, HostLoad, Overcommit, Resources};
use crate::vni::VmView;

use super::params::{DrainHost, HOST_DRAIN};
use super::vm::migrate::{
    candidates, choose_dest, follow_move, scaled, start_move, Followed, Started,
};
use super::vm::steps::{
    agent, agent_error, data, inventory_error, need_str, next, next_with, now_ms, params, resync,
    Step, Tracked,
};
use super::vm::{busy_with, check_name};
use super::{Coordinator, OpsError, Result, Services};

/// The handlers of the `host.*` kinds.
pub(crate) fn handlers(s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    vec![Tracked::handler(Drain, s)]
}

/// Where each VM of a drained host would go, in order, each placement
/// counted before the next; or the first VM that fits nowhere, with why.
/// Pure: the loads of the other hosts in, a plan out.
pub fn plan_drain(
    vms: &[(String, Resources)],
    loads: &[HostLoad],
    from: &str,
    ratios: &Overcommit,
) -> std::result::Result<Vec<(String, String)>, String> {
    let mut loads: Vec<HostLoad> = candidates(loads, from, &HashSet::new());
    let mut plan = Vec::with_capacity(vms.len());
    for (vm, demand) in vms {
        match placement::place(*demand, &loads, &HashSet::new(), ratios) {
            Ok(dest) => {
                if let Some(l) = loads.iter_mut().find(|l| l.name == dest) {
                    l.allocated = l.allocated.add(*demand);
                }
                plan.push((vm.clone(), dest));
            }
            Err(e) => {
                return Err(format!(
                    "cannot drain host {from}: VM {vm} ({demand}) has nowhere to go: {e}"
                ))
            }
        }
    }
    Ok(plan)
}

impl Coordinator {
    /// Turns `host`'s maintenance flag on or off, replaces its labels
    /// and/or sets its Wake-on-LAN MAC (`""` clears it): what `PATCH
    /// /api/v1/hosts/{name}` does. Everything is checked before anything
    /// changes; the host as stored after.
    pub fn update_host(
        &self,
        host: &str,
        maintenance: Option<bool>,
        labels: Option<std::collections::BTreeMap<String, String>>,
        mac: Option<String>,
    ) -> Result<crate::inventory::HostRecord> {
        let inv = &self.services.inventory;
        let mut rec = inv.host(host)?;
        if let Some(l) = &labels {
            for (k, v) in l {
                check_label(k, v)?;
            }
        }
        let mac = match mac.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(m) => Some(Some(crate::power::format_mac(
                &crate::power::parse_mac(m).map_err(OpsError::Invalid)?,
            ))),
        };
        if let Some(m) = mac {
            rec = inv.set_mac(host, m)?;
        }
        if let Some(on) = maintenance {
            rec = inv.set_maintenance(host, on)?;
        }
        if let Some(l) = labels {
            rec = inv.set_labels(host, l)?;
        }
        Ok(rec)
    }

    /// Checks and submits `host.drain`: the host must exist, have no drain
    /// running, and every VM on it must fit somewhere else.
    pub fn drain_host(
        &self,
        p: DrainHost,
        owner: Option<&str>,
        key: Option<String>,
    ) -> Result<JobId> {
        if let Some(id) = self.known_key(&key)? {
            return self.submit(HOST_DRAIN, &p, owner, Some(id));
        }
        check_name("host", &p.host)?;
        let s = &self.services;
        s.inventory.host(&p.host)?;
        if let Some(j) = self
            .jobs
            .active_on(&format!("host:{}", p.host))
            .into_iter()
            .find(|j| j.kind == HOST_DRAIN)
        {
            return Err(OpsError::Conflict(format!(
                "host {} is being drained already by job {}",
                p.host, j.id
            )));
        }
        let mut vms: Vec<(String, Resources)> = s
            .inventory
            .vms_on(&p.host)?
            .into_iter()
            .map(|v| {
                let r = Resources::new(u64::from(v.vcpus.unwrap_or(0)), v.memory_mib.unwrap_or(0));
                (v.name, r)
            })
            .collect();
        vms.sort_by(|a, b| a.0.cmp(&b.0));
        for (vm, _) in &vms {
            if let Some(j) = busy_with(self, vm)? {
                return Err(OpsError::Conflict(format!(
                    "VM {vm} on host {} is busy with job {} ({}); wait for it or cancel it",
                    p.host, j.id, j.kind
                )));
            }
        }
        plan_drain(&vms, &s.pools.host_loads()?, &p.host, &s.pools.ratios())
            .map_err(OpsError::NoRoom)?;
        s.inventory.set_maintenance(&p.host, true)?;
        self.submit(HOST_DRAIN, &p, owner, key)
    }
}

/// Label keys as Kubernetes-style names (`rack`, `example.com/gpu`),
/// values short and printable: they show in tables and match in policies.
fn check_label(k: &str, v: &str) -> Result<()> {
    let key_ok = !k.is_empty()
        && k.len() <= 63
        && k.starts_with(|c: char| c.is_ascii_alphanumeric())
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if !key_ok {
        return Err(OpsError::Invalid(format!(
            "label key `{k}` is not allowed: use 1-63 letters, digits, `-`, `_`, `.` or `/`, \
             starting with a letter or digit"
        )));
    }
    if v.len() > 63 || v.chars().any(char::is_control) {
        return Err(OpsError::Invalid(format!(
            "label {k}: the value is not allowed: at most 63 characters, no control characters"
        )));
    }
    Ok(())
}

struct Drain;

#[async_trait]
impl Step for Drain {
    fn kind(&self) -> &'static str {
        HOST_DRAIN
    }

    fn subject(&self, job: &JobRecord) -> String {
        params::<DrainHost>(job).map(|p| p.host).unwrap_or_default()
    }

    /// The host, and the VM it is moving now.
    fn touches(&self, job: &JobRecord) -> Vec<String> {
        let mut t = vec![format!("host:{}", self.subject(job))];
        if let Some(vm) = job.data.get("vm").and_then(Value::as_str) {
            t.push(format!("vm:{vm}"));
        }
        t
    }

    async fn run(&self, s: &Services, _ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let p: DrainHost = match params(job) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let host = p.host.as_str();
        let r = match job.step.as_str() {
            FIRST_STEP => count(s, host).await,
            "pick" => pick(s, job, host).await,
            "move" => start(s, job, host).await,
            "follow" => follow(s, job, host).await,
            "moved" => moved(s, job, host).await,
            other => Err(StepOutcome::Fail(format!("host.drain has no step {other}"))),
        };
        r.unwrap_or_else(|o| o)
    }
}

type Out = std::result::Result<StepOutcome, StepOutcome>;

async fn vms_of(s: &Services, host: &str) -> std::result::Result<Vec<VmView>, StepOutcome> {
    let mut vms = agent(s, host)?
        .vms()
        .await
        .map_err(|e| agent_error(&format!("listing the VMs of host {host}"), e))?;
    vms.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(vms)
}

async fn count(s: &Services, host: &str) -> Out {
    s.inventory
        .set_maintenance(host, true)
        .map_err(|e| inventory_error(&format!("putting host {host} in maintenance"), e))?;
    let n = vms_of(s, host).await?.len();
    Ok(next_with(
        "pick",
        2,
        format!("{n} VMs to move off host {host}"),
        data([("total", json!(n)), ("moved", json!([]))]),
    ))
}

fn moved_list(job: &JobRecord) -> Vec<Value> {
    job.data
        .get("moved")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The drain's progress once `done` VMs have moved and the current one is
/// `pct` % of the way.
fn drain_progress(job: &JobRecord, pct: u16) -> u8 {
    let total = job
        .data
        .get("total")
        .and_then(Value::as_u64)
        .unwrap_or(1)
        .max(1);
    let done = moved_list(job).len() as u64;
    let lo = (5 + 90 * done.min(total) / total) as u8;
    let hi = (5 + 90 * (done + 1).min(total) / total) as u8;
    scaled(pct, lo, hi)
}

async fn pick(s: &Services, job: &JobRecord, host: &str) -> Out {
    let vms = vms_of(s, host).await?;
    let Some(v) = vms.first() else {
        resync(s, host).await?;
        let moved = moved_list(job);
        return Ok(StepOutcome::Done(
            json!({"host": host, "moved": moved, "count": moved.len()}),
        ));
    };
    let to = choose_dest(s, v, host, None).await.map_err(|o| match o {
        StepOutcome::Fail(why) => StepOutcome::Fail(format!(
            "cannot drain host {host}: {why} ({} VMs moved before)",
            moved_list(job).len()
        )),
        other => other,
    })?;
    Ok(next_with(
        "move",
        drain_progress(job, 0),
        format!("moving {} to host {to}", v.name),
        data([
            ("vm", json!(v.name)),
            ("to", json!(to)),
            ("agent_job", Value::Null),
        ]),
    ))
}

async fn start(s: &Services, job: &JobRecord, host: &str) -> Out {
    let (vm, to) = (need_str(job, "vm")?, need_str(job, "to")?);
    Ok(match start_move(s, vm, host, to).await? {
        Started::There => next(
            "moved",
            drain_progress(job, 100),
            format!("{vm} is on {to}"),
        ),
        Started::Job(j) => next_with(
            "follow",
            drain_progress(job, 0),
            format!("the agent of {host} is moving {vm}"),
            data([("agent_job", j), ("started_at", json!(now_ms()))]),
        ),
    })
}

async fn follow(s: &Services, job: &JobRecord, host: &str) -> Out {
    let (vm, to) = (need_str(job, "vm")?, need_str(job, "to")?);
    let started = job.data.get("started_at").and_then(Value::as_u64);
    Ok(
        match follow_move(s, vm, host, to, job.data.get("agent_job"), started).await? {
            Followed::Running(pct) => next(
                "follow",
                drain_progress(job, pct),
                format!("moving {vm}: {pct}%"),
            ),
            Followed::Done => next(
                "moved",
                drain_progress(job, 100),
                format!("{vm} is on {to}"),
            ),
        },
    )
}

async fn moved(s: &Services, job: &JobRecord, host: &str) -> Out {
    let (vm, to) = (need_str(job, "vm")?, need_str(job, "to")?);
    resync(s, host).await?;
    resync(s, to).await?;
    let mut list = moved_list(job);
    // A re-run after a restart must not list the VM twice.
    if !list
        .iter()
        .any(|m| m.get("vm").and_then(Value::as_str) == Some(vm))
    {
        list.push(json!({"vm": vm, "to": to}));
    }
    let n = list.len();
    Ok(next_with(
        "pick",
        drain_progress(job, 100),
        format!("moved {vm} to host {to} ({n} so far)"),
        data([("moved", Value::Array(list))]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, cpus: u64, mem: u64, used_mem: u64) -> HostLoad {
        HostLoad {
            name: name.into(),
            capacity: Resources::new(cpus, mem),
            allocated: Resources::new(0, used_mem),
            healthy: true,
            maintenance: false,
        }
    }

    #[test]
    fn a_drain_plan_counts_each_placement_before_the_next() {
        let loads = [
            load("a", 8, 4096, 0),
            load("b", 8, 4096, 0),
            load("c", 8, 4096, 3072),
        ];
        let vms = [
            ("v1".to_string(), Resources::new(1, 2048)),
            ("v2".to_string(), Resources::new(1, 2048)),
        ];
        // b has the most room; v1 there leaves it 2048 MiB, still more than
        // c's 1024, so v2 goes there too.
        let plan = plan_drain(&vms, &loads, "a", &Overcommit::default()).unwrap();
        assert_eq!(
            plan,
            [
                ("v1".to_string(), "b".to_string()),
                ("v2".to_string(), "b".to_string())
            ]
        );
        let three = [
            ("v1".to_string(), Resources::new(1, 2048)),
            ("v2".to_string(), Resources::new(1, 2048)),
            ("v3".to_string(), Resources::new(1, 2048)),
        ];
        let err = plan_drain(&three, &loads, "a", &Overcommit::default()).unwrap_err();
        assert!(err.contains("VM v3") && err.contains("host a"), "{err}");
    }

    #[test]
    fn a_drain_never_plans_onto_the_drained_host() {
        let loads = [load("a", 64, 65536, 0), load("b", 1, 1024, 0)];
        let vms = [("v1".to_string(), Resources::new(1, 512))];
        let plan = plan_drain(&vms, &loads, "a", &Overcommit::default()).unwrap();
        assert_eq!(plan, [("v1".to_string(), "b".to_string())]);
    }
}
