//! CloudSim's reference consolidation policies, re-implemented from the
//! description of its power package: THR (static threshold) and LR (local
//! regression) overload detection, minimum-migration-time (MMT) VM
//! selection, power-aware best-fit-decreasing placement and the
//! under-utilized-host pass, including CloudSim's quirks (stale host
//! utilization in the power estimate, hosts that just received VMs may be
//! drained again in the same round).

use super::dc::{Datacenter, Move, HISTORY_LENGTH};
use super::power::migration_seconds;

/// How a host is judged over-utilized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detector {
    /// Requested MIPS above this fraction of capacity.
    Threshold(f64),
    /// Regression over the last 10 host-utilization samples, extrapolated
    /// by the longest migration and multiplied by `safety`; hosts with
    /// fewer samples fall back to a static `fallback` threshold.
    LocalRegression {
        /// Safety parameter (1.2 in LR-MMT-1.2).
        safety: f64,
        /// Static threshold used before 10 samples exist (0.7 in CloudSim).
        fallback: f64,
    },
}

/// Samples the regression looks at (CloudSim uses 10 to stay responsive).
const LR_WINDOW: usize = 10;

/// Places every VM in id order on the host whose power draw grows least,
/// asking for the VM's full size as CloudSim does at creation time. As in
/// CloudSim 3.0.3 the estimate compares the draw after the allocation with
/// the draw at the last update (zero load for every host at creation), so
/// an empty host always looks cheapest and the run starts spread out. It
/// returns how many VMs found no host.
pub fn initial_placement(dc: &mut Datacenter) -> usize {
    let mut unplaced = 0;
    for v in 0..dc.vms.len() {
        let spec = dc.vms[v].spec;
        let mut best = None;
        let mut best_diff = f64::MAX;
        for h in 0..dc.hosts.len() {
            if !dc.fits_at_creation(h, &spec) {
                continue;
            }
            let host = &dc.hosts[h];
            let after = (dc.reserved_mips(h) + spec.mips) / host.total_mips();
            let diff = host.spec.power.watts_at(after) - host.spec.power.watts_at(0.0);
            if diff < best_diff {
                best_diff = diff;
                best = Some(h);
            }
        }
        match best {
            Some(h) => dc.create_vm(v, h),
            None => unplaced += 1,
        }
    }
    unplaced
}

/// The tentative placement a round works on; discarded afterwards.
struct Scratch<'a> {
    dc: &'a Datacenter,
    vms: Vec<Vec<usize>>,
    capped: Vec<f64>,
    allocated: Vec<f64>,
    detector: Detector,
}

impl<'a> Scratch<'a> {
    fn new(dc: &'a Datacenter, detector: Detector) -> Self {
        let vms: Vec<Vec<usize>> = dc.hosts.iter().map(|h| h.vms.clone()).collect();
        let mut s = Scratch {
            dc,
            capped: vec![0.0; vms.len()],
            allocated: vec![0.0; vms.len()],
            vms,
            detector,
        };
        for h in 0..s.vms.len() {
            s.recount(h);
        }
        s
    }

    /// Recomputes what the host's CPU scheduler would hand out to the
    /// tentative VM list: every ask (capped at a core) if it fits,
    /// otherwise the same share for all, rounded down.
    fn recount(&mut self, h: usize) {
        let host = &self.dc.hosts[h];
        let pe = host.spec.pe_mips;
        let total = host.total_mips();
        let capped: f64 = self.vms[h]
            .iter()
            .map(|&v| self.dc.vms[v].requested.min(pe))
            .sum();
        self.capped[h] = capped;
        self.allocated[h] = if capped <= total {
            capped
        } else {
            let f = total / capped;
            self.vms[h]
                .iter()
                .map(|&v| (self.dc.vms[v].requested.min(pe) * f).floor())
                .sum()
        };
    }

    fn available(&self, h: usize) -> f64 {
        let total = self.dc.hosts[h].total_mips();
        if self.capped[h] <= total {
            total - self.capped[h]
        } else {
            0.0
        }
    }

    fn create(&mut self, h: usize, v: usize) {
        self.vms[h].push(v);
        self.recount(h);
    }

    fn destroy(&mut self, h: usize, v: usize) {
        self.vms[h].retain(|&x| x != v);
        self.recount(h);
    }

    fn requested_fraction(&self, h: usize) -> f64 {
        let sum: f64 = self.vms[h].iter().map(|&v| self.dc.vms[v].requested).sum();
        sum / self.dc.hosts[h].total_mips()
    }

    fn over_utilized(&self, h: usize) -> bool {
        match self.detector {
            Detector::Threshold(thr) => self.requested_fraction(h) > thr,
            Detector::LocalRegression { safety, fallback } => {
                let hist = self.host_history(h);
                if hist.len() < LR_WINDOW {
                    return self.requested_fraction(h) > fallback;
                }
                // Oldest first, x = 1..=10.
                let mut y = [0.0; LR_WINDOW];
                for (i, slot) in y.iter_mut().enumerate() {
                    *slot = hist[LR_WINDOW - 1 - i];
                }
                let (a, b) = ols(&y);
                let predicted = (a + b * (LR_WINDOW as f64 + self.migration_intervals(h))) * safety;
                predicted >= 1.0
            }
        }
    }

    /// Host utilization history rebuilt from its VMs' own histories (so a
    /// VM carries its past to its new host), oldest zeros trimmed.
    fn host_history(&self, h: usize) -> Vec<f64> {
        let total = self.dc.hosts[h].total_mips();
        let mut hist = [0.0; HISTORY_LENGTH];
        for &v in &self.vms[h] {
            let vm = &self.dc.vms[v];
            for (i, u) in vm.history.iter().enumerate() {
                hist[i] += u * vm.spec.mips / total;
            }
        }
        let len = hist.iter().rposition(|&x| x != 0.0).map_or(1, |i| i + 1);
        hist[..len].to_vec()
    }

    fn migration_intervals(&self, h: usize) -> f64 {
        let bw = self.dc.hosts[h].spec.bw_kbps;
        let max_ram = self.vms[h]
            .iter()
            .map(|&v| self.dc.vms[v].spec.ram_mb)
            .fold(f64::MIN, f64::max);
        (migration_seconds(max_ram, bw) / self.dc.interval).ceil()
    }

    /// Power-aware best fit: the host whose draw grows least, skipping
    /// hosts that would become over-utilized. The draw "before" is the one
    /// at the last update while the draw "after" counts the VMs tentatively
    /// placed this round, as in CloudSim 3.0.3.
    fn find_host(&mut self, v: usize, excluded: &[bool]) -> Option<usize> {
        let r = self.dc.vms[v].requested;
        let mut best = None;
        let mut best_diff = f64::MAX;
        for (h, &skip) in excluded.iter().enumerate().take(self.vms.len()) {
            if skip {
                continue;
            }
            let host = &self.dc.hosts[h];
            if host.spec.pe_mips < r || self.available(h) < r {
                continue;
            }
            if self.allocated[h] != 0.0 {
                self.create(h, v);
                let over = self.over_utilized(h);
                self.destroy(h, v);
                if over {
                    continue;
                }
            }
            let after = (self.allocated[h] + r) / host.total_mips();
            if after > 1.0 {
                continue;
            }
            let diff =
                host.spec.power.watts_at(after) - host.spec.power.watts_at(host.utilization());
            if diff < best_diff {
                best_diff = diff;
                best = Some(h);
            }
        }
        best
    }

    /// The VM with the least RAM (shortest migration), first on ties.
    fn select_mmt(&self, h: usize) -> Option<usize> {
        let mut best = None;
        let mut best_ram = f64::MAX;
        for &v in &self.vms[h] {
            let vm = &self.dc.vms[v];
            if vm.in_migration {
                continue;
            }
            if vm.spec.ram_mb < best_ram {
                best_ram = vm.spec.ram_mb;
                best = Some(v);
            }
        }
        best
    }
}

fn ols(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let xm = (n + 1.0) / 2.0;
    let ym = y.iter().sum::<f64>() / n;
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    for (i, &yi) in y.iter().enumerate() {
        let dx = (i + 1) as f64 - xm;
        sxy += dx * (yi - ym);
        sxx += dx * dx;
    }
    let b = sxy / sxx;
    (ym - b * xm, b)
}

fn sort_by_demand_desc(dc: &Datacenter, vms: &mut [usize]) {
    vms.sort_by(|&a, &b| {
        dc.vms[b]
            .requested
            .partial_cmp(&dc.vms[a].requested)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
}

/// One round of CloudSim's migration policy: moves off over-utilized
/// hosts, then drains the least-utilized hosts one by one.
pub fn plan_round(dc: &Datacenter, detector: Detector) -> Vec<Move> {
    let n = dc.hosts.len();
    let mut s = Scratch::new(dc, detector);
    let over: Vec<usize> = (0..n).filter(|&h| s.over_utilized(h)).collect();
    let mut is_over = vec![false; n];
    for &h in &over {
        is_over[h] = true;
    }

    let mut to_move = Vec::new();
    for &h in &over {
        while let Some(v) = s.select_mmt(h) {
            to_move.push(v);
            s.destroy(h, v);
            if !s.over_utilized(h) {
                break;
            }
        }
    }
    sort_by_demand_desc(dc, &mut to_move);
    let mut moves = Vec::new();
    for v in to_move {
        if let Some(h) = s.find_host(v, &is_over) {
            s.create(h, v);
            moves.push(Move { vm: v, to: h });
        }
    }

    // Under-utilized hosts: try to empty the least-loaded one, repeatedly.
    let mut skip_source = is_over.clone();
    let mut skip_target = is_over;
    for h in 0..n {
        if dc.hosts[h].utilization() == 0.0 {
            skip_source[h] = true;
            skip_target[h] = true;
        }
    }
    loop {
        if skip_source.iter().all(|&x| x) {
            break;
        }
        let mut pick = None;
        let mut min_u = 1.0;
        for (h, &skip) in skip_source.iter().enumerate() {
            if skip {
                continue;
            }
            let u = dc.hosts[h].utilization();
            let has_vm = s.vms[h].iter().any(|&v| !dc.vms[v].in_migration);
            if u > 0.0 && u < min_u && has_vm {
                min_u = u;
                pick = Some(h);
            }
        }
        let Some(u) = pick else { break };
        skip_source[u] = true;
        skip_target[u] = true;
        let mut vms: Vec<usize> = s.vms[u]
            .iter()
            .copied()
            .filter(|&v| !dc.vms[v].in_migration)
            .collect();
        sort_by_demand_desc(dc, &mut vms);
        let mut placed = Vec::new();
        for v in vms {
            match s.find_host(v, &skip_target) {
                Some(h) => {
                    s.create(h, v);
                    placed.push(Move { vm: v, to: h });
                }
                None => {
                    for p in placed.drain(..) {
                        s.destroy(p.to, p.vm);
                    }
                    break;
                }
            }
        }
        for p in &placed {
            skip_source[p.to] = true;
        }
        moves.extend(placed);
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::super::power::{HP_ML110_G4, HP_ML110_G5, VM_TYPES};
    use super::*;

    #[test]
    fn ols_fits_a_line() {
        let y: Vec<f64> = (1..=10).map(|x| 0.5 + 0.1 * x as f64).collect();
        let (a, b) = ols(&y);
        assert!((a - 0.5).abs() < 1e-12 && (b - 0.1).abs() < 1e-12);
    }

    #[test]
    fn initial_placement_spreads_onto_empty_g5_hosts_first() {
        let vms = (0..3).map(|_| (VM_TYPES[1], vec![0.1; 289])).collect();
        let mut dc = Datacenter::new(vec![HP_ML110_G4, HP_ML110_G5, HP_ML110_G5], vms, 300.0);
        assert_eq!(initial_placement(&mut dc), 0);
        // An empty host always looks cheapest; 2000-MIPS VMs exceed a G4
        // core, so the third VM doubles up on the first G5.
        assert_eq!(dc.vms[0].host, Some(1));
        assert_eq!(dc.vms[1].host, Some(2));
        assert_eq!(dc.vms[2].host, Some(1));
    }

    #[test]
    fn threshold_policy_moves_off_an_overloaded_host() {
        let busy = vec![0.95; 289];
        let vms = vec![
            (VM_TYPES[0], busy.clone()),
            (VM_TYPES[1], busy.clone()),
            (VM_TYPES[3], busy),
        ];
        let mut dc = Datacenter::new(vec![HP_ML110_G5, HP_ML110_G5], vms, 300.0);
        for v in 0..3 {
            dc.create_vm(v, 0);
        }
        dc.round_update(300.1);
        let moves = plan_round(&dc, Detector::Threshold(0.8));
        // MMT takes the 613 MB VM, which is not enough (0.80 > 0.8), then
        // the 870 MB one; both land on the empty host, largest first.
        let moved: Vec<usize> = moves.iter().map(|m| m.vm).collect();
        assert_eq!(moved, vec![0, 2]);
        assert!(moves.iter().all(|m| m.to == 1));
    }
}
