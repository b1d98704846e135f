//! What the live data centre tells the engine about host power: a host
//! that cannot be powered off is never emptied to be, and a host that is
//! off on purpose is not held for its silence — it is woken when its room
//! is needed.

use vine_workload::model::{CommandKind, HostState, Snapshot, VmState};
use vine_workload::{Engine, Policy};

fn host(name: &str) -> HostState {
    HostState {
        name: name.into(),
        cpu_capacity: 4000.0,
        core_capacity: 1000.0,
        mem_mb: 16_384.0,
        net_mbps: 0.0,
        idle_watts: 0.0,
        max_watts: 0.0,
        labels: Vec::new(),
        powered_on: true,
        reported_at: None,
        maintenance: false,
        can_power_off: true,
    }
}

fn vm(name: &str, host: usize, used: f64) -> VmState {
    VmState {
        name: name.into(),
        host,
        cpu_size: 1000.0,
        vcpus: 1,
        cpu_used: used,
        mem_mb: 1024.0,
        net_mbps: 0.0,
        migrating: false,
        service: None,
    }
}

/// Runs the default policy for `rounds` 5-minute rounds on `snap` (every
/// powered-on host reporting each round) and returns every command.
fn commands(mut snap: Snapshot, rounds: u32) -> (Vec<CommandKind>, Vec<String>) {
    let mut engine = Engine::new(Policy::builtin_default());
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for r in 1..=rounds {
        snap.time_s = f64::from(r) * 300.0;
        for h in &mut snap.hosts {
            h.reported_at = h.powered_on.then_some(snap.time_s);
        }
        let plan = engine.plan(&snap);
        notes.extend(plan.notes);
        out.extend(plan.commands.into_iter().map(|c| c.kind));
    }
    (out, notes)
}

fn two_quiet_hosts(can_power_off: bool) -> Snapshot {
    let mut a = host("a");
    let mut b = host("b");
    a.can_power_off = can_power_off;
    b.can_power_off = can_power_off;
    Snapshot {
        time_s: 0.0,
        hosts: vec![a, b],
        vms: vec![vm("x", 0, 300.0), vm("y", 1, 300.0)],
    }
}

#[test]
fn quiet_hosts_are_consolidated_and_one_powered_off_when_it_can_be() {
    let (cmds, _) = commands(two_quiet_hosts(true), 4);
    assert!(
        cmds.iter()
            .any(|c| matches!(c, CommandKind::PowerOff { .. })),
        "{cmds:?}"
    );
    assert!(cmds
        .iter()
        .any(|c| matches!(c, CommandKind::Migrate { .. })));
}

#[test]
fn hosts_that_cannot_be_powered_off_are_not_emptied() {
    let (cmds, notes) = commands(two_quiet_hosts(false), 4);
    assert!(cmds.is_empty(), "{cmds:?}");
    assert!(
        notes.iter().any(|n| n.contains("cannot be powered off")),
        "{notes:?}"
    );
}

#[test]
fn an_overloaded_host_wakes_a_host_that_is_off_on_purpose() {
    let mut off = host("c");
    off.powered_on = false;
    let mut full = host("b");
    full.cpu_capacity = 1000.0;
    let snap = Snapshot {
        time_s: 0.0,
        hosts: vec![host("a"), full, off],
        vms: vec![
            vm("v1", 0, 1000.0),
            vm("v2", 0, 1000.0),
            vm("v3", 0, 1000.0),
            vm("v4", 0, 1000.0),
            vm("w", 1, 900.0),
        ],
    };
    let (cmds, notes) = commands(snap, 4);
    assert!(
        !notes.iter().any(|n| n.contains("host c held")),
        "an off host is not held for its silence: {notes:?}"
    );
    let on = cmds
        .iter()
        .position(|c| matches!(c, CommandKind::PowerOn { host } if host == "c"));
    let moved = cmds
        .iter()
        .position(|c| matches!(c, CommandKind::Migrate { to, .. } if to == "c"));
    assert!(on.is_some() && moved.is_some() && on < moved, "{cmds:?}");
}
