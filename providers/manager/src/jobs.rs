//! `VINE_ConcreteJob` (DSP1103 Job Control): every manager job, as stored
//! by the coordinator's job engine, seen as a CIM_ConcreteJob. Jobs are
//! durable, so they stay visible after they finish and across manager
//! restarts; DeleteOnCompletion is false.
//!
//! JobState: Queued → 2 New, Running and Retrying → 4 Running (a retrying
//! job waits before it runs its step again; JobStatus says so),
//! Succeeded → 7 Completed, Failed → 10 Exception, Cancelled → 8
//! Terminated. RequestStateChange(4 Terminate or 5 Kill) cancels a job: 0
//! when it stopped at once, 4096 when a running step must end first, 4097
//! when it had already finished.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::Value;
use vine_cim::{
    CimClass, CimDateTime, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue,
    CimResult, CimStatus, CimType, CimValue,
};
use vine_coordinator::jobs::{JobFilter, JobId, JobRecord, JobState};
use vine_wbem::provider::{
    param, required_param, InstanceProvider, MethodProvider, MethodResult, MethodTarget,
    RequestContext,
};

use crate::context::ManagerContext;
use crate::errors::to_cim;
use crate::paths;

/// CIM_ConcreteJob.JobState for a job engine state.
pub fn job_state(s: JobState) -> u16 {
    match s {
        JobState::Queued => 2,
        JobState::Running | JobState::Retrying => 4,
        JobState::Succeeded => 7,
        JobState::Cancelled => 8,
        JobState::Failed => 10,
    }
}

fn state_text(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "Queued",
        JobState::Running => "Running",
        JobState::Retrying => "Retrying",
        JobState::Succeeded => "Completed",
        JobState::Failed => "Failed",
        JobState::Cancelled => "Cancelled",
    }
}

fn at(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// What a job is about, from its parameters: a virtual server's or pool's
/// name, a VM, a host, or the VM a template defines.
pub fn subject(params: &Value) -> Option<&str> {
    ["name", "vm", "host"]
        .iter()
        .find_map(|k| params.get(k).and_then(Value::as_str))
        .or_else(|| params.pointer("/template/name").and_then(Value::as_str))
}

/// When the job first ran, from its history.
fn started(j: &JobRecord) -> Option<u64> {
    j.history
        .iter()
        .find(|h| h.state == JobState::Running)
        .map(|h| h.at)
}

/// When the job's state last changed, from its history.
fn last_change(j: &JobRecord) -> u64 {
    let mut last = j.created_at;
    let mut prev = None;
    for h in &j.history {
        if prev != Some(h.state) {
            last = h.at;
            prev = Some(h.state);
        }
    }
    last
}

/// The `VINE_ConcreteJob` of `j`.
pub fn job_instance(j: &JobRecord) -> CimInstance {
    let id = j.id.as_str();
    let path = paths::job(id);
    let element_name = match subject(&j.params) {
        Some(s) => format!("{} {s}", j.kind),
        None => j.kind.clone(),
    };
    let status = match (&j.note, j.state) {
        (Some(n), s) if !n.is_empty() => format!("{}: {n}", state_text(s)),
        (_, s) => state_text(s).to_string(),
    };
    let operational: Vec<u16> = match j.state {
        JobState::Queued | JobState::Running => vec![2],
        JobState::Retrying => vec![3],
        JobState::Succeeded => vec![2, 17],
        JobState::Failed => vec![6, 17],
        JobState::Cancelled => vec![10, 17],
    };
    let mut inst = CimInstance::new(paths::JOB)
        .with("InstanceID", path.key_str("InstanceID").unwrap_or(id))
        .with("Name", j.kind.as_str())
        .with("ElementName", element_name.as_str())
        .with("Kind", j.kind.as_str())
        .with("Step", j.step.as_str())
        .with("Attempts", j.attempts)
        .with("JobState", job_state(j.state))
        .with("JobStatus", status.as_str())
        .with("PercentComplete", u16::from(j.progress.min(100)))
        .with("OperationalStatus", operational)
        .with(
            "TimeSubmitted",
            CimDateTime::from_system_time(at(j.created_at)),
        )
        .with(
            "TimeOfLastStateChange",
            CimDateTime::from_system_time(at(last_change(j))),
        )
        .with(
            "TimeBeforeRemoval",
            CimDateTime::interval(Duration::from_secs(300)),
        )
        .with("DeleteOnCompletion", false)
        .with("Parameters", j.params.to_string());
    if let Some(s) = started(j) {
        inst.set("StartTime", CimDateTime::from_system_time(at(s)));
        let end = if j.state.is_terminal() {
            j.updated_at
        } else {
            u64::try_from(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_millis(),
            )
            .unwrap_or(u64::MAX)
        };
        inst.set(
            "ElapsedTime",
            CimDateTime::interval(Duration::from_millis(end.saturating_sub(s))),
        );
    }
    if let Some(o) = &j.owner {
        inst.set("Owner", o.as_str());
    }
    if let Some(r) = &j.result {
        inst.set("Result", r.to_string());
    }
    match j.state {
        JobState::Succeeded => inst.set("ErrorCode", 0u16),
        // 1 = CIM_ERR_FAILED, the status a client would have seen had the
        // method run synchronously.
        JobState::Failed => inst.set("ErrorCode", 1u16),
        JobState::Queued | JobState::Running | JobState::Retrying | JobState::Cancelled => {}
    }
    if let Some(e) = &j.error {
        inst.set("ErrorDescription", e.as_str());
    }
    inst.path = Some(path);
    inst
}

/// The job a `VINE_ConcreteJob` path names.
pub fn job_of(ctx: &ManagerContext, path: &CimInstanceName) -> CimResult<JobRecord> {
    let iid = path
        .key_str("InstanceID")
        .ok_or_else(|| CimError::invalid_parameter("InstanceID key is missing"))?;
    let id = paths::job_id_of(iid).ok_or_else(|| CimError::not_found(path.local()))?;
    ctx.coordinator
        .job(&JobId::from(id))
        .map_err(|e| to_cim(&e))
}

/// Every job, oldest first.
pub fn all_jobs(ctx: &ManagerContext) -> CimResult<Vec<JobRecord>> {
    ctx.coordinator
        .list_jobs(&JobFilter::default())
        .map_err(|e| to_cim(&e))
}

/// The CIM_Error of a failed job, for GetErrors.
fn job_error(j: &JobRecord) -> Option<CimInstance> {
    if j.state != JobState::Failed {
        return None;
    }
    let message = j.error.clone().unwrap_or_else(|| "the job failed".into());
    Some(
        CimInstance::new("CIM_Error")
            .with("OwningEntity", "VINE")
            .with("MessageID", "VINE:JobFailed")
            .with("Message", message)
            .with("ErrorType", 0u16)
            .with("PerceivedSeverity", 0u16)
            .with("ErrorSource", paths::job(j.id.as_str()).to_string())
            .with("ErrorSourceFormat", 2u16)
            .with("CIMStatusCode", CimStatus::Failed.code())
            .with("CIMStatusCodeDescription", CimStatus::Failed.symbol()),
    )
}

/// Serves `VINE_ConcreteJob` and its methods.
pub struct JobProvider {
    ctx: ManagerContext,
}

impl JobProvider {
    pub fn new(ctx: ManagerContext) -> Self {
        JobProvider { ctx }
    }

    fn request_state_change(
        &self,
        job: &JobRecord,
        params: &[CimParamValue],
    ) -> CimResult<MethodResult> {
        let requested = match required_param(params, "RequestedState")? {
            CimValue::Uint16(v) => *v,
            other => {
                return Err(CimError::invalid_parameter(format!(
                    "RequestedState must be a uint16, not {other}"
                )))
            }
        };
        if let Some(CimValue::DateTime(t)) = param(params, "TimeoutPeriod") {
            if t.as_duration().is_none_or(|d| !d.is_zero()) {
                return Ok(MethodResult::code(4098));
            }
        }
        match requested {
            // Terminate and Kill both cancel: a running step is never
            // interrupted mid-call (the agent's work would be left half
            // done), it stops before the next step.
            4 | 5 => {
                if job.state.is_terminal() {
                    return Ok(MethodResult::code(4097));
                }
                let after = self
                    .ctx
                    .coordinator
                    .cancel_job(&job.id)
                    .map_err(|e| to_cim(&e))?;
                Ok(MethodResult::code(if after.state.is_terminal() {
                    0
                } else {
                    4096
                }))
            }
            // Jobs start by themselves and cannot be suspended or serviced.
            2 | 3 | 6 => Ok(MethodResult::code(1)),
            _ => Ok(MethodResult::code(5)),
        }
    }
}

#[async_trait]
impl InstanceProvider for JobProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        Ok(all_jobs(&self.ctx)?.iter().map(job_instance).collect())
    }

    async fn get_instance(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        job_of(&self.ctx, name).map(|j| job_instance(&j))
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
        let MethodTarget::Instance(path) = target else {
            return Err(CimError::invalid_parameter(format!(
                "{} is a method of a job instance, not of the class",
                method.name
            )));
        };
        let job = job_of(&self.ctx, path)?;
        if method.name.matches("RequestStateChange") {
            return self.request_state_change(&job, &params);
        }
        if method.name.matches("GetErrors") {
            let errors: Vec<CimValue> = job_error(&job).into_iter().map(CimValue::from).collect();
            let mut r = MethodResult::code(0);
            // Typed, so that an empty array still says what it would hold.
            r.out_params.push(CimParamValue {
                name: "Errors".into(),
                cim_type: Some(CimType::Instance),
                value: Some(CimValue::Array(errors)),
            });
            return Ok(r);
        }
        if method.name.matches("GetError") {
            let mut r = MethodResult::code(0);
            if let Some(e) = job_error(&job) {
                r = r.with_out("Error", e);
            }
            return Ok(r);
        }
        Err(CimError::new(
            CimStatus::MethodNotAvailable,
            format!("{} is not implemented for manager jobs", method.name),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_states_follow_the_dsp1103_map() {
        assert_eq!(job_state(JobState::Queued), 2);
        assert_eq!(job_state(JobState::Retrying), 4);
        assert_eq!(job_state(JobState::Succeeded), 7);
        assert_eq!(job_state(JobState::Cancelled), 8);
        assert_eq!(job_state(JobState::Failed), 10);
    }

    #[test]
    fn subject_comes_from_the_parameters() {
        assert_eq!(subject(&json!({"name": "web", "nodes": 2})), Some("web"));
        assert_eq!(subject(&json!({"vm": "db-1"})), Some("db-1"));
        assert_eq!(subject(&json!({"template": {"name": "t"}})), Some("t"));
        assert_eq!(subject(&json!({})), None);
    }
}
