//! The simulated data centre: hosts, VMs, CPU sharing, live migrations and
//! the bookkeeping behind energy, SLATAH and PDM.
//!
//! The model follows CloudSim 3's power package as the PlanetLab experiment
//! uses it, because the point is to compare with its published numbers:
//! a VM asks for `utilization × MIPS`, capped at one host core; when a host
//! is oversubscribed every VM gets the same fraction of its ask; a VM being
//! migrated loses 10 % of its CPU on the source and costs the destination
//! 10 % of its ask; hosts without load draw nothing; a VM whose demand is
//! exactly zero is treated by CloudSim as finished and leaves the run.

use std::collections::VecDeque;

use super::power::{migration_seconds, HostSpec, VmSpec};
use super::trace::utilization_at;

/// Length of the per-VM utilization history kept for the policies.
pub const HISTORY_LENGTH: usize = 30;

/// One state sample; an interval starts at `time` and lasts until the next.
#[derive(Debug, Clone, Copy)]
struct Entry {
    time: f64,
    allocated: f64,
    requested: f64,
    flag: bool,
}

/// A physical host.
#[derive(Debug, Clone)]
pub struct Host {
    /// Its model.
    pub spec: HostSpec,
    /// VMs on it, in arrival order, including ones migrating in.
    pub vms: Vec<usize>,
    /// VMs currently migrating in.
    pub migrating_in: Vec<usize>,
    /// MIPS handed out at the last update (CloudSim's "utilization").
    pub util_mips: f64,
    prev_util_mips: f64,
    entry: Option<Entry>,
    // Resources reserved at VM creation (initial placement only).
    free_mips: f64,
    free_ram: f64,
    free_bw: f64,
}

impl Host {
    fn new(spec: HostSpec) -> Self {
        Host {
            spec,
            vms: Vec::new(),
            migrating_in: Vec::new(),
            util_mips: 0.0,
            prev_util_mips: 0.0,
            entry: None,
            free_mips: spec.total_mips(),
            free_ram: spec.ram_mb,
            free_bw: spec.bw_kbps,
        }
    }

    /// Total MIPS.
    pub fn total_mips(&self) -> f64 {
        self.spec.total_mips()
    }

    /// Utilization at the last update, as CloudSim reports it (values just
    /// above 1 from rounding are reported as 1).
    pub fn utilization(&self) -> f64 {
        clamp_util(self.util_mips / self.total_mips())
    }
}

fn clamp_util(u: f64) -> f64 {
    if u > 1.0 && u < 1.01 {
        1.0
    } else {
        u
    }
}

/// A virtual machine.
#[derive(Debug, Clone)]
pub struct Vm {
    /// Its model.
    pub spec: VmSpec,
    /// Trace samples (fractions of `spec.mips`).
    pub trace: Vec<f64>,
    /// Host it runs on (the source while migrating).
    pub host: Option<usize>,
    /// False once finished (or never placed).
    pub alive: bool,
    /// True while a live migration is under way.
    pub in_migration: bool,
    /// Utilization fractions sampled at each round, newest first.
    pub history: VecDeque<f64>,
    /// MIPS asked for at the last update.
    pub requested: f64,
    entry: Option<Entry>,
}

/// Accumulated metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meters {
    /// Joules (watt-seconds).
    pub energy_ws: f64,
    /// Seconds hosts were active.
    pub active_s: f64,
    /// Seconds active hosts could not give all that was asked.
    pub violation_s: f64,
    /// MIPS·s asked for by all VMs.
    pub requested_mips_s: f64,
    /// MIPS·s not given to VMs while they were being migrated.
    pub migration_loss_mips_s: f64,
    /// Live migrations started.
    pub migrations: u64,
}

/// A migration decided by a policy: move `vm` to host `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// VM index.
    pub vm: usize,
    /// Destination host index.
    pub to: usize,
}

/// The data centre being simulated.
#[derive(Debug, Clone)]
pub struct Datacenter {
    /// Hosts, in id order.
    pub hosts: Vec<Host>,
    /// VMs, in id order.
    pub vms: Vec<Vm>,
    /// Seconds between samples.
    pub interval: f64,
    /// Metrics so far.
    pub meters: Meters,
    last_process: f64,
    pending: Vec<(f64, Move)>,
    /// Retire VMs whose demand drops to exactly zero (CloudSim's reading
    /// of such a VM as finished).
    pub retire_idle_vms: bool,
}

impl Datacenter {
    /// Builds hosts and VMs; nothing is placed yet.
    pub fn new(hosts: Vec<HostSpec>, vms: Vec<(VmSpec, Vec<f64>)>, interval: f64) -> Self {
        Datacenter {
            hosts: hosts.into_iter().map(Host::new).collect(),
            vms: vms
                .into_iter()
                .map(|(spec, trace)| Vm {
                    spec,
                    trace,
                    host: None,
                    alive: false,
                    in_migration: false,
                    history: VecDeque::with_capacity(HISTORY_LENGTH + 1),
                    requested: 0.0,
                    entry: None,
                })
                .collect(),
            interval,
            meters: Meters::default(),
            last_process: 0.0,
            pending: Vec::new(),
            retire_idle_vms: std::env::var("VINE_RETIRE")
                .map(|v| v == "1")
                .unwrap_or(true),
        }
    }

    /// Could `host` take a brand-new VM (full MIPS, RAM and bandwidth)?
    pub fn fits_at_creation(&self, host: usize, vm: &VmSpec) -> bool {
        let h = &self.hosts[host];
        h.spec.pe_mips >= vm.mips
            && h.free_mips >= vm.mips
            && h.free_ram >= vm.ram_mb
            && h.free_bw >= vm.bw_kbps
    }

    /// MIPS reserved by VMs created on `host` (initial placement).
    pub fn reserved_mips(&self, host: usize) -> f64 {
        let h = &self.hosts[host];
        h.total_mips() - h.free_mips
    }

    /// Creates `vm` on `host` (initial placement).
    pub fn create_vm(&mut self, vm: usize, host: usize) {
        let spec = self.vms[vm].spec;
        let h = &mut self.hosts[host];
        h.free_mips -= spec.mips;
        h.free_ram -= spec.ram_mb;
        h.free_bw -= spec.bw_kbps;
        h.vms.push(vm);
        let v = &mut self.vms[vm];
        v.host = Some(host);
        v.alive = true;
    }

    /// The MIPS `vm` asks for at time `t` (not capped).
    pub fn demand_at(&self, vm: usize, t: f64) -> f64 {
        let v = &self.vms[vm];
        utilization_at(&v.trace, t, self.interval) * v.spec.mips
    }

    /// One scheduling round at time `t`: updates every host, samples the
    /// VMs' utilization into their histories, retires finished VMs.
    pub fn round_update(&mut self, t: f64) {
        for i in 0..self.vms.len() {
            if self.vms[i].alive && self.vms[i].host.is_some() {
                let u = utilization_at(&self.vms[i].trace, t, self.interval);
                let h = &mut self.vms[i].history;
                h.push_front(u);
                h.truncate(HISTORY_LENGTH);
            }
        }
        self.update_all(t);
    }

    /// Updates every host at `t`, charging energy for the time since the
    /// last update, then retires VMs whose demand is zero.
    fn update_all(&mut self, t: f64) {
        let dt = t - self.last_process;
        for h in 0..self.hosts.len() {
            self.hosts[h].prev_util_mips = self.hosts[h].util_mips;
            self.update_host(h, t);
            if dt > 0.0 {
                let host = &self.hosts[h];
                let from = clamp_util(host.prev_util_mips / host.total_mips());
                let to = host.utilization();
                if from != 0.0 {
                    let p0 = host.spec.power.watts_at(from);
                    let p1 = host.spec.power.watts_at(to);
                    self.meters.energy_ws += (p0 + (p1 - p0) / 2.0) * dt;
                }
            }
        }
        for h in 0..self.hosts.len() {
            let mut k = 0;
            while k < self.hosts[h].vms.len() {
                let v = self.hosts[h].vms[k];
                let vm = &self.vms[v];
                if self.retire_idle_vms && !vm.in_migration && vm.requested == 0.0 {
                    self.hosts[h].vms.remove(k);
                    let vm = &mut self.vms[v];
                    vm.alive = false;
                    vm.host = None;
                } else {
                    k += 1;
                }
            }
        }
        self.last_process = t;
    }

    /// Shares one host's CPU among its VMs at time `t` and records the
    /// host's and the VMs' state.
    fn update_host(&mut self, h: usize, t: f64) {
        let total = self.hosts[h].total_mips();
        let pe = self.hosts[h].spec.pe_mips;
        let mut required = 0.0;
        for &v in &self.hosts[h].vms {
            let r = self.demand_at(v, t);
            self.vms[v].requested = r;
            let capped = r.min(pe);
            required += if self.hosts[h].migrating_in.contains(&v) {
                capped * 0.1
            } else {
                capped
            };
        }
        let scale = if required > total {
            Some(total / required)
        } else {
            None
        };
        let mut util = 0.0;
        let mut host_requested = 0.0;
        for k in 0..self.hosts[h].vms.len() {
            let v = self.hosts[h].vms[k];
            let incoming = self.hosts[h].migrating_in.contains(&v);
            let outgoing = self.vms[v].in_migration && !incoming;
            let r = self.vms[v].requested;
            let capped = r.min(pe);
            let mut allocated = match scale {
                None if outgoing => capped * 0.9,
                None if incoming => capped * 0.1,
                None => capped,
                Some(f) if outgoing => (capped * f * 0.9).floor(),
                Some(f) if incoming => (capped * 0.1 * f).floor(),
                Some(f) => (capped * f).floor(),
            };
            if !incoming {
                let e = Entry {
                    time: t,
                    allocated,
                    requested: r,
                    flag: outgoing,
                };
                self.record_vm(v, e);
                if outgoing {
                    allocated /= 0.9;
                }
            }
            util += allocated;
            host_requested += r;
        }
        self.hosts[h].util_mips = util;
        let e = Entry {
            time: t,
            allocated: util,
            requested: host_requested,
            flag: util > 0.0,
        };
        if let Some(prev) = self.hosts[h].entry {
            if prev.time != t {
                let dt = t - prev.time;
                if prev.flag {
                    self.meters.active_s += dt;
                    if prev.allocated < prev.requested {
                        self.meters.violation_s += dt;
                    }
                }
            }
        }
        self.hosts[h].entry = Some(e);
    }

    fn record_vm(&mut self, v: usize, e: Entry) {
        if let Some(prev) = self.vms[v].entry {
            if prev.time != e.time {
                let dt = e.time - prev.time;
                self.meters.requested_mips_s += prev.requested * dt;
                if prev.allocated < prev.requested && prev.flag {
                    self.meters.migration_loss_mips_s += (prev.requested - prev.allocated) * dt;
                }
            }
        }
        self.vms[v].entry = Some(e);
    }

    /// Starts the given migrations at time `t` (in order; a VM listed twice
    /// is moved twice, as CloudSim does) and schedules their completion.
    pub fn start_migrations(&mut self, t: f64, moves: &[Move]) {
        let mut touched = Vec::new();
        for &m in moves {
            self.meters.migrations += 1;
            let target = &mut self.hosts[m.to];
            if !target.migrating_in.contains(&m.vm) {
                target.migrating_in.push(m.vm);
                target.vms.push(m.vm);
                self.vms[m.vm].in_migration = true;
                touched.push(m.to);
                if let Some(src) = self.vms[m.vm].host {
                    touched.push(src);
                }
            }
            let secs = migration_seconds(self.vms[m.vm].spec.ram_mb, self.hosts[m.to].spec.bw_kbps);
            self.pending.push((t + secs, m));
        }
        touched.sort_unstable();
        touched.dedup();
        for h in touched {
            self.update_host(h, t);
        }
    }

    /// Completes every migration due before `until`, updating the whole
    /// data centre at each completion time.
    pub fn finish_migrations(&mut self, until: f64) {
        // Stable sort keeps same-time completions in start order.
        self.pending
            .sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
        let due: Vec<(f64, Move)> = self
            .pending
            .iter()
            .copied()
            .filter(|p| p.0 < until)
            .collect();
        self.pending.retain(|p| p.0 >= until);
        let mut i = 0;
        while i < due.len() {
            let t = due[i].0;
            if t > self.last_process {
                self.update_all(t);
            }
            while i < due.len() && due[i].0 == t {
                let m = due[i].1;
                if let Some(src) = self.vms[m.vm].host {
                    self.hosts[src].vms.retain(|&x| x != m.vm);
                }
                let target = &mut self.hosts[m.to];
                target.migrating_in.retain(|&x| x != m.vm);
                target.vms.retain(|&x| x != m.vm);
                target.vms.push(m.vm);
                let vm = &mut self.vms[m.vm];
                vm.host = Some(m.to);
                vm.in_migration = false;
                i += 1;
            }
            self.update_all(t);
        }
    }

    /// Hosts with load at the last update.
    pub fn hosts_on(&self) -> usize {
        self.hosts.iter().filter(|h| h.util_mips > 0.0).count()
    }

    /// VMs still running.
    pub fn vms_alive(&self) -> usize {
        self.vms.iter().filter(|v| v.alive).count()
    }
}

#[cfg(test)]
mod tests {
    use super::super::power::{HP_ML110_G5, VM_TYPES};
    use super::*;

    fn dc(trace: Vec<f64>) -> Datacenter {
        let mut d = Datacenter::new(
            vec![HP_ML110_G5, HP_ML110_G5],
            vec![(VM_TYPES[2], trace)],
            300.0,
        );
        d.create_vm(0, 0);
        d
    }

    #[test]
    fn idle_host_draws_nothing_and_busy_host_draws_its_curve() {
        let mut d = dc(vec![0.5; 289]);
        d.round_update(300.0);
        d.round_update(600.0);
        // 500 MIPS of 5320 on a G5 for 300 s.
        let w = HP_ML110_G5.power.watts_at(500.0 / 5320.0);
        assert!((d.meters.energy_ws - w * 300.0).abs() < 1e-6);
        assert_eq!(d.hosts_on(), 1);
    }

    #[test]
    fn migration_costs_ten_percent_for_its_duration() {
        let mut d = dc(vec![0.5; 289]);
        d.round_update(300.0);
        d.start_migrations(300.0, &[Move { vm: 0, to: 1 }]);
        d.finish_migrations(600.0);
        d.round_update(600.0);
        assert_eq!(d.vms[0].host, Some(1));
        assert_eq!(d.meters.migrations, 1);
        let secs = migration_seconds(1740.0, 1_000_000.0);
        assert!((d.meters.migration_loss_mips_s - 50.0 * secs).abs() < 1e-6);
        // The destination was asked for the whole VM but gave 10 %.
        assert!((d.meters.violation_s - secs).abs() < 1e-6);
    }

    #[test]
    fn zero_demand_retires_the_vm() {
        let mut t = vec![0.3; 289];
        t[2] = 0.0;
        t[3] = 0.0;
        let mut d = dc(t);
        d.round_update(300.1);
        assert_eq!(d.vms_alive(), 1);
        d.round_update(600.1);
        assert_eq!(d.vms_alive(), 0);
    }
}
