use std::time::Duration;

use thiserror::Error;
use tokio::sync::OnceCell;
use vine_cim::{CimInstance, CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_cimxml::MethodTarget;
use vine_wbem::client::{ClientConfig, ClientError, EnumArgs, WbemClient};

use super::model::{HostCapacity, HostView, JobOutcome, JobView, MigrationCheck, VmState, VmView};
use super::template::{memory_rasd, processor_change, CpuAllocation, VmTemplate};
use super::usage::Utilization;
use super::VIRT_NS;

/// What went wrong talking to an agent.
#[derive(Debug, Error)]
pub enum VniError {
    /// The agent could not be reached or answered with an error.
    #[error("agent {agent}: {source}")]
    Call {
        agent: String,
        #[source]
        source: ClientError,
    },
    /// The agent answered, but not as a System Virtualization
    /// implementation should.
    #[error("agent {agent}: {detail}")]
    Protocol { agent: String, detail: String },
    /// A method returned a failure code; the message is the agent's.
    #[error("agent {agent}: {method} failed with code {code}{}", detail.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    Method {
        agent: String,
        method: String,
        code: u32,
        detail: Option<String>,
    },
    /// A job ended in error.
    #[error("agent {agent}: job {job} failed: {error}")]
    Job {
        agent: String,
        job: String,
        error: String,
    },
    /// No VM by that name on the agent.
    #[error("agent {agent} has no VM named {vm}")]
    NoVm { agent: String, vm: String },
}

impl VniError {
    /// The CIM status when the agent answered with a CIM error.
    pub fn cim_status(&self) -> Option<CimStatus> {
        match self {
            VniError::Call { source, .. } => source.cim_status(),
            _ => None,
        }
    }

    /// True when the agent did not answer at all (down, unreachable, timed
    /// out), as opposed to answering with an error: worth a retry.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            VniError::Call {
                source: ClientError::Connect(_)
                    | ClientError::Timeout(_)
                    | ClientError::Http(_)
                    | ClientError::Tls(_),
                ..
            }
        )
    }
}

type Result<T> = std::result::Result<T, VniError>;

/// DSP1057 RequestStateChange values the manager uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestedState {
    Start = 2,
    Stop = 3,
    Shutdown = 4,
    Pause = 9,
    Reboot = 10,
    Reset = 11,
}

/// A connection to one agent.
pub struct AgentConn {
    url: String,
    pub(super) client: WbemClient,
    prefix: OnceCell<String>,
    /// How often jobs are polled.
    pub poll: Duration,
}

impl AgentConn {
    /// A connection to the agent at `config.url` (lazy: nothing is sent
    /// until the first call).
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let client = WbemClient::new(config).map_err(|source| VniError::Call {
            agent: config.url.clone(),
            source,
        })?;
        Ok(AgentConn {
            url: config.url.clone(),
            client,
            prefix: OnceCell::new(),
            poll: Duration::from_millis(200),
        })
    }

    /// The agent's URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The WBEM client behind the connection (root/interop calls such as
    /// subscriptions).
    pub fn wbem(&self) -> &WbemClient {
        &self.client
    }

    pub(super) fn call_err(&self, source: ClientError) -> VniError {
        VniError::Call {
            agent: self.url.clone(),
            source,
        }
    }

    fn protocol(&self, detail: impl Into<String>) -> VniError {
        VniError::Protocol {
            agent: self.url.clone(),
            detail: detail.into(),
        }
    }

    /// The host, and the agent's class prefix.
    pub async fn host(&self) -> Result<HostView> {
        let systems = self
            .client
            .enumerate_instance_names(VIRT_NS, "CIM_ComputerSystem")
            .await
            .map_err(|e| self.call_err(e))?;
        let host = systems
            .iter()
            .find(|p| p.class_name.as_str().ends_with("_HostSystem"))
            .ok_or_else(|| self.protocol("no *_HostSystem instance in root/virt"))?;
        let class = host.class_name.as_str();
        let prefix = class.trim_end_matches("_HostSystem").to_string();
        let _ = self.prefix.set(prefix.clone());
        let name = host
            .key_str("Name")
            .ok_or_else(|| self.protocol(format!("{class} has no Name key")))?
            .to_string();
        Ok(HostView { name, prefix })
    }

    /// The host's physical vCPUs and memory: `Capacity` of the primordial
    /// processor and memory pools (DSP1041), memory in whatever unit the
    /// pool states.
    pub async fn capacity(&self) -> Result<HostCapacity> {
        let pools = self
            .client
            .enumerate_instances(VIRT_NS, "CIM_ResourcePool", &EnumArgs::default())
            .await
            .map_err(|e| self.call_err(e))?;
        let mut cap = HostCapacity::default();
        for p in pools
            .iter()
            .filter(|p| matches!(p.get("Primordial"), Some(CimValue::Boolean(true))))
        {
            let amount = p
                .get("Capacity")
                .and_then(CimValue::as_i128)
                .and_then(|v| u64::try_from(v).ok());
            match (p.get("ResourceType"), amount) {
                (Some(CimValue::Uint16(3)), Some(n)) => cap.vcpus = n,
                (Some(CimValue::Uint16(4)), Some(n)) => {
                    cap.memory_mib = in_mib(n, p.get_str("AllocationUnits"))
                }
                _ => {}
            }
        }
        if cap.vcpus == 0 || cap.memory_mib == 0 {
            return Err(self.protocol(
                "no primordial processor and memory pools with a Capacity in root/virt",
            ));
        }
        Ok(cap)
    }

    async fn prefix(&self) -> Result<String> {
        if let Some(p) = self.prefix.get() {
            return Ok(p.clone());
        }
        Ok(self.host().await?.prefix)
    }

    /// Every VM on the host, with its vCPUs and memory from its RASDs.
    pub async fn vms(&self) -> Result<Vec<VmView>> {
        let prefix = self.prefix().await?;
        let systems = self
            .client
            .enumerate_instances(
                VIRT_NS,
                &format!("{prefix}_ComputerSystem"),
                &EnumArgs::default(),
            )
            .await
            .map_err(|e| self.call_err(e))?;
        let rasds = self
            .client
            .enumerate_instances(
                VIRT_NS,
                "CIM_ResourceAllocationSettingData",
                &EnumArgs::default(),
            )
            .await
            .map_err(|e| self.call_err(e))?;
        let mut out = Vec::with_capacity(systems.len());
        for s in systems {
            let Some(name) = s.get_str("Name").map(str::to_string) else {
                continue;
            };
            let state = match s.get("EnabledState") {
                Some(CimValue::Uint16(v)) => VmState::from_enabled_state(*v),
                _ => VmState::Other(0),
            };
            let mut vm = VmView {
                uuid: s.get_str("UUID").map(str::to_string),
                name,
                state,
                vcpus: None,
                memory_mib: None,
            };
            for r in rasds
                .iter()
                .filter(|r| rasd_owner(r) == Some(vm.name.as_str()))
            {
                match r.get("ResourceType") {
                    Some(CimValue::Uint16(3)) => {
                        vm.vcpus = quantity(r).and_then(|q| u32::try_from(q).ok())
                    }
                    Some(CimValue::Uint16(4)) => vm.memory_mib = memory_mib(r),
                    _ => {}
                }
            }
            out.push(vm);
        }
        Ok(out)
    }

    /// CPU and memory use of the host and each running VM: the newest
    /// DSP1053 metric value of each (see [`Utilization`]).
    pub async fn utilization(&self) -> Result<Utilization> {
        let host = self.host().await?;
        let args = EnumArgs::default();
        let defs = self
            .client
            .enumerate_instances(VIRT_NS, "CIM_BaseMetricDefinition", &args)
            .await
            .map_err(|e| self.call_err(e))?;
        // Every kept sample comes back: ask only for what is read, by
        // query where the agent takes one.
        let query = Utilization::query(&defs);
        let queried = match &query {
            Some(q) => match self.client.exec_query(VIRT_NS, "DMTF:CQL", q).await {
                Ok(v) => Some(v),
                Err(e)
                    if matches!(
                        e.cim_status(),
                        Some(
                            CimStatus::NotSupported
                                | CimStatus::QueryLanguageNotSupported
                                | CimStatus::InvalidQuery
                        )
                    ) =>
                {
                    None
                }
                Err(e) => return Err(self.call_err(e)),
            },
            None => None,
        };
        let values = match queried {
            Some(v) => v,
            None => {
                let only = EnumArgs {
                    property_list: Some(
                        [
                            "MeasuredElementName",
                            "MetricDefinitionId",
                            "TimeStamp",
                            "MetricValue",
                        ]
                        .map(String::from)
                        .to_vec(),
                    ),
                    ..EnumArgs::default()
                };
                self.client
                    .enumerate_instances(VIRT_NS, "CIM_BaseMetricValue", &only)
                    .await
                    .map_err(|e| self.call_err(e))?
            }
        };
        Ok(Utilization::from_metrics(&host.name, &defs, &values))
    }

    /// The instance of the agent's service of `base` class
    /// (`VirtualSystemManagementService`, `VirtualSystemMigrationService`).
    pub(super) async fn service(&self, base: &str) -> Result<CimInstanceName> {
        let names = self
            .client
            .enumerate_instance_names(VIRT_NS, &format!("CIM_{base}"))
            .await
            .map_err(|e| self.call_err(e))?;
        names
            .into_iter()
            .next()
            .map(|n| n.with_namespace(VIRT_NS))
            .ok_or_else(|| self.protocol(format!("no CIM_{base} instance")))
    }

    async fn vm_path(&self, vm: &str) -> Result<CimInstanceName> {
        let prefix = self.prefix().await?;
        let cls = format!("{prefix}_ComputerSystem");
        Ok(CimInstanceName::new(cls.as_str())
            .with_key("CreationClassName", cls.as_str())
            .with_key("Name", vm)
            .with_namespace(VIRT_NS))
    }

    /// Calls `method` on `target`; `Ok(Some(job))` when the agent started a
    /// job (4096), `Ok(None)` when it completed (0).
    pub(super) async fn invoke(
        &self,
        target: CimInstanceName,
        method: &str,
        params: Vec<CimParamValue>,
    ) -> Result<(Option<CimInstanceName>, Vec<CimParamValue>)> {
        let resp = self
            .client
            .invoke_method(MethodTarget::Instance(target), method, params)
            .await
            .map_err(|e| self.call_err(e))?;
        let code = match resp.return_value {
            Some(CimValue::Uint32(c)) => c,
            Some(ref v) => v
                .as_i128()
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| self.protocol(format!("{method} returned {v:?}")))?,
            None => 0,
        };
        let job = resp
            .out_params
            .iter()
            .find(|p| p.name.matches("Job"))
            .and_then(|p| match &p.value {
                Some(CimValue::Reference(r)) => Some((**r).clone()),
                _ => None,
            });
        match code {
            0 => Ok((None, resp.out_params)),
            4096 => match job {
                Some(j) => Ok((Some(j), resp.out_params)),
                None => Err(self.protocol(format!("{method} started a job but returned no Job"))),
            },
            code => {
                // A failed method may still name a job holding the reason.
                let detail = match job {
                    Some(j) => self.job(&j).await.ok().and_then(|v| v.error),
                    None => None,
                };
                Err(VniError::Method {
                    agent: self.url.clone(),
                    method: method.into(),
                    code,
                    detail,
                })
            }
        }
    }

    /// Defines a VM from `t`; returns its name once defined (and the job,
    /// already finished, when the agent used one).
    pub async fn define_vm(&self, t: &VmTemplate) -> Result<String> {
        let prefix = self.prefix().await?;
        let vsms = self.service("VirtualSystemManagementService").await?;
        let params = vec![
            CimParamValue::new(
                "SystemSettings",
                CimValue::Instance(Box::new(t.system_settings(&prefix))),
            ),
            CimParamValue::new(
                "ResourceSettings",
                CimValue::Array(
                    t.resource_settings(&prefix)
                        .into_iter()
                        .map(|i| CimValue::Instance(Box::new(i)))
                        .collect(),
                ),
            ),
        ];
        let (job, _) = self.invoke(vsms, "DefineSystem", params).await?;
        if let Some(j) = job {
            self.wait_job_ok(&j, |_| {}).await?;
        }
        Ok(t.name.clone())
    }

    /// Asks for a power-state change; waits for the job if one is started.
    pub async fn request_state(&self, vm: &str, state: RequestedState) -> Result<()> {
        let path = self.vm_path(vm).await?;
        let params = vec![CimParamValue::new(
            "RequestedState",
            CimValue::Uint16(state as u16),
        )];
        let (job, _) = self
            .invoke(path, "RequestStateChange", params)
            .await
            .map_err(|e| self.no_vm(e, vm))?;
        if let Some(j) = job {
            self.wait_job_ok(&j, |_| {}).await?;
        }
        Ok(())
    }

    /// Resizes a VM (virtualizing down): vCPUs and/or memory.
    pub async fn resize(
        &self,
        vm: &str,
        vcpus: Option<u32>,
        memory_mib: Option<u64>,
    ) -> Result<()> {
        self.resize_with_cpu(vm, vcpus, memory_mib, CpuAllocation::default())
            .await
    }

    /// Resizes a VM and/or sets its CPU shares, limit and reservation (the
    /// processor RASD's Weight, CPULimit and CPUReservation). An agent
    /// whose hypervisor cannot keep one answers CIM_ERR_NOT_SUPPORTED; one
    /// whose host has no room for the reservation, CIM_ERR_FAILED.
    pub async fn resize_with_cpu(
        &self,
        vm: &str,
        vcpus: Option<u32>,
        memory_mib: Option<u64>,
        cpu: CpuAllocation,
    ) -> Result<()> {
        let prefix = self.prefix().await?;
        let vsms = self.service("VirtualSystemManagementService").await?;
        let mut rasds = Vec::new();
        if let Some(p) = processor_change(&prefix, vm, vcpus, cpu) {
            rasds.push(CimValue::Instance(Box::new(p)));
        }
        if let Some(m) = memory_mib {
            rasds.push(CimValue::Instance(Box::new(memory_rasd(&prefix, vm, m))));
        }
        if rasds.is_empty() {
            return Ok(());
        }
        let params = vec![CimParamValue::new(
            "ResourceSettings",
            CimValue::Array(rasds),
        )];
        let (job, _) = self
            .invoke(vsms, "ModifyResourceSettings", params)
            .await
            .map_err(|e| self.no_vm(e, vm))?;
        if let Some(j) = job {
            self.wait_job_ok(&j, |_| {}).await?;
        }
        Ok(())
    }

    /// Stops (if running) and removes a VM.
    pub async fn destroy_vm(&self, vm: &str) -> Result<()> {
        let vsms = self.service("VirtualSystemManagementService").await?;
        let path = self.vm_path(vm).await?;
        let params = vec![CimParamValue::new(
            "AffectedSystem",
            CimValue::Reference(Box::new(path)),
        )];
        let (job, _) = self
            .invoke(vsms, "DestroySystem", params)
            .await
            .map_err(|e| self.no_vm(e, vm))?;
        if let Some(j) = job {
            self.wait_job_ok(&j, |_| {}).await?;
        }
        Ok(())
    }

    /// Whether `vm` could move to `dest` (a libvirt URI or a host name the
    /// agent knows).
    pub async fn check_migration(&self, vm: &str, dest: &str) -> Result<MigrationCheck> {
        let svc = self.service("VirtualSystemMigrationService").await?;
        let path = self.vm_path(vm).await?;
        let params = vec![
            CimParamValue::new("ComputerSystem", CimValue::Reference(Box::new(path))),
            CimParamValue::new("DestinationHost", dest),
        ];
        match self
            .invoke(svc, "CheckVirtualSystemIsMigratableToHost", params)
            .await
        {
            Ok((_, out)) => {
                let migratable = out
                    .iter()
                    .find(|p| p.name.matches("IsMigratable"))
                    .and_then(|p| p.value.as_ref())
                    .and_then(CimValue::as_bool)
                    .unwrap_or(false);
                Ok(MigrationCheck {
                    migratable,
                    reason: None,
                })
            }
            Err(VniError::Method { code, detail, .. }) => Ok(MigrationCheck {
                migratable: false,
                reason: Some(detail.unwrap_or_else(|| format!("the agent answered {code}"))),
            }),
            Err(e) => Err(self.no_vm(e, vm)),
        }
    }

    /// Starts moving `vm` to `dest`; returns the agent's job, to follow with
    /// [`AgentConn::wait_job`].
    pub async fn start_migration(&self, vm: &str, dest: &str) -> Result<Option<CimInstanceName>> {
        let svc = self.service("VirtualSystemMigrationService").await?;
        let path = self.vm_path(vm).await?;
        let params = vec![
            CimParamValue::new("ComputerSystem", CimValue::Reference(Box::new(path))),
            CimParamValue::new("DestinationHost", dest),
        ];
        let (job, _) = self
            .invoke(svc, "MigrateVirtualSystemToHost", params)
            .await
            .map_err(|e| self.no_vm(e, vm))?;
        Ok(job)
    }

    /// The job at `path` now.
    pub async fn job(&self, path: &CimInstanceName) -> Result<JobView> {
        let i = self
            .client
            .get_instance(VIRT_NS, path, &EnumArgs::default())
            .await
            .map_err(|e| self.call_err(e))?;
        Ok(JobView::from_instance(path.clone(), &i))
    }

    /// Polls the job until it finishes, reporting its percentage.
    pub async fn wait_job(
        &self,
        path: &CimInstanceName,
        mut progress: impl FnMut(u16),
    ) -> Result<JobOutcome> {
        loop {
            let j = self.job(path).await?;
            progress(j.percent);
            if j.is_finished() {
                return Ok(if j.state == 7 {
                    JobOutcome::Completed { status: j.status }
                } else {
                    JobOutcome::Failed {
                        error: j
                            .error
                            .or(j.status)
                            .unwrap_or_else(|| format!("job state {}", j.state)),
                    }
                });
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    async fn wait_job_ok(&self, path: &CimInstanceName, progress: impl FnMut(u16)) -> Result<()> {
        match self.wait_job(path, progress).await? {
            JobOutcome::Completed { .. } => Ok(()),
            JobOutcome::Failed { error } => Err(VniError::Job {
                agent: self.url.clone(),
                job: path.key_str("InstanceID").unwrap_or_default().to_string(),
                error,
            }),
        }
    }

    fn no_vm(&self, e: VniError, vm: &str) -> VniError {
        if e.cim_status() == Some(CimStatus::NotFound) {
            VniError::NoVm {
                agent: self.url.clone(),
                vm: vm.into(),
            }
        } else {
            e
        }
    }
}

/// The VM a RASD belongs to: its InstanceID is `<vm>/<device>`.
fn rasd_owner(r: &CimInstance) -> Option<&str> {
    r.get_str("InstanceID")?.split_once('/').map(|(vm, _)| vm)
}

fn quantity(r: &CimInstance) -> Option<u64> {
    r.get("VirtualQuantity")
        .and_then(CimValue::as_i128)
        .and_then(|v| u64::try_from(v).ok())
}

/// A memory RASD's size in MiB, whatever unit the agent used.
fn memory_mib(r: &CimInstance) -> Option<u64> {
    let q = quantity(r)?;
    let unit = r
        .get_str("VirtualQuantityUnits")
        .or_else(|| r.get_str("AllocationUnits"));
    Some(in_mib(q, unit))
}

/// `q` of a DSP0004 memory unit (or libvirt-cim's names for them) in MiB;
/// no unit means bytes.
fn in_mib(q: u64, unit: Option<&str>) -> u64 {
    let unit = unit.unwrap_or("byte").to_ascii_lowercase().replace(' ', "");
    let bytes_per = match unit.as_str() {
        "byte*2^10" | "kilobytes" | "kib" => 1u64 << 10,
        "byte*2^20" | "megabytes" | "mib" => 1 << 20,
        "byte*2^30" | "gigabytes" | "gib" => 1 << 30,
        _ => 1,
    };
    q.saturating_mul(bytes_per) >> 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_read_in_any_unit_agents_use() {
        let r = |q: u64, u: &str| {
            CimInstance::new("KVM_MemResourceAllocationSettingData")
                .with("VirtualQuantity", CimValue::Uint64(q))
                .with("AllocationUnits", u)
        };
        assert_eq!(memory_mib(&r(524_288, "KiloBytes")), Some(512));
        assert_eq!(memory_mib(&r(512, "byte*2^20")), Some(512));
        assert_eq!(memory_mib(&r(2, "byte * 2^30")), Some(2048));
        assert_eq!(memory_mib(&r(1 << 29, "byte")), Some(512));
    }
}
