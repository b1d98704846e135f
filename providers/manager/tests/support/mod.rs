//! A small data centre in one process, every part on a real socket: test-
//! driver hosts, each served by an agent (the virt providers over CIM-XML),
//! a store and coordinator that resync from those agents, and the manager's
//! WBEM server (interop + the `root/vine` providers).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use vine_cim::mof::{compile, FsSource};
use vine_cim::{CimInstance, CimInstanceName, CimParamValue, CimValue, Repository};
use vine_cimxml::{MethodResponse, MethodTarget};
use vine_coordinator::inventory::Inventory;
use vine_coordinator::ops::{Coordinator, CoordinatorConfig};
use vine_hypervisor::testhost::{host_uri, write_host_file, TestHostSpec};
use vine_hypervisor::LibvirtHypervisor;
use vine_providers_manager::{ManagerContext, VINE_NS};
use vine_providers_virt::{VirtContext, VIRT_NS};
use vine_store::Store;
use vine_wbem::auth::{Role, UserStore};
use vine_wbem::client::{AssocArgs, ClientConfig, ClientError, EnumArgs, TlsVerify, WbemClient};
use vine_wbem::interop::{InteropProvider, INTEROP_NS};
use vine_wbem::server::dispatch::Dispatcher;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};
use vine_wbem::transport::{serve, ServerConfig, TlsSource};

pub const PREFIX: &str = "KVM";
pub const USER: &str = "admin";
pub const PASSWORD: &str = "adminpw";

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// qualifiers + DMTF in `ns` and root/interop.
fn dmtf(ns: &str) -> Repository {
    let source = FsSource::new(schemas_dir());
    let mut repo = Repository::new();
    repo.create_namespace(ns);
    for f in ["qualifiers.mof", "dmtf/index.mof"] {
        compile(&mut repo, ns, f, &source).unwrap();
    }
    repo.copy_namespace(ns, INTEROP_NS).unwrap();
    repo
}

fn agent_repo() -> Repository {
    static BASE: OnceLock<Repository> = OnceLock::new();
    let mut repo = BASE.get_or_init(|| dmtf(VIRT_NS)).clone();
    vine_providers_virt::schema::compile(&mut repo, VIRT_NS, &FsSource::new(schemas_dir()), PREFIX)
        .unwrap_or_else(|e| panic!("schemas/virt does not compile:\n{e}"));
    repo
}

fn manager_repo() -> Repository {
    let mut repo = dmtf(VINE_NS);
    let summary =
        vine_providers_manager::schema::compile(&mut repo, VINE_NS, &FsSource::new(schemas_dir()))
            .unwrap_or_else(|e| panic!("schemas/vine/VINE_Manager.mof does not compile:\n{e}"));
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    repo
}

/// The admin user, hashed once (argon2 is slow).
fn users_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        UserStore::open(&path)
            .unwrap()
            .add(USER, Role::Admin, PASSWORD)
            .unwrap();
        std::fs::read_to_string(&path).unwrap()
    })
}

/// A CIM-XML server on 127.0.0.1:0 until the returned sender is dropped.
async fn serve_http(cimom: Arc<Cimom>, dir: &std::path::Path) -> (String, oneshot::Sender<()>) {
    let users_path = dir.join("users.toml");
    std::fs::write(&users_path, users_text()).unwrap();
    let users = Arc::new(UserStore::open(&users_path).unwrap());
    let mut cfg = ServerConfig::new(TlsSource::Generate {
        state_dir: dir.into(),
    });
    cfg.http = Some("127.0.0.1:0".parse().unwrap());
    cfg.https = None;
    let (stop, stopped) = oneshot::channel::<()>();
    let running = serve(cfg, users, Dispatcher::new(cimom), None, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    (format!("http://{}", running.http.unwrap()), stop)
}

pub fn client(url: &str) -> WbemClient {
    WbemClient::new(&ClientConfig {
        url: url.into(),
        user: USER.into(),
        password: PASSWORD.into(),
        tls: TlsVerify::Insecure,
        timeout: Duration::from_secs(60),
    })
    .unwrap()
}

/// One test-driver host served by an agent.
pub struct Agent {
    pub name: String,
    pub url: String,
    pub client: WbemClient,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

/// An agent for host `name` (8 CPUs, 16 GiB) with `vms` running sample VMs.
pub async fn agent(name: &str, vms: u32) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let spec = TestHostSpec::new(name, 8, 16 * 1024, dir.path().join("pool")).with_sample_vms(vms);
    let file = dir.path().join(format!("{name}.xml"));
    write_host_file(&file, &spec).unwrap();
    let hv = LibvirtHypervisor::open(&host_uri(&file)).unwrap();
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    vine_providers_virt::install(
        &mut registry,
        &mut profiles,
        VirtContext::new(hv, PREFIX, name),
    );
    let cimom = Cimom::new(
        agent_repo(),
        registry,
        profiles,
        CimomConfig {
            host: name.into(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    let (url, stop) = serve_http(cimom, dir.path()).await;
    Agent {
        name: name.into(),
        client: client(&url),
        url,
        _stop: stop,
        _dir: dir,
    }
}

/// The manager: store, inventory, coordinator and its WBEM server.
pub struct Manager {
    pub client: WbemClient,
    pub coordinator: Arc<Coordinator>,
    pub agents: Vec<Agent>,
    _stop_server: oneshot::Sender<()>,
    stop_jobs: watch::Sender<bool>,
    _dir: tempfile::TempDir,
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.stop_jobs.send(true);
    }
}

/// A manager of `agents`, named `dc`. `run_jobs` false leaves submitted
/// jobs queued (the job engine is not started).
pub async fn manager(dc: &str, agents: Vec<Agent>, run_jobs: bool) -> Manager {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    let inventory = Arc::new(
        Inventory::open(
            &store,
            ClientConfig {
                url: String::new(),
                user: USER.into(),
                password: PASSWORD.into(),
                tls: TlsVerify::Insecure,
                timeout: Duration::from_secs(30),
            },
        )
        .unwrap(),
    );
    for a in &agents {
        inventory.upsert_host(&a.name, &a.url).unwrap();
    }
    for (host, r) in inventory.resync_all(4).await.unwrap() {
        r.unwrap_or_else(|e| panic!("resync of {host}: {e}"));
    }
    let coordinator = Coordinator::open(&store, inventory, CoordinatorConfig::default()).unwrap();
    let (stop_jobs, mut rx) = watch::channel(false);
    if run_jobs {
        let c = coordinator.clone();
        tokio::spawn(async move {
            c.run(async move {
                while !*rx.borrow() {
                    if rx.changed().await.is_err() {
                        return;
                    }
                }
            })
            .await
        });
    }
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    vine_providers_manager::install(
        &mut registry,
        &mut profiles,
        ManagerContext::new(coordinator.clone(), dc),
    );
    let cimom = Cimom::new(
        manager_repo(),
        registry,
        profiles,
        CimomConfig {
            host: dc.into(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    let (url, stop) = serve_http(cimom, dir.path()).await;
    Manager {
        client: client(&url),
        coordinator,
        agents,
        _stop_server: stop,
        stop_jobs,
        _dir: dir,
    }
}

impl Manager {
    pub fn agent(&self, name: &str) -> &Agent {
        self.agents.iter().find(|a| a.name == name).unwrap()
    }

    pub async fn enumerate(&self, class: &str) -> Vec<CimInstance> {
        self.client
            .enumerate_instances(VINE_NS, class, &EnumArgs::default())
            .await
            .unwrap_or_else(|e| panic!("EnumerateInstances {class}: {e}"))
    }

    pub async fn get(&self, path: &CimInstanceName) -> Result<CimInstance, ClientError> {
        self.client
            .get_instance(VINE_NS, path, &EnumArgs::default())
            .await
    }

    pub async fn associator_names(
        &self,
        path: &CimInstanceName,
        assoc: &str,
    ) -> Vec<CimInstanceName> {
        self.client
            .associator_names(
                VINE_NS,
                path,
                &AssocArgs {
                    assoc_class: Some(assoc.into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_or_else(|e| panic!("AssociatorNames {assoc} of {path}: {e}"))
    }

    pub fn service(&self, dc: &str) -> CimInstanceName {
        vine_providers_manager::paths::service(dc)
    }

    pub async fn call(
        &self,
        target: &CimInstanceName,
        method: &str,
        params: Vec<CimParamValue>,
    ) -> Result<MethodResponse, ClientError> {
        self.client
            .invoke_method(MethodTarget::Instance(target.clone()), method, params)
            .await
    }

    /// Polls job `job` until it has finished (JobState 7 to 10) and
    /// returns it.
    pub async fn wait_job(&self, job: &CimInstanceName) -> CimInstance {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let j = self.get(job).await.unwrap();
            if matches!(j.get("JobState"), Some(CimValue::Uint16(s)) if *s >= 7) {
                return j;
            }
            if tokio::time::Instant::now() > deadline {
                panic!("job did not finish in 60 s: {j:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn rc(r: &MethodResponse) -> u32 {
    match r.return_value {
        Some(CimValue::Uint32(n)) => n,
        ref other => panic!("return value is not a uint32: {other:?}"),
    }
}

pub fn out_ref(r: &MethodResponse, name: &str) -> CimInstanceName {
    match r
        .out_params
        .iter()
        .find(|p| p.name.matches(name))
        .and_then(|p| p.value.as_ref())
    {
        Some(CimValue::Reference(p)) => (**p).clone(),
        other => panic!("OUT parameter {name} is not a reference: {other:?} in {r:?}"),
    }
}

pub fn uint(i: &CimInstance, p: &str) -> u64 {
    match i.get(p) {
        Some(v) => v
            .as_i128()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or_else(|| panic!("{p} is not an unsigned integer: {v:?}")),
        None => panic!("{p} is not set in {i:#?}"),
    }
}

pub fn status(e: &ClientError) -> vine_cim::CimStatus {
    e.cim_status()
        .unwrap_or_else(|| panic!("not a CIM error: {e}"))
}
