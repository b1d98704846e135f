//! `host.power`: powering a host off through its agent, or on by
//! Wake-on-LAN or a BMC command.
//!
//! Off:
//! 1. `start` — the host is marked Stopping (nothing is placed on it from
//!    now) and its agent is asked (DSP1027 RequestPowerStateChange, Off -
//!    Soft Graceful). The agent refuses when guests run or it has no
//!    power-off command; the job then fails with its reason and the host
//!    is On again.
//! 2. `wait_off` — the agent runs its command just after answering; the
//!    job polls until the agent stops answering, then marks the host Off.
//!    Still answering after the power timeout fails the job.
//!
//! On:
//! 1. `start` — the host is marked Starting and woken: a magic packet to
//!    its MAC, or the manager's power-on command.
//! 2. `wait_up` — the job resyncs the host until its agent answers (the
//!    magic packet is sent again every 30 s: UDP is lost), then marks it
//!    On. No answer within the power timeout fails the job; the host is
//!    Off again.
//!
//! Submitting checks what can be checked at once: the host's power now,
//! that no guest runs on it (as the inventory has it; the agent checks
//! again), that its agent can power off, that there is a way to wake it.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};
use vine_cim::CimStatus;

use crate::inventory::{HostPower, HostRecord};
use crate::jobs::{JobContext, JobHandler, JobId, JobRecord, StepOutcome, FIRST_STEP};
use crate::power::{parse_mac, run_on_command, send_magic_packet};
use crate::vni::VmState;

use super::params::{HostPowerState, PowerHost, HOST_DRAIN, HOST_POWER};
use super::vm::check_name;
use super::vm::steps::{
    agent, data, interrupted, inventory_error, next_with, now_ms, params, Step, Tracked,
};
use super::{Coordinator, OpsError, Result, Services};

/// How often a waking host gets its magic packet again.
const WOL_REPEAT: Duration = Duration::from_secs(30);

/// The handler of `host.power`.
pub(crate) fn handlers(s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    vec![Tracked::handler(Power, s)]
}

/// Why `host` cannot be asked to power off now, if it cannot.
fn refuse_off(h: &HostRecord, running: &[String]) -> Option<OpsError> {
    if h.power != HostPower::On {
        return Some(OpsError::Conflict(format!(
            "host {} is {:?} already",
            h.name, h.power
        )));
    }
    if h.health != crate::inventory::HostHealth::Up {
        return Some(OpsError::Conflict(format!(
            "host {}'s agent is not answering ({:?}): it cannot be asked to power off",
            h.name, h.health
        )));
    }
    if h.can_power_off == Some(false) {
        return Some(OpsError::Invalid(format!(
            "host {}'s agent cannot power it off: start it with --power-off-command CMD",
            h.name
        )));
    }
    if !running.is_empty() {
        return Some(OpsError::Conflict(format!(
            "{} VMs run on host {} ({}): move them first (vine host drain {})",
            running.len(),
            h.name,
            running.join(", "),
            h.name
        )));
    }
    None
}

/// Why `host` cannot be woken, if it cannot.
fn refuse_on(h: &HostRecord, have_command: bool) -> Option<OpsError> {
    if !matches!(h.power, HostPower::Off) {
        return Some(OpsError::Conflict(format!(
            "host {} is {:?}, not Off",
            h.name, h.power
        )));
    }
    if h.mac.is_none() && !have_command {
        return Some(OpsError::Invalid(format!(
            "host {} cannot be woken: it has no Wake-on-LAN MAC (its agent sends one when it \
             joins, or set one with PATCH /api/v1/hosts/{} {{\"mac\": \"…\"}}) and this manager \
             has no --power-on-command",
            h.name, h.name
        )));
    }
    None
}

impl Coordinator {
    /// Checks and submits `host.power`.
    pub fn power_host(
        &self,
        p: PowerHost,
        owner: Option<&str>,
        key: Option<String>,
    ) -> Result<JobId> {
        if let Some(id) = self.known_key(&key)? {
            return self.submit(HOST_POWER, &p, owner, Some(id));
        }
        check_name("host", &p.host)?;
        let s = &self.services;
        let h = s.inventory.host(&p.host)?;
        if let Some(j) = self
            .jobs
            .active_on(&format!("host:{}", p.host))
            .into_iter()
            .find(|j| j.kind == HOST_POWER || j.kind == HOST_DRAIN)
        {
            return Err(OpsError::Conflict(format!(
                "host {} is busy with job {} ({}); wait for it or cancel it",
                p.host, j.id, j.kind
            )));
        }
        let refusal = match p.state {
            HostPowerState::Off => {
                let running: Vec<String> = s
                    .inventory
                    .vms_on(&p.host)?
                    .into_iter()
                    .filter(|v| matches!(v.state, VmState::Running | VmState::Paused))
                    .map(|v| v.name)
                    .collect();
                refuse_off(&h, &running)
            }
            HostPowerState::On => refuse_on(&h, s.power.on_command.is_some()),
        };
        if let Some(e) = refusal {
            return Err(e);
        }
        self.submit(HOST_POWER, &p, owner, key)
    }
}

struct Power;

type Out = std::result::Result<StepOutcome, StepOutcome>;

#[async_trait]
impl Step for Power {
    fn kind(&self) -> &'static str {
        HOST_POWER
    }

    fn subject(&self, job: &JobRecord) -> String {
        params::<PowerHost>(job).map(|p| p.host).unwrap_or_default()
    }

    fn touches(&self, job: &JobRecord) -> Vec<String> {
        vec![format!("host:{}", self.subject(job))]
    }

    async fn run(&self, s: &Services, _ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let p: PowerHost = match params(job) {
            Ok(p) => p,
            Err(o) => return o,
        };
        let host = p.host.as_str();
        let r = match (p.state, job.step.as_str()) {
            (HostPowerState::Off, FIRST_STEP) => request_off(s, job, host).await,
            (HostPowerState::Off, "wait_off") => wait_off(s, job, host).await,
            (HostPowerState::On, FIRST_STEP) => wake(s, host).await,
            (HostPowerState::On, "wait_up") => wait_up(s, job, host).await,
            (_, other) => Err(StepOutcome::Fail(format!("host.power has no step {other}"))),
        };
        r.unwrap_or_else(|o| o)
    }

    /// A power change that did not happen leaves the host as it was.
    async fn failed(&self, s: &Services, job: &JobRecord) {
        let Ok(p) = params::<PowerHost>(job) else {
            return;
        };
        let back = match (p.state, s.inventory.host(&p.host).map(|h| h.power)) {
            (HostPowerState::Off, Ok(HostPower::Stopping)) => HostPower::On,
            (HostPowerState::On, Ok(HostPower::Starting)) => HostPower::Off,
            _ => return,
        };
        if let Err(e) = s.inventory.set_power(&p.host, back) {
            tracing::warn!(host = p.host, error = %e, "cannot record the host's power after a failed power change");
        }
    }
}

fn set_power(
    s: &Services,
    host: &str,
    power: HostPower,
) -> std::result::Result<HostRecord, StepOutcome> {
    s.inventory
        .set_power(host, power)
        .map_err(|e| inventory_error(&format!("recording host {host}'s power"), e))
}

fn elapsed_since(job: &JobRecord) -> Duration {
    let since = job
        .data
        .get("since")
        .and_then(Value::as_u64)
        .unwrap_or_else(now_ms);
    Duration::from_millis(now_ms().saturating_sub(since))
}

async fn request_off(s: &Services, job: &JobRecord, host: &str) -> Out {
    let going = |note: &str| {
        next_with(
            "wait_off",
            30,
            note.to_string(),
            data([("since", json!(now_ms()))]),
        )
    };
    // The request may have reached the agent before the manager stopped;
    // asking again would be refused as "under way". Watch instead.
    if interrupted(job) {
        return Ok(going(
            "the manager restarted after asking: watching the host go off",
        ));
    }
    set_power(s, host, HostPower::Stopping)?;
    let a = agent(s, host)?;
    match a.request_power_off().await {
        Ok(()) => Ok(going(&format!(
            "the agent of host {host} is powering it off"
        ))),
        Err(e) if e.is_transient() => Err(StepOutcome::Retry(format!(
            "asking host {host} to power off: {e}"
        ))),
        Err(e) => {
            if e.cim_status() == Some(CimStatus::NotSupported) {
                if let Err(x) = s.inventory.set_can_power_off(host, Some(false)) {
                    tracing::warn!(host, error = %x, "cannot record that the host does not power off");
                }
            }
            Err(StepOutcome::Fail(format!(
                "host {host} refused to power off: {e}"
            )))
        }
    }
}

async fn wait_off(s: &Services, job: &JobRecord, host: &str) -> Out {
    let a = agent(s, host)?;
    match a.host().await {
        Err(e) if e.is_transient() => {
            set_power(s, host, HostPower::Off)?;
            Ok(StepOutcome::Done(json!({"host": host, "power": "off"})))
        }
        _ => {
            let waited = elapsed_since(job);
            if waited > s.power.timeout {
                return Err(StepOutcome::Fail(format!(
                    "host {host} still answers {} s after accepting the power-off: check its \
                     agent's --power-off-command",
                    waited.as_secs()
                )));
            }
            tokio::time::sleep(s.power.poll).await;
            Ok(next_with(
                "wait_off",
                progress(waited, s.power.timeout),
                format!("waiting for host {host} to go off ({} s)", waited.as_secs()),
                data([]),
            ))
        }
    }
}

fn progress(waited: Duration, limit: Duration) -> u8 {
    let f = waited.as_secs_f64() / limit.as_secs_f64().max(1.0);
    (30.0 + 65.0 * f.min(1.0)) as u8
}

/// Wakes `host` once: its MAC's magic packet, or the power-on command.
async fn send_wake(s: &Services, h: &HostRecord) -> std::result::Result<String, StepOutcome> {
    if let Some(cmd) = &s.power.on_command {
        run_on_command(cmd, &h.name, h.mac.as_deref())
            .await
            .map_err(StepOutcome::Fail)?;
        return Ok("ran the power-on command".into());
    }
    let Some(mac) = &h.mac else {
        return Err(StepOutcome::Fail(format!(
            "host {} has no Wake-on-LAN MAC and this manager has no --power-on-command",
            h.name
        )));
    };
    let bytes = parse_mac(mac).map_err(StepOutcome::Fail)?;
    send_magic_packet(s.power.wol_target, &bytes).map_err(|e| {
        StepOutcome::Retry(format!(
            "sending the Wake-on-LAN packet to {}: {e}",
            s.power.wol_target
        ))
    })?;
    Ok(format!(
        "sent a Wake-on-LAN packet for {mac} to {}",
        s.power.wol_target
    ))
}

async fn wake(s: &Services, host: &str) -> Out {
    let h = s
        .inventory
        .host(host)
        .map_err(|e| inventory_error("reading the inventory", e))?;
    if h.power == HostPower::On {
        return Ok(StepOutcome::Done(json!({"host": host, "power": "on"})));
    }
    set_power(s, host, HostPower::Starting)?;
    let how = send_wake(s, &h).await?;
    tracing::info!(host, how, "waking a host");
    let now = json!(now_ms());
    Ok(next_with(
        "wait_up",
        30,
        format!("{how}; waiting for host {host}'s agent"),
        data([("since", now.clone()), ("woke_at", now)]),
    ))
}

async fn wait_up(s: &Services, job: &JobRecord, host: &str) -> Out {
    if s.inventory.resync_host(host).await.is_ok() {
        set_power(s, host, HostPower::On)?;
        return Ok(StepOutcome::Done(json!({"host": host, "power": "on"})));
    }
    let waited = elapsed_since(job);
    if waited > s.power.timeout {
        return Err(StepOutcome::Fail(format!(
            "host {host} did not answer within {} s of being woken: check its Wake-on-LAN \
             setting (or the --power-on-command) and its agent",
            waited.as_secs()
        )));
    }
    let mut extra = serde_json::Map::new();
    let woke = job.data.get("woke_at").and_then(Value::as_u64).unwrap_or(0);
    if s.power.on_command.is_none()
        && now_ms().saturating_sub(woke) >= WOL_REPEAT.as_millis() as u64
    {
        let h = s
            .inventory
            .host(host)
            .map_err(|e| inventory_error("reading the inventory", e))?;
        send_wake(s, &h).await?;
        extra.insert("woke_at".into(), json!(now_ms()));
    }
    tokio::time::sleep(s.power.poll).await;
    Ok(next_with(
        "wait_up",
        progress(waited, s.power.timeout),
        format!("waiting for host {host} to answer ({} s)", waited.as_secs()),
        extra,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::HostHealth;

    fn up(name: &str) -> HostRecord {
        let mut h = HostRecord::new(name, "http://127.0.0.1:1");
        h.health = HostHealth::Up;
        h
    }

    #[test]
    fn power_off_is_refused_with_what_to_do() {
        let h = up("a");
        assert!(refuse_off(&h, &[]).is_none());
        let e = refuse_off(&h, &["web-1".into(), "db".into()]).unwrap();
        assert!(
            matches!(&e, OpsError::Conflict(m) if m.contains("web-1, db") && m.contains("vine host drain a")),
            "{e}"
        );
        let mut no_cmd = up("a");
        no_cmd.can_power_off = Some(false);
        let e = refuse_off(&no_cmd, &[]).unwrap();
        assert!(
            matches!(&e, OpsError::Invalid(m) if m.contains("--power-off-command")),
            "{e}"
        );
        let mut off = up("a");
        off.power = HostPower::Off;
        assert!(
            matches!(refuse_off(&off, &[]), Some(OpsError::Conflict(m)) if m.contains("Off already"))
        );
        let mut silent = up("a");
        silent.health = HostHealth::Unreachable;
        assert!(
            matches!(refuse_off(&silent, &[]), Some(OpsError::Conflict(m)) if m.contains("not answering"))
        );
    }

    #[test]
    fn power_on_needs_an_off_host_and_a_way_to_wake_it() {
        let mut h = up("a");
        assert!(
            matches!(refuse_on(&h, false), Some(OpsError::Conflict(m)) if m.contains("not Off"))
        );
        h.power = HostPower::Off;
        let e = refuse_on(&h, false).unwrap();
        assert!(
            matches!(&e, OpsError::Invalid(m) if m.contains("MAC") && m.contains("--power-on-command")),
            "{e}"
        );
        assert!(refuse_on(&h, true).is_none());
        h.mac = Some("52:54:00:00:00:01".into());
        assert!(refuse_on(&h, false).is_none());
    }
}
