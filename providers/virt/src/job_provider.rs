//! Serves the jobs of [`crate::jobs`]: `<P>_ConcreteJob` (get, enumerate,
//! delete once finished; RequestStateChange and GetErrors as DSP1103
//! defines them), `<P>_AffectedJobElement` (job → the VM it acts on) and
//! `<P>_OwningJobElement` (the service that started it → job).

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_wbem::provider::{
    param, InstanceProvider, MethodProvider, MethodResult, MethodTarget, RequestContext,
};

use crate::context::VirtContext;
use crate::jobs::JobRequest;
use crate::state::{rc, timeout_given};

/// GetErrors return codes (CIM_ConcreteJob).
const GET_ERRORS_SUCCESS: u32 = 0;
/// ElementEffects 2 = Exclusive Use: a job holds its VM's lock.
const EXCLUSIVE_USE: u16 = 2;

/// The job InstanceID a method was called on.
fn job_id(target: &MethodTarget) -> CimResult<&str> {
    match target {
        MethodTarget::Instance(p) => p
            .key_str("InstanceID")
            .ok_or_else(|| CimError::invalid_parameter("the job path has no InstanceID key")),
        MethodTarget::Class(_) => Err(CimError::invalid_parameter(
            "call this method on a job instance",
        )),
    }
}

/// An embedded CIM_Error describing `e`.
fn cim_error(e: &CimError) -> CimInstance {
    CimInstance::new("CIM_Error")
        // 4 = Software Error; 5 = Major.
        .with("ErrorType", 4u16)
        .with("PerceivedSeverity", 5u16)
        .with("OwningEntity", "vine")
        .with("MessageID", format!("vine:{}", e.status.code()))
        .with("Message", e.description.as_str())
        .with("CIMStatusCode", e.status.code())
        .with("CIMStatusCodeDescription", format!("{:?}", e.status))
}

/// Serves the job classes.
pub struct JobProvider {
    ctx: VirtContext,
}

impl JobProvider {
    pub fn new(ctx: VirtContext) -> Self {
        JobProvider { ctx }
    }

    fn request_state_change(&self, id: &str, params: &[CimParamValue]) -> CimResult<u32> {
        let requested = match param(params, "RequestedState") {
            None => {
                return Err(CimError::invalid_parameter(
                    "RequestedState is required (4 Terminate, 5 Kill)",
                ))
            }
            Some(v) => v.as_i128().and_then(|n| u16::try_from(n).ok()),
        };
        if timeout_given(param(params, "TimeoutPeriod")) {
            return Ok(rc::TIMEOUT_NOT_SUPPORTED);
        }
        let Some(req) = requested.and_then(JobRequest::from_code) else {
            return Ok(rc::INVALID_PARAMETER);
        };
        let code = self
            .ctx
            .jobs
            .request(&self.ctx, id, req)
            .ok_or_else(|| CimError::not_found(format!("no job {id}")))?;
        tracing::info!(job = id, ?req, code, "job state change requested");
        Ok(code)
    }
}

#[async_trait]
impl InstanceProvider for JobProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        if class.name.matches(&ctx.class("ConcreteJob")) {
            return Ok(ctx.jobs.instances(ctx));
        }
        if class.name.matches(&ctx.class("OwningJobElement")) {
            let assoc = ctx.class("OwningJobElement");
            return Ok(ctx
                .jobs
                .owners(ctx)
                .into_iter()
                .map(|(job, owner)| {
                    crate::assoc::link(&assoc, ("OwningElement", owner), ("OwnedElement", job))
                })
                .collect());
        }
        let assoc = ctx.class("AffectedJobElement");
        Ok(ctx
            .jobs
            .affected(ctx)
            .into_iter()
            .map(|(job, element)| {
                let mut l = crate::assoc::link(
                    &assoc,
                    ("AffectingElement", job),
                    ("AffectedElement", element),
                );
                l.set("ElementEffects", vec![EXCLUSIVE_USE]);
                l
            })
            .collect())
    }

    async fn delete_instance(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<()> {
        if !class.name.matches(&self.ctx.class("ConcreteJob")) {
            return Err(CimError::not_supported("associations are not deleted"));
        }
        let id = name
            .key_str("InstanceID")
            .ok_or_else(|| CimError::invalid_parameter("InstanceID key is missing"))?;
        match self.ctx.jobs.remove(&self.ctx, id) {
            Ok(true) => Ok(()),
            Ok(false) => Err(CimError::not_found(name.local())),
            Err(_) => Err(CimError::new(
                CimStatus::Failed,
                format!(
                    "job {id} is still running; delete it once it has finished \
                     (or stop it with RequestStateChange 4 Terminate)"
                ),
            )),
        }
    }
}

#[async_trait]
impl MethodProvider for JobProvider {
    async fn invoke_method(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        let id = job_id(target)?;
        if method.name.matches("RequestStateChange") {
            return Ok(MethodResult::code(self.request_state_change(id, &params)?));
        }
        if method.name.matches("GetErrors") {
            let error = self
                .ctx
                .jobs
                .error(id)
                .ok_or_else(|| CimError::not_found(format!("no job {id}")))?;
            let errors: Vec<CimValue> =
                error.iter().map(|e| CimValue::from(cim_error(e))).collect();
            return Ok(
                MethodResult::code(GET_ERRORS_SUCCESS).with_out("Errors", CimValue::Array(errors))
            );
        }
        Err(CimError::new(
            CimStatus::MethodNotAvailable,
            format!("{} is not implemented", method.name),
        ))
    }
}
