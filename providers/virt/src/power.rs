//! Power state management of the host (DSP1027): the manager powers an
//! idle host off through `<P>_PowerManagementService` and wakes it later
//! (Wake-on-LAN, manager side).
//!
//! 1. `<P>_PowerManagementService` (Name `PowerManagementService`) is
//!    hosted by `<P>_HostSystem`; `<P>_PowerManagementCapabilities` hangs
//!    off it by ElementCapabilities; `<P>_AssociatedPowerManagementService`
//!    links it to the host with the host's PowerState (2, On: an agent
//!    that answers runs on a host that is on), RequestedPowerState (0,
//!    Unknown, until a request is accepted) and the states it may be asked
//!    for.
//! 2. RequestPowerStateChange(2) has nothing to do. 8 (Off - Soft) and 12
//!    (Off - Soft Graceful) need the agent's `--power-off-command`
//!    ([`VirtContext::power_off_command`]) and a host where no guest is
//!    active; one request at a time.
//! 3. An accepted request answers 0 first; about a second later the
//!    command runs as `sh -c CMD` with VINE_HOST, VINE_POWER_STATE and
//!    VINE_AGENT_PID, so the answer reaches the manager even when the
//!    command stops the machine (or this agent) at once. A command that
//!    fails is logged and the host may be asked again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_wbem::provider::{
    param, InstanceProvider, MethodProvider, MethodResult, MethodTarget, RequestContext,
};
use vine_wbem::server::profiles::{ProfileSpec, ProfileTable};
use vine_wbem::server::Registry;

use crate::context::VirtContext;
use crate::paths::instance_id_path;
use crate::VIRT_NS;

/// Name of the power management service instance.
pub const SERVICE_NAME: &str = "PowerManagementService";
/// InstanceID of the power management capabilities.
pub const CAPS_ID: &str = "PowerManagementCapabilities";
/// InstanceID of the DSP1027 Power State Management profile.
pub const PROFILE_POWER_STATE: &str = "CIM:DSP1027-PowerStateManagement-2.0.0";

/// PowerState values (CIM_PowerManagementService.RequestPowerStateChange).
pub const ON: u16 = 2;
pub const OFF_SOFT: u16 = 8;
pub const OFF_SOFT_GRACEFUL: u16 = 12;
/// RequestedPowerState before any request was accepted.
pub const UNKNOWN: u16 = 0;

/// How long the command waits after the answer: long enough for the
/// answer to leave the agent.
pub const COMMAND_DELAY: Duration = Duration::from_secs(1);

/// What a valid request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// PowerState 2: the host is on already.
    StayOn,
    /// PowerState 8 or 12: run the command (once no guest runs).
    PowerOff(u16),
}

/// The power-off command and the state of requests: what the method
/// decides, kept apart from CIM and libvirt so it can be tested alone.
#[derive(Debug)]
pub struct PowerControl {
    command: Option<String>,
    inner: Mutex<Requests>,
}

#[derive(Debug)]
struct Requests {
    /// The last accepted RequestedPowerState (0 before any).
    requested: u16,
    /// A power-off was accepted and its command has not failed.
    under_way: bool,
}

impl PowerControl {
    pub fn new(command: Option<String>) -> Self {
        PowerControl {
            command: command.filter(|c| !c.trim().is_empty()),
            inner: Mutex::new(Requests {
                requested: UNKNOWN,
                under_way: false,
            }),
        }
    }

    /// The shell command run to power the host off.
    pub fn command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// AvailableRequestedPowerStates / PowerStatesSupported: the off
    /// states when there is a command, else none.
    pub fn available(&self) -> Vec<u16> {
        if self.command.is_some() {
            vec![OFF_SOFT, OFF_SOFT_GRACEFUL]
        } else {
            Vec::new()
        }
    }

    /// RequestedPowerState.
    pub fn requested(&self) -> u16 {
        self.lock().requested
    }

    /// Whether a power-off is under way.
    pub fn under_way(&self) -> bool {
        self.lock().under_way
    }

    /// Checks a request's parameters: `state` is PowerState, `element_ok`
    /// whether ManagedElement is absent or this host, `time_set` whether
    /// Time is given.
    pub fn decide(
        &self,
        state: Option<u16>,
        element_ok: bool,
        time_set: bool,
    ) -> CimResult<Decision> {
        let Some(state) = state else {
            return Err(CimError::invalid_parameter(
                "parameter PowerState is required (8 Off - Soft or 12 Off - Soft Graceful)",
            ));
        };
        if !element_ok {
            return Err(CimError::invalid_parameter(
                "ManagedElement is not this host: this service powers only its own host \
                 system; leave ManagedElement null or give the host's <P>_HostSystem path",
            ));
        }
        if time_set {
            return Err(CimError::not_supported(
                "scheduled power changes are not supported; leave Time null",
            ));
        }
        match state {
            ON => Ok(Decision::StayOn),
            OFF_SOFT | OFF_SOFT_GRACEFUL if self.command.is_none() => Err(CimError::not_supported(
                "this agent cannot power its host off: start it with --power-off-command CMD",
            )),
            OFF_SOFT | OFF_SOFT_GRACEFUL => Ok(Decision::PowerOff(state)),
            other => {
                let allowed = self.available();
                let allows = if allowed.is_empty() {
                    "none (the agent has no --power-off-command)".to_string()
                } else {
                    format!("{allowed:?} (8 Off - Soft, 12 Off - Soft Graceful)")
                };
                Err(CimError::invalid_parameter(format!(
                    "PowerState {other} is not supported: AvailableRequestedPowerStates allows \
                     {allows}, and 2 (On) is accepted as a no-op"
                )))
            }
        }
    }

    /// Claims the power-off: refused while another one is under way.
    pub fn begin(&self) -> CimResult<()> {
        let mut r = self.lock();
        if r.under_way {
            return Err(CimError::failed(
                "a power-off of this host is already under way",
            ));
        }
        r.under_way = true;
        Ok(())
    }

    /// The claim was refused after all (guests run): nothing changes.
    pub fn abandon(&self) {
        self.lock().under_way = false;
    }

    /// The request was accepted: RequestedPowerState becomes `state`.
    pub fn accepted(&self, state: u16) {
        self.lock().requested = state;
    }

    /// The command failed: a later request may try again.
    pub fn failed(&self) {
        let mut r = self.lock();
        r.under_way = false;
        r.requested = ON;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Requests> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Refuses a power-off while guests are active (running or paused):
/// powering off would kill them.
pub fn refuse_with_guests(active: &[String]) -> CimResult<()> {
    match active.len() {
        0 => Ok(()),
        1 => Err(CimError::failed(format!(
            "1 guest runs on this host ({}): move or stop it first",
            active[0]
        ))),
        n => Err(CimError::failed(format!(
            "{n} guests run on this host ({}): move or stop them first",
            active.join(", ")
        ))),
    }
}

pub fn service_path(ctx: &VirtContext) -> CimInstanceName {
    ctx.service_path("PowerManagementService", SERVICE_NAME)
}

pub fn caps_path(ctx: &VirtContext) -> CimInstanceName {
    instance_id_path(&ctx.class("PowerManagementCapabilities"), CAPS_ID)
}

fn service_instance(ctx: &VirtContext) -> CimInstance {
    crate::host::running_service(service_path(ctx), "Power management service")
}

fn caps_instance(ctx: &VirtContext, power: &PowerControl) -> CimInstance {
    let path = caps_path(ctx);
    // 3 Power State Settable, 8 Graceful Shutdown Supported.
    let change: Vec<u16> = if power.command().is_some() {
        vec![3, 8]
    } else {
        Vec::new()
    };
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", CAPS_ID)
        .with("ElementName", "Power management capabilities")
        .with("PowerStatesSupported", power.available())
        .with("RequestedPowerStatesSupported", power.available())
        .with("PowerChangeCapabilities", change);
    inst.path = Some(path);
    inst
}

fn association(ctx: &VirtContext, power: &PowerControl) -> CimInstance {
    let mut inst = crate::pool_assoc::link(
        &ctx.class("AssociatedPowerManagementService"),
        ("ServiceProvided", service_path(ctx)),
        ("UserOfService", ctx.host_path()),
    );
    inst.set("PowerState", ON);
    inst.set("RequestedPowerState", power.requested());
    inst.set("AvailableRequestedPowerStates", power.available());
    inst
}

/// Serves the service, its capabilities, the association and
/// RequestPowerStateChange.
pub struct PowerProvider {
    ctx: VirtContext,
    power: Arc<PowerControl>,
}

impl PowerProvider {
    pub fn new(ctx: VirtContext) -> Self {
        let power = Arc::new(PowerControl::new(ctx.power_off_command.clone()));
        PowerProvider { ctx, power }
    }

    pub fn classes(ctx: &VirtContext) -> Vec<String> {
        [
            "PowerManagementService",
            "PowerManagementCapabilities",
            "AssociatedPowerManagementService",
        ]
        .iter()
        .map(|b| ctx.class(b))
        .collect()
    }

    async fn request_power_state_change(
        &self,
        params: &[CimParamValue],
    ) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let state = match param(params, "PowerState") {
            None => None,
            Some(CimValue::Uint16(s)) => Some(*s),
            Some(other) => {
                return Err(CimError::invalid_parameter(format!(
                    "PowerState must be a uint16, not {other:?}"
                )))
            }
        };
        let element_ok = match param(params, "ManagedElement") {
            None => true,
            Some(CimValue::Reference(r)) => r.same_object(&ctx.host_path()),
            Some(_) => false,
        };
        let time_set = param(params, "Time").is_some();
        let off = match self.power.decide(state, element_ok, time_set)? {
            Decision::StayOn => {
                self.power.accepted(ON);
                return Ok(MethodResult::code(0));
            }
            Decision::PowerOff(s) => s,
        };
        self.power.begin()?;
        let active = match ctx
            .call(|hv| hv.domains())
            .await
            .map(|ds| active_guests(&ds))
        {
            Ok(a) => a,
            Err(e) => {
                self.power.abandon();
                return Err(e);
            }
        };
        if let Err(e) = refuse_with_guests(&active) {
            self.power.abandon();
            return Err(e);
        }
        self.power.accepted(off);
        let command = self.power.command().unwrap_or_default().to_string();
        tracing::warn!(host = %ctx.host_name, state = off, command = %command, "powering this host off");
        spawn_command(
            self.power.clone(),
            command,
            ctx.host_name.clone(),
            off,
            COMMAND_DELAY,
        );
        Ok(MethodResult::code(0))
    }
}

/// Names of the guests that hold the host (running, paused, …), sorted.
fn active_guests(domains: &[vine_hypervisor::DomainInfo]) -> Vec<String> {
    let mut v: Vec<String> = domains
        .iter()
        .filter(|d| d.state.is_active())
        .map(|d| d.name.clone())
        .collect();
    v.sort();
    v
}

/// Runs `sh -c command` after `delay`, logging how it ended; a failure
/// lets a later request try again.
fn spawn_command(
    power: Arc<PowerControl>,
    command: String,
    host: String,
    state: u16,
    delay: Duration,
) {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let run = command.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(&run)
                .env("VINE_HOST", &host)
                .env("VINE_POWER_STATE", state.to_string())
                .env("VINE_AGENT_PID", std::process::id().to_string())
                .stdin(std::process::Stdio::null())
                .output()
        })
        .await;
        match out {
            Ok(Ok(o)) if o.status.success() => {
                tracing::info!(command = %command, status = %o.status, "power-off command done");
            }
            Ok(Ok(o)) => {
                let stderr = String::from_utf8_lossy(&o.stderr);
                tracing::error!(command = %command, status = %o.status, stderr = %stderr.trim(), "power-off command failed; the host stays on");
                power.failed();
            }
            Ok(Err(e)) => {
                tracing::error!(command = %command, error = %e, "cannot run the power-off command; the host stays on");
                power.failed();
            }
            Err(e) => {
                tracing::error!(command = %command, error = %e, "the power-off command did not complete");
                power.failed();
            }
        }
    });
}

#[async_trait]
impl InstanceProvider for PowerProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let is = |base: &str| class.name.matches(&ctx.class(base));
        Ok(if is("PowerManagementService") {
            vec![service_instance(ctx)]
        } else if is("PowerManagementCapabilities") {
            vec![caps_instance(ctx, &self.power)]
        } else {
            vec![association(ctx, &self.power)]
        })
    }
}

#[async_trait]
impl MethodProvider for PowerProvider {
    async fn invoke_method(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        if let MethodTarget::Instance(t) = target {
            if !t.same_object(&service_path(&self.ctx)) {
                return Err(CimError::not_found(t.local()));
            }
        }
        if method.name.matches("RequestPowerStateChange") {
            self.request_power_state_change(&params).await
        } else {
            Err(CimError::new(
                CimStatus::MethodNotAvailable,
                format!(
                    "{} is not implemented: use RequestPowerStateChange",
                    method.name
                ),
            ))
        }
    }
}

/// Registers the provider and the DSP1027 profile, and declares the
/// service (hosted) and its capabilities in `ctx.links`.
pub fn install(ctx: &VirtContext, registry: &mut Registry, profiles: &mut ProfileTable) {
    let provider = Arc::new(PowerProvider::new(ctx.clone()));
    for class in PowerProvider::classes(ctx) {
        registry.register_instances(VIRT_NS, &class, provider.clone());
    }
    registry.register_methods(VIRT_NS, &ctx.class("PowerManagementService"), provider);
    ctx.links.add_hosted_service(service_path(ctx));
    ctx.links
        .add_capabilities(service_path(ctx), caps_path(ctx));
    profiles.add(
        ProfileSpec::dmtf(PROFILE_POWER_STATE, "Power State Management", "2.0.0")
            .central(VIRT_NS, &ctx.class("PowerManagementService"))
            .references(crate::install::PROFILE_COMPUTER_SYSTEM),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(r: CimResult<Decision>) -> (CimStatus, String) {
        let e = r.unwrap_err();
        (e.status, e.description)
    }

    #[test]
    fn off_needs_a_command() {
        let none = PowerControl::new(None);
        assert!(none.available().is_empty());
        let (s, m) = status(none.decide(Some(12), true, false));
        assert_eq!(s, CimStatus::NotSupported);
        assert!(m.contains("--power-off-command"), "{m}");
        assert_eq!(none.decide(Some(2), true, false).unwrap(), Decision::StayOn);
        // A blank command is no command.
        assert!(PowerControl::new(Some("  ".into())).command().is_none());

        let some = PowerControl::new(Some("systemctl poweroff".into()));
        assert_eq!(some.available(), vec![8, 12]);
        assert_eq!(
            some.decide(Some(8), true, false).unwrap(),
            Decision::PowerOff(8)
        );
        assert_eq!(some.requested(), UNKNOWN);
    }

    #[test]
    fn bad_requests_say_what_to_fix() {
        let p = PowerControl::new(Some("true".into()));
        let (s, m) = status(p.decide(None, true, false));
        assert_eq!(s, CimStatus::InvalidParameter);
        assert!(m.contains("PowerState"), "{m}");
        let (s, m) = status(p.decide(Some(3), true, false));
        assert_eq!(s, CimStatus::InvalidParameter);
        assert!(m.contains("PowerState 3") && m.contains("[8, 12]"), "{m}");
        let (s, m) = status(p.decide(Some(12), false, false));
        assert_eq!(s, CimStatus::InvalidParameter);
        assert!(m.contains("ManagedElement"), "{m}");
        let (s, m) = status(p.decide(Some(12), true, true));
        assert_eq!(s, CimStatus::NotSupported);
        assert!(m.contains("leave Time null"), "{m}");
        let (_, m) = status(PowerControl::new(None).decide(Some(5), true, false));
        assert!(m.contains("none"), "{m}");
    }

    #[test]
    fn one_power_off_at_a_time_until_it_fails() {
        let p = PowerControl::new(Some("true".into()));
        p.begin().unwrap();
        let e = p.begin().unwrap_err();
        assert_eq!(e.status, CimStatus::Failed);
        assert!(e.description.contains("already under way"));
        p.accepted(12);
        assert_eq!(p.requested(), 12);
        p.failed();
        assert!(!p.under_way());
        p.begin().unwrap();
        p.abandon();
        assert!(!p.under_way());
    }

    #[test]
    fn running_guests_are_named() {
        assert!(refuse_with_guests(&[]).is_ok());
        let e = refuse_with_guests(&["a".into(), "b".into()]).unwrap_err();
        assert_eq!(e.status, CimStatus::Failed);
        assert_eq!(
            e.description,
            "2 guests run on this host (a, b): move or stop them first"
        );
        let e = refuse_with_guests(&["web".into()]).unwrap_err();
        assert!(e.description.contains("(web)"), "{}", e.description);
    }
}
