//! Prescriber: turns decisions into concrete, ordered commands with
//! dependencies: a host is powered on before anything migrates to it, a
//! drained host is powered off only after every migration off it, and
//! migrations onto a host being drained never happen (the migrator rules
//! that out).

use crate::model::{Command, CommandKind, Snapshot};

use super::migrator::{MovePlan, Reason};

/// Builds the command list. `extra` are allocator commands (resize,
/// scale), which depend on nothing.
pub fn prescribe(
    snap: &Snapshot,
    plan: &MovePlan,
    power_off_idle: bool,
    extra: Vec<(CommandKind, String)>,
) -> Vec<Command> {
    let mut out: Vec<Command> = Vec::new();
    let host = |h: usize| snap.hosts[h].name.clone();
    let mut powered = std::collections::HashMap::new();
    for &h in &plan.power_on {
        let id = out.len();
        out.push(Command {
            id,
            kind: CommandKind::PowerOn { host: host(h) },
            depends_on: vec![],
            reason: "needed as destination; no running host has room".into(),
        });
        powered.insert(h, id);
    }
    let mut off_deps: std::collections::HashMap<usize, Vec<usize>> =
        std::collections::HashMap::new();
    for m in &plan.moves {
        let id = out.len();
        let vm = &snap.vms[m.vm];
        let reason = match m.reason {
            Reason::Hotspot => format!(
                "{} is overloaded (forecast above the upper threshold)",
                host(m.from)
            ),
            Reason::Consolidation => format!(
                "{} is underloaded and is being emptied to power it off",
                host(m.from)
            ),
        };
        out.push(Command {
            id,
            kind: CommandKind::Migrate {
                vm: vm.name.clone(),
                from: host(m.from),
                to: host(m.to),
            },
            depends_on: powered.get(&m.to).map(|&p| vec![p]).unwrap_or_default(),
            reason,
        });
        off_deps.entry(m.from).or_default().push(id);
    }
    if power_off_idle {
        for &h in &plan.power_off {
            let id = out.len();
            out.push(Command {
                id,
                kind: CommandKind::PowerOff { host: host(h) },
                depends_on: off_deps.remove(&h).unwrap_or_default(),
                reason: "emptied by consolidation".into(),
            });
        }
    }
    for (kind, reason) in extra {
        let id = out.len();
        out.push(Command {
            id,
            kind,
            depends_on: vec![],
            reason,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::migrator::Move;
    use super::*;
    use crate::model::{HostState, VmState};

    #[test]
    fn power_on_first_power_off_last() {
        let h = |n: &str| HostState {
            name: n.into(),
            cpu_capacity: 1.0,
            core_capacity: 1.0,
            mem_mb: 0.0,
            net_mbps: 0.0,
            idle_watts: 0.0,
            max_watts: 0.0,
            labels: vec![],
            powered_on: true,
            reported_at: Some(0.0),
            maintenance: false,
            can_power_off: true,
        };
        let v = |n: &str, host| VmState {
            name: n.into(),
            host,
            cpu_size: 1.0,
            vcpus: 1,
            cpu_used: 0.1,
            mem_mb: 0.0,
            net_mbps: 0.0,
            migrating: false,
            service: None,
        };
        let snap = Snapshot {
            time_s: 0.0,
            hosts: vec![h("a"), h("b"), h("c")],
            vms: vec![v("x", 0), v("y", 1)],
        };
        let plan = MovePlan {
            moves: vec![
                Move {
                    vm: 0,
                    from: 0,
                    to: 2,
                    reason: Reason::Hotspot,
                },
                Move {
                    vm: 1,
                    from: 1,
                    to: 0,
                    reason: Reason::Consolidation,
                },
            ],
            power_on: vec![2],
            power_off: vec![1],
            unresolved: vec![],
        };
        let cmds = prescribe(&snap, &plan, true, vec![]);
        assert_eq!(cmds[0].kind, CommandKind::PowerOn { host: "c".into() });
        assert_eq!(cmds[1].depends_on, vec![0]);
        assert_eq!(cmds[3].kind, CommandKind::PowerOff { host: "b".into() });
        assert_eq!(cmds[3].depends_on, vec![2]);
        for c in &cmds {
            assert!(
                c.depends_on.iter().all(|&d| d < c.id),
                "dependencies point backwards"
            );
        }
    }
}
