//! Helpers of `tests/pools_migration_metrics.rs`: test-driver hosts in
//! temporary directories and an in-process agent (every virt provider, the
//! interop provider, a real HTTP listener on 127.0.0.1:0) with a client.

#![allow(dead_code)]

#[path = "../agent_support/mod.rs"]
mod agent_support;

use agent_support::{repository, serve_http, Served, ServerGuard};

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vine_cim::{CimInstance, CimInstanceName, CimValue};
use vine_hypervisor::testhost::{host_uri, write_host_file, TestHostSpec};
use vine_hypervisor::{Hypervisor, LibvirtHypervisor};
use vine_providers_virt::monitor::{Monitor, MonitorConfig};
use vine_providers_virt::peer::PeerLogin;
use vine_providers_virt::{VirtContext, VIRT_NS};
use vine_wbem::client::{EnumArgs, WbemClient};
use vine_wbem::interop::InteropProvider;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};

/// A test-driver host backed by a file in its own temporary directory.
pub struct Host {
    pub dir: tempfile::TempDir,
    pub spec: TestHostSpec,
    pub uri: String,
    pub hv: Arc<LibvirtHypervisor>,
}

/// A host named `name` with `cpus` CPUs, `mib` MiB and `vms` running
/// sample VMs (1 vCPU, 512 MiB, a disk in the pool, a NIC on `default`).
pub fn host(name: &str, cpus: u32, mib: u64, vms: u32) -> Host {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool");
    host_on(dir, name, cpus, mib, vms, pool)
}

/// Like [`host`], with its storage pool in `pool` (shared storage: two
/// hosts on one directory).
pub fn host_sharing(name: &str, cpus: u32, mib: u64, vms: u32, pool: PathBuf) -> Host {
    host_on(tempfile::tempdir().unwrap(), name, cpus, mib, vms, pool)
}

fn host_on(
    dir: tempfile::TempDir,
    name: &str,
    cpus: u32,
    mib: u64,
    vms: u32,
    pool: PathBuf,
) -> Host {
    let spec = TestHostSpec::new(name, cpus, mib, pool).with_sample_vms(vms);
    let file = dir.path().join(format!("{name}.xml"));
    write_host_file(&file, &spec).unwrap();
    let uri = host_uri(&file);
    let hv = LibvirtHypervisor::open(&uri).unwrap();
    Host { dir, spec, uri, hv }
}

/// An agent serving one host.
pub struct Agent {
    pub client: WbemClient,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub ctx: VirtContext,
    pub monitor: Arc<Monitor>,
    _server: ServerGuard,
}

/// Starts an agent for `hv` named `host_name`, sampling every `sample`.
pub async fn agent(
    hv: Arc<dyn Hypervisor>,
    host_name: &str,
    peers: &[(&str, &str)],
    sample: Duration,
) -> Agent {
    let mut ctx = VirtContext::new(hv, "KVM", host_name);
    // Peer agents are test agents too: same admin login.
    ctx.peer_login = Some(PeerLogin {
        user: "admin".into(),
        password: "adminpw".into(),
        ca_file: None,
    });
    ctx.peers = Arc::new(
        peers
            .iter()
            .map(|(n, u)| (n.to_string(), u.to_string()))
            .collect::<HashMap<_, _>>(),
    );
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    ctx.monitor = Monitor::new(MonitorConfig {
        interval: sample,
        history: 60,
    });
    let installed = vine_providers_virt::install(&mut registry, &mut profiles, ctx);
    let cimom = Cimom::new(
        repository("KVM"),
        registry,
        profiles,
        CimomConfig {
            host: host_name.into(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    let Served { client, url, guard } = serve_http(cimom).await;
    Agent {
        client,
        url,
        monitor: installed.ctx.monitor.clone(),
        ctx: installed.ctx,
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
}

/// The instance whose `key` property is `value`.
pub fn by<'a>(list: &'a [CimInstance], key: &str, value: &str) -> &'a CimInstance {
    list.iter()
        .find(|i| i.get_str(key) == Some(value))
        .unwrap_or_else(|| panic!("no instance with {key}={value} in {list:#?}"))
}

pub fn u64_of(i: &CimInstance, p: &str) -> Option<u64> {
    match i.get(p)? {
        CimValue::Uint64(n) => Some(*n),
        CimValue::Uint32(n) => Some(u64::from(*n)),
        CimValue::Uint16(n) => Some(u64::from(*n)),
        _ => None,
    }
}

pub fn u16_of(i: &CimInstance, p: &str) -> Option<u16> {
    match i.get(p)? {
        CimValue::Uint16(n) => Some(*n),
        _ => None,
    }
}

pub fn reference(i: &CimInstance, p: &str) -> CimInstanceName {
    match i.get(p) {
        Some(CimValue::Reference(r)) => (**r).clone(),
        other => panic!("{p} is not a reference: {other:?}"),
    }
}
