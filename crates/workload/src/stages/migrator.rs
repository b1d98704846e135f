//! Migrator: decides which VMs move, in which order, and where.
//!
//! Two greedy passes over a tentative load table, so no host is ever
//! planned past its limit and no VM moves twice in a round:
//! 1. *Hotspots* (Sandpiper-style): hot hosts by descending volume
//!    1/((1−cpu)(1−mem)); from each, VMs leave until its forecast is
//!    below `upper − hysteresis`; each goes to the best host that stays
//!    below that mark after the move, powering a host on only if none of
//!    the running ones fits.
//! 2. *Consolidation*: cold hosts, emptiest first, are drained only if all
//!    their VMs fit on other running hosts; the emptied host is powered
//!    off. Hosts that just received VMs are not drained (no ping-pong).
//!
//! Both passes visit each host once and each VM at most once. Running
//! hosts that can take VMs are kept in an ordered index by free capacity,
//! so finding a destination costs a logarithmic lookup, not a scan: a
//! round over 10,000 hosts stays well under a second.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::policy::{Destination, VmChoice};

/// A host as the migrator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    /// CPU capacity.
    pub cpu: f64,
    /// The most one virtual CPU can get here (one physical core).
    pub core: f64,
    /// Memory capacity (MB); 0 means memory is not a constraint.
    pub mem: f64,
    /// Powered on.
    pub on: bool,
    /// May take VMs (in scope, labels match, not held).
    pub eligible: bool,
    /// Held by the receiver: nothing moves off or onto it.
    pub held: bool,
    /// Optimizer verdicts.
    pub hot: bool,
    /// Optimizer verdicts.
    pub cold: bool,
    /// Received VMs recently: not drained.
    pub cooling: bool,
    /// Watts per CPU unit at full load (lower is more efficient).
    pub watts_per_cpu: f64,
}

/// A VM as the migrator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct VmView {
    /// Host index.
    pub host: usize,
    /// Forecast CPU demand with headroom.
    pub demand: f64,
    /// Largest recent demand (must fit `cores` host cores).
    pub peak: f64,
    /// Its virtual CPUs, each served by at most one host core.
    pub cores: f64,
    /// Memory (MB).
    pub mem: f64,
    /// Not cooling down, not migrating, not pinned.
    pub movable: bool,
    /// Anti-affinity group, if any: no two members on one host.
    pub group: Option<u32>,
}

/// Limits and rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    /// Upper CPU threshold.
    pub upper: f64,
    /// Margin below `upper` that moves aim for.
    pub hysteresis: f64,
    /// Memory upper threshold.
    pub mem_upper: f64,
    /// Planned migrations allowed this round.
    pub max_moves: usize,
    /// Run the consolidation pass.
    pub consolidate: bool,
    /// Running hosts left empty as spares (not drained below this).
    pub spare_hosts: usize,
    /// Destination rule.
    pub destination: Destination,
    /// VM choice on hot hosts.
    pub vm_choice: VmChoice,
}

/// Why a VM moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reason {
    /// Relieving an overloaded host.
    Hotspot,
    /// Emptying an underloaded host.
    Consolidation,
}

/// One planned move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    /// VM index.
    pub vm: usize,
    /// Source host.
    pub from: usize,
    /// Destination host.
    pub to: usize,
    /// Why.
    pub reason: Reason,
}

/// The migrator's output.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MovePlan {
    /// Moves in execution order.
    pub moves: Vec<Move>,
    /// Hosts to power on (they receive VMs).
    pub power_on: Vec<usize>,
    /// Hosts emptied by consolidation, to power off.
    pub power_off: Vec<usize>,
    /// Hot hosts that could not be brought below the mark.
    pub unresolved: Vec<usize>,
}

struct Table<'a> {
    hosts: &'a [HostView],
    vms: &'a [VmView],
    rules: &'a Rules,
    load: Vec<f64>,
    mem: Vec<f64>,
    members: Vec<Vec<usize>>,
    on: Vec<bool>,
    draining: Vec<bool>,
    received: Vec<bool>,
    moved: Vec<bool>,
    /// Running, eligible, not hot, not draining hosts by efficiency class,
    /// then free CPU.
    index: BTreeSet<(i64, u64, usize)>,
    /// Efficiency classes present, most efficient first.
    classes: Vec<i64>,
    /// Hosts that are off, most efficient first.
    off_order: Vec<usize>,
    /// Smallest memory of a movable VM: hosts with less free memory are
    /// left out of the index instead of being skipped on every lookup.
    min_vm_mem: f64,
}

/// Efficiency class: watts per CPU unit in 2 % steps (lower is better),
/// so near-identical hosts share a class and best fit decides among them.
fn class(h: &HostView) -> i64 {
    if h.watts_per_cpu > 0.0 && h.watts_per_cpu.is_finite() {
        (h.watts_per_cpu.ln() / 1.02_f64.ln()).round() as i64
    } else {
        i64::MAX
    }
}

/// Order-preserving map of an f64 onto u64 keys.
fn key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

impl<'a> Table<'a> {
    fn new(hosts: &'a [HostView], vms: &'a [VmView], rules: &'a Rules) -> Self {
        let n = hosts.len();
        let mut t = Table {
            hosts,
            vms,
            rules,
            load: vec![0.0; n],
            mem: vec![0.0; n],
            members: vec![Vec::new(); n],
            on: hosts.iter().map(|h| h.on).collect(),
            draining: vec![false; n],
            received: vec![false; n],
            moved: vec![false; vms.len()],
            index: BTreeSet::new(),
            classes: Vec::new(),
            off_order: Vec::new(),
            min_vm_mem: vms
                .iter()
                .filter(|v| v.movable)
                .map(|v| v.mem)
                .fold(f64::INFINITY, f64::min),
        };
        for (i, v) in vms.iter().enumerate() {
            if v.host < n {
                t.load[v.host] += v.demand;
                t.mem[v.host] += v.mem;
                t.members[v.host].push(i);
            }
        }
        t.classes = hosts.iter().map(class).collect();
        t.classes.sort_unstable();
        t.classes.dedup();
        for h in 0..n {
            t.reindex(h, true);
        }
        t.off_order = (0..n)
            .filter(|&h| !t.on[h] && hosts[h].eligible && !hosts[h].held)
            .collect();
        t.off_order
            .sort_by(|&a, &b| hosts[a].watts_per_cpu.total_cmp(&hosts[b].watts_per_cpu));
        t
    }

    fn free(&self, h: usize) -> f64 {
        self.mark() * self.hosts[h].cpu - self.load[h]
    }

    fn indexable(&self, h: usize) -> bool {
        let x = &self.hosts[h];
        let mem_ok = x.mem <= 0.0 || self.rules.mem_upper * x.mem - self.mem[h] >= self.min_vm_mem;
        self.on[h] && x.eligible && !x.held && !x.hot && !self.draining[h] && mem_ok
    }

    /// Removes `h` from the index (under its current key) and, if `add`
    /// and it qualifies, puts it back under its current key.
    fn reindex(&mut self, h: usize, add: bool) {
        let k = (class(&self.hosts[h]), key(self.free(h)), h);
        self.index.remove(&k);
        if add && self.indexable(h) {
            self.index.insert(k);
        }
    }

    fn set_load(&mut self, h: usize, delta: f64, mem: f64) {
        self.reindex(h, false);
        self.load[h] += delta;
        self.mem[h] += mem;
        self.reindex(h, true);
    }

    fn mark(&self) -> f64 {
        self.rules.upper - self.rules.hysteresis
    }

    fn fits(&self, v: usize, h: usize) -> bool {
        let host = &self.hosts[h];
        let vm = &self.vms[v];
        if !host.eligible || host.held || host.hot || self.draining[h] || h == vm.host {
            return false;
        }
        if vm.peak > host.core * vm.cores || self.load[h] + vm.demand > self.mark() * host.cpu {
            return false;
        }
        if host.mem > 0.0 && self.mem[h] + vm.mem > self.rules.mem_upper * host.mem {
            return false;
        }
        match vm.group {
            Some(g) => !self.members[h]
                .iter()
                .any(|&o| o != v && self.vms[o].group == Some(g)),
            None => true,
        }
    }

    /// Best destination among running hosts (best fit: the least free
    /// capacity that still holds the VM; least loaded: the most), else the
    /// most efficient host that can be powered on (if allowed).
    fn destination(&self, v: usize, allow_power_on: bool) -> Option<usize> {
        let d = key(self.vms[v].demand);
        let mut found = None;
        for &c in &self.classes {
            let mut range = self.index.range((c, d, 0)..=(c, u64::MAX, usize::MAX));
            found = match self.rules.destination {
                Destination::BestFit => range.find(|&&(_, _, h)| self.fits(v, h)),
                Destination::LeastLoaded => range.rev().find(|&&(_, _, h)| self.fits(v, h)),
            }
            .map(|&(_, _, h)| h);
            if found.is_some() {
                break;
            }
        }
        if found.is_some() || !allow_power_on {
            return found;
        }
        self.off_order
            .iter()
            .copied()
            .find(|&h| !self.on[h] && self.fits(v, h))
    }

    fn apply(&mut self, v: usize, to: usize) {
        let from = self.vms[v].host;
        let (d, m) = (self.vms[v].demand, self.vms[v].mem);
        self.set_load(from, -d, -m);
        self.members[from].retain(|&x| x != v);
        self.set_load(to, d, m);
        self.members[to].push(v);
        self.received[to] = true;
        self.moved[v] = true;
    }

    fn undo(&mut self, v: usize, to: usize) {
        let from = self.vms[v].host;
        let (d, m) = (self.vms[v].demand, self.vms[v].mem);
        self.set_load(to, -d, -m);
        self.members[to].retain(|&x| x != v);
        self.set_load(from, d, m);
        self.members[from].push(v);
        self.moved[v] = false;
    }

    fn volume(&self, h: usize) -> f64 {
        let host = &self.hosts[h];
        let cpu = (self.load[h] / host.cpu).min(0.99);
        let mem = if host.mem > 0.0 {
            (self.mem[h] / host.mem).min(0.99)
        } else {
            0.0
        };
        1.0 / ((1.0 - cpu) * (1.0 - mem))
    }

    /// Candidates to leave hot host `h`, best first.
    fn candidates(&self, h: usize) -> Vec<usize> {
        let mut c: Vec<usize> = self.members[h]
            .iter()
            .copied()
            .filter(|&v| self.vms[v].movable && !self.moved[v])
            .collect();
        let host = &self.hosts[h];
        match self.rules.vm_choice {
            VmChoice::VolumeSizeRatio => {
                let vsr = |v: usize| {
                    let vm = &self.vms[v];
                    let cpu = (vm.demand / host.cpu).min(0.99);
                    let mem = if host.mem > 0.0 {
                        (vm.mem / host.mem).min(0.99)
                    } else {
                        0.0
                    };
                    (1.0 / ((1.0 - cpu) * (1.0 - mem))) / vm.mem.max(1.0)
                };
                c.sort_by(|&a, &b| vsr(b).total_cmp(&vsr(a)));
            }
            VmChoice::FewestMoves => {
                let excess = self.load[h] - self.mark() * host.cpu;
                // Smallest VM that clears the excess alone, then the rest
                // largest first.
                c.sort_by(|&a, &b| {
                    let (da, db) = (self.vms[a].demand, self.vms[b].demand);
                    match (da >= excess, db >= excess) {
                        (true, true) => da.total_cmp(&db),
                        (false, false) => db.total_cmp(&da),
                        (true, false) => std::cmp::Ordering::Less,
                        (false, true) => std::cmp::Ordering::Greater,
                    }
                });
            }
        }
        c
    }
}

/// Running hosts without VMs (the spares).
fn spare_left(t: &Table) -> usize {
    (0..t.hosts.len())
        .filter(|&x| t.on[x] && t.members[x].is_empty())
        .count()
}

/// Plans the round's moves.
pub fn plan(hosts: &[HostView], vms: &[VmView], rules: &Rules) -> MovePlan {
    let mut t = Table::new(hosts, vms, rules);
    let mut out = MovePlan::default();
    let n = hosts.len();

    let mut hot: Vec<usize> = (0..n).filter(|&h| hosts[h].hot && !hosts[h].held).collect();
    hot.sort_by(|&a, &b| t.volume(b).total_cmp(&t.volume(a)));
    for h in hot {
        while t.load[h] > t.mark() * hosts[h].cpu && out.moves.len() < rules.max_moves {
            let mut placed = false;
            for v in t.candidates(h) {
                if let Some(to) = t.destination(v, true) {
                    if !t.on[to] {
                        t.on[to] = true;
                        t.reindex(to, true);
                        out.power_on.push(to);
                    }
                    t.apply(v, to);
                    out.moves.push(Move {
                        vm: v,
                        from: h,
                        to,
                        reason: Reason::Hotspot,
                    });
                    placed = true;
                    break;
                }
            }
            if !placed {
                break;
            }
        }
        if t.load[h] > t.mark() * hosts[h].cpu {
            out.unresolved.push(h);
        }
    }

    if rules.consolidate {
        let mut cold: Vec<usize> = (0..n)
            .filter(|&h| {
                let x = &hosts[h];
                t.on[h] && x.cold && !x.held && !x.cooling && !t.received[h] && !x.hot
            })
            .collect();
        cold.sort_by(|&a, &b| {
            let ua = t.load[a] / hosts[a].cpu;
            let ub = t.load[b] / hosts[b].cpu;
            class(&hosts[b])
                .cmp(&class(&hosts[a]))
                .then(ua.total_cmp(&ub))
        });
        for h in cold {
            let members = t.members[h].clone();
            if members.iter().any(|&v| !vms[v].movable || t.moved[v]) {
                continue;
            }
            if out.moves.len() + members.len() > rules.max_moves {
                break;
            }
            if rules.spare_hosts > 0 && spare_left(&t) <= rules.spare_hosts {
                continue;
            }
            t.reindex(h, false);
            t.draining[h] = true;
            let mut order = members.clone();
            order.sort_by(|&a, &b| vms[b].demand.total_cmp(&vms[a].demand));
            let mut done = Vec::new();
            for v in order {
                match t.destination(v, false) {
                    Some(to) => {
                        t.apply(v, to);
                        done.push((v, to));
                    }
                    None => {
                        for &(v, to) in done.iter().rev() {
                            t.undo(v, to);
                        }
                        done.clear();
                        break;
                    }
                }
            }
            if done.len() == members.len() {
                for (v, to) in done {
                    out.moves.push(Move {
                        vm: v,
                        from: h,
                        to,
                        reason: Reason::Consolidation,
                    });
                }
                t.on[h] = false;
                out.power_off.push(h);
            } else {
                t.draining[h] = false;
                t.reindex(h, true);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn host(cpu: f64) -> HostView {
        HostView {
            cpu,
            core: cpu,
            mem: 0.0,
            on: true,
            eligible: true,
            held: false,
            hot: false,
            cold: false,
            cooling: false,
            watts_per_cpu: 0.03,
        }
    }

    pub(crate) fn vm(host: usize, demand: f64) -> VmView {
        VmView {
            host,
            demand,
            peak: demand,
            cores: 1.0,
            mem: 0.0,
            movable: true,
            group: None,
        }
    }

    pub(crate) fn rules() -> Rules {
        Rules {
            upper: 0.8,
            hysteresis: 0.1,
            mem_upper: 0.95,
            max_moves: 100,
            consolidate: true,
            spare_hosts: 0,
            destination: Destination::BestFit,
            vm_choice: VmChoice::FewestMoves,
        }
    }

    #[test]
    fn relieves_a_hotspot_with_one_move() {
        let mut hs = vec![host(100.0), host(100.0), host(100.0)];
        hs[0].hot = true;
        let vms = vec![vm(0, 30.0), vm(0, 25.0), vm(0, 35.0), vm(1, 40.0)];
        let p = plan(&hs, &vms, &rules());
        // 90 on host 0, mark 70: the 25 alone clears it.
        assert_eq!(p.moves.len(), 1);
        assert_eq!(p.moves[0].vm, 1);
        // Best fit: host 1 (40 + 25 = 65 <= 70) over the empty host 2.
        assert_eq!(p.moves[0].to, 1);
    }

    #[test]
    fn each_vcpu_needs_a_core_of_its_own_not_the_whole_vm() {
        // Mark 140 on host 0 (200), 210 on host 1 (300).
        let mut hs = vec![host(200.0), host(300.0)];
        hs[0].hot = true;
        for h in &mut hs {
            h.core = 100.0;
        }
        // Peaks at 150: more than one core, within two.
        let mut one = vm(0, 150.0);
        let p = plan(&hs, std::slice::from_ref(&one), &rules());
        assert!(p.moves.is_empty() && p.unresolved == [0], "{p:?}");
        one.cores = 2.0;
        let p = plan(&hs, &[one], &rules());
        assert_eq!((p.moves.len(), p.moves[0].to), (1, 1), "{p:?}");
    }

    #[test]
    fn powers_on_only_when_nothing_running_fits() {
        let mut hs = vec![host(100.0), host(100.0), host(100.0)];
        hs[0].hot = true;
        hs[2].on = false;
        hs[2].watts_per_cpu = 0.01;
        let vms = vec![vm(0, 50.0), vm(0, 45.0), vm(1, 60.0)];
        let p = plan(&hs, &vms, &rules());
        assert_eq!(p.power_on, vec![2]);
        assert_eq!(p.moves[0].to, 2);
    }

    #[test]
    fn drains_cold_host_only_if_everything_fits() {
        let mut hs = vec![host(100.0), host(100.0), host(100.0)];
        hs[0].cold = true;
        hs[1].cold = true;
        let vms = vec![vm(0, 10.0), vm(1, 20.0), vm(2, 40.0)];
        let p = plan(&hs, &vms, &rules());
        assert_eq!(p.power_off, vec![0, 1]);
        assert!(p.moves.iter().all(|m| m.to == 2));
        // Now host 2 is too full to take host 1's 20.
        let vms = vec![vm(0, 10.0), vm(1, 25.0), vm(2, 40.0)];
        let p = plan(&hs, &vms, &rules());
        assert_eq!(p.power_off, vec![0]);
    }

    #[test]
    fn anti_affinity_keeps_members_apart() {
        let mut hs = vec![host(100.0), host(100.0), host(100.0)];
        hs[0].hot = true;
        let mut a = vm(0, 50.0);
        a.group = Some(1);
        let mut b = vm(1, 10.0);
        b.group = Some(1);
        let vms = vec![a, vm(0, 40.0), b];
        let mut r = rules();
        r.consolidate = false;
        r.vm_choice = VmChoice::VolumeSizeRatio;
        let p = plan(&hs, &vms, &r);
        for m in &p.moves {
            if m.vm == 0 {
                assert_ne!(m.to, 1);
            }
        }
    }
}
