//! Runs vine's own pipeline inside the simulator: each round the data
//! centre is turned into a [`Snapshot`], the [`Engine`] plans, and its
//! migrations are carried out by the simulator.
//!
//! The snapshot follows the experiment's model: only CPU constrains
//! placement (VM memory is reported as 0, as CloudSim's example requests
//! none), and a host without load is off.

use super::dc::{Datacenter, Move};
use super::Planner;
use crate::engine::Engine;
use crate::model::{HostState, Snapshot, VmState};
use crate::policy::Policy;

/// Adapter from the simulated data centre to the engine.
pub struct VinePlanner {
    engine: Engine,
}

impl VinePlanner {
    /// A planner running `policy`.
    pub fn new(policy: Policy) -> Self {
        VinePlanner {
            engine: Engine::new(policy),
        }
    }
}

/// The snapshot an agent-fed receiver would see, and the data-centre
/// index of each snapshot VM.
pub fn snapshot(dc: &Datacenter, t: f64) -> (Snapshot, Vec<usize>) {
    let hosts = dc
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| HostState {
            name: format!("host-{i}"),
            cpu_capacity: h.total_mips(),
            core_capacity: h.spec.pe_mips,
            mem_mb: 0.0,
            net_mbps: 0.0,
            idle_watts: h.spec.power.watts[0],
            max_watts: h.spec.power.watts[10],
            labels: Vec::new(),
            powered_on: h.util_mips > 0.0,
            reported_at: Some(t),
            maintenance: false,
            can_power_off: true,
        })
        .collect();
    let mut index = Vec::new();
    let mut vms = Vec::new();
    for (i, v) in dc.vms.iter().enumerate() {
        let Some(host) = v.host else { continue };
        index.push(i);
        vms.push(VmState {
            name: format!("vm-{i}"),
            host,
            cpu_size: v.spec.mips,
            // The experiment's VMs have one PE each, as in CloudSim.
            vcpus: 1,
            cpu_used: v.requested,
            mem_mb: 0.0,
            net_mbps: 0.0,
            migrating: v.in_migration,
            service: None,
        });
    }
    (
        Snapshot {
            time_s: t,
            hosts,
            vms,
        },
        index,
    )
}

impl Planner for VinePlanner {
    fn plan(&mut self, dc: &Datacenter, _round: usize, t: f64) -> Vec<Move> {
        let (snap, index) = snapshot(dc, t);
        let plan = self.engine.plan(&snap);
        plan.moves
            .iter()
            .map(|m| Move {
                vm: index[m.vm],
                to: m.to,
            })
            .collect()
    }
}
