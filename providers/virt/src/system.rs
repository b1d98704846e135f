//! Virtual systems (DSP1057): `<P>_ComputerSystem` per domain, its
//! RequestStateChange, and `<P>_EnabledLogicalElementCapabilities`.

use std::time::Duration;

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_hypervisor::{DomainEventKind, DomainInfo, DomainState, HvError};
use vine_wbem::provider::{
    param, required_param, InstanceProvider, MethodProvider, MethodResult, MethodTarget,
    RequestContext,
};

use crate::context::{DomainGuard, VirtContext};
use crate::errors::to_cim;
use crate::jobs::{JobControl, JobSpec};
use crate::paths::{instance_id_path, VSMS_NAME};
use crate::state::{self, plan, rc, status_of, Transition};

/// How long an orderly shutdown may take before its job fails.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(120);

/// The `<P>_ComputerSystem` instance of a domain.
pub fn system_instance(ctx: &VirtContext, d: &DomainInfo) -> CimInstance {
    let st = status_of(d.state);
    let class = ctx.class("ComputerSystem");
    let available: Vec<u16> = state::SUPPORTED_REQUESTS
        .iter()
        .copied()
        .filter(|r| matches!(plan(*r, d.state), Ok(t) if t != Transition::Nothing))
        .collect();
    let mut i = CimInstance::new(class.as_str())
        .with("CreationClassName", class.as_str())
        .with("Name", d.name.as_str())
        .with("ElementName", d.name.as_str())
        .with("Caption", "Virtual System")
        .with("Description", "Virtual System")
        .with("UUID", d.uuid.as_str())
        .with("NameFormat", "Other")
        .with("EnabledState", st.enabled_state)
        .with("RequestedState", ctx.states.requested(&d.name))
        .with("EnabledDefault", 2u16)
        .with("HealthState", st.health_state)
        .with("OperationalStatus", vec![st.operational_status])
        .with("OperatingStatus", st.operating_status)
        .with(
            "OtherIdentifyingInfo",
            vec![
                "Virtual System".to_string(),
                format!("{} Virtual System", ctx.prefix),
                d.uuid.clone(),
            ],
        )
        .with("IdentifyingDescriptions", vec!["Type", "Model", "UUID"]);
    if !available.is_empty() {
        i.set("AvailableRequestedStates", available);
    }
    if let Some(t) = ctx.states.last_change(&d.name) {
        i.set("TimeOfLastStateChange", t);
    }
    i.path = Some(ctx.system_path(&d.name));
    i
}

/// `<P>_EnabledLogicalElementCapabilities` of a domain (InstanceID = name).
pub fn elec_instance(ctx: &VirtContext, dom: &str) -> CimInstance {
    let class = ctx.class("EnabledLogicalElementCapabilities");
    let mut i = CimInstance::new(class.as_str())
        .with("InstanceID", dom)
        .with("ElementName", format!("Capabilities of {dom}"))
        .with(
            "RequestedStatesSupported",
            state::SUPPORTED_REQUESTS.to_vec(),
        )
        .with("ElementNameEditSupported", false);
    i.path = Some(instance_id_path(&class, dom));
    i
}

/// The domain a `<P>_ComputerSystem` path names.
pub fn domain_of(ctx: &VirtContext, path: &CimInstanceName) -> CimResult<String> {
    if !path.class_name.matches(&ctx.class("ComputerSystem")) {
        return Err(CimError::invalid_parameter(format!(
            "{} is not a {}",
            path.class_name,
            ctx.class("ComputerSystem")
        )));
    }
    path.key_str("Name")
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .ok_or_else(|| CimError::invalid_parameter("the ComputerSystem path has no Name key"))
}

/// Serves `<P>_ComputerSystem` and `<P>_EnabledLogicalElementCapabilities`,
/// and runs RequestStateChange.
pub struct SystemProvider {
    ctx: VirtContext,
}

impl SystemProvider {
    pub fn new(ctx: VirtContext) -> Self {
        SystemProvider { ctx }
    }

    fn is_elec(&self, class: &CimClass) -> bool {
        class
            .name
            .matches(&self.ctx.class("EnabledLogicalElementCapabilities"))
    }
}

#[async_trait]
impl InstanceProvider for SystemProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let domains = self.ctx.call(|hv| hv.domains()).await?;
        Ok(domains
            .iter()
            .map(|d| {
                if self.is_elec(class) {
                    elec_instance(&self.ctx, &d.name)
                } else {
                    system_instance(&self.ctx, d)
                }
            })
            .collect())
    }

    async fn get_instance(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        let key = if self.is_elec(class) {
            "InstanceID"
        } else {
            "Name"
        };
        let dom = name
            .key_str(key)
            .ok_or_else(|| CimError::not_found(name.local()))?
            .to_string();
        let d = dom.clone();
        let info = match self.ctx.call(move |hv| hv.domain(&d)).await {
            Ok(i) => i,
            Err(e) if e.status == CimStatus::NotFound => {
                return Err(CimError::not_found(name.local()))
            }
            Err(e) => return Err(e),
        };
        let inst = if self.is_elec(class) {
            elec_instance(&self.ctx, &dom)
        } else {
            system_instance(&self.ctx, &info)
        };
        if inst.path.as_ref().is_some_and(|p| p.same_object(name)) {
            Ok(inst)
        } else {
            Err(CimError::not_found(name.local()))
        }
    }
}

fn u16_param(v: &CimValue, name: &str) -> CimResult<u16> {
    v.as_i128()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
        .and_then(|n| u16::try_from(n).ok())
        .ok_or_else(|| CimError::invalid_parameter(format!("{name} must be a uint16")))
}

#[async_trait]
impl MethodProvider for SystemProvider {
    async fn invoke_method(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        if !method.name.matches("RequestStateChange") {
            return Err(CimError::new(
                CimStatus::MethodNotAvailable,
                format!("{} is not implemented", method.name),
            ));
        }
        let MethodTarget::Instance(path) = target else {
            return Err(CimError::invalid_parameter(
                "RequestStateChange is called on a virtual system instance",
            ));
        };
        let dom = domain_of(&self.ctx, path)?;
        let requested = u16_param(required_param(&params, "RequestedState")?, "RequestedState")?;
        request_state_change(&self.ctx, &dom, requested, param(&params, "TimeoutPeriod")).await
    }
}

/// RequestStateChange on domain `dom`: 0 when done, 4096 with a job for an
/// orderly shutdown, 4097 for a transition the current state does not
/// allow, 4098 for a TimeoutPeriod, 4099 while another operation holds
/// the VM.
pub async fn request_state_change(
    ctx: &VirtContext,
    dom: &str,
    requested: u16,
    timeout: Option<&CimValue>,
) -> CimResult<MethodResult> {
    if state::timeout_given(timeout) {
        return Ok(MethodResult::code(rc::TIMEOUT_NOT_SUPPORTED));
    }
    let Some(guard) = ctx.locks.try_lock(dom) else {
        tracing::info!(domain = dom, requested, "state change refused: VM busy");
        return Ok(MethodResult::code(rc::BUSY));
    };
    let d = dom.to_string();
    let info = ctx.call(move |hv| hv.domain(&d)).await?;
    ctx.states.set_requested(dom, requested);
    let transition = match plan(requested, info.state) {
        Ok(t) => t,
        Err(refusal) => {
            tracing::info!(domain = dom, requested, reason = %refusal.message(), "state change refused");
            return Ok(MethodResult::code(refusal.code()));
        }
    };
    tracing::info!(domain = dom, requested, ?transition, "state change");
    let d = dom.to_string();
    let result = match transition {
        Transition::Nothing => Ok(()),
        Transition::Start => ctx.call(move |hv| hv.start(&d)).await,
        Transition::Resume => ctx.call(move |hv| hv.resume(&d)).await,
        Transition::Destroy => ctx.call(move |hv| hv.destroy(&d)).await,
        Transition::Suspend => ctx.call(move |hv| hv.suspend(&d)).await,
        Transition::Reboot => ctx.call(move |hv| hv.reboot(&d)).await,
        Transition::Reset => ctx.call(move |hv| hv.reset(&d)).await,
        Transition::Shutdown => return shutdown_job(ctx, dom, guard).await,
    };
    drop(guard);
    match result {
        Ok(()) => Ok(MethodResult::code(rc::COMPLETED)),
        Err(e) => Err(e),
    }
}

/// Asks the guest to shut down and returns a job that completes when the
/// domain is off (or fails after [`SHUTDOWN_TIMEOUT`]). The domain stays
/// locked until then.
async fn shutdown_job(ctx: &VirtContext, dom: &str, guard: DomainGuard) -> CimResult<MethodResult> {
    // Subscribe before asking, so the Stopped event cannot be missed.
    let mut events = ctx.hv.subscribe();
    let d = dom.to_string();
    ctx.call(move |hv| hv.shutdown(&d)).await?;
    let job_ctx = ctx.clone();
    let d = dom.to_string();
    // Waiting can stop at any point: the guest was already asked, and
    // dropping the wait leaves nothing half-done.
    let spec = JobSpec::new(
        &format!("Shut down {dom}"),
        ctx.service_path("VirtualSystemManagementService", VSMS_NAME),
    )
    .affecting(vec![ctx.system_path(dom)])
    .control(JobControl {
        terminate: true,
        kill: true,
    });
    let job = ctx.jobs.spawn(ctx, spec, move |h| async move {
        let _guard = guard;
        h.progress(10, "waiting for the guest to shut down");
        let deadline = tokio::time::Instant::now() + SHUTDOWN_TIMEOUT;
        loop {
            h.checkpoint()?;
            let name = d.clone();
            match job_ctx.hv_domain_state(&name).await? {
                None | Some(DomainState::Shutoff) => return Ok(()),
                Some(_) => {}
            }
            // Woken by this domain's next event, or re-checks each second
            // in case an event was dropped.
            let wait = async {
                loop {
                    match events.recv().await {
                        Ok(ev)
                            if ev.domain == d
                                && matches!(
                                    ev.kind,
                                    DomainEventKind::Stopped
                                        | DomainEventKind::Shutdown
                                        | DomainEventKind::Undefined
                                ) =>
                        {
                            return
                        }
                        Ok(_) => {}
                        Err(_) => return,
                    }
                }
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(CimError::failed(format!(
                    "{d} did not shut down within {}s; its guest may ignore ACPI: \
                         use RequestedState 3 (Disabled) to power it off",
                    SHUTDOWN_TIMEOUT.as_secs()
                )));
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), wait).await;
        }
    });
    Ok(MethodResult::code(rc::JOB_STARTED).with_out("Job", job))
}

impl VirtContext {
    /// The state of domain `name`, `None` when it no longer exists.
    pub async fn hv_domain_state(&self, name: &str) -> CimResult<Option<DomainState>> {
        let n = name.to_string();
        let hv = self.hv.clone();
        match tokio::task::spawn_blocking(move || hv.domain(&n)).await {
            Ok(Ok(d)) => Ok(Some(d.state)),
            Ok(Err(HvError::NoDomain(_))) => Ok(None),
            Ok(Err(e)) => Err(to_cim(&e)),
            Err(e) => Err(CimError::failed(format!(
                "hypervisor call did not complete: {e}"
            ))),
        }
    }
}
