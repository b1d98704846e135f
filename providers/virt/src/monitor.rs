//! The resource monitor: a task that samples the host and every running
//! domain every few seconds and keeps a bounded history per element.
//!
//! 1. Each tick reads `host_stats` and, for every active domain,
//!    `domain_stats` (cumulative counters) off the async runtime.
//! 2. A value needs two readings: CPU % is Δcpu_time / Δwall / vCPUs
//!    (0..=100, 100 = every vCPU busy), disk and network
//!    rates are Δbytes / Δwall. Memory used is read as is, so the first
//!    sample of an element has memory only.
//! 3. Each element keeps its last `history` samples; elements that are gone
//!    (VM stopped, undefined or migrated) are dropped.
//!
//! [`Monitor::latest`] and [`Monitor::history`] are the plain Rust view the
//! manager's receiver will read; [`crate::metrics`] is the CIM view.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

use vine_hypervisor::{DomainStats, HostStats, Hypervisor};

/// How often and how much.
#[derive(Clone, Debug)]
pub struct MonitorConfig {
    pub interval: Duration,
    /// Samples kept per element.
    pub history: usize,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Duration::from_secs(5),
            history: 60,
        }
    }
}

/// What is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// Percent of the element's CPUs in use over the interval.
    CpuUtilization,
    /// KiB of memory in use at the sample time.
    MemoryUsed,
    /// Bytes per second over the interval.
    DiskReadRate,
    DiskWriteRate,
    NetworkReceiveRate,
    NetworkTransmitRate,
}

impl Metric {
    pub const ALL: [Metric; 6] = [
        Metric::CpuUtilization,
        Metric::MemoryUsed,
        Metric::DiskReadRate,
        Metric::DiskWriteRate,
        Metric::NetworkReceiveRate,
        Metric::NetworkTransmitRate,
    ];

    /// The metrics a host has (libvirt gives no host-wide I/O counters).
    pub const HOST: [Metric; 2] = [Metric::CpuUtilization, Metric::MemoryUsed];

    pub fn name(self) -> &'static str {
        match self {
            Metric::CpuUtilization => "CPUUtilization",
            Metric::MemoryUsed => "MemoryUsed",
            Metric::DiskReadRate => "DiskReadRate",
            Metric::DiskWriteRate => "DiskWriteRate",
            Metric::NetworkReceiveRate => "NetworkReceiveRate",
            Metric::NetworkTransmitRate => "NetworkTransmitRate",
        }
    }

    pub fn parse(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// What is measured on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Element {
    Host,
    Domain(String),
}

/// One sample of one element.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub at: SystemTime,
    /// Wall time since the previous reading (zero for the first).
    pub duration: Duration,
    pub values: Vec<(Metric, f64)>,
}

impl Sample {
    pub fn value(&self, m: Metric) -> Option<f64> {
        self.values.iter().find(|(k, _)| *k == m).map(|(_, v)| *v)
    }
}

#[derive(Clone)]
enum Raw {
    Host(HostStats),
    Domain(DomainStats),
}

#[derive(Default)]
struct State {
    last: HashMap<Element, (Raw, Instant)>,
    history: BTreeMap<Element, VecDeque<Sample>>,
}

/// The monitor's store; [`Monitor::start`] runs the sampling task.
pub struct Monitor {
    config: MonitorConfig,
    state: Mutex<State>,
    started: AtomicBool,
}

/// One reading of everything, taken off the runtime.
/// Each element's counters carry the instant they were read at, so that
/// Δwall matches Δcounter as closely as the reads allow.
struct Reading {
    host: Option<(HostStats, Instant)>,
    domains: Vec<(String, DomainStats, Instant)>,
    wall: SystemTime,
}

fn read_all(hv: &dyn Hypervisor) -> Reading {
    let host = match hv.host_stats() {
        Ok(h) => Some((h, Instant::now())),
        Err(e) => {
            tracing::debug!(error = %e, "host stats unavailable");
            None
        }
    };
    let mut domains = Vec::new();
    match hv.domains() {
        Ok(list) => {
            for d in list.into_iter().filter(|d| d.state.is_active()) {
                match hv.domain_stats(&d.name) {
                    Ok(s) => domains.push((d.name, s, Instant::now())),
                    // Stopped or gone between the listing and the read.
                    Err(e) => tracing::debug!(domain = %d.name, error = %e, "no stats"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list domains; sample skipped"),
    }
    Reading {
        host,
        domains,
        wall: SystemTime::now(),
    }
}

/// Per-second rate of a cumulative counter; `None` when it went backwards
/// (the guest restarted).
fn rate(now: u64, before: u64, secs: f64) -> Option<f64> {
    (now >= before && secs > 0.0).then(|| (now - before) as f64 / secs)
}

fn domain_values(now: &DomainStats, before: Option<(&DomainStats, f64)>) -> Vec<(Metric, f64)> {
    let mut v = vec![(Metric::MemoryUsed, now.memory_used_kib as f64)];
    let Some((b, secs)) = before else {
        return v;
    };
    if now.vcpus > 0 {
        if let Some(ns_per_s) = rate(now.cpu_time_ns, b.cpu_time_ns, secs) {
            // Counter and clock are read a moment apart: clamp the jitter
            // that would show more than every vCPU busy.
            v.push((
                Metric::CpuUtilization,
                (ns_per_s / 1e9 / f64::from(now.vcpus) * 100.0).min(100.0),
            ));
        }
    }
    for (m, n, o) in [
        (Metric::DiskReadRate, now.disk_read_bytes, b.disk_read_bytes),
        (
            Metric::DiskWriteRate,
            now.disk_write_bytes,
            b.disk_write_bytes,
        ),
        (Metric::NetworkReceiveRate, now.net_rx_bytes, b.net_rx_bytes),
        (
            Metric::NetworkTransmitRate,
            now.net_tx_bytes,
            b.net_tx_bytes,
        ),
    ] {
        if let Some(r) = rate(n, o, secs) {
            v.push((m, r));
        }
    }
    v
}

fn host_values(now: &HostStats, before: Option<&HostStats>) -> Vec<(Metric, f64)> {
    let mut v = vec![(
        Metric::MemoryUsed,
        now.memory_total_kib.saturating_sub(now.memory_free_kib) as f64,
    )];
    if let Some(b) = before {
        let busy = |s: &HostStats| s.cpu_user_ns.saturating_add(s.cpu_system_ns);
        let total = |s: &HostStats| {
            busy(s)
                .saturating_add(s.cpu_idle_ns)
                .saturating_add(s.cpu_iowait_ns)
        };
        let (db, dt) = (
            busy(now).checked_sub(busy(b)),
            total(now).checked_sub(total(b)),
        );
        if let (Some(db), Some(dt)) = (db, dt) {
            if dt > 0 {
                v.push((Metric::CpuUtilization, db as f64 / dt as f64 * 100.0));
            }
        }
    }
    v
}

impl Monitor {
    pub fn new(config: MonitorConfig) -> Arc<Monitor> {
        Arc::new(Monitor {
            config,
            state: Mutex::default(),
            started: AtomicBool::new(false),
        })
    }

    pub fn config(&self) -> &MonitorConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts sampling `hv` every interval on the current tokio runtime,
    /// once: a second call returns `None`. The task ends when the last
    /// `Arc<Monitor>` is dropped.
    pub fn start(self: &Arc<Self>, hv: Arc<dyn Hypervisor>) -> Option<tokio::task::JoinHandle<()>> {
        if self.started.swap(true, Ordering::SeqCst) {
            return None;
        }
        let weak: Weak<Monitor> = Arc::downgrade(self);
        let period = self.config.interval.max(Duration::from_millis(10));
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(m) = weak.upgrade() else { break };
                m.sample(hv.clone()).await;
            }
        }))
    }

    /// Takes one sample of everything now.
    pub async fn sample(&self, hv: Arc<dyn Hypervisor>) {
        match tokio::task::spawn_blocking(move || read_all(hv.as_ref())).await {
            Ok(r) => self.record(r),
            Err(e) => tracing::warn!(error = %e, "sampling task failed"),
        }
    }

    fn record(&self, r: Reading) {
        let keep = self.config.history.max(1);
        let mut st = self.lock();
        let mut seen: Vec<Element> = Vec::with_capacity(r.domains.len() + 1);
        let mut push = |st: &mut State,
                        el: Element,
                        raw: Raw,
                        at: Instant,
                        values: Vec<(Metric, f64)>,
                        dur| {
            let h = st.history.entry(el.clone()).or_default();
            h.push_back(Sample {
                at: r.wall,
                duration: dur,
                values,
            });
            while h.len() > keep {
                h.pop_front();
            }
            st.last.insert(el.clone(), (raw, at));
            seen.push(el);
        };
        if let Some((h, at)) = r.host {
            let before = match st.last.get(&Element::Host) {
                Some((Raw::Host(b), t)) => Some((b.clone(), at.duration_since(*t))),
                _ => None,
            };
            let values = host_values(&h, before.as_ref().map(|(b, _)| b));
            let dur = before.map(|(_, d)| d).unwrap_or_default();
            push(&mut st, Element::Host, Raw::Host(h), at, values, dur);
        }
        for (name, s, at) in r.domains {
            let el = Element::Domain(name);
            let before = match st.last.get(&el) {
                Some((Raw::Domain(b), t)) => Some((b.clone(), at.duration_since(*t))),
                _ => None,
            };
            let values = domain_values(&s, before.as_ref().map(|(b, d)| (b, d.as_secs_f64())));
            let dur = before.map(|(_, d)| d).unwrap_or_default();
            push(&mut st, el, Raw::Domain(s), at, values, dur);
        }
        st.history.retain(|el, _| seen.contains(el));
        st.last.retain(|el, _| seen.contains(el));
    }

    /// The newest sample of every element.
    pub fn latest(&self) -> Vec<(Element, Sample)> {
        self.lock()
            .history
            .iter()
            .filter_map(|(el, h)| h.back().map(|s| (el.clone(), s.clone())))
            .collect()
    }

    /// The kept samples of `element`, oldest first.
    pub fn history(&self, element: &Element) -> Vec<Sample> {
        self.lock()
            .history
            .get(element)
            .map(|h| h.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Every element with samples, with all its samples.
    pub fn all(&self) -> Vec<(Element, Vec<Sample>)> {
        self.lock()
            .history
            .iter()
            .map(|(el, h)| (el.clone(), h.iter().cloned().collect()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dom(cpu: u64, rx: u64) -> DomainStats {
        DomainStats {
            cpu_time_ns: cpu,
            vcpus: 2,
            memory_kib: 1024,
            memory_used_kib: 900,
            net_rx_bytes: rx,
            ..Default::default()
        }
    }

    #[test]
    fn domain_rates_need_two_readings() {
        let first = domain_values(&dom(0, 0), None);
        assert_eq!(first, vec![(Metric::MemoryUsed, 900.0)]);
        // 1 s of CPU over 1 s on 2 vCPUs: 50 %.
        let v = domain_values(&dom(1_000_000_000, 4096), Some((&dom(0, 0), 1.0)));
        let get = |m| v.iter().find(|(k, _)| *k == m).map(|(_, x)| *x);
        assert_eq!(get(Metric::CpuUtilization), Some(50.0));
        assert_eq!(get(Metric::NetworkReceiveRate), Some(4096.0));
        assert_eq!(get(Metric::DiskReadRate), Some(0.0));
        // A restarted guest's counters go back: no rate, no nonsense.
        let v = domain_values(&dom(5, 0), Some((&dom(100, 10), 1.0)));
        assert!(v
            .iter()
            .all(|(m, _)| !matches!(m, Metric::CpuUtilization | Metric::NetworkReceiveRate)));
    }

    #[test]
    fn host_cpu_is_busy_over_total() {
        let s = |busy: u64, idle: u64| HostStats {
            cpu_user_ns: busy,
            cpu_idle_ns: idle,
            memory_total_kib: 100,
            memory_free_kib: 40,
            ..Default::default()
        };
        let v = host_values(&s(30, 70), Some(&s(10, 50)));
        assert_eq!(v[0], (Metric::MemoryUsed, 60.0));
        assert_eq!(v[1], (Metric::CpuUtilization, 50.0));
    }

    #[test]
    fn history_is_bounded_and_forgets_gone_elements() {
        let m = Monitor::new(MonitorConfig {
            interval: Duration::from_secs(1),
            history: 3,
        });
        for i in 0..5u64 {
            m.record(Reading {
                host: None,
                domains: vec![("a".into(), dom(i * 1000, 0), Instant::now())],
                wall: SystemTime::now(),
            });
        }
        let h = m.history(&Element::Domain("a".into()));
        assert_eq!(h.len(), 3);
        assert!(h.iter().all(|s| s.value(Metric::CpuUtilization).is_some()));
        m.record(Reading {
            host: None,
            domains: Vec::new(),
            wall: SystemTime::now(),
        });
        assert!(m.latest().is_empty());
    }
}
