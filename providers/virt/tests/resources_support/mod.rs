//! Helpers of `tests/pools_migration_metrics.rs`: test-driver hosts in
//! temporary directories and an in-process agent (every virt provider, the
//! interop provider, a real HTTP listener on 127.0.0.1:0) with a client.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;
use vine_cim::mof::{compile, FsSource};
use vine_cim::{CimInstance, CimInstanceName, CimValue, Repository};
use vine_hypervisor::testhost::{host_uri, write_host_file, TestHostSpec};
use vine_hypervisor::{Hypervisor, LibvirtHypervisor};
use vine_providers_virt::monitor::{Monitor, MonitorConfig};
use vine_providers_virt::peer::PeerLogin;
use vine_providers_virt::{schema, VirtContext, VIRT_NS};
use vine_wbem::auth::{Role, UserStore};
use vine_wbem::client::{ClientConfig, EnumArgs, TlsVerify, WbemClient};
use vine_wbem::interop::{InteropProvider, INTEROP_NS};
use vine_wbem::server::dispatch::Dispatcher;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};
use vine_wbem::transport::{serve, ServerConfig, TlsSource};

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

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// qualifiers + DMTF in root/virt and root/interop, the virt classes with
/// prefix KVM in root/virt.
fn repository() -> Repository {
    static BASE: OnceLock<Repository> = OnceLock::new();
    BASE.get_or_init(|| {
        let source = FsSource::new(schemas_dir());
        let mut repo = Repository::new();
        repo.create_namespace(VIRT_NS);
        for f in ["qualifiers.mof", "dmtf/index.mof"] {
            compile(&mut repo, VIRT_NS, f, &source).unwrap();
        }
        repo.copy_namespace(VIRT_NS, INTEROP_NS).unwrap();
        let summary = schema::compile(&mut repo, VIRT_NS, &source, "KVM")
            .unwrap_or_else(|e| panic!("schemas/virt does not compile:\n{e}"));
        assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
        repo
    })
    .clone()
}

/// The admin user, hashed once (argon2 is slow).
fn users_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        UserStore::open(&path)
            .unwrap()
            .add("admin", Role::Admin, "adminpw")
            .unwrap();
        std::fs::read_to_string(&path).unwrap()
    })
}

/// An agent serving one host.
pub struct Agent {
    pub client: WbemClient,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub ctx: VirtContext,
    pub monitor: Arc<Monitor>,
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
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
        repository(),
        registry,
        profiles,
        CimomConfig {
            host: host_name.into(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    let dir = tempfile::tempdir().unwrap();
    let users_path = dir.path().join("users.toml");
    std::fs::write(&users_path, users_text()).unwrap();
    let users = Arc::new(UserStore::open(&users_path).unwrap());
    let mut cfg = ServerConfig::new(TlsSource::Generate {
        state_dir: dir.path().into(),
    });
    cfg.http = Some("127.0.0.1:0".parse().unwrap());
    cfg.https = None;
    let (stop, stopped) = oneshot::channel::<()>();
    let running = serve(cfg, users, Dispatcher::new(cimom), None, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let addr = running.http.unwrap();
    let url = format!("http://{addr}");
    let client = WbemClient::new(&ClientConfig {
        url: url.clone(),
        user: "admin".into(),
        password: "adminpw".into(),
        tls: TlsVerify::Insecure,
        timeout: Duration::from_secs(60),
    })
    .unwrap();
    Agent {
        client,
        url,
        monitor: installed.ctx.monitor.clone(),
        ctx: installed.ctx,
        stop: Some(stop),
        _dir: dir,
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
