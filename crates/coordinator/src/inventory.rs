//! The manager's picture of the data centre: which hosts exist, whether
//! their agents answer, and which VMs each runs. Agents are the truth; the
//! inventory is a durable cache of them, refreshed by a full resync (here)
//! and kept fresh between resyncs by indications.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use vine_store::{names, Collection, Store, StoreError};
use vine_wbem::client::ClientConfig;

use crate::vni::{AgentConn, HostCapacity, VmState, VmView, VniError};

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
    /// In maintenance: placement and migrations put nothing new here. Set
    /// by a drain (and left on after it) or by an administrator.
    #[serde(default)]
    pub maintenance: bool,
    /// Powered on or off, as `host.power` jobs leave it. A host that is
    /// off on purpose is not "unreachable": nothing is placed on it and
    /// nobody is alerted, and the policy engine may wake it.
    #[serde(default)]
    pub power: HostPower,
    /// The MAC Wake-on-LAN wakes it by (lowercase `aa:bb:…`): sent by its
    /// agent when it joins, or set with `PATCH /api/v1/hosts/{name}`.
    #[serde(default)]
    pub mac: Option<String>,
    /// Whether its agent can power it off (DSP1027); `None` until asked
    /// (the first resync after it joins or comes back).
    #[serde(default)]
    pub can_power_off: Option<bool>,
}

impl HostRecord {
    /// A host just registered: nothing seen yet.
    pub fn new(name: &str, url: &str) -> Self {
        HostRecord {
            name: name.into(),
            url: url.into(),
            prefix: None,
            system_name: None,
            health: HostHealth::Unknown,
            last_seen: None,
            last_error: None,
            capacity: None,
            labels: BTreeMap::new(),
            maintenance: false,
            power: HostPower::On,
            mac: None,
            can_power_off: None,
        }
    }
}

/// A host's power as the manager knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostPower {
    /// On (every host the manager has not powered off).
    #[default]
    On,
    /// Its agent accepted a power-off; waiting for it to go silent.
    Stopping,
    /// Powered off by the manager; not resynced until it answers again.
    Off,
    /// Woken (Wake-on-LAN or BMC); waiting for its agent to answer.
    Starting,
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
///
/// The store is the truth. Beside it, [`VmIndex`] holds every VM in memory
/// by name and each host's totals, so admission, placement and `find_vm`
/// never copy or decode the whole list: it is built from the store on
/// first use and changed by every write here, after the store has taken
/// (and flushed) the write.
pub struct Inventory {
    hosts: Collection<HostRecord>,
    /// Keyed `<host>/<vm>` so a host's VMs are one prefix scan.
    vms: Collection<VmRecord>,
    /// `None` until first used (see [`Inventory::with_index`]).
    index: RwLock<Option<VmIndex>>,
    /// Every host as stored, by name; `None` until first read. Placement
    /// reads every host per request, and decoding 1,000 records each time
    /// showed in create latency.
    host_cache: RwLock<Option<BTreeMap<String, HostRecord>>>,
    /// Held across a write to `vms` and the matching index change, so two
    /// writers cannot leave the index in the other order than the store.
    writes: Mutex<()>,
    agents: RwLock<HashMap<String, Arc<AgentConn>>>,
    credentials: (String, String),
    client: ClientConfig,
}

/// What one host's VMs have been given, and how many there are (defined
/// VMs count, running or not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostTotals {
    pub vcpus: u64,
    pub memory_mib: u64,
    pub vms: usize,
}

/// Every VM in memory: by store key (so iteration is host by host, as the
/// store's), by name, and summed per host.
#[derive(Debug, Default, PartialEq)]
struct VmIndex {
    by_key: BTreeMap<String, VmRecord>,
    /// VM name to the keys it is stored under: one, or two for a moment
    /// while a VM migrates.
    by_name: HashMap<String, BTreeSet<String>>,
    totals: HashMap<String, HostTotals>,
}

fn vm_key(host: &str, vm: &str) -> String {
    format!("{host}/{vm}")
}

impl VmIndex {
    fn build(all: Vec<(String, VmRecord)>) -> Self {
        let mut ix = VmIndex::default();
        for (k, v) in all {
            ix.put(k, v);
        }
        ix
    }

    fn put(&mut self, key: String, vm: VmRecord) {
        self.remove(&key);
        let t = self.totals.entry(vm.host.clone()).or_default();
        t.vcpus += u64::from(vm.vcpus.unwrap_or(0));
        t.memory_mib += vm.memory_mib.unwrap_or(0);
        t.vms += 1;
        self.by_name
            .entry(vm.name.clone())
            .or_default()
            .insert(key.clone());
        self.by_key.insert(key, vm);
    }

    fn remove(&mut self, key: &str) -> Option<VmRecord> {
        let vm = self.by_key.remove(key)?;
        if let Some(t) = self.totals.get_mut(&vm.host) {
            t.vcpus = t.vcpus.saturating_sub(u64::from(vm.vcpus.unwrap_or(0)));
            t.memory_mib = t.memory_mib.saturating_sub(vm.memory_mib.unwrap_or(0));
            t.vms = t.vms.saturating_sub(1);
            if t.vms == 0 {
                self.totals.remove(&vm.host);
            }
        }
        if let Some(keys) = self.by_name.get_mut(&vm.name) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_name.remove(&vm.name);
            }
        }
        Some(vm)
    }

    fn on_host(&self, host: &str) -> impl Iterator<Item = &VmRecord> {
        let prefix = format!("{host}/");
        self.by_key
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v)
    }

    fn find(&self, name: &str) -> Option<&VmRecord> {
        self.by_name
            .get(name)
            .and_then(|keys| keys.iter().next())
            .and_then(|k| self.by_key.get(k))
    }
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
            index: RwLock::new(None),
            host_cache: RwLock::new(None),
            writes: Mutex::new(()),
            agents: RwLock::new(HashMap::new()),
            credentials: (client.user.clone(), client.password.clone()),
            client,
        })
    }

    /// Registers a host by its agent URL. Refuses a second host of the same
    /// name.
    pub fn add_host(&self, name: &str, url: &str) -> Result<HostRecord> {
        let rec = HostRecord::new(name, url);
        let _w = self.write_lock();
        match self.hosts.insert_new(name, &rec) {
            Ok(()) => {
                self.cache_host(&rec);
                Ok(rec)
            }
            Err(e) if e.is_already_exists() => {
                // Same URL again is not an error: agents re-register on start.
                match self.hosts.get(name)? {
                    Some(old) if old.url == url => Ok(old),
                    _ => Err(InventoryError::HostExists(name.into())),
                }
            }
            Err(e) => {
                self.drop_host_cache();
                Err(e.into())
            }
        }
    }

    /// Registers a host, or moves an existing one to a new agent URL (an
    /// agent restarted on another port).
    pub fn upsert_host(&self, name: &str, url: &str) -> Result<HostRecord> {
        let rec = self.update_host(name, |old| {
            Some(match old {
                Some(mut r) => {
                    r.url = url.to_string();
                    // A (re)started agent may have other power flags; and
                    // one that registers is on, whoever switched it on.
                    r.can_power_off = None;
                    if r.power == HostPower::Off {
                        r.power = HostPower::On;
                    }
                    r
                }
                None => HostRecord::new(name, url),
            })
        })?;
        self.agents
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        rec.ok_or_else(|| InventoryError::NoHost(name.into()))
    }

    /// Replaces `host`'s labels.
    pub fn set_labels(&self, host: &str, labels: BTreeMap<String, String>) -> Result<HostRecord> {
        self.update_host(host, |old| {
            old.map(|mut r| {
                r.labels = labels.clone();
                r
            })
        })?
        .ok_or_else(|| InventoryError::NoHost(host.into()))
    }

    /// Turns `host`'s maintenance flag on or off.
    pub fn set_maintenance(&self, host: &str, on: bool) -> Result<HostRecord> {
        self.update_host(host, |old| {
            old.map(|mut r| {
                r.maintenance = on;
                r
            })
        })?
        .ok_or_else(|| InventoryError::NoHost(host.into()))
    }

    /// Records `host`'s power (what a `host.power` job has reached). An
    /// agent that powered off is not contacted again until it is woken, so
    /// its health is unknown rather than unreachable.
    pub fn set_power(&self, host: &str, power: HostPower) -> Result<HostRecord> {
        self.update_host(host, |old| {
            old.map(|mut r| {
                r.power = power;
                if power == HostPower::Off {
                    r.health = HostHealth::Unknown;
                    r.last_error = None;
                }
                r
            })
        })?
        .ok_or_else(|| InventoryError::NoHost(host.into()))
    }

    /// Sets (or clears) the MAC `host` is woken by.
    pub fn set_mac(&self, host: &str, mac: Option<String>) -> Result<HostRecord> {
        self.update_host(host, |old| {
            old.map(|mut r| {
                r.mac = mac.clone();
                r
            })
        })?
        .ok_or_else(|| InventoryError::NoHost(host.into()))
    }

    /// Records whether `host`'s agent can power it off (`None`: ask again).
    pub fn set_can_power_off(&self, host: &str, can: Option<bool>) -> Result<HostRecord> {
        self.update_host(host, |old| {
            old.map(|mut r| {
                r.can_power_off = can;
                r
            })
        })?
        .ok_or_else(|| InventoryError::NoHost(host.into()))
    }

    /// Read-modify-write of one host record (flushed), then the cache:
    /// under the write lock, so the cache ends as the store does.
    fn update_host(
        &self,
        name: &str,
        mut f: impl FnMut(Option<HostRecord>) -> Option<HostRecord>,
    ) -> Result<Option<HostRecord>> {
        let _w = self.write_lock();
        let rec = self
            .hosts
            .update(name, |old| -> std::result::Result<_, StoreError> {
                Ok(f(old))
            })?;
        if let Some(r) = &rec {
            self.cache_host(r);
        }
        Ok(rec)
    }

    /// Puts `rec` in the host cache if it is built (write lock held).
    fn cache_host(&self, rec: &HostRecord) {
        if let Some(c) = self
            .host_cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            c.insert(rec.name.clone(), rec.clone());
        }
    }

    /// Runs `f` on every host, reading them from the store first if this
    /// is the first read.
    fn with_hosts<T>(&self, f: impl FnOnce(&BTreeMap<String, HostRecord>) -> T) -> Result<T> {
        {
            let c = self.host_cache.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = c.as_ref() {
                return Ok(f(c));
            }
        }
        let _w = self.write_lock();
        let mut c = self.host_cache.write().unwrap_or_else(|e| e.into_inner());
        if c.is_none() {
            *c = Some(self.hosts.list()?.into_iter().collect());
        }
        Ok(f(c.as_ref().unwrap_or(&BTreeMap::new())))
    }

    /// Every host, by name.
    pub fn hosts(&self) -> Result<Vec<HostRecord>> {
        self.with_hosts(|c| c.values().cloned().collect())
    }

    /// One host.
    pub fn host(&self, name: &str) -> Result<HostRecord> {
        self.with_hosts(|c| c.get(name).cloned())?
            .ok_or_else(|| InventoryError::NoHost(name.into()))
    }

    /// Runs `f` on the VM index, building it from the store first if
    /// this is its first use.
    fn with_index<T>(&self, f: impl FnOnce(&VmIndex) -> T) -> Result<T> {
        {
            let ix = self.index.read().unwrap_or_else(|e| e.into_inner());
            if let Some(ix) = ix.as_ref() {
                return Ok(f(ix));
            }
        }
        let _w = self.write_lock();
        self.ensure_index()?;
        let ix = self.index.read().unwrap_or_else(|e| e.into_inner());
        match ix.as_ref() {
            Some(ix) => Ok(f(ix)),
            None => unreachable!("ensure_index fills the index or fails"),
        }
    }

    fn write_lock(&self) -> MutexGuard<'_, ()> {
        self.writes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Builds the index from the store if it is not built. Call with the
    /// write lock held, so no write slips between the read and the fill.
    fn ensure_index(&self) -> Result<()> {
        if self
            .index
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
        {
            return Ok(());
        }
        let built = VmIndex::build(self.vms.list()?);
        *self.index.write().unwrap_or_else(|e| e.into_inner()) = Some(built);
        Ok(())
    }

    /// A VM write's outcome; on failure the index is dropped, to be
    /// rebuilt from the store at the next read: a write that failed at its
    /// flush may still have changed what the store reads back.
    fn vm_written<T>(&self, r: std::result::Result<T, StoreError>) -> Result<T> {
        if r.is_err() {
            *self.index.write().unwrap_or_else(|e| e.into_inner()) = None;
        }
        Ok(r?)
    }

    /// As for VMs: after a failed host write, reread the hosts next time.
    fn drop_host_cache(&self) {
        *self.host_cache.write().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Changes the index after a store write (write lock held).
    fn change_index(&self, f: impl FnOnce(&mut VmIndex)) {
        if let Some(ix) = self
            .index
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            f(ix);
        }
    }

    /// Every VM, host by host.
    pub fn vms(&self) -> Result<Vec<VmRecord>> {
        self.with_index(|ix| ix.by_key.values().cloned().collect())
    }

    /// How many VMs there are.
    pub fn vm_count(&self) -> Result<usize> {
        self.with_index(|ix| ix.by_key.len())
    }

    /// Each host's VM totals (hosts without VMs are absent).
    pub fn host_totals(&self) -> Result<HashMap<String, HostTotals>> {
        self.with_index(|ix| ix.totals.clone())
    }

    /// Records one VM as seen on its host (what a resync writes, one VM at
    /// a time: for callers that learn of a single change).
    pub fn record_vm(&self, vm: &VmRecord) -> Result<()> {
        let _w = self.write_lock();
        self.ensure_index()?;
        let key = vm_key(&vm.host, &vm.name);
        self.vm_written(self.vms.put(&key, vm))?;
        self.change_index(|ix| ix.put(key, vm.clone()));
        Ok(())
    }

    /// Forgets VM `name` on `host`; true if it was there.
    pub fn forget_vm(&self, host: &str, name: &str) -> Result<bool> {
        let _w = self.write_lock();
        self.ensure_index()?;
        let key = vm_key(host, name);
        let was = self.vm_written(self.vms.delete(&key))?;
        self.change_index(|ix| {
            ix.remove(&key);
        });
        Ok(was)
    }

    /// The VMs of one host.
    pub fn vms_on(&self, host: &str) -> Result<Vec<VmRecord>> {
        self.with_index(|ix| ix.on_host(host).cloned().collect())
    }

    /// The VM named `name`, wherever it runs.
    pub fn find_vm(&self, name: &str) -> Result<Option<VmRecord>> {
        self.with_index(|ix| ix.find(name).cloned())
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
    ///
    /// A host powered off on purpose is only probed: silence is expected
    /// and changes nothing; an answer means someone switched it on, and it
    /// is on again.
    pub async fn resync_host(&self, host: &str) -> Result<ResyncReport> {
        let was = self.host(host)?;
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
            Err(_) if was.power == HostPower::Off => return Ok(ResyncReport::default()),
            Err(e) => {
                let msg = e.to_string();
                self.update_host(host, |old| {
                    old.map(|mut r| {
                        r.health = HostHealth::Unreachable;
                        r.last_error = Some(msg.clone());
                        r
                    })
                })?;
                return Err(e.into());
            }
        };
        let report = self.apply_seen(host, vms)?;
        let (prefix, system) = (h.prefix, h.name);
        let can_power_off = match was.can_power_off {
            Some(c) => Some(c),
            None => match agent.can_power_off().await {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::debug!(host, error = %e, "cannot tell whether the agent powers off");
                    None
                }
            },
        };
        if was.power == HostPower::Off {
            tracing::info!(host, "a host powered off answers again: it is on");
        }
        self.update_host(host, |old| {
            old.map(|mut r| {
                r.can_power_off = can_power_off;
                if r.power == HostPower::Off {
                    r.power = HostPower::On;
                }
                r.prefix = Some(prefix.clone());
                r.system_name = Some(system.clone());
                r.capacity = Some(cap);
                r.health = HostHealth::Up;
                r.last_seen = Some(now());
                r.last_error = None;
                r
            })
        })?;
        Ok(report)
    }

    /// Makes the stored VMs of `host` those in `seen`: new and changed
    /// ones written in one flushed batch, gone ones deleted, the index
    /// changed to match after each store write.
    fn apply_seen(&self, host: &str, seen: Vec<VmView>) -> Result<ResyncReport> {
        let _w = self.write_lock();
        self.ensure_index()?;
        let old: HashMap<String, VmRecord> = self.with_index(|ix| {
            ix.on_host(host)
                .map(|v| (v.name.clone(), v.clone()))
                .collect()
        })?;
        let mut report = ResyncReport::default();
        let mut current = HashSet::new();
        let mut writes = Vec::new();
        for v in seen {
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
            writes.push((vm_key(host, &v.name), rec));
        }
        if !writes.is_empty() {
            self.vm_written(
                self.vms
                    .put_batch(writes.iter().map(|(k, v)| (k.as_str(), v))),
            )?;
            self.change_index(|ix| {
                for (k, v) in writes {
                    ix.put(k, v);
                }
            });
        }
        let mut gone: Vec<&String> = old.keys().filter(|n| !current.contains(*n)).collect();
        gone.sort();
        for name in gone {
            let key = vm_key(host, name);
            self.vm_written(self.vms.delete(&key))?;
            self.change_index(|ix| {
                ix.remove(&key);
            });
            report.removed.push(name.clone());
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use vine_wbem::client::TlsVerify;

    fn open(dir: &std::path::Path) -> Inventory {
        let store = Store::open(dir).unwrap();
        Inventory::open(
            &store,
            ClientConfig {
                url: String::new(),
                user: String::new(),
                password: String::new(),
                tls: TlsVerify::Insecure,
                timeout: std::time::Duration::from_secs(1),
            },
        )
        .unwrap()
    }

    fn seen(name: &str, vcpus: u32, mem: u64) -> VmView {
        VmView {
            name: name.into(),
            uuid: None,
            state: VmState::Running,
            vcpus: Some(vcpus),
            memory_mib: Some(mem),
        }
    }

    fn totals(inv: &Inventory, host: &str) -> HostTotals {
        inv.host_totals()
            .unwrap()
            .get(host)
            .copied()
            .unwrap_or_default()
    }

    /// The index as the store would build it now: what every write must
    /// leave it equal to.
    fn rebuilt(inv: &Inventory) -> VmIndex {
        VmIndex::build(inv.vms.list().unwrap())
    }

    fn index(inv: &Inventory) -> VmIndex {
        inv.with_index(|ix| VmIndex {
            by_key: ix.by_key.clone(),
            by_name: ix.by_name.clone(),
            totals: ix.totals.clone(),
        })
        .unwrap()
    }

    #[test]
    fn the_index_follows_resyncs_that_add_change_and_remove() {
        let dir = tempfile::tempdir().unwrap();
        let inv = open(dir.path());
        inv.add_host("a", "http://a.invalid").unwrap();
        inv.add_host("b", "http://b.invalid").unwrap();

        let r = inv
            .apply_seen("a", vec![seen("x", 2, 1024), seen("y", 1, 512)])
            .unwrap();
        assert_eq!(r.added, ["x", "y"]);
        inv.apply_seen("b", vec![seen("z", 4, 4096)]).unwrap();
        assert_eq!(
            totals(&inv, "a"),
            HostTotals {
                vcpus: 3,
                memory_mib: 1536,
                vms: 2
            }
        );
        assert_eq!(inv.find_vm("z").unwrap().unwrap().host, "b");
        assert_eq!(index(&inv), rebuilt(&inv));

        // y grows, x goes, w arrives.
        let r = inv
            .apply_seen("a", vec![seen("y", 2, 2048), seen("w", 1, 256)])
            .unwrap();
        assert_eq!(
            (r.added, r.changed, r.removed),
            (
                vec!["w".to_string()],
                vec!["y".to_string()],
                vec!["x".to_string()]
            )
        );
        assert_eq!(
            totals(&inv, "a"),
            HostTotals {
                vcpus: 3,
                memory_mib: 2304,
                vms: 2
            }
        );
        assert!(inv.find_vm("x").unwrap().is_none());
        assert_eq!(inv.find_vm("y").unwrap().unwrap().vcpus, Some(2));
        assert_eq!(index(&inv), rebuilt(&inv));

        // A host seen empty has no totals left; the other is untouched.
        inv.apply_seen("a", Vec::new()).unwrap();
        assert_eq!(totals(&inv, "a"), HostTotals::default());
        assert_eq!(totals(&inv, "b").vms, 1);
        assert_eq!(inv.vm_count().unwrap(), 1);
        assert_eq!(index(&inv), rebuilt(&inv));
    }

    #[test]
    fn a_vm_seen_on_two_hosts_mid_migration_is_found_until_both_are_gone() {
        let dir = tempfile::tempdir().unwrap();
        let inv = open(dir.path());
        inv.apply_seen("a", vec![seen("m", 1, 512)]).unwrap();
        inv.apply_seen("b", vec![seen("m", 1, 512)]).unwrap();
        assert_eq!(inv.vms_on("a").unwrap().len(), 1);
        inv.apply_seen("a", Vec::new()).unwrap();
        assert_eq!(inv.find_vm("m").unwrap().unwrap().host, "b");
        assert!(inv.forget_vm("b", "m").unwrap());
        assert!(inv.find_vm("m").unwrap().is_none());
        assert_eq!(index(&inv), rebuilt(&inv));
    }

    #[test]
    fn single_writes_and_a_reopen_give_the_same_index() {
        let dir = tempfile::tempdir().unwrap();
        {
            let inv = open(dir.path());
            inv.apply_seen("a", vec![seen("x", 1, 512)]).unwrap();
            let mut v = inv.find_vm("x").unwrap().unwrap();
            v.memory_mib = Some(1024);
            inv.record_vm(&v).unwrap();
            inv.record_vm(&VmRecord {
                name: "n".into(),
                host: "a-b".into(),
                uuid: None,
                state: VmState::Stopped,
                vcpus: None,
                memory_mib: None,
            })
            .unwrap();
            assert_eq!(totals(&inv, "a").memory_mib, 1024);
            // `a/`'s range must not take in host `a-b`'s VM.
            assert_eq!(inv.vms_on("a").unwrap().len(), 1);
            assert_eq!(index(&inv), rebuilt(&inv));
        }
        let inv = open(dir.path());
        assert_eq!(inv.vm_count().unwrap(), 2);
        assert_eq!(totals(&inv, "a").memory_mib, 1024);
        assert_eq!(totals(&inv, "a-b").vms, 1);
    }

    #[test]
    fn host_writes_keep_the_cached_hosts_equal_to_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let inv = open(dir.path());
        inv.add_host("b", "http://b.invalid").unwrap();
        assert_eq!(inv.hosts().unwrap().len(), 1); // the cache is built now
        inv.add_host("a", "http://a.invalid").unwrap();
        inv.set_maintenance("a", true).unwrap();
        inv.set_labels("b", [("rack".into(), "r1".into())].into())
            .unwrap();
        inv.upsert_host("b", "http://b2.invalid").unwrap();
        assert!(matches!(
            inv.set_maintenance("ghost", true),
            Err(InventoryError::NoHost(_))
        ));
        let stored: Vec<HostRecord> = inv
            .hosts
            .list()
            .unwrap()
            .into_iter()
            .map(|(_, h)| h)
            .collect();
        assert_eq!(inv.hosts().unwrap(), stored);
        let b = inv.host("b").unwrap();
        assert_eq!(
            (b.url.as_str(), b.labels["rack"].as_str()),
            ("http://b2.invalid", "r1")
        );
        assert!(inv.host("a").unwrap().maintenance);
    }
}
