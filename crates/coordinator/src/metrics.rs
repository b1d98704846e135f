//! Resource-monitor history on the manager: every `interval` the collector
//! asks each reachable agent for its utilization (the one CQL query of
//! [`AgentConn::utilization`](crate::vni::AgentConn::utilization), agents
//! in parallel up to a bound) and keeps it in fixed-size rings, for the
//! console's charts and `GET /api/v1/{hosts,vms}/{name}/metrics`.
//!
//! 1. Each round has one timestamp (the manager's clock), stored once.
//! 2. Hosts keep [`MetricsConfig::host_points`] rounds (1 h at 5 s);
//!    the data centre as a whole keeps the same.
//! 3. VMs are written every [`MetricsConfig::vm_stride`]-th round and keep
//!    [`MetricsConfig::vm_points`] of those (30 min at 15 s by default).
//! 4. Values are `f32` percent (CPU busy, memory in use); an element with
//!    no sample for a whole window is dropped, and at most
//!    [`MetricsConfig::max_vms`] VMs are tracked.
//!
//! Bound, defaults: a VM costs `120 × 2 × 4` B of values plus its name and
//! map entry, about 1 KiB; a host `720 × 2 × 4` B ≈ 5.7 KiB. 1,000 hosts
//! with 20,000 VMs hold 25.5 MiB (the unit test below measures it with
//! [`MetricsHistory::heap_bytes`]), and no more than that however long the
//! manager runs.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::inventory::{HostHealth, HostPower, HostRecord, Inventory, VmRecord};
use crate::vni::Utilization;

/// Fixed-size rings of rounds.
pub mod ring;

pub use ring::SeriesView;
use ring::{Rings, Sample, CPU, MEMORY};

/// The name the data-centre series is kept under.
const DATACENTER: &str = "";

/// How often and how much.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Time between rounds.
    pub interval: Duration,
    /// Rounds each host keeps.
    pub host_points: usize,
    /// VMs are written every this many rounds…
    pub vm_stride: u32,
    /// …and keep this many of those.
    pub vm_points: usize,
    /// VMs beyond this many are not tracked (memory stays bounded).
    pub max_vms: usize,
    /// Hosts beyond this many are not tracked.
    pub max_hosts: usize,
    /// Agents asked at once.
    pub parallel: usize,
    /// How long a whole round may take: agents that have not answered
    /// by then (slow ones, or ones still waiting for their turn) have a
    /// gap in this round instead of holding up the next.
    pub report_timeout: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            interval: Duration::from_secs(5),
            host_points: 720,
            vm_stride: 3,
            vm_points: 120,
            max_vms: 50_000,
            max_hosts: 5_000,
            parallel: 64,
            report_timeout: Duration::from_secs(10),
        }
    }
}

impl MetricsConfig {
    /// The defaults with rounds every `interval` (the host window stays
    /// 720 rounds: 1 h at 5 s, 12 min at 1 s).
    pub fn every(interval: Duration) -> Self {
        MetricsConfig {
            interval,
            ..MetricsConfig::default()
        }
    }
}

/// One host's newest values, for the overview's table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HostNow {
    pub name: String,
    pub cpu_pct: Option<f32>,
    pub memory_pct: Option<f32>,
}

/// What the overview shows: the data centre over time and every host now.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    /// Seconds between rounds.
    pub interval_s: f64,
    /// CPU % across hosts (weighted by their CPUs) and memory % (used of
    /// all hosts' memory), per round.
    pub datacenter: SeriesView,
    /// Each host's values in the newest round.
    pub hosts: Vec<HostNow>,
}

struct State {
    hosts: Rings,
    vms: Rings,
    datacenter: Rings,
    rounds: u64,
    refused_logged: bool,
}

/// The history, shared by the collector (writes once per round) and the
/// API (reads).
pub struct MetricsHistory {
    config: MetricsConfig,
    state: RwLock<State>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn pct(part: f64, whole: f64) -> f32 {
    if whole > 0.0 && part.is_finite() {
        (100.0 * part / whole).clamp(0.0, 100.0) as f32
    } else {
        f32::NAN
    }
}

impl MetricsHistory {
    pub fn new(config: MetricsConfig) -> Self {
        let state = State {
            hosts: Rings::new(config.host_points, config.max_hosts),
            vms: Rings::new(config.vm_points, config.max_vms),
            datacenter: Rings::new(config.host_points, 1),
            rounds: 0,
            refused_logged: false,
        };
        MetricsHistory {
            config,
            state: RwLock::new(state),
        }
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores one round taken at `at` (Unix ms): each host's report, turned
    /// into percentages with the capacities the inventory knows.
    pub fn record(
        &self,
        at: u64,
        hosts: &[HostRecord],
        vms: &[VmRecord],
        reports: &HashMap<String, Utilization>,
    ) {
        let by_name: HashMap<&str, &VmRecord> = if reports.values().any(|r| !r.vms.is_empty()) {
            vms.iter().map(|v| (v.name.as_str(), v)).collect()
        } else {
            HashMap::new()
        };
        let mut host_samples: Vec<(&str, Sample)> = Vec::with_capacity(reports.len());
        // Data centre: Σ busy CPUs / Σ CPUs, Σ used memory / Σ memory.
        let (mut busy, mut cpus, mut used_kib, mut mem_kib) = (0.0, 0.0, 0.0, 0.0);
        for h in hosts {
            let Some(report) = reports.get(&h.name) else {
                continue;
            };
            let (Some(mut u), Some(cap)) = (report.host, h.capacity) else {
                continue;
            };
            // Hypervisors that give no host CPU time (libvirt's test
            // driver): what its VMs keep busy, of the host's CPUs.
            if u.cpu.is_none() && cap.vcpus > 0 {
                u.cpu = vm_cpus_busy(report, &by_name).map(|busy| busy / cap.vcpus as f64);
            }
            let cap_kib = cap.memory_mib as f64 * 1024.0;
            let cpu = u.cpu.map_or(f32::NAN, |c| (c.min(1.0) * 100.0) as f32);
            let mem = u
                .memory_used_kib
                .map_or(f32::NAN, |m| pct(m as f64, cap_kib));
            if let Some(c) = u.cpu {
                busy += c * cap.vcpus as f64;
                cpus += cap.vcpus as f64;
            }
            if let Some(m) = u.memory_used_kib {
                used_kib += m as f64;
                mem_kib += cap_kib;
            }
            host_samples.push((h.name.as_str(), [cpu, mem]));
        }
        let dc: Sample = [pct(busy, cpus), pct(used_kib, mem_kib)];
        let mut st = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut refused = st.hosts.push(at, host_samples);
        st.datacenter.push(at, [(DATACENTER, dc)]);
        let vm_round = st
            .rounds
            .is_multiple_of(u64::from(self.config.vm_stride.max(1)));
        if vm_round && reports.values().any(|r| !r.vms.is_empty()) {
            let vm_samples = reports
                .values()
                .flat_map(|r| r.vms.iter())
                .map(|(name, u)| {
                    let cpu = u.cpu.map_or(f32::NAN, |c| (c * 100.0) as f32);
                    let mib = by_name.get(name.as_str()).and_then(|v| v.memory_mib);
                    let mem = match (u.memory_used_kib, mib) {
                        (Some(used), Some(mib)) => pct(used as f64, mib as f64 * 1024.0),
                        _ => f32::NAN,
                    };
                    (name.as_str(), [cpu, mem])
                });
            refused += st.vms.push(at, vm_samples);
        }
        st.rounds += 1;
        if refused > 0 && !st.refused_logged {
            st.refused_logged = true;
            tracing::warn!(
                refused,
                max_vms = self.config.max_vms,
                max_hosts = self.config.max_hosts,
                "metrics history is full: elements beyond the limit are not kept"
            );
        }
    }

    /// Host `name`'s history after `since` (Unix ms); empty when it has
    /// none (the caller checks the host exists).
    pub fn host(&self, name: &str, since: u64) -> SeriesView {
        self.read().hosts.view(name, since).unwrap_or_default()
    }

    /// VM `name`'s history after `since`.
    pub fn vm(&self, name: &str, since: u64) -> SeriesView {
        self.read().vms.view(name, since).unwrap_or_default()
    }

    /// The data centre after `since` and every host's newest values.
    pub fn summary(&self, since: u64) -> Summary {
        let st = self.read();
        let mut hosts: Vec<HostNow> = st
            .hosts
            .latest()
            .map(|(n, s)| HostNow {
                name: n.to_string(),
                cpu_pct: (!s[CPU].is_nan()).then_some(s[CPU]),
                memory_pct: (!s[MEMORY].is_nan()).then_some(s[MEMORY]),
            })
            .collect();
        hosts.sort_by(|a, b| a.name.cmp(&b.name));
        Summary {
            interval_s: self.config.interval.as_secs_f64(),
            datacenter: st.datacenter.view(DATACENTER, since).unwrap_or_default(),
            hosts,
        }
    }

    /// Seconds between the points of a VM's series.
    pub fn vm_interval(&self) -> Duration {
        self.config.interval * self.config.vm_stride.max(1)
    }

    /// Heap bytes the history holds now.
    pub fn heap_bytes(&self) -> usize {
        let st = self.read();
        st.hosts.heap_bytes() + st.vms.heap_bytes() + st.datacenter.heap_bytes()
    }

    /// The most [`MetricsHistory::heap_bytes`] can reach with `hosts`
    /// hosts and `vms` VMs whose names are about `name_len` bytes.
    pub fn bound_bytes(&self, hosts: usize, vms: usize, name_len: usize) -> usize {
        let c = &self.config;
        Rings::bytes_for(c.host_points, hosts.min(c.max_hosts), name_len)
            + Rings::bytes_for(c.vm_points, vms.min(c.max_vms), name_len)
            + Rings::bytes_for(c.host_points, 1, 0)
    }
}

/// CPUs the VMs of a report keep busy (Σ fraction × vCPUs), when any
/// VM with known vCPUs has a CPU value.
fn vm_cpus_busy(report: &Utilization, vms: &HashMap<&str, &VmRecord>) -> Option<f64> {
    let mut busy = None;
    for (name, u) in &report.vms {
        if let (Some(c), Some(n)) = (u.cpu, vms.get(name.as_str()).and_then(|v| v.vcpus)) {
            *busy.get_or_insert(0.0) += c * f64::from(n);
        }
    }
    busy
}

/// The task that fills a [`MetricsHistory`].
pub struct MetricsCollector {
    inventory: Arc<Inventory>,
    history: Arc<MetricsHistory>,
    /// Rounds started: where the next one begins in the host list.
    started: AtomicUsize,
}

impl MetricsCollector {
    pub fn new(inventory: Arc<Inventory>, history: Arc<MetricsHistory>) -> Self {
        MetricsCollector {
            inventory,
            history,
            started: AtomicUsize::new(0),
        }
    }

    /// One round every interval until `shutdown`; a round that overruns
    /// delays the next instead of piling up.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.history.config.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = tick.tick() => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.round() => {}
            }
        }
    }

    /// Asks every host that is not known to be down, at most
    /// `parallel` at once, and records what came back within
    /// `report_timeout`. Each round starts at another host, so with more
    /// hosts than answer in time the gaps move around.
    pub async fn round(&self) {
        let at = now_ms();
        let (hosts, vms) = match (self.inventory.hosts(), self.inventory.vms()) {
            (Ok(h), Ok(v)) => (h, v),
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(error = %e, "metrics round: no inventory");
                return;
            }
        };
        let config = &self.history.config;
        let deadline = tokio::time::Instant::now() + config.report_timeout;
        let limit = Arc::new(tokio::sync::Semaphore::new(config.parallel.max(1)));
        let mut set = tokio::task::JoinSet::new();
        let live: Vec<&HostRecord> = hosts
            .iter()
            .filter(|h| h.health != HostHealth::Unreachable && h.power == HostPower::On)
            .collect();
        let start = self.started.fetch_add(1, Ordering::Relaxed) % live.len().max(1);
        for h in live[start..].iter().chain(&live[..start]) {
            let name = h.name.clone();
            let agent = self.inventory.agent(&h.name);
            let limit = limit.clone();
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let r = match agent {
                    Ok(a) => a.utilization().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
                (name, r)
            });
        }
        let mut reports = HashMap::new();
        loop {
            match tokio::time::timeout_at(deadline, set.join_next()).await {
                Ok(Some(Ok((name, Ok(u))))) => {
                    reports.insert(name, u);
                }
                Ok(Some(Ok((name, Err(e))))) => {
                    tracing::debug!(host = %name, error = %e, "no metrics")
                }
                Ok(Some(Err(e))) => tracing::warn!(error = %e, "metrics task failed"),
                Ok(None) => break,
                Err(_) => {
                    tracing::debug!(
                        late = set.len(),
                        "metrics round: hosts that did not answer in time have a gap"
                    );
                    set.abort_all();
                    break;
                }
            }
        }
        self.history.record(at, &hosts, &vms, &reports);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vni::{Usage, VmState};

    fn host(name: &str, vcpus: u64, mib: u64) -> HostRecord {
        // From JSON, as stored: fields added later take their defaults.
        serde_json::from_value(serde_json::json!({
            "name": name, "url": "http://127.0.0.1:1", "prefix": null,
            "system_name": null, "health": "Up", "last_seen": null,
            "last_error": null,
            "capacity": {"vcpus": vcpus, "memory_mib": mib}
        }))
        .unwrap()
    }

    fn usage(cpu: f64, kib: u64) -> Usage {
        Usage {
            cpu: Some(cpu),
            memory_used_kib: Some(kib),
            sampled_at: SystemTime::now(),
        }
    }

    fn vm(name: &str, host: &str, mib: u64) -> VmRecord {
        VmRecord {
            name: name.into(),
            host: host.into(),
            uuid: None,
            state: VmState::Running,
            vcpus: Some(1),
            memory_mib: Some(mib),
        }
    }

    #[test]
    fn percentages_per_host_vm_and_data_centre() {
        let h = MetricsHistory::new(MetricsConfig {
            vm_stride: 2,
            ..MetricsConfig::default()
        });
        let hosts = [host("a", 4, 1024), host("b", 12, 1024)];
        let vms = [vm("a-vm", "a", 512)];
        let mut reports = HashMap::new();
        let mut ua = Utilization {
            host: Some(usage(0.5, 512 * 1024)),
            ..Default::default()
        };
        ua.vms.insert("a-vm".into(), usage(0.25, 128 * 1024));
        reports.insert("a".to_string(), ua);
        reports.insert(
            "b".to_string(),
            Utilization {
                host: Some(usage(1.0, 0)),
                ..Default::default()
            },
        );
        for at in [1000, 2000, 3000] {
            h.record(at, &hosts, &vms, &reports);
        }
        let a = h.host("a", 0);
        assert_eq!(a.t, vec![1000, 2000, 3000]);
        assert_eq!(a.cpu_pct[0], Some(50.0));
        assert_eq!(a.memory_pct[0], Some(50.0));
        // VMs every second round: rounds 0 and 2.
        let v = h.vm("a-vm", 0);
        assert_eq!(v.t, vec![1000, 3000]);
        assert_eq!(v.cpu_pct, vec![Some(25.0), Some(25.0)]);
        assert_eq!(v.memory_pct, vec![Some(25.0), Some(25.0)]);
        let s = h.summary(2000);
        assert_eq!(s.datacenter.t, vec![3000]);
        // (0.5 × 4 + 1.0 × 12) / 16 = 87.5 %; 512 MiB of 2048 MiB = 25 %.
        assert_eq!(s.datacenter.cpu_pct, vec![Some(87.5)]);
        assert_eq!(s.datacenter.memory_pct, vec![Some(25.0)]);
        assert_eq!(s.hosts.len(), 2);
        assert_eq!(s.hosts[1].cpu_pct, Some(100.0));
        assert!(h.host("nobody", 0).t.is_empty());
    }

    #[test]
    fn a_host_without_cpu_time_is_as_busy_as_its_vms() {
        let h = MetricsHistory::new(MetricsConfig::default());
        let hosts = [host("a", 8, 1024)];
        let vms = [vm("v1", "a", 256), vm("v2", "a", 256)];
        let mut u = Utilization {
            host: Some(Usage {
                cpu: None,
                ..usage(0.0, 1024)
            }),
            ..Default::default()
        };
        u.vms.insert("v1".into(), usage(1.0, 1024));
        u.vms.insert("v2".into(), usage(0.5, 1024));
        let reports = HashMap::from([("a".to_string(), u)]);
        h.record(1, &hosts, &vms, &reports);
        // 1.5 busy vCPUs of 8.
        assert_eq!(h.host("a", 0).cpu_pct, vec![Some(18.75)]);
    }

    #[test]
    fn twenty_thousand_vms_stay_within_tens_of_mib() {
        // The default windows; VMs every round only so that the test
        // fills their window in fewer rounds (memory does not depend on it).
        let h = MetricsHistory::new(MetricsConfig {
            vm_stride: 1,
            ..MetricsConfig::default()
        });
        let hosts: Vec<HostRecord> = (0..1000)
            .map(|i| host(&format!("host-{i}"), 64, 256 * 1024))
            .collect();
        let mut reports = HashMap::new();
        let mut vms = Vec::new();
        for (i, hr) in hosts.iter().enumerate() {
            let mut u = Utilization {
                host: Some(usage(0.3, 1 << 20)),
                ..Default::default()
            };
            for j in 0..20 {
                let n = format!("host-{i}-vm{j}");
                u.vms.insert(n.clone(), usage(0.1, 1 << 18));
                vms.push(vm(&n, &hr.name, 1024));
            }
            reports.insert(hr.name.clone(), u);
        }
        // More rounds than either window holds: hosts alone first, then
        // hosts and VMs.
        let hosts_only: HashMap<String, Utilization> = reports
            .iter()
            .map(|(k, u)| {
                (
                    k.clone(),
                    Utilization {
                        host: u.host,
                        ..Default::default()
                    },
                )
            })
            .collect();
        for r in 0..800u64 {
            let round = if r < 670 { &hosts_only } else { &reports };
            h.record(r * 5000, &hosts, &vms, round);
        }
        let held = h.heap_bytes();
        let bound = h.bound_bytes(1000, 20_000, "host-999-vm19".len());
        eprintln!(
            "metrics history: 1,000 hosts + 20,000 VMs hold {:.1} MiB (bound {:.1} MiB)",
            held as f64 / 1048576.0,
            bound as f64 / 1048576.0
        );
        assert!(held <= bound * 11 / 10, "held {held} > bound {bound}");
        assert!(held < 40 << 20, "{held} bytes");
        assert_eq!(h.vm("host-3-vm7", 0).t.len(), 120);
        assert_eq!(h.host("host-3", 0).t.len(), 720);
    }
}
