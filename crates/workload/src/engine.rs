//! The engine: runs the nine stages once per round on a snapshot and
//! returns the commands it would issue, with the reasons. It keeps only
//! what the stages need between rounds (profiles, the migration budget).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::model::{Command, Snapshot};
use crate::policy::{Policy, PredictorChoice};
use crate::stages::migrator::{self, HostView, Rules, VmView};
use crate::stages::{
    allocator, optimizer, prescriber, profiler::Profiler, receiver::Receiver, validator,
};

/// What one round decided.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Round number (1-based).
    pub round: u64,
    /// Commands in execution order.
    pub commands: Vec<Command>,
    /// Moves as snapshot indices (for the simulator).
    #[serde(skip)]
    pub moves: Vec<migrator::Move>,
    /// Hosts held because their data could not be trusted.
    pub held: Vec<String>,
    /// Hosts found overloaded.
    pub hot: Vec<String>,
    /// Hosts found underloaded.
    pub cold: Vec<String>,
    /// Overloaded hosts no move could fix this round.
    pub unresolved: Vec<String>,
    /// Receiver notes and other remarks.
    pub notes: Vec<String>,
}

/// The policy engine.
#[derive(Debug, Clone)]
pub struct Engine {
    policy: Policy,
    receiver: Receiver,
    profiler: Profiler,
    round: u64,
    recent_moves: VecDeque<(f64, usize)>,
}

impl Engine {
    /// An engine running `policy`.
    pub fn new(policy: Policy) -> Self {
        Engine {
            receiver: Receiver::default(),
            profiler: Profiler::new(policy.observation.window),
            policy,
            round: 0,
            recent_moves: VecDeque::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the policy (profiles are kept).
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    /// Runs the pipeline on one snapshot.
    pub fn plan(&mut self, snap: &Snapshot) -> Plan {
        self.round += 1;
        let round = self.round;
        let p = self.policy.clone();
        let nh = snap.hosts.len();

        // 1–2. Receiver and profiler.
        let rec = self.receiver.receive(snap);
        let slots = self.profiler.update(snap, &rec, round);
        let mut plan = Plan {
            round,
            notes: rec.notes.clone(),
            ..Plan::default()
        };
        plan.held = (0..nh)
            .filter(|&h| rec.held[h])
            .map(|h| snap.hosts[h].name.clone())
            .collect();
        if !p.active_at(snap.time_s) {
            plan.notes
                .push(format!("policy {} is outside its active hours", p.name));
            return plan;
        }

        // 3–4. Validator and predictor, per VM.
        let n_obs = p.observation.n.saturating_sub(1);
        let mut demand = vec![0.0; snap.vms.len()];
        let mut peak = vec![0.0; snap.vms.len()];
        let mut obs = vec![0.0; nh * n_obs];
        let mut mem_used = vec![0.0; nh];
        let mut cooling = vec![false; nh];
        let mut movable = vec![false; snap.vms.len()];
        for (i, vm) in snap.vms.iter().enumerate() {
            if vm.host >= nh {
                continue;
            }
            let prof = self.profiler.get_mut(slots[i]);
            let hist = prof.history.make_contiguous();
            let revalidate = prof.validation.is_none()
                || round - prof.validated_at >= p.prediction.backtest as u64;
            if revalidate {
                let v = match &p.prediction.predictor {
                    PredictorChoice::Auto { candidates } => {
                        validator::choose(hist, candidates, p.prediction.backtest)
                    }
                    PredictorChoice::Fixed(k) => {
                        validator::choose(hist, &[*k], p.prediction.backtest)
                    }
                };
                prof.validation = Some(v);
                prof.validated_at = round;
            }
            let hist = prof.history.make_contiguous();
            let v = prof.validation.unwrap_or(validator::Validation {
                kind: crate::stages::predictor::PredictorKind::LastValue,
                mae: 0.0,
            });
            let now = rec.cpu[i].or(hist.last().copied()).unwrap_or(0.0);
            let forecast =
                v.kind.forecast(hist, p.prediction.horizon) + p.prediction.safety_margin * v.mae;
            demand[i] = forecast.max(now).clamp(0.0, vm.cpu_size.max(0.0));
            let recent = hist.iter().rev().take(3).fold(0.0_f64, |a, &b| a.max(b));
            peak[i] = demand[i].max(recent.min(vm.cpu_size));
            for j in 0..n_obs.min(hist.len()) {
                obs[vm.host * n_obs + (n_obs - 1 - j)] += hist[hist.len() - 1 - j];
            }
            mem_used[vm.host] += vm.mem_mb;
            let since_move = prof.last_moved.map(|r| round.saturating_sub(r));
            if since_move.is_some_and(|s| s < p.migration.host_cooldown_rounds) {
                cooling[vm.host] = true;
            }
            let in_affinity = p.placement.affinity.iter().any(|g| g.contains(&vm.name));
            movable[i] = !vm.migrating
                && !rec.held[vm.host]
                && p.vm_in_scope(vm, &snap.hosts[vm.host])
                && !in_affinity
                && rec.cpu[i].is_some()
                && since_move.is_none_or(|s| s >= p.migration.vm_cooldown_rounds);
        }

        // 5. Optimizer.
        let mut load = vec![0.0; nh];
        for (i, vm) in snap.vms.iter().enumerate() {
            if vm.host < nh {
                load[vm.host] += demand[i];
            }
        }
        let mut hosts = Vec::with_capacity(nh);
        for (h, host) in snap.hosts.iter().enumerate() {
            let cap = host.cpu_capacity;
            let observed: Vec<f64> = obs[h * n_obs..(h + 1) * n_obs]
                .iter()
                .map(|x| x / cap)
                .collect();
            let mem = if host.mem_mb > 0.0 {
                mem_used[h] / host.mem_mb
            } else {
                0.0
            };
            let held = rec.held[h];
            let verdict = optimizer::assess(
                &observed,
                load[h] / cap,
                p.cpu,
                mem,
                p.memory,
                p.observation.k,
            );
            let in_scope = p.host_in_scope(host);
            let labels_ok = p
                .placement
                .host_labels
                .iter()
                .all(|l| host.labels.contains(l));
            let hot = verdict.hot && !held && in_scope;
            let cold = verdict.cold && !held && in_scope && host.powered_on;
            if hot {
                plan.hot.push(host.name.clone());
            }
            if cold {
                plan.cold.push(host.name.clone());
                if p.power.consolidate && !host.can_power_off {
                    plan.notes.push(format!(
                        "host {} is underloaded but cannot be powered off: not emptied",
                        host.name
                    ));
                }
            }
            hosts.push(HostView {
                cpu: cap,
                core: host.core_capacity,
                mem: host.mem_mb,
                on: host.powered_on,
                // A host in maintenance takes nothing, yet is not held:
                // its VMs may still leave.
                eligible: in_scope && labels_ok && !held && !host.maintenance,
                held,
                hot,
                // Emptying a host that cannot then be switched off only
                // costs migrations.
                cold: cold && host.can_power_off,
                cooling: cooling[h],
                watts_per_cpu: if cap > 0.0 {
                    host.max_watts / cap
                } else {
                    f64::MAX
                },
            });
        }
        let mut groups: HashMap<&str, u32> = HashMap::new();
        for (g, members) in p.placement.anti_affinity.iter().enumerate() {
            for m in members {
                groups.insert(m.as_str(), g as u32);
            }
        }
        let vms: Vec<VmView> = snap
            .vms
            .iter()
            .enumerate()
            .map(|(i, vm)| VmView {
                host: vm.host.min(nh),
                demand: demand[i],
                peak: peak[i],
                cores: f64::from(vm.vcpus.max(1)),
                mem: vm.mem_mb,
                movable: movable[i],
                group: groups.get(vm.name.as_str()).copied(),
            })
            .collect();

        // 6. Migrator, within the round and hourly budgets.
        while self
            .recent_moves
            .front()
            .is_some_and(|&(t, _)| snap.time_s - t >= 3600.0)
        {
            self.recent_moves.pop_front();
        }
        let used: usize = self.recent_moves.iter().map(|&(_, n)| n).sum();
        let hour_left = p
            .migration
            .max_per_hour
            .map_or(usize::MAX, |m| m.saturating_sub(used));
        let rules = Rules {
            upper: p.cpu.upper,
            hysteresis: p.migration.hysteresis,
            mem_upper: p.memory.upper,
            max_moves: p
                .migration
                .max_per_round
                .unwrap_or(usize::MAX)
                .min(hour_left),
            consolidate: p.power.consolidate,
            spare_hosts: p.power.spare_hosts,
            destination: p.migration.destination,
            vm_choice: p.migration.vm_choice,
        };
        let moves = migrator::plan(&hosts, &vms, &rules);
        for m in &moves.moves {
            self.profiler.get_mut(slots[m.vm]).last_moved = Some(round);
        }
        if !moves.moves.is_empty() {
            self.recent_moves
                .push_back((snap.time_s, moves.moves.len()));
        }
        plan.unresolved = moves
            .unresolved
            .iter()
            .map(|&h| snap.hosts[h].name.clone())
            .collect();

        // 7. Resource allocator.
        let new_vms: Vec<usize> = (0..snap.vms.len())
            .filter(|&i| self.profiler.get(slots[i]).first_seen == round)
            .collect();
        let mut extra = allocator::allocations(&p, snap, &new_vms);
        extra.extend(allocator::scaling(&p, snap));

        // 8. Prescriber.
        plan.commands = prescriber::prescribe(snap, &moves, p.power.power_off_idle, extra);
        plan.moves = moves.moves;
        plan
    }
}
