//! Profiler: keeps each VM's recent CPU usage across rounds, keyed by name
//! so a VM keeps its profile when it moves, and notices moves made by
//! anyone (for cool-downs).

use std::collections::{HashMap, VecDeque};

use super::receiver::Received;
use super::validator::Validation;
use crate::model::Snapshot;

/// What is known about one VM.
#[derive(Debug, Clone, Default)]
pub struct VmProfile {
    /// CPU samples, oldest first, at most the policy window.
    pub history: VecDeque<f64>,
    /// Round of its last move, if any.
    pub last_moved: Option<u64>,
    /// Host it was on last round.
    pub host: String,
    /// Validator's choice, if made.
    pub validation: Option<Validation>,
    /// Round of that choice.
    pub validated_at: u64,
    /// Round it was first reported.
    pub first_seen: u64,
    seen: u64,
}

/// All profiles.
#[derive(Debug, Clone, Default)]
pub struct Profiler {
    window: usize,
    profiles: Vec<VmProfile>,
    by_name: HashMap<String, usize>,
    free: Vec<usize>,
}

impl Profiler {
    /// Keeps `window` samples per VM.
    pub fn new(window: usize) -> Self {
        Profiler {
            window: window.max(2),
            ..Default::default()
        }
    }

    /// Adds this round's samples; returns each snapshot VM's profile slot.
    /// Profiles of VMs no longer reported are dropped.
    pub fn update(&mut self, snap: &Snapshot, rec: &Received, round: u64) -> Vec<usize> {
        let mut slots = Vec::with_capacity(snap.vms.len());
        for (i, vm) in snap.vms.iter().enumerate() {
            let slot = match self.by_name.get(&vm.name) {
                Some(&s) => s,
                None => {
                    let s = self.free.pop().unwrap_or_else(|| {
                        self.profiles.push(VmProfile::default());
                        self.profiles.len() - 1
                    });
                    self.profiles[s] = VmProfile {
                        first_seen: round,
                        ..VmProfile::default()
                    };
                    self.by_name.insert(vm.name.clone(), s);
                    s
                }
            };
            let host = snap.hosts.get(vm.host).map_or("", |h| h.name.as_str());
            let p = &mut self.profiles[slot];
            if p.seen > 0 && p.host != host {
                // Moves show up the round after they were made.
                p.last_moved = Some(p.last_moved.unwrap_or(0).max(round.saturating_sub(1)));
            }
            if p.host != host {
                p.host = host.to_string();
            }
            p.seen = round;
            if let Some(s) = rec.cpu.get(i).copied().flatten() {
                p.history.push_back(s);
                while p.history.len() > self.window {
                    p.history.pop_front();
                }
            }
            slots.push(slot);
        }
        let stale: Vec<String> = self
            .by_name
            .iter()
            .filter(|(_, &s)| self.profiles[s].seen != round)
            .map(|(n, _)| n.clone())
            .collect();
        for n in stale {
            if let Some(s) = self.by_name.remove(&n) {
                self.free.push(s);
            }
        }
        slots
    }

    /// Profile in `slot`.
    pub fn get(&self, slot: usize) -> &VmProfile {
        &self.profiles[slot]
    }

    /// Mutable profile in `slot`.
    pub fn get_mut(&mut self, slot: usize) -> &mut VmProfile {
        &mut self.profiles[slot]
    }

    /// Number of VMs profiled.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// True if no VM is profiled.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HostState, VmState};

    fn snap(t: f64, host: usize, used: f64) -> Snapshot {
        let h = |n: &str| HostState {
            name: n.into(),
            cpu_capacity: 10.0,
            core_capacity: 10.0,
            mem_mb: 0.0,
            net_mbps: 0.0,
            idle_watts: 0.0,
            max_watts: 0.0,
            labels: vec![],
            powered_on: true,
            reported_at: Some(t),
            maintenance: false,
            can_power_off: true,
        };
        Snapshot {
            time_s: t,
            hosts: vec![h("a"), h("b")],
            vms: vec![VmState {
                name: "v".into(),
                host,
                cpu_size: 10.0,
                vcpus: 1,
                cpu_used: used,
                mem_mb: 0.0,
                net_mbps: 0.0,
                migrating: false,
                service: None,
            }],
        }
    }

    #[test]
    fn keeps_a_window_and_follows_moves() {
        let mut p = Profiler::new(3);
        for (r, used) in [1.0, 2.0, 3.0, 4.0].into_iter().enumerate() {
            let s = snap(r as f64, 0, used);
            let rec = Received {
                cpu: vec![Some(used)],
                held: vec![false, false],
                notes: vec![],
            };
            p.update(&s, &rec, r as u64 + 1);
        }
        assert_eq!(p.get(0).history, [2.0, 3.0, 4.0]);
        assert_eq!(p.get(0).last_moved, None);
        let s = snap(9.0, 1, 5.0);
        let rec = Received {
            cpu: vec![None],
            held: vec![false, false],
            notes: vec![],
        };
        p.update(&s, &rec, 5);
        // Missing sample keeps the history; the host change is a move.
        assert_eq!(p.get(0).history, [2.0, 3.0, 4.0]);
        assert_eq!(p.get(0).last_moved, Some(4));
    }
}
