//! Receiver: takes a snapshot as reported and decides what can be trusted.
//! A host with a missing or impossible sample, a silent agent, or a clock
//! that disagrees is *held*: the engine neither moves VMs off it nor onto
//! it this round, rather than act on garbage.

use crate::model::Snapshot;

/// What the rest of the pipeline may use.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// Per VM: its CPU sample, or `None` if missing or invalid.
    pub cpu: Vec<Option<f64>>,
    /// Per host: held this round.
    pub held: Vec<bool>,
    /// Why hosts were held, for `policy explain`.
    pub notes: Vec<String>,
}

/// Checks snapshots against each other and against themselves.
#[derive(Debug, Clone)]
pub struct Receiver {
    last_time: Option<f64>,
    /// An agent whose last report is older than this (seconds) is silent.
    pub max_report_age_s: f64,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver {
            last_time: None,
            max_report_age_s: 900.0,
        }
    }
}

impl Receiver {
    /// Validates one snapshot.
    pub fn receive(&mut self, snap: &Snapshot) -> Received {
        let nh = snap.hosts.len();
        let mut out = Received {
            cpu: vec![None; snap.vms.len()],
            held: vec![false; nh],
            notes: Vec::new(),
        };
        let time_ok = snap.time_s.is_finite() && self.last_time.is_none_or(|t| snap.time_s > t);
        if !time_ok {
            out.notes.push(format!(
                "snapshot time {} does not follow the previous one ({:?}): holding every host",
                snap.time_s, self.last_time
            ));
            out.held.iter_mut().for_each(|h| *h = true);
        } else {
            self.last_time = Some(snap.time_s);
        }
        for (i, h) in snap.hosts.iter().enumerate() {
            let why = match h.reported_at {
                // Off on purpose: nothing to report, and it may be woken.
                None if !h.powered_on => None,
                None => Some("there is no report from its agent".to_string()),
                Some(t) if !t.is_finite() => Some("its report time is not a number".into()),
                Some(t) if snap.time_s - t > self.max_report_age_s => Some(format!(
                    "its agent has been silent for {:.0} s",
                    snap.time_s - t
                )),
                Some(t) if t - snap.time_s > self.max_report_age_s => {
                    Some(format!("its clock is {:.0} s ahead", t - snap.time_s))
                }
                _ => None,
            };
            if !(h.cpu_capacity.is_finite() && h.cpu_capacity > 0.0) {
                out.held[i] = true;
                out.notes.push(format!(
                    "host {} held: capacity {} is not usable",
                    h.name, h.cpu_capacity
                ));
            } else if let Some(why) = why {
                out.held[i] = true;
                out.notes.push(format!("host {} held: {why}", h.name));
            }
        }
        for (i, vm) in snap.vms.iter().enumerate() {
            if vm.host >= nh {
                out.notes.push(format!(
                    "vm {} names host #{} which does not exist: ignored",
                    vm.name, vm.host
                ));
                continue;
            }
            let s = vm.cpu_used;
            if s.is_finite() && s >= 0.0 && vm.cpu_size.is_finite() && vm.cpu_size > 0.0 {
                out.cpu[i] = Some(s.min(vm.cpu_size));
            } else if !out.held[vm.host] {
                out.held[vm.host] = true;
                out.notes.push(format!(
                    "host {} held: sample of vm {} is missing or invalid ({s})",
                    snap.hosts[vm.host].name, vm.name
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{HostState, VmState};

    pub(crate) fn host(name: &str, t: f64) -> HostState {
        HostState {
            name: name.into(),
            cpu_capacity: 1000.0,
            core_capacity: 500.0,
            mem_mb: 0.0,
            net_mbps: 0.0,
            idle_watts: 100.0,
            max_watts: 200.0,
            labels: vec![],
            powered_on: true,
            reported_at: Some(t),
            maintenance: false,
            can_power_off: true,
        }
    }

    fn vm(name: &str, host: usize, used: f64) -> VmState {
        VmState {
            name: name.into(),
            host,
            cpu_size: 500.0,
            vcpus: 1,
            cpu_used: used,
            mem_mb: 0.0,
            net_mbps: 0.0,
            migrating: false,
            service: None,
        }
    }

    #[test]
    fn nan_sample_holds_only_its_host() {
        let snap = Snapshot {
            time_s: 300.0,
            hosts: vec![host("a", 300.0), host("b", 300.0)],
            vms: vec![vm("x", 0, f64::NAN), vm("y", 1, 100.0)],
        };
        let r = Receiver::default().receive(&snap);
        assert_eq!(r.held, vec![true, false]);
        assert_eq!(r.cpu, vec![None, Some(100.0)]);
        assert!(r.notes[0].contains("vm x"));
    }

    #[test]
    fn silent_agent_and_time_going_backwards() {
        let mut rx = Receiver::default();
        let snap = Snapshot {
            time_s: 5000.0,
            hosts: vec![host("a", 5000.0), host("b", 100.0)],
            vms: vec![],
        };
        assert_eq!(rx.receive(&snap).held, vec![false, true]);
        let back = Snapshot {
            time_s: 4000.0,
            ..snap
        };
        assert_eq!(rx.receive(&back).held, vec![true, true]);
    }
}
