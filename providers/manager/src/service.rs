//! `VINE_VirtualServerService`: one instance, hosted by the data centre,
//! whose methods create, scale and delete virtual servers.
//!
//! 1. The method checks its parameters through the coordinator
//!    (`create_vs`, `scale_vs`, `delete_vs`): a bad value is
//!    CIM_ERR_INVALID_PARAMETER, an unknown virtual server or pool
//!    CIM_ERR_NOT_FOUND, a name in use CIM_ERR_ALREADY_EXISTS, no room or
//!    a virtual server busy with another job CIM_ERR_FAILED — each with a
//!    message that says what to change.
//! 2. The coordinator stores the desired state and a job, and the method
//!    returns 4096 with the job's `VINE_ConcreteJob` path in `Job`.
//! 3. The client follows the job (GetInstance, JobState 7 or 10).
//!
//! Return value 1 (Not Supported) means this manager has no handler for
//! the job kind.

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_coordinator::jobs::JobId;
use vine_coordinator::ops::params::CreateVs;
use vine_coordinator::ops::OpsError;
use vine_coordinator::vni::{NicTemplate, VmTemplate};
use vine_wbem::provider::{
    param, required_param, InstanceProvider, MethodProvider, MethodResult, MethodTarget,
    RequestContext,
};

use crate::context::ManagerContext;
use crate::errors::{is_unsupported_kind, to_cim};
use crate::paths;

/// Return value: the parameters were checked and a job started.
pub const JOB_STARTED: u32 = 4096;
/// Return value: this manager cannot run the operation.
pub const NOT_SUPPORTED: u32 = 1;

/// The service instance of data centre `dc`.
pub fn service_instance(dc: &str) -> CimInstance {
    let mut inst = CimInstance::new(paths::SERVICE)
        .with("SystemCreationClassName", paths::DATACENTER)
        .with("SystemName", dc)
        .with("CreationClassName", paths::SERVICE)
        .with("Name", paths::SERVICE_NAME)
        .with("ElementName", "Virtual server service")
        .with("Started", true)
        .with("EnabledState", 2u16)
        .with("RequestedState", 12u16)
        .with("EnabledDefault", 2u16)
        .with("OperationalStatus", vec![2u16])
        .with("HealthState", 5u16);
    inst.path = Some(paths::service(dc));
    inst
}

fn text<'a>(params: &'a [CimParamValue], name: &str) -> CimResult<Option<&'a str>> {
    match param(params, name) {
        None => Ok(None),
        Some(CimValue::String(s)) if s.trim().is_empty() => Ok(None),
        Some(CimValue::String(s)) => Ok(Some(s.trim())),
        Some(other) => Err(CimError::invalid_parameter(format!(
            "{name} must be a string, not {other}"
        ))),
    }
}

/// An unsigned integer parameter that must fit `T`.
fn number<T: TryFrom<i128>>(v: &CimValue, name: &str) -> CimResult<T> {
    v.as_i128()
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| CimError::invalid_parameter(format!("{name} `{v}` is out of range")))
}

fn required_number<T: TryFrom<i128>>(params: &[CimParamValue], name: &str) -> CimResult<T> {
    number(required_param(params, name)?, name)
}

/// The virtual server a `VINE_VirtualServer` reference names.
fn vs_name(params: &[CimParamValue]) -> CimResult<String> {
    let CimValue::Reference(path) = required_param(params, "VirtualServer")? else {
        return Err(CimError::invalid_parameter(
            "VirtualServer must be a reference to a VINE_VirtualServer",
        ));
    };
    if !path.class_name.matches(paths::VIRTUAL_SERVER) {
        return Err(CimError::invalid_parameter(format!(
            "VirtualServer must name a {}, not a {}",
            paths::VIRTUAL_SERVER,
            path.class_name
        )));
    }
    path.key_str("Name")
        .map(str::to_string)
        .ok_or_else(|| CimError::invalid_parameter("VirtualServer has no Name key"))
}

/// The method's answer once the coordinator accepted (or refused) it.
fn started(r: Result<JobId, OpsError>, vs: Option<&str>) -> CimResult<MethodResult> {
    match r {
        Ok(id) => {
            let mut out = MethodResult::code(JOB_STARTED).with_out("Job", paths::job(id.as_str()));
            if let Some(n) = vs {
                out = out.with_out("VirtualServer", paths::virtual_server(n));
            }
            Ok(out)
        }
        Err(e) if is_unsupported_kind(&e) => Ok(MethodResult::code(NOT_SUPPORTED)),
        Err(e) => Err(to_cim(&e)),
    }
}

/// Serves the service instance and runs its methods.
pub struct ServiceProvider {
    ctx: ManagerContext,
}

impl ServiceProvider {
    pub fn new(ctx: ManagerContext) -> Self {
        ServiceProvider { ctx }
    }

    fn create(&self, rc: &RequestContext, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let name = text(params, "Name")?
            .ok_or_else(|| CimError::invalid_parameter("parameter Name is required"))?
            .to_string();
        let nodes: u32 = required_number(params, "Nodes")?;
        let vcpus: u32 = required_number(params, "VCPUs")?;
        let memory_mib: u64 = required_number(params, "MemoryMiB")?;
        let node_port = match param(params, "NodePort") {
            Some(v) => match number::<u16>(v, "NodePort")? {
                0 => return Err(CimError::invalid_parameter("NodePort must be 1-65535")),
                p => Some(p),
            },
            None => None,
        };
        // The data-centre pool is where a virtual server in no service pool
        // draws from already.
        let pool = text(params, "PoolID")?
            .filter(|p| *p != vine_coordinator::pools::DATACENTER)
            .map(str::to_string);
        let nics = match text(params, "Network")? {
            Some(n) => vec![NicTemplate {
                network: n.to_string(),
                mac: None,
            }],
            None => Vec::new(),
        };
        // Checked here as well as in the coordinator so that a taken name is
        // told apart from the coordinator's other conflicts (a front-end
        // address in use).
        if self.ctx.vserver(&name)?.is_some() {
            return Err(CimError::new(
                CimStatus::AlreadyExists,
                format!("a virtual server named {name} exists already; choose another Name"),
            ));
        }
        let req = CreateVs {
            template: VmTemplate {
                name: name.clone(),
                vcpus,
                memory_mib,
                disks: Vec::new(),
                nics,
            },
            nodes,
            bind: text(params, "Bind")?.map(str::to_string),
            node_port,
            pool,
            health: None,
            name: name.clone(),
        };
        let r = self.ctx.coordinator.create_vs(req, Some(&rc.user));
        started(r, Some(&name))
    }

    fn scale(&self, rc: &RequestContext, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let name = vs_name(params)?;
        let nodes: u32 = required_number(params, "Nodes")?;
        started(
            self.ctx.coordinator.scale_vs(&name, nodes, Some(&rc.user)),
            None,
        )
    }

    fn delete(&self, rc: &RequestContext, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let name = vs_name(params)?;
        started(self.ctx.coordinator.delete_vs(&name, Some(&rc.user)), None)
    }
}

#[async_trait]
impl InstanceProvider for ServiceProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        Ok(vec![service_instance(&self.ctx.name)])
    }
}

#[async_trait]
impl MethodProvider for ServiceProvider {
    async fn invoke_method(
        &self,
        rc: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        // The one service instance, or the class (a convenience for
        // clients that call without enumerating first).
        if let MethodTarget::Instance(p) = target {
            let ours: CimInstanceName = paths::service(&self.ctx.name);
            if !p.same_object(&ours) {
                return Err(CimError::not_found(p.local()));
            }
        }
        let m = &method.name;
        if m.matches("CreateVirtualServer") {
            self.create(rc, &params)
        } else if m.matches("ScaleVirtualServer") {
            self.scale(rc, &params)
        } else if m.matches("DeleteVirtualServer") {
            self.delete(rc, &params)
        } else {
            // RequestStateChange, StartService, StopService: the service
            // runs as long as the manager does.
            Ok(MethodResult::code(NOT_SUPPORTED))
        }
    }
}
