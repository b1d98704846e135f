//! `vm.delete`: stop, destroy, forget.
//!
//! 1. `start` — find the VM; force it off if it runs, then DestroySystem.
//!    A VM no host has any more was destroyed already (the step ran before
//!    a restart) and is only forgotten.
//! 2. `forget` — drop it from its service pool and reread its host.

use async_trait::async_trait;
use serde_json::{json, Value};

use crate::jobs::{JobContext, JobRecord, StepOutcome, FIRST_STEP};
use crate::vni::{RequestedState, VmState, VniError};

use super::super::params::{DeleteVm, VM_DELETE};
use super::super::Services;
use super::steps::{
    agent, agent_error, data, data_str, inventory_error, locate, next_with, params, pool_error,
    resync, Step,
};

pub(crate) struct Delete;

#[async_trait]
impl Step for Delete {
    fn kind(&self) -> &'static str {
        VM_DELETE
    }

    fn subject(&self, job: &JobRecord) -> String {
        params::<DeleteVm>(job).map(|p| p.vm).unwrap_or_default()
    }

    async fn run(&self, s: &Services, _ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let p: DeleteVm = match params(job) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let r = match job.step.as_str() {
            FIRST_STEP => destroy(s, &p.vm).await,
            "forget" => forget(s, job, &p.vm).await,
            other => Err(StepOutcome::Fail(format!("vm.delete has no step {other}"))),
        };
        r.unwrap_or_else(|o| o)
    }
}

type Out = Result<StepOutcome, StepOutcome>;

/// An agent saying the VM is not there means it is gone: that is the goal.
fn gone_is_fine(e: VniError, what: &str) -> Result<(), StepOutcome> {
    match e {
        VniError::NoVm { .. } => Ok(()),
        e => Err(agent_error(what, e)),
    }
}

async fn destroy(s: &Services, vm: &str) -> Out {
    let Some((host, v)) = locate(s, vm).await? else {
        let host = s
            .inventory
            .find_vm(vm)
            .map_err(|e| inventory_error("reading the inventory", e))?
            .map(|r| r.host);
        return Ok(next_with(
            "forget",
            70,
            format!("no host has {vm} (destroyed before a restart?)"),
            data([("host", json!(host))]),
        ));
    };
    let a = agent(s, &host)?;
    if v.state != VmState::Stopped {
        if let Err(e) = a.request_state(vm, RequestedState::Stop).await {
            gone_is_fine(e, &format!("stopping {vm} on host {host}"))?;
        }
    }
    if let Err(e) = a.destroy_vm(vm).await {
        gone_is_fine(e, &format!("destroying {vm} on host {host}"))?;
    }
    Ok(next_with(
        "forget",
        70,
        format!("destroyed {vm} on host {host}"),
        data([("host", json!(host))]),
    ))
}

async fn forget(s: &Services, job: &JobRecord, vm: &str) -> Out {
    s.pools
        .remove_member(vm)
        .map_err(|e| pool_error(&format!("dropping {vm} from its pool"), e))?;
    let host = data_str(job, "host");
    if let Some(h) = host {
        resync(s, h).await?;
    }
    Ok(StepOutcome::Done(json!({
        "vm": vm,
        "host": host.map(Value::from).unwrap_or(Value::Null),
    })))
}
