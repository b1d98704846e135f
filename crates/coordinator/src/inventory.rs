//! The manager's picture of the data centre: which hosts exist, whether
//! their agents answer, and which VMs each runs. Agents are the truth; the
//! inventory is a durable cache of them, refreshed by a full resync (here)
//! and kept fresh between resyncs by indications.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use vine_store::{names, Collection, Store, StoreError};
use vine_wbem::client::ClientConfig;

use crate::vni::{AgentConn, HostCapacity, VmState, VniError};

/// A host the manager knows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// The manager's name for the host (unique).
    pub name: String,
    /// The agent's WBEM URL.
    pub url: String,
    /// The agent's class prefix, once seen.
    pub prefix: Option<String>,
    /// The host system's `Name` on the agent, once seen.
    pub system_name: Option<String>,
    pub health: HostHealth,
    /// Unix seconds of the last successful resync.
    pub last_seen: Option<u64>,
    /// Why the last resync failed, when it did.
    pub last_error: Option<String>,
    /// Physical vCPUs and memory, once seen.
    #[serde(default)]
    pub capacity: Option<HostCapacity>,
    /// Administrator's labels (`rack=a`, `gpu=yes`): what label-scoped
    /// policies and placement constraints match. Set by the agent when it
    /// registers (`vine agent --label`) or by `--agent NAME=URL`'s owner.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// Whether the host's agent answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostHealth {
    Unknown,
    Up,
    Unreachable,
}

/// A VM as last seen on its host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmRecord {
    pub name: String,
    pub host: String,
    pub uuid: Option<String>,
    pub state: VmState,
    pub vcpus: Option<u32>,
    pub memory_mib: Option<u64>,
}

/// What one host's resync changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResyncReport {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

/// Inventory failures.
#[derive(Debug, Error)]
pub enum InventoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Agent(#[from] VniError),
    #[error("no host named {0}; `vine host ls` lists them")]
    NoHost(String),
    #[error("a host named {0} already exists")]
    HostExists(String),
}

type Result<T> = std::result::Result<T, InventoryError>;

/// Hosts and VMs, stored; one agent connection per host.
pub struct Inventory {
    hosts: Collection<HostRecord>,
    /// Keyed `<host>/<vm>` so a host's VMs are one prefix scan.
    vms: Collection<VmRecord>,
    /// Every VM, as last read from `vms`: admission, placement and the
    /// API read the whole list on every request, and decoding 20,000
    /// records from sled each time is what made creates slow at scale.
    vm_cache: VmCache,
    agents: RwLock<HashMap<String, Arc<AgentConn>>>,
    credentials: (String, String),
    client: ClientConfig,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Inventory {
    /// The inventory in `store`; `client` is the template for agent
    /// connections (user, password, TLS, timeout; its URL is replaced per
    /// host).
    pub fn open(store: &Store, client: ClientConfig) -> Result<Self> {
        Ok(Inventory {
            hosts: store.collection(names::HOSTS)?,
            vms: store.collection(names::VMS)?,
            vm_cache: VmCache::default(),
            agents: RwLock::new(HashMap::new()),
            credentials: (client.user.clone(), client.password.clone()),
            client,
        })
    }

    /// Registers a host by its agent URL. Refuses a second host of the same
    /// name.
    pub fn add_host(&self, name: &str, url: &str) -> Result<HostRecord> {
        let rec = HostRecord {
            name: name.into(),
            url: url.into(),
            prefix: None,
            system_name: None,
            health: HostHealth::Unknown,
            last_seen: None,
            last_error: None,
            capacity: None,
            labels: BTreeMap::new(),
        };
        match self.hosts.insert_new(name, &rec) {
            Ok(()) => Ok(rec),
            Err(e) if e.is_already_exists() => {
                // Same URL again is not an error: agents re-register on start.
                match self.hosts.get(name)? {
                    Some(old) if old.url == url => Ok(old),
                    _ => Err(InventoryError::HostExists(name.into())),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Registers a host, or moves an existing one to a new agent URL (an
    /// agent restarted on another port).
    pub fn upsert_host(&self, name: &str, url: &str) -> Result<HostRecord> {
        let rec = self
            .hosts
            .update(name, |old| -> std::result::Result<_, StoreError> {
                Ok(Some(match old {
                    Some(mut r) => {
                        r.url = url.to_string();
                        r
                    }
                    None => HostRecord {
                        name: name.into(),
                        url: url.into(),
                        prefix: None,
                        system_name: None,
                        health: HostHealth::Unknown,
                        last_seen: None,
                        last_error: None,
                        capacity: None,
                        labels: BTreeMap::new(),
                    },
                }))
            })?;
        self.agents
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        rec.ok_or_else(|| InventoryError::NoHost(name.into()))
    }

    /// Replaces `host`'s labels.
    pub fn set_labels(&self, host: &str, labels: BTreeMap<String, String>) -> Result<HostRecord> {
        self.hosts
            .update(host, |old| -> std::result::Result<_, StoreError> {
                Ok(old.map(|mut r| {
                    r.labels = labels.clone();
                    r
                }))
            })?
            .ok_or_else(|| InventoryError::NoHost(host.into()))
    }

    /// Every host.
    pub fn hosts(&self) -> Result<Vec<HostRecord>> {
        Ok(self.hosts.list()?.into_iter().map(|(_, h)| h).collect())
    }

    /// One host.
    pub fn host(&self, name: &str) -> Result<HostRecord> {
        self.hosts
            .get(name)?
            .ok_or_else(|| InventoryError::NoHost(name.into()))
    }

    /// Every VM, host by host.
    pub fn vms(&self) -> Result<Vec<VmRecord>> {
        if let Some(all) = self.vm_cache.get() {
            return Ok(all.as_ref().clone());
        }
        let generation = self.vm_cache.generation();
        let all: Vec<VmRecord> = self.vms.list()?.into_iter().map(|(_, v)| v).collect();
        self.vm_cache.fill(generation, Arc::new(all.clone()));
        Ok(all)
    }

    /// Records one VM as seen on its host (what a resync writes, one VM at
    /// a time: for callers that learn of a single change).
    pub fn record_vm(&self, vm: &VmRecord) -> Result<()> {
        let r = self.vms.put(&format!("{}/{}", vm.host, vm.name), vm);
        self.vm_cache.invalidate();
        Ok(r?)
    }

    /// Forgets VM `name` on `host`; true if it was there.
    pub fn forget_vm(&self, host: &str, name: &str) -> Result<bool> {
        let r = self.vms.delete(&format!("{host}/{name}"));
        self.vm_cache.invalidate();
        Ok(r?)
    }

    /// The VMs of one host.
    pub fn vms_on(&self, host: &str) -> Result<Vec<VmRecord>> {
        Ok(self
            .vms
            .scan_prefix(&format!("{host}/"))?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    /// The VM named `name`, wherever it runs.
    pub fn find_vm(&self, name: &str) -> Result<Option<VmRecord>> {
        Ok(self.vms()?.into_iter().find(|v| v.name == name))
    }

    /// The connection to `host`'s agent.
    pub fn agent(&self, host: &str) -> Result<Arc<AgentConn>> {
        if let Some(a) = self
            .agents
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(host)
        {
            return Ok(a.clone());
        }
        let rec = self.host(host)?;
        let mut cfg = self.client.clone();
        cfg.url = rec.url.clone();
        cfg.user = self.credentials.0.clone();
        cfg.password = self.credentials.1.clone();
        let conn = Arc::new(AgentConn::new(&cfg)?);
        self.agents
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(host.to_string(), conn.clone());
        Ok(conn)
    }

    /// Reads `host`'s VMs from its agent and makes the stored picture match.
    /// An agent that does not answer marks the host unreachable and keeps
    /// its last known VMs (they may well still run).
    pub async fn resync_host(&self, host: &str) -> Result<ResyncReport> {
        let agent = self.agent(host)?;
        let seen = async {
            let h = agent.host().await?;
            let cap = agent.capacity().await?;
            let vms = agent.vms().await?;
            Ok::<_, VniError>((h, cap, vms))
        }
        .await;
        let (h, cap, vms) = match seen {
            Ok(x) => x,
            Err(e) => {
                let msg = e.to_string();
                self.hosts
                    .update(host, |old| -> std::result::Result<_, StoreError> {
                        Ok(old.map(|mut r| {
                            r.health = HostHealth::Unreachable;
                            r.last_error = Some(msg.clone());
                            r
                        }))
                    })?;
                return Err(e.into());
            }
        };
        let old: HashMap<String, VmRecord> = self
            .vms_on(host)?
            .into_iter()
            .map(|v| (v.name.clone(), v))
            .collect();
        let mut report = ResyncReport::default();
        let mut current = HashSet::new();
        let mut writes = Vec::new();
        for v in vms {
            current.insert(v.name.clone());
            let rec = VmRecord {
                name: v.name.clone(),
                host: host.into(),
                uuid: v.uuid,
                state: v.state,
                vcpus: v.vcpus,
                memory_mib: v.memory_mib,
            };
            match old.get(&v.name) {
                None => report.added.push(v.name.clone()),
                Some(o) if *o != rec => report.changed.push(v.name.clone()),
                Some(_) => continue,
            }
            writes.push((format!("{host}/{}", v.name), rec));
        }
        if !writes.is_empty() {
            let r = self
                .vms
                .put_batch(writes.iter().map(|(k, v)| (k.as_str(), v)));
            self.vm_cache.invalidate();
            r?;
        }
        for name in old.keys().filter(|n| !current.contains(*n)) {
            let r = self.vms.delete(&format!("{host}/{name}"));
            self.vm_cache.invalidate();
            r?;
            report.removed.push(name.clone());
        }
        let (prefix, system) = (h.prefix, h.name);
        self.hosts
            .update(host, |old| -> std::result::Result<_, StoreError> {
                Ok(old.map(|mut r| {
                    r.prefix = Some(prefix.clone());
                    r.system_name = Some(system.clone());
                    r.capacity = Some(cap);
                    r.health = HostHealth::Up;
                    r.last_seen = Some(now());
                    r.last_error = None;
                    r
                }))
            })?;
        Ok(report)
    }

    /// Resyncs every host, `parallel` at a time; one unreachable host does
    /// not stop the others. Returns each host's outcome.
    pub async fn resync_all(
        &self,
        parallel: usize,
    ) -> Result<Vec<(String, std::result::Result<ResyncReport, String>)>> {
        let names: Vec<String> = self.hosts()?.into_iter().map(|h| h.name).collect();
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(parallel.max(1)) {
            let results = futures_join(chunk.iter().map(|n| async move {
                let r = self.resync_host(n).await.map_err(|e| e.to_string());
                (n.clone(), r)
            }))
            .await;
            out.extend(results);
        }
        Ok(out)
    }
}

/// The cached VM list and a generation that every write bumps: a reader
/// that decoded the list while a write happened does not keep its (maybe
/// stale) copy.
#[derive(Default)]
struct VmCache {
    inner: std::sync::Mutex<(u64, Option<Arc<Vec<VmRecord>>>)>,
}

impl VmCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<Arc<Vec<VmRecord>>>)> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn get(&self) -> Option<Arc<Vec<VmRecord>>> {
        self.lock().1.clone()
    }

    fn generation(&self) -> u64 {
        self.lock().0
    }

    fn fill(&self, generation: u64, all: Arc<Vec<VmRecord>>) {
        let mut g = self.lock();
        if g.0 == generation {
            g.1 = Some(all);
        }
    }

    fn invalidate(&self) {
        let mut g = self.lock();
        g.0 += 1;
        g.1 = None;
    }
}

/// Runs futures concurrently on the current task and collects their
/// outputs in order.
async fn futures_join<F, T>(futs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.map(Box::pin).collect();
    let mut results: Vec<Option<T>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if results[i].is_some() {
                continue;
            }
            match f.as_mut().poll(cx) {
                std::task::Poll::Ready(v) => results[i] = Some(v),
                std::task::Poll::Pending => pending = true,
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
