//! Synthetic CPU load for test-driver hosts.
//!
//! libvirt's test driver runs no guests, so nothing a domain does moves its
//! CPU counter the way a real guest would, and the resource monitor, the
//! metrics and the policy engine would see either no load or a made-up one.
//! [`SyntheticLoad`] wraps any [`Hypervisor`] and replaces the CPU counters
//! with ones that advance at a chosen rate:
//!
//! 1. A JSON file maps VM names to the fraction of their vCPUs kept busy
//!    (`{"web-1": 0.9, "db": 0.25}`); VMs not named are idle. The file is
//!    re-read whenever its modification time or size changes, so a test
//!    drives load by rewriting it. A missing file means every VM is idle;
//!    a file that does not parse keeps the last good loads (and is logged).
//! 2. `domain_stats` returns the inner counters with `cpu_time_ns` replaced
//!    by a counter that grows by fraction × vCPUs × wall time while the
//!    domain runs (paused or stopped domains do not advance).
//! 3. `host_stats` reports the sum of the domains' synthetic CPU time as
//!    busy and the rest of the host's CPUs × wall time as idle.
//!
//! This is a fake behind the real trait, for test-driver hosts only
//! (`vine agent --synthetic-load FILE`): it is justified because their
//! domains have no guest to load. Everything else passes through.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::broadcast;

use crate::error::HvResult;
use crate::types::*;
use crate::Hypervisor;

/// Why a load file was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoadFileError {
    #[error("cannot read synthetic load file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("synthetic load file {path}: {message}; write a JSON object of VM name to busy fraction, e.g. {{\"web-1\": 0.9}}")]
    Parse { path: PathBuf, message: String },
}

/// Parses a load file's text: VM name → fraction in 0..=1.
pub fn parse_loads(text: &str, path: &Path) -> Result<HashMap<String, f64>, LoadFileError> {
    let parse = |message: String| LoadFileError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let raw: HashMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| parse(e.to_string()))?;
    let mut out = HashMap::with_capacity(raw.len());
    for (vm, v) in raw {
        let f = v
            .as_f64()
            .ok_or_else(|| parse(format!("the load of {vm:?} is {v}, not a number")))?;
        if !(0.0..=1.0).contains(&f) {
            return Err(parse(format!(
                "the load of {vm:?} is {f}; give a fraction from 0 to 1"
            )));
        }
        out.insert(vm, f);
    }
    Ok(out)
}

/// The file and what was last read from it.
struct LoadFile {
    path: PathBuf,
    /// (modified, length) of the version read, to notice rewrites.
    seen: Option<(SystemTime, u64)>,
    loads: HashMap<String, f64>,
}

impl LoadFile {
    /// Re-reads the file if it changed since the last read.
    fn refresh(&mut self) {
        let meta = match std::fs::metadata(&self.path) {
            Ok(m) => m,
            Err(_) => {
                if self.seen.take().is_some() {
                    tracing::info!(file = %self.path.display(), "synthetic load file gone: every VM idle");
                }
                self.loads.clear();
                return;
            }
        };
        let stamp = (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        );
        if self.seen == Some(stamp) {
            return;
        }
        match std::fs::read_to_string(&self.path)
            .map_err(|source| LoadFileError::Read {
                path: self.path.clone(),
                source,
            })
            .and_then(|t| parse_loads(&t, &self.path))
        {
            Ok(loads) => {
                tracing::debug!(file = %self.path.display(), vms = loads.len(), "synthetic load read");
                self.loads = loads;
                self.seen = Some(stamp);
            }
            // A file caught half-written parses next time; until then the
            // last good loads stay.
            Err(e) => tracing::warn!(error = %e, "synthetic load file not used"),
        }
    }
}

/// One domain's synthetic counter.
struct Counter {
    cpu_ns: u64,
    at: Instant,
}

struct State {
    file: LoadFile,
    domains: HashMap<String, Counter>,
    /// Host busy and idle time, ns, since the wrapper was made.
    host_busy_ns: u64,
    host_idle_ns: u64,
    /// `host_busy_ns` at the last `host_stats`.
    host_busy_seen: u64,
    host_at: Instant,
}

/// A [`Hypervisor`] whose CPU counters follow a load file (see the module
/// doc).
pub struct SyntheticLoad {
    inner: Arc<dyn Hypervisor>,
    state: Mutex<State>,
}

impl SyntheticLoad {
    /// Wraps `inner`, loads from `path`. A missing file is fine (every VM
    /// idle until it appears); one that exists but does not parse is an
    /// error, so a typo is caught at start.
    pub fn wrap(
        inner: Arc<dyn Hypervisor>,
        path: &Path,
    ) -> Result<Arc<SyntheticLoad>, LoadFileError> {
        let mut file = LoadFile {
            path: path.to_path_buf(),
            seen: None,
            loads: HashMap::new(),
        };
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|source| LoadFileError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            parse_loads(&text, path)?;
            file.refresh();
        }
        Ok(Arc::new(SyntheticLoad {
            inner,
            state: Mutex::new(State {
                file,
                domains: HashMap::new(),
                host_busy_ns: 0,
                host_idle_ns: 0,
                host_busy_seen: 0,
                host_at: Instant::now(),
            }),
        }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves `name`'s counter to now; returns it.
    fn advance(st: &mut State, name: &str, vcpus: u32, running: bool, now: Instant) -> u64 {
        let fraction = if running {
            st.file.loads.get(name).copied().unwrap_or(0.0)
        } else {
            0.0
        };
        let c = st
            .domains
            .entry(name.to_string())
            .or_insert(Counter { cpu_ns: 0, at: now });
        let dt = now.saturating_duration_since(c.at).as_nanos() as f64;
        let add = (fraction * f64::from(vcpus) * dt) as u64;
        c.cpu_ns = c.cpu_ns.saturating_add(add);
        c.at = now;
        st.host_busy_ns = st.host_busy_ns.saturating_add(add);
        c.cpu_ns
    }
}

impl Hypervisor for SyntheticLoad {
    fn uri(&self) -> &str {
        self.inner.uri()
    }
    fn driver(&self) -> DriverKind {
        self.inner.driver()
    }
    fn host_info(&self) -> HvResult<HostInfo> {
        self.inner.host_info()
    }
    fn host_os(&self) -> HvResult<HostOs> {
        self.inner.host_os()
    }
    fn capabilities(&self) -> HvResult<Capabilities> {
        self.inner.capabilities()
    }

    fn host_stats(&self) -> HvResult<HostStats> {
        let mut s = self.inner.host_stats()?;
        let cpus = self.inner.host_info()?.cpus;
        let domains = self.inner.domains()?;
        let now = Instant::now();
        let mut st = self.lock();
        st.file.refresh();
        for d in &domains {
            Self::advance(
                &mut st,
                &d.name,
                d.vcpus,
                d.state == DomainState::Running,
                now,
            );
        }
        // Idle is what the host's CPUs offered since the last reading and
        // the domains did not use; counted on its own so it never goes
        // backwards.
        let dt = now.saturating_duration_since(st.host_at).as_nanos() as u64;
        let offered = dt.saturating_mul(u64::from(cpus));
        let used = st.host_busy_ns.saturating_sub(st.host_busy_seen);
        st.host_idle_ns = st.host_idle_ns.saturating_add(offered.saturating_sub(used));
        st.host_busy_seen = st.host_busy_ns;
        st.host_at = now;
        s.cpu_user_ns = st.host_busy_ns;
        s.cpu_system_ns = 0;
        s.cpu_iowait_ns = 0;
        s.cpu_idle_ns = st.host_idle_ns;
        Ok(s)
    }

    fn domains(&self) -> HvResult<Vec<DomainInfo>> {
        self.inner.domains()
    }
    fn domain(&self, name: &str) -> HvResult<DomainInfo> {
        self.inner.domain(name)
    }
    fn domain_spec(&self, name: &str) -> HvResult<DomainSpec> {
        self.inner.domain_spec(name)
    }
    fn domain_xml(&self, name: &str) -> HvResult<String> {
        self.inner.domain_xml(name)
    }
    fn render_xml(&self, spec: &DomainSpec) -> HvResult<String> {
        self.inner.render_xml(spec)
    }
    fn define(&self, spec: &DomainSpec) -> HvResult<DomainInfo> {
        self.inner.define(spec)
    }
    fn define_xml(&self, xml: &str) -> HvResult<DomainInfo> {
        self.inner.define_xml(xml)
    }
    fn undefine(&self, name: &str) -> HvResult<()> {
        self.inner.undefine(name)
    }
    fn start(&self, name: &str) -> HvResult<()> {
        self.inner.start(name)
    }
    fn shutdown(&self, name: &str) -> HvResult<()> {
        self.inner.shutdown(name)
    }
    fn destroy(&self, name: &str) -> HvResult<()> {
        self.inner.destroy(name)
    }
    fn reboot(&self, name: &str) -> HvResult<()> {
        self.inner.reboot(name)
    }
    fn reset(&self, name: &str) -> HvResult<()> {
        self.inner.reset(name)
    }
    fn suspend(&self, name: &str) -> HvResult<()> {
        self.inner.suspend(name)
    }
    fn resume(&self, name: &str) -> HvResult<()> {
        self.inner.resume(name)
    }
    fn set_vcpus(&self, name: &str, vcpus: u32, scope: Scope) -> HvResult<()> {
        self.inner.set_vcpus(name, vcpus, scope)
    }
    fn set_memory(&self, name: &str, kib: u64, scope: Scope) -> HvResult<()> {
        self.inner.set_memory(name, kib, scope)
    }
    fn set_cpu_shares(&self, name: &str, shares: u32, scope: Scope) -> HvResult<()> {
        self.inner.set_cpu_shares(name, shares, scope)
    }
    fn set_cpu_limit(&self, name: &str, pct: u32, scope: Scope) -> HvResult<()> {
        self.inner.set_cpu_limit(name, pct, scope)
    }
    fn set_cpu_reservation(&self, name: &str, pct: u32, scope: Scope) -> HvResult<()> {
        self.inner.set_cpu_reservation(name, pct, scope)
    }
    fn cpu_time(&self, name: &str) -> HvResult<CpuTime> {
        self.inner.cpu_time(name)
    }
    fn attach_disk(&self, name: &str, disk: &DiskSpec, scope: Scope) -> HvResult<()> {
        self.inner.attach_disk(name, disk, scope)
    }
    fn detach_disk(&self, name: &str, target: &str, scope: Scope) -> HvResult<()> {
        self.inner.detach_disk(name, target, scope)
    }
    fn attach_nic(&self, name: &str, nic: &NicSpec, scope: Scope) -> HvResult<NicSpec> {
        self.inner.attach_nic(name, nic, scope)
    }
    fn detach_nic(&self, name: &str, mac: &str, scope: Scope) -> HvResult<()> {
        self.inner.detach_nic(name, mac, scope)
    }
    fn snapshot_create(&self, name: &str, snapshot: &str) -> HvResult<SnapshotInfo> {
        self.inner.snapshot_create(name, snapshot)
    }
    fn snapshots(&self, name: &str) -> HvResult<Vec<SnapshotInfo>> {
        self.inner.snapshots(name)
    }
    fn snapshot_revert(&self, name: &str, snapshot: &str) -> HvResult<()> {
        self.inner.snapshot_revert(name, snapshot)
    }
    fn snapshot_delete(&self, name: &str, snapshot: &str) -> HvResult<()> {
        self.inner.snapshot_delete(name, snapshot)
    }

    fn domain_stats(&self, name: &str) -> HvResult<DomainStats> {
        let mut s = self.inner.domain_stats(name)?;
        let running = self.inner.domain(name)?.state == DomainState::Running;
        let now = Instant::now();
        let mut st = self.lock();
        st.file.refresh();
        s.cpu_time_ns = Self::advance(&mut st, name, s.vcpus, running, now);
        Ok(s)
    }

    fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.inner.subscribe()
    }
    fn migrate(&self, name: &str, dest_uri: &str) -> HvResult<MigrationMode> {
        let r = self.inner.migrate(name, dest_uri);
        if r.is_ok() {
            // Gone from here: a later domain of that name starts afresh.
            self.lock().domains.remove(name);
        }
        r
    }
    fn check_migratable(&self, name: &str, dest_uri: &str) -> HvResult<MigrationMode> {
        self.inner.check_migratable(name, dest_uri)
    }
    fn is_alive(&self) -> bool {
        self.inner.is_alive()
    }
}
