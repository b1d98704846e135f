//! `vm.power` and `vm.resize`: one change on the VM's host, then the host
//! reread into the inventory.
//!
//! Both check the VM first and skip a change it already has (the step ran
//! before a restart). Reboot and reset cannot be checked afterwards, so an
//! interrupted one fails with "check and resubmit" instead of maybe
//! rebooting twice.

use async_trait::async_trait;
use serde_json::json;

use crate::jobs::{JobContext, JobRecord, StepOutcome, FIRST_STEP};
use crate::vni::{CpuAllocation, RequestedState, VmState};

use super::super::params::{PowerAction, PowerVm, ResizeVm, VM_POWER, VM_RESIZE};
use super::super::Services;
use super::steps::{
    agent, agent_error, data, interrupted, locate, need_str, next_with, params, resync, Step,
};

/// What a power action needs given the VM's state: nothing (it is there
/// already), one request, or a refusal saying why.
pub(crate) fn power_plan(
    action: PowerAction,
    state: VmState,
) -> Result<Option<RequestedState>, String> {
    use PowerAction as A;
    use VmState as S;
    let now = state.as_str();
    match (action, state) {
        (A::Start, S::Running) | (A::Resume, S::Running) => Ok(None),
        (A::Shutdown | A::Stop, S::Stopped) | (A::Pause, S::Paused) => Ok(None),
        // RequestStateChange 2 starts a stopped VM and resumes a paused one.
        (A::Start, S::Stopped | S::Paused) | (A::Resume, S::Paused) => {
            Ok(Some(RequestedState::Start))
        }
        (A::Shutdown, S::Running | S::Paused) => Ok(Some(RequestedState::Shutdown)),
        (A::Stop, _) => Ok(Some(RequestedState::Stop)),
        (A::Pause, S::Running) => Ok(Some(RequestedState::Pause)),
        (A::Reboot, S::Running) => Ok(Some(RequestedState::Reboot)),
        (A::Reset, S::Running | S::Paused) => Ok(Some(RequestedState::Reset)),
        (A::Pause | A::Resume | A::Reboot | A::Reset, S::Stopped) => Err(format!(
            "the VM is stopped; `start` it first ({} needs it running)",
            action_word(action)
        )),
        (_, S::ShuttingDown) => Err(
            "the VM is shutting down; wait until it is stopped, or `stop` it (force off)"
                .to_string(),
        ),
        (a, _) => Err(format!(
            "the VM is {now}; {} is not possible from there (`stop` forces it off)",
            action_word(a)
        )),
    }
}

fn action_word(a: PowerAction) -> &'static str {
    match a {
        PowerAction::Start => "start",
        PowerAction::Shutdown => "shutdown",
        PowerAction::Stop => "stop",
        PowerAction::Pause => "pause",
        PowerAction::Resume => "resume",
        PowerAction::Reboot => "reboot",
        PowerAction::Reset => "reset",
    }
}

type Out = Result<StepOutcome, StepOutcome>;

/// The VM's host and what it looks like there, or a failure naming it.
async fn find(s: &Services, vm: &str) -> Result<(String, crate::vni::VmView), StepOutcome> {
    locate(s, vm)
        .await?
        .ok_or_else(|| StepOutcome::Fail(format!("no host has a VM named {vm} any more")))
}

/// The shared `sync` step: reread the host, answer with the VM as seen.
async fn sync(s: &Services, job: &JobRecord, vm: &str) -> Out {
    let host = need_str(job, "host")?;
    resync(s, host).await?;
    let v = s.inventory.find_vm(vm).ok().flatten();
    Ok(StepOutcome::Done(json!({
        "vm": vm,
        "host": host,
        "state": v.as_ref().map(|v| v.state.as_str()),
        "vcpus": v.as_ref().and_then(|v| v.vcpus),
        "memory_mib": v.as_ref().and_then(|v| v.memory_mib),
    })))
}

pub(crate) struct Power;

#[async_trait]
impl Step for Power {
    fn kind(&self) -> &'static str {
        VM_POWER
    }

    fn subject(&self, job: &JobRecord) -> String {
        params::<PowerVm>(job).map(|p| p.vm).unwrap_or_default()
    }

    async fn run(&self, s: &Services, _ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let p: PowerVm = match params(job) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let r = match job.step.as_str() {
            FIRST_STEP => power(s, job, &p).await,
            "sync" => sync(s, job, &p.vm).await,
            other => Err(StepOutcome::Fail(format!("vm.power has no step {other}"))),
        };
        r.unwrap_or_else(|o| o)
    }
}

async fn power(s: &Services, job: &JobRecord, p: &PowerVm) -> Out {
    let vm = &p.vm;
    let word = action_word(p.action);
    let (host, v) = find(s, vm).await?;
    let req = power_plan(p.action, v.state)
        .map_err(|why| StepOutcome::Fail(format!("cannot {word} {vm}: {why}")))?;
    let note = match req {
        None => format!("{vm} is already {}", v.state.as_str()),
        Some(r) => {
            if matches!(r, RequestedState::Reboot | RequestedState::Reset) && interrupted(job) {
                return Err(StepOutcome::Fail(format!(
                    "the manager restarted during the {word} of {vm}, which may or may not have \
                     happened; check the VM and resubmit if needed"
                )));
            }
            agent(s, &host)?
                .request_state(vm, r)
                .await
                .map_err(|e| agent_error(&format!("{word} {vm} on host {host}"), e))?;
            format!("{word} {vm} on host {host}")
        }
    };
    Ok(next_with("sync", 70, note, data([("host", json!(host))])))
}

pub(crate) struct Resize;

#[async_trait]
impl Step for Resize {
    fn kind(&self) -> &'static str {
        VM_RESIZE
    }

    fn subject(&self, job: &JobRecord) -> String {
        params::<ResizeVm>(job).map(|p| p.vm).unwrap_or_default()
    }

    async fn run(&self, s: &Services, _ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let p: ResizeVm = match params(job) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let r = match job.step.as_str() {
            FIRST_STEP => resize(s, &p).await,
            "sync" => sync(s, job, &p.vm).await,
            other => Err(StepOutcome::Fail(format!("vm.resize has no step {other}"))),
        };
        r.unwrap_or_else(|o| o)
    }
}

async fn resize(s: &Services, p: &ResizeVm) -> Out {
    let vm = &p.vm;
    let (host, v) = find(s, vm).await?;
    // Only what differs is sent, so a re-run after a restart sends nothing.
    let vcpus = p.vcpus.filter(|&n| Some(n) != v.vcpus);
    let memory = p.memory_mib.filter(|&m| Some(m) != v.memory_mib);
    // Shares, limit and reservation are always sent (setting them twice
    // is harmless; the inventory does not keep them to compare).
    let cpu = CpuAllocation {
        shares: p.cpu_shares,
        limit_pct: p.cpu_limit_pct,
        reservation_pct: p.cpu_reservation_pct,
    };
    let note = if vcpus.is_none() && memory.is_none() && cpu.is_empty() {
        format!("{vm} already has that size")
    } else {
        agent(s, &host)?
            .resize_with_cpu(vm, vcpus, memory, cpu)
            .await
            .map_err(|e| agent_error(&format!("resizing {vm} on host {host}"), e))?;
        let said: Vec<String> = [
            cpu.shares.map(|w| format!("CPU shares {w}")),
            cpu.limit_pct.map(|l| format!("CPU limit {l}%")),
            cpu.reservation_pct.map(|r| format!("CPU reservation {r}%")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if said.is_empty() {
            format!("resized {vm} on host {host}")
        } else {
            format!("resized {vm} on host {host} ({})", said.join(", "))
        }
    };
    Ok(next_with("sync", 70, note, data([("host", json!(host))])))
}

#[cfg(test)]
mod tests {
    use super::*;
    use PowerAction as A;
    use VmState as S;

    #[test]
    fn actions_the_vm_has_done_are_skipped() {
        assert_eq!(power_plan(A::Start, S::Running), Ok(None));
        assert_eq!(power_plan(A::Resume, S::Running), Ok(None));
        assert_eq!(power_plan(A::Stop, S::Stopped), Ok(None));
        assert_eq!(power_plan(A::Shutdown, S::Stopped), Ok(None));
        assert_eq!(power_plan(A::Pause, S::Paused), Ok(None));
    }

    #[test]
    fn each_action_maps_to_its_request() {
        let r = |a, s| power_plan(a, s).unwrap();
        assert_eq!(r(A::Start, S::Stopped), Some(RequestedState::Start));
        assert_eq!(r(A::Resume, S::Paused), Some(RequestedState::Start));
        assert_eq!(r(A::Shutdown, S::Running), Some(RequestedState::Shutdown));
        assert_eq!(r(A::Stop, S::Paused), Some(RequestedState::Stop));
        assert_eq!(r(A::Stop, S::ShuttingDown), Some(RequestedState::Stop));
        assert_eq!(r(A::Pause, S::Running), Some(RequestedState::Pause));
        assert_eq!(r(A::Reboot, S::Running), Some(RequestedState::Reboot));
        assert_eq!(r(A::Reset, S::Paused), Some(RequestedState::Reset));
    }

    #[test]
    fn impossible_actions_say_what_to_do() {
        let e = power_plan(A::Pause, S::Stopped).unwrap_err();
        assert!(e.contains("stopped") && e.contains("start"), "{e}");
        let e = power_plan(A::Reboot, S::Paused).unwrap_err();
        assert!(e.contains("paused") && e.contains("reboot"), "{e}");
        let e = power_plan(A::Start, S::ShuttingDown).unwrap_err();
        assert!(e.contains("shutting down"), "{e}");
    }
}
