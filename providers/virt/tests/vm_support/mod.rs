//! Helpers of `tests/vm_lifecycle.rs`: test-driver hosts in temporary
//! directories and an in-process agent (the virt providers, interop, a real
//! HTTP listener on 127.0.0.1:0, indications captured from the sink).

#![allow(dead_code)]

#[path = "../agent_support/mod.rs"]
mod agent_support;

use agent_support::{repository, serve_http, Served, ServerGuard};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vine_cim::{CimInstance, CimInstanceName, CimParamValue, CimValue};
use vine_cimxml::{MethodResponse, MethodTarget};
use vine_hypervisor::testhost::{host_uri, write_host_file, TestHostSpec};
use vine_hypervisor::{Hypervisor, LibvirtHypervisor};
use vine_providers_virt::{VirtContext, VIRT_NS};
use vine_wbem::client::{AssocArgs, ClientError, EnumArgs, WbemClient};
use vine_wbem::indication::IndicationSink;
use vine_wbem::interop::InteropProvider;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};

/// A test-driver host backed by a file in its own temporary directory.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub pool: PathBuf,
    pub uri: String,
    pub hv: Arc<LibvirtHypervisor>,
}

/// A host named `name` with 8 CPUs, 16 GiB and no VMs.
pub fn host(name: &str) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    let spec = TestHostSpec::new(name, 8, 16 * 1024, pool.clone());
    let file = dir.path().join(format!("{name}.xml"));
    write_host_file(&file, &spec).unwrap();
    let uri = host_uri(&file);
    let hv = LibvirtHypervisor::open(&uri).unwrap();
    Host { dir, pool, uri, hv }
}

/// An agent serving one host, with the indications it published.
pub struct Agent {
    pub client: WbemClient,
    pub ctx: VirtContext,
    pub published: Arc<Mutex<Vec<CimInstance>>>,
    _server: ServerGuard,
}

/// Starts an agent for `hv` with class prefix `prefix`.
pub async fn agent(hv: Arc<dyn Hypervisor>, prefix: &str, host_name: &str) -> Agent {
    let (sink, mut rx) = IndicationSink::channel(1024);
    let published = Arc::new(Mutex::new(Vec::new()));
    let keep = published.clone();
    tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            keep.lock().unwrap().push(p.indication);
        }
    });
    let mut ctx = VirtContext::new(hv, prefix, host_name);
    ctx.sink = Some(sink);
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    let installed = vine_providers_virt::install(&mut registry, &mut profiles, ctx);
    installed.spawn_events();
    let cimom = Cimom::new(
        repository(prefix),
        registry,
        profiles,
        CimomConfig {
            host: host_name.into(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    let Served { client, guard, .. } = serve_http(cimom).await;
    Agent {
        client,
        ctx: installed.ctx,
        published,
        _server: guard,
    }
}

impl Agent {
    pub fn class(&self, base: &str) -> String {
        self.ctx.class(base)
    }

    pub async fn enumerate(&self, base: &str) -> Vec<CimInstance> {
        self.client
            .enumerate_instances(VIRT_NS, &self.class(base), &EnumArgs::default())
            .await
            .unwrap_or_else(|e| panic!("EnumerateInstances {base}: {e}"))
    }

    pub async fn get(&self, path: &CimInstanceName) -> Result<CimInstance, ClientError> {
        self.client
            .get_instance(VIRT_NS, path, &EnumArgs::default())
            .await
    }

    /// Paths of the instances associated with `path` through `assoc` (base
    /// name), of class `result` (base name) when given.
    pub async fn associators(
        &self,
        path: &CimInstanceName,
        assoc: &str,
        result: Option<&str>,
    ) -> Vec<CimInstanceName> {
        self.client
            .associator_names(
                VIRT_NS,
                path,
                &AssocArgs {
                    assoc_class: Some(self.class(assoc)),
                    result_class: result.map(|r| self.class(r)),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("AssociatorNames {assoc} of {path}: {e}"))
    }

    pub fn vsms(&self) -> CimInstanceName {
        self.ctx
            .service_path("VirtualSystemManagementService", "Management Service")
    }

    /// Invokes a management service method.
    pub async fn vsms_call(
        &self,
        method: &str,
        params: Vec<CimParamValue>,
    ) -> Result<MethodResponse, ClientError> {
        self.client
            .invoke_method(MethodTarget::Instance(self.vsms()), method, params)
            .await
    }

    /// RequestStateChange on VM `dom`: the return code and OUT params.
    pub async fn request_state(
        &self,
        dom: &str,
        state: u16,
        extra: Vec<CimParamValue>,
    ) -> Result<MethodResponse, ClientError> {
        let mut params = vec![CimParamValue::new("RequestedState", state)];
        params.extend(extra);
        self.client
            .invoke_method(
                MethodTarget::Instance(self.ctx.system_path(dom)),
                "RequestStateChange",
                params,
            )
            .await
    }

    /// Indications published so far of class `base`, about VM `dom`.
    pub fn indications(&self, base: &str, dom: &str) -> Vec<CimInstance> {
        let class = self.class(base);
        self.published
            .lock()
            .unwrap()
            .iter()
            .filter(|i| i.class_name.matches(&class))
            .filter(|i| match i.get("SourceInstance") {
                Some(CimValue::Instance(s)) => s.get_str("Name") == Some(dom),
                _ => false,
            })
            .cloned()
            .collect()
    }

    /// Waits until `n` indications of `base` about `dom` were published.
    pub async fn wait_indications(&self, base: &str, dom: &str, n: usize) -> Vec<CimInstance> {
        for _ in 0..200 {
            let got = self.indications(base, dom);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "fewer than {n} {base} about {dom}: {:#?}",
            self.indications(base, dom)
        );
    }
}

pub fn rc(r: &MethodResponse) -> u32 {
    match r.return_value {
        Some(CimValue::Uint32(n)) => n,
        ref other => panic!("return value is not a uint32: {other:?}"),
    }
}

pub fn out<'a>(r: &'a MethodResponse, name: &str) -> &'a CimValue {
    r.out_params
        .iter()
        .find(|p| p.name.matches(name))
        .and_then(|p| p.value.as_ref())
        .unwrap_or_else(|| panic!("no OUT parameter {name} in {r:?}"))
}

pub fn u64_of(i: &CimInstance, p: &str) -> u64 {
    match i.get(p) {
        Some(CimValue::Uint64(n)) => *n,
        Some(CimValue::Uint32(n)) => u64::from(*n),
        Some(CimValue::Uint16(n)) => u64::from(*n),
        other => panic!("{p} is not an unsigned integer: {other:?}"),
    }
}

/// A VSSD for VM `name` (class `<P>_VirtualSystemSettingData`).
pub fn vssd(prefix: &str, name: &str) -> CimInstance {
    CimInstance::new(format!("{prefix}_VirtualSystemSettingData"))
        .with("VirtualSystemIdentifier", name)
        .with("ElementName", name)
}

pub fn proc_rasd(prefix: &str, vcpus: u64, limit: u64) -> CimInstance {
    CimInstance::new(format!("{prefix}_ProcResourceAllocationSettingData"))
        .with("ResourceType", 3u16)
        .with("VirtualQuantity", vcpus)
        .with("Limit", limit)
}

pub fn mem_rasd(prefix: &str, mib: u64, limit_mib: u64) -> CimInstance {
    CimInstance::new(format!("{prefix}_MemResourceAllocationSettingData"))
        .with("ResourceType", 4u16)
        .with("VirtualQuantity", mib)
        .with("Limit", limit_mib)
        .with("AllocationUnits", "byte*2^20")
}

pub fn disk_rasd(prefix: &str, target: &str, path: &str) -> CimInstance {
    CimInstance::new(format!("{prefix}_DiskResourceAllocationSettingData"))
        .with("ResourceType", 17u16)
        .with("VirtualDevice", target)
        .with("Address", path)
        .with("DriverType", "raw")
}

pub fn net_rasd(prefix: &str) -> CimInstance {
    CimInstance::new(format!("{prefix}_NetResourceAllocationSettingData"))
        .with("ResourceType", 10u16)
        .with("NetworkType", "network")
        .with("PoolID", "NetworkPool/default")
}

/// DefineSystem parameters: the VSSD and RASDs as embedded instances.
pub fn define_params(vssd: CimInstance, rasds: Vec<CimInstance>) -> Vec<CimParamValue> {
    vec![
        CimParamValue::new("SystemSettings", vssd),
        CimParamValue::new(
            "ResourceSettings",
            CimValue::Array(rasds.into_iter().map(CimValue::from).collect()),
        ),
    ]
}
