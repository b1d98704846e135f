//! `vm.create`: place, define, start, record.
//!
//! 1. `start` — admission and placement through the pools, which hold the
//!    room until step 4; the chosen host is stored in the job's data.
//! 2. `define` — DefineSystem on that host's agent, unless the VM is
//!    already there (the step ran before a restart).
//! 3. `power_on` — RequestStateChange(start) unless it runs already, or
//!    skipped when `start` is false.
//! 4. `sync` — reread the host into the inventory, release the held room.

use async_trait::async_trait;
use serde_json::json;
use std::collections::HashSet;

use crate::jobs::{JobContext, JobRecord, StepOutcome, FIRST_STEP};
use crate::placement::Resources;
use crate::vni::{RequestedState, VmState};

use super::super::params::{CreateVm, VM_CREATE};
use super::super::Services;
use super::steps::{
    agent, agent_error, data, inventory_error, need_str, next, next_with, params, pool_error,
    resync, vm_on, Step,
};

pub(crate) struct Create;

/// What a template asks of a host.
pub(crate) fn demand(p: &CreateVm) -> Resources {
    Resources::new(u64::from(p.template.vcpus), p.template.memory_mib)
}

#[async_trait]
impl Step for Create {
    fn kind(&self) -> &'static str {
        VM_CREATE
    }

    fn subject(&self, job: &JobRecord) -> String {
        params::<CreateVm>(job)
            .map(|p| p.template.name)
            .unwrap_or_default()
    }

    async fn run(&self, s: &Services, _ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let p: CreateVm = match params(job) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let r = match job.step.as_str() {
            FIRST_STEP => place(s, &p).await,
            "define" => define(s, job, &p).await,
            "power_on" => power_on(s, job, &p).await,
            "sync" => sync(s, job, &p).await,
            other => Err(StepOutcome::Fail(format!("vm.create has no step {other}"))),
        };
        r.unwrap_or_else(|o| o)
    }

    async fn failed(&self, s: &Services, job: &JobRecord) {
        let Ok(p) = params::<CreateVm>(job) else {
            return;
        };
        let vm = &p.template.name;
        s.pools.settle(vm);
        // A VM that never got defined must not stay in its service pool;
        // one that did (and failed to start) is real and stays.
        if let Some(host) = job.data.get("host").and_then(|h| h.as_str()) {
            let _ = s.inventory.resync_host(host).await;
        }
        if matches!(s.inventory.find_vm(vm), Ok(None)) {
            if let Err(e) = s.pools.remove_member(vm) {
                tracing::warn!(vm, error = %e, "cannot drop a failed VM from its pool");
            }
        }
    }
}

type Out = Result<StepOutcome, StepOutcome>;

async fn place(s: &Services, p: &CreateVm) -> Out {
    let vm = &p.template.name;
    if let Some(v) = s
        .inventory
        .find_vm(vm)
        .map_err(|e| inventory_error("reading the inventory", e))?
    {
        return Err(StepOutcome::Fail(format!(
            "a VM named {vm} already exists on host {}",
            v.host
        )));
    }
    let host = s
        .pools
        .reserve(
            vm,
            p.pool.as_deref(),
            demand(p),
            p.host.as_deref(),
            &HashSet::new(),
        )
        .map_err(|e| pool_error(&format!("placing {vm}"), e))?;
    Ok(next_with(
        "define",
        20,
        format!("placed {vm} on host {host}"),
        data([("host", json!(host))]),
    ))
}

async fn define(s: &Services, job: &JobRecord, p: &CreateVm) -> Out {
    let vm = &p.template.name;
    let host = need_str(job, "host")?;
    let then = if p.start { "power_on" } else { "sync" };
    if vm_on(s, host, vm).await?.is_some() {
        return Ok(next(
            then,
            50,
            format!("{vm} is already defined on {host} (step ran before a restart)"),
        ));
    }
    agent(s, host)?
        .define_vm(&p.template)
        .await
        .map_err(|e| agent_error(&format!("defining {vm} on host {host}"), e))?;
    Ok(next(then, 50, format!("defined {vm} on host {host}")))
}

async fn power_on(s: &Services, job: &JobRecord, p: &CreateVm) -> Out {
    let vm = &p.template.name;
    let host = need_str(job, "host")?;
    match vm_on(s, host, vm).await? {
        None => Err(StepOutcome::Fail(format!(
            "{vm} was defined on host {host} but is not there any more"
        ))),
        Some(v) if v.state == VmState::Running => {
            Ok(next("sync", 80, format!("{vm} is already running")))
        }
        Some(_) => {
            agent(s, host)?
                .request_state(vm, RequestedState::Start)
                .await
                .map_err(|e| {
                    agent_error(&format!("starting {vm} on host {host} (it is defined)"), e)
                })?;
            Ok(next("sync", 80, format!("started {vm}")))
        }
    }
}

async fn sync(s: &Services, job: &JobRecord, p: &CreateVm) -> Out {
    let vm = &p.template.name;
    let host = need_str(job, "host")?;
    resync(s, host).await?;
    s.pools.settle(vm);
    let state = s
        .inventory
        .find_vm(vm)
        .ok()
        .flatten()
        .map(|v| v.state.as_str())
        .unwrap_or_else(|| "unknown".into());
    Ok(StepOutcome::Done(
        json!({"vm": vm, "host": host, "state": state}),
    ))
}
