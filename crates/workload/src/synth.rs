//! Synthetic data centres for planning-time benchmarks: `hosts` hosts and
//! `vms` VMs with deterministic pseudo-random load, some hosts hot, some
//! cold.

use crate::model::{HostState, Snapshot, VmState};

/// A small deterministic generator (SplitMix64), so runs are repeatable
/// without a dependency.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A snapshot at `time_s` of `hosts` hosts (10,000 MIPS, 16 GB) carrying
/// `vms` VMs (1,000 MIPS, 1 GB) spread round-robin, with loads drawn so
/// that a few percent of hosts are over 90 % and some under 30 %. `round`
/// shifts the loads a little, so consecutive snapshots differ.
pub fn snapshot(hosts: usize, vms: usize, round: u64, time_s: f64) -> Snapshot {
    let mut base = Mix(42);
    let mut jitter = Mix(1000 + round);
    let hs = (0..hosts)
        .map(|i| HostState {
            name: format!("h{i}"),
            cpu_capacity: 10_000.0,
            core_capacity: 2_500.0,
            mem_mb: 16_384.0,
            net_mbps: 10_000.0,
            idle_watts: 100.0,
            max_watts: 250.0,
            labels: vec![],
            powered_on: true,
            reported_at: Some(time_s),
            maintenance: false,
            can_power_off: true,
        })
        .collect();
    let vs = (0..vms)
        .map(|i| {
            let host = i % hosts.max(1);
            // Host "temperature" makes whole hosts busy or idle.
            let heat = ((host as f64 * 0.618_034).fract() * 1.6).min(1.4);
            let u = (base.next() * 0.9 * heat + jitter.next() * 0.1).min(1.0);
            VmState {
                name: format!("v{i}"),
                host,
                cpu_size: 1_000.0,
                vcpus: 1,
                cpu_used: 1_000.0 * u,
                mem_mb: 1_024.0,
                net_mbps: 10.0,
                migrating: false,
                service: None,
            }
        })
        .collect();
    Snapshot {
        time_s,
        hosts: hs,
        vms: vs,
    }
}
