//! The engine's view of the live data centre: the inventory (hosts, their
//! capacity, which VMs run where) joined with what each agent measured.
//! Pure: records and measurements in, a [`Snapshot`] out.
//!
//! Units: CPU in thousandths of a core (a host of 8 vCPUs has capacity
//! 8000, a VM of 2 vCPUs size 2000, one core 1000), memory in MiB.
//! A VM with no CPU sample gets NaN, a host without a report this round
//! `reported_at: None`: the engine's receiver then holds that host (moves
//! nothing off or onto it) rather than guess.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use vine_workload::model::{HostState, Snapshot, VmState as PlanVm};

use crate::inventory::{HostPower, HostRecord, VmRecord};
use crate::vni::{Utilization, VmState};

/// CPU units per core.
pub const CORE: f64 = 1000.0;

/// Seconds since the epoch.
pub fn secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Everything a snapshot is made of.
pub struct Observed<'a> {
    pub now: SystemTime,
    pub hosts: &'a [HostRecord],
    pub vms: &'a [VmRecord],
    /// Reports of the hosts that answered this round, by host name.
    pub usage: &'a HashMap<String, Utilization>,
    /// VMs some job is acting on (moving, resizing…).
    pub busy: &'a HashSet<String>,
    /// VM → the virtual server it is a node of.
    pub services: &'a HashMap<String, String>,
    /// The manager wakes hosts by a command (`--power-on-command`), so a
    /// host without a Wake-on-LAN MAC can be woken too.
    pub wake_by_command: bool,
}

/// A host's labels as policies write them: `key=value`, or `key` alone
/// when the value is empty (`ssd`). `pool=<name>` is what a pool-scoped
/// policy matches.
pub fn label_strings(labels: &BTreeMap<String, String>) -> Vec<String> {
    labels
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}={v}")
            }
        })
        .collect()
}

/// Whether a VM holds host resources: running or paused ones do.
fn holds_resources(s: VmState) -> bool {
    matches!(s, VmState::Running | VmState::Paused)
}

/// Builds the snapshot. A VM listed on two hosts (a move the inventory
/// has only half seen) is placed where an agent reports it, else on the
/// first host listed, without a sample, so that host is held.
pub fn build(o: &Observed<'_>) -> Snapshot {
    let index: HashMap<&str, usize> = o
        .hosts
        .iter()
        .enumerate()
        .map(|(i, h)| (h.name.as_str(), i))
        .collect();
    let hosts = o
        .hosts
        .iter()
        .map(|h| {
            let cap = h.capacity.unwrap_or_default();
            // Off on purpose: a host the engine may wake (powered_on
            // false) if there is a way to; on its way off or up, or off
            // with no way to wake it, a host that takes nothing.
            let on = h.power == HostPower::On;
            let wakeable = h.power == HostPower::Off && (h.mac.is_some() || o.wake_by_command);
            HostState {
                name: h.name.clone(),
                cpu_capacity: cap.vcpus as f64 * CORE,
                core_capacity: CORE,
                mem_mb: cap.memory_mib as f64,
                net_mbps: 0.0,
                idle_watts: 0.0,
                max_watts: 0.0,
                labels: label_strings(&h.labels),
                powered_on: on || h.power == HostPower::Stopping,
                reported_at: o
                    .usage
                    .get(&h.name)
                    .and_then(Utilization::sampled_at)
                    .map(secs),
                // vm.migrate refuses such a destination: never plan one.
                maintenance: h.maintenance || (!on && !wakeable),
                // Unknown counts as no: never empty a host on a guess.
                can_power_off: h.can_power_off == Some(true),
            }
        })
        .collect();

    let mut placed: HashMap<&str, usize> = HashMap::new();
    let mut vms: Vec<PlanVm> = Vec::new();
    for v in o.vms.iter().filter(|v| holds_resources(v.state)) {
        let Some(&host) = index.get(v.host.as_str()) else {
            continue;
        };
        let sample = o
            .usage
            .get(&v.host)
            .and_then(|u| u.vms.get(&v.name))
            .and_then(|u| u.cpu);
        if let Some(&at) = placed.get(v.name.as_str()) {
            // Seen twice: keep the copy an agent vouches for.
            if let Some(f) = sample {
                vms[at].host = host;
                vms[at].cpu_used = f * vms[at].cpu_size;
            }
            continue;
        }
        let size = f64::from(v.vcpus.unwrap_or(0)) * CORE;
        placed.insert(v.name.as_str(), vms.len());
        vms.push(PlanVm {
            name: v.name.clone(),
            host,
            cpu_size: size,
            // Each vCPU may use one whole core: a 2-vCPU VM peaking at
            // 1.8 cores still fits a host whose cores are 1000 each.
            vcpus: v.vcpus.unwrap_or(1).max(1),
            cpu_used: sample.map_or(f64::NAN, |f| f * size),
            mem_mb: v.memory_mib.unwrap_or(0) as f64,
            net_mbps: 0.0,
            migrating: o.busy.contains(&v.name),
            service: o.services.get(&v.name).cloned(),
        });
    }
    Snapshot {
        time_s: secs(o.now),
        hosts,
        vms,
    }
}

/// Hosts whose agent reports running VMs the inventory does not place
/// there, or misses VMs the inventory says run there: their inventory is
/// stale and should be reread before planning.
pub fn disagreeing(vms: &[VmRecord], usage: &HashMap<String, Utilization>) -> Vec<String> {
    let mut listed: HashMap<&str, HashSet<&str>> = HashMap::new();
    for v in vms.iter().filter(|v| holds_resources(v.state)) {
        listed.entry(v.host.as_str()).or_default().insert(&v.name);
    }
    let mut out: Vec<String> = usage
        .iter()
        .filter(|(host, u)| {
            let inv = listed.get(host.as_str());
            let reported: HashSet<&str> = u.vms.keys().map(String::as_str).collect();
            inv.map_or(!reported.is_empty(), |i| *i != reported)
        })
        .map(|(h, _)| h.clone())
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::HostHealth;
    use crate::vni::{HostCapacity, Usage};
    use std::time::Duration;

    fn host(name: &str, vcpus: u64) -> HostRecord {
        HostRecord {
            name: name.into(),
            url: format!("http://{name}"),
            prefix: Some("KVM".into()),
            system_name: Some(name.into()),
            health: HostHealth::Up,
            last_seen: Some(1),
            last_error: None,
            capacity: Some(HostCapacity {
                vcpus,
                memory_mib: 16_384,
            }),
            labels: Default::default(),
            maintenance: false,
            ..HostRecord::new("", "")
        }
    }

    fn vm(name: &str, host: &str, vcpus: u32, state: VmState) -> VmRecord {
        VmRecord {
            name: name.into(),
            host: host.into(),
            uuid: None,
            state,
            vcpus: Some(vcpus),
            memory_mib: Some(512),
        }
    }

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn usage(t: u64, vms: &[(&str, Option<f64>)]) -> Utilization {
        Utilization {
            host: None,
            vms: vms
                .iter()
                .map(|(n, cpu)| {
                    (
                        n.to_string(),
                        Usage {
                            cpu: *cpu,
                            memory_used_kib: Some(1),
                            sampled_at: at(t),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn capacity_and_samples_in_core_thousandths_missing_is_nan() {
        let hosts = [host("a", 8), host("b", 4), host("c", 4)];
        let vms = [
            vm("x", "a", 2, VmState::Running),
            vm("y", "a", 1, VmState::Running),
            vm("off", "a", 4, VmState::Stopped),
            vm("z", "b", 1, VmState::Paused),
            vm("w", "c", 1, VmState::Running),
        ];
        let mut u = HashMap::new();
        u.insert("a".to_string(), usage(99, &[("x", Some(0.5)), ("y", None)]));
        u.insert("b".to_string(), usage(98, &[("z", Some(0.0))]));
        // c did not answer.
        let busy: HashSet<String> = ["x".to_string()].into();
        let services: HashMap<String, String> = [("z".to_string(), "web".to_string())].into();
        let s = build(&Observed {
            now: at(100),
            hosts: &hosts,
            vms: &vms,
            usage: &u,
            busy: &busy,
            services: &services,
            wake_by_command: false,
        });
        assert_eq!(s.time_s, 100.0);
        assert_eq!(
            (
                s.hosts[0].cpu_capacity,
                s.hosts[0].core_capacity,
                s.hosts[0].mem_mb
            ),
            (8000.0, 1000.0, 16_384.0)
        );
        assert_eq!(s.hosts[0].reported_at, Some(99.0));
        assert_eq!(s.hosts[2].reported_at, None, "unreachable: no report");
        let names: Vec<&str> = s.vms.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["x", "y", "z", "w"], "stopped VMs hold nothing");
        assert_eq!((s.vms[0].cpu_size, s.vms[0].cpu_used), (2000.0, 1000.0));
        assert!(s.vms[0].migrating && !s.vms[1].migrating);
        assert!(s.vms[1].cpu_used.is_nan(), "no CPU sample yet");
        assert_eq!(s.vms[2].cpu_used, 0.0);
        assert_eq!(s.vms[2].service.as_deref(), Some("web"));
        assert!(s.vms[3].cpu_used.is_nan());
    }

    #[test]
    fn the_engine_holds_unreachable_and_unsampled_hosts() {
        let hosts = [host("a", 8), host("b", 8), host("c", 8)];
        let vms = [
            vm("x", "a", 1, VmState::Running),
            vm("y", "b", 1, VmState::Running),
            vm("w", "c", 1, VmState::Running),
        ];
        let mut u = HashMap::new();
        u.insert("a".to_string(), usage(100, &[("x", Some(0.2))]));
        u.insert("b".to_string(), usage(100, &[("y", None)]));
        let s = quiet(&hosts, &vms, &u);
        let mut engine = vine_workload::Engine::new(vine_workload::Policy::builtin_default());
        let plan = engine.plan(&s);
        assert_eq!(plan.held, ["b", "c"]);
        assert!(
            plan.notes
                .iter()
                .any(|n| n.contains("host c held: there is no report from its agent")),
            "{:?}",
            plan.notes
        );
    }

    #[test]
    fn a_vm_seen_on_two_hosts_goes_where_it_is_measured() {
        let hosts = [host("a", 8), host("b", 8)];
        let vms = [
            vm("x", "a", 1, VmState::Running),
            vm("x", "b", 1, VmState::Running),
        ];
        let mut u = HashMap::new();
        u.insert("a".to_string(), usage(100, &[]));
        u.insert("b".to_string(), usage(100, &[("x", Some(0.4))]));
        let s = quiet(&hosts, &vms, &u);
        assert_eq!(s.vms.len(), 1);
        assert_eq!((s.vms[0].host, s.vms[0].cpu_used), (1, 400.0));
        assert_eq!(disagreeing(&vms, &u), ["a"]);
    }

    /// Hosts a and b (rack=a), c (ssd, no rack) bigger; a hot, b and c
    /// idle.
    fn racks() -> (Vec<HostRecord>, Vec<VmRecord>, HashMap<String, Utilization>) {
        let mut hosts = vec![host("a", 2), host("b", 2), host("c", 8)];
        hosts[0].labels = BTreeMap::from([("rack".into(), "a".into())]);
        hosts[1].labels = BTreeMap::from([("rack".into(), "a".into())]);
        hosts[2].labels = BTreeMap::from([("ssd".into(), String::new())]);
        let vms = vec![
            vm("x", "a", 1, VmState::Running),
            vm("y", "a", 1, VmState::Running),
            vm("z", "b", 1, VmState::Running),
            vm("w", "c", 1, VmState::Running),
        ];
        let mut u = HashMap::new();
        u.insert(
            "a".to_string(),
            usage(100, &[("x", Some(0.9)), ("y", Some(0.9))]),
        );
        u.insert("b".to_string(), usage(100, &[("z", Some(0.0))]));
        u.insert("c".to_string(), usage(100, &[("w", Some(0.0))]));
        (hosts, vms, u)
    }

    /// The snapshot at t=100 with no job busy, no virtual server and no
    /// power-on command.
    fn quiet(
        hosts: &[HostRecord],
        vms: &[VmRecord],
        u: &HashMap<String, Utilization>,
    ) -> vine_workload::Snapshot {
        build(&Observed {
            now: at(100),
            hosts,
            vms,
            usage: u,
            busy: &HashSet::new(),
            services: &HashMap::new(),
            wake_by_command: false,
        })
    }

    fn plan(
        hosts: &[HostRecord],
        vms: &[VmRecord],
        u: &HashMap<String, Utilization>,
        extra: &str,
    ) -> vine_workload::Plan {
        let s = quiet(hosts, vms, u);
        let text = format!(
            "name = \"t\"\n{extra}\n[thresholds.cpu]\nupper = 0.8\nlower = 0.0\n\
             [power]\nconsolidate = false\npower_off_idle = false\n"
        );
        let p = vine_workload::policy::parse_str(&text, "t.toml").unwrap();
        vine_workload::Engine::new(p).plan(&s)
    }

    fn moves(p: &vine_workload::Plan) -> Vec<String> {
        p.commands.iter().map(|c| c.kind.describe()).collect()
    }

    #[test]
    fn host_labels_reach_the_engine_for_scopes_and_placement() {
        let (hosts, vms, u) = racks();
        let s = quiet(&hosts, &vms, &u);
        assert_eq!(s.hosts[0].labels, ["rack=a"]);
        assert_eq!(s.hosts[2].labels, ["ssd"], "a bare label");

        // Scoped to rack a: a is hot and its VM goes to b, never to c
        // (roomier, but out of scope).
        let rack = "[scope]\nkind = \"hosts\"\nlabels = [\"rack=a\"]";
        let p = plan(&hosts, &vms, &u, rack);
        assert_eq!(p.hot, ["a"]);
        let m = moves(&p);
        assert_eq!(m.len(), 1, "{p:#?}");
        assert!(m[0].ends_with(" a -> b"), "{m:?}");

        // The whole data centre, destinations must have ssd: c.
        let ssd = "[placement]\nhost_labels = [\"ssd\"]";
        let m = moves(&plan(&hosts, &vms, &u, ssd));
        assert_eq!(m.len(), 1);
        assert!(m[0].ends_with(" a -> c"), "{m:?}");

        // Without labels the rack policy governs no host: nothing is hot.
        let bare: Vec<HostRecord> = hosts
            .iter()
            .cloned()
            .map(|mut h| {
                h.labels.clear();
                h
            })
            .collect();
        let p = plan(&bare, &vms, &u, rack);
        assert!(p.hot.is_empty() && p.commands.is_empty(), "{p:#?}");
    }

    #[test]
    fn power_reaches_the_snapshot_off_hosts_wake_only_with_a_way_to() {
        let (mut hosts, vms, u) = racks();
        hosts[0].can_power_off = Some(true);
        hosts[1].power = HostPower::Off;
        hosts[1].mac = Some("52:54:00:00:00:01".into());
        hosts[2].power = HostPower::Off;
        let see = |hosts: &[HostRecord], by_command: bool| {
            build(&Observed {
                now: at(100),
                hosts,
                vms: &vms,
                usage: &u,
                busy: &HashSet::new(),
                services: &HashMap::new(),
                wake_by_command: by_command,
            })
        };
        let s = see(&hosts, false);
        let flags: Vec<_> = s
            .hosts
            .iter()
            .map(|h| (h.powered_on, h.maintenance, h.can_power_off))
            .collect();
        // a: on, asked and able; b: off with a MAC (wakeable); c: off
        // with no way to wake it, so it takes nothing; unknown power-off
        // ability counts as none.
        assert_eq!(
            flags,
            [
                (true, false, true),
                (false, false, false),
                (false, true, false)
            ]
        );
        let s = see(&hosts, true);
        assert!(!s.hosts[2].maintenance, "a power-on command wakes any host");
        hosts[1].power = HostPower::Starting;
        let s = see(&hosts, true);
        assert!(!s.hosts[1].powered_on && s.hosts[1].maintenance);
    }

    #[test]
    fn hosts_in_maintenance_take_no_vms_but_may_give_theirs_away() {
        let (mut hosts, vms, u) = racks();
        let p = plan(&hosts, &vms, &u, "");
        let m = moves(&p);
        assert_eq!(m.len(), 1, "{p:#?}");
        assert!(m[0].ends_with(" a -> b"), "best fit is b: {m:?}");

        // b in maintenance: vm.migrate would refuse it, so c instead.
        hosts[1].maintenance = true;
        let s = quiet(&hosts, &vms, &u);
        assert!(s.hosts[1].maintenance && !s.hosts[0].maintenance);
        let p = plan(&hosts, &vms, &u, "");
        let m = moves(&p);
        assert_eq!(m.len(), 1, "{p:#?}");
        assert!(m[0].ends_with(" a -> c"), "{m:?}");

        // b and c both closed: nowhere to go, said so, nothing planned.
        hosts[2].maintenance = true;
        let p = plan(&hosts, &vms, &u, "");
        assert!(p.commands.is_empty(), "{p:#?}");
        assert_eq!(p.unresolved, ["a"]);

        // The hot host itself in maintenance is not held: its VM leaves.
        let (mut hosts, vms, u) = racks();
        hosts[0].maintenance = true;
        let p = plan(&hosts, &vms, &u, "");
        assert!(p.held.is_empty(), "{p:#?}");
        let m = moves(&p);
        assert_eq!(m.len(), 1, "{p:#?}");
        assert!(m[0].ends_with(" a -> b"), "{m:?}");
    }

    #[test]
    fn a_busy_two_vcpu_vm_moves_live() {
        // x uses 1.8 of its 2 vCPUs and makes a hot; one core is 1000,
        // so the move is possible only if each vCPU gets its own core.
        let hosts = [host("a", 2), host("b", 8)];
        let vms = [
            vm("x", "a", 2, VmState::Running),
            vm("w", "b", 1, VmState::Running),
        ];
        let mut u = HashMap::new();
        u.insert("a".to_string(), usage(100, &[("x", Some(0.9))]));
        u.insert("b".to_string(), usage(100, &[("w", Some(0.0))]));
        let s = quiet(&hosts, &vms, &u);
        assert_eq!(
            (s.vms[0].vcpus, s.vms[0].cpu_used, s.hosts[1].core_capacity),
            (2, 1800.0, 1000.0)
        );
        let p = plan(&hosts, &vms, &u, "");
        assert_eq!(p.hot, ["a"]);
        assert_eq!(moves(&p), ["migrate x a -> b"], "{p:#?}");
        assert!(p.unresolved.is_empty());
    }

    #[test]
    fn stale_inventory_is_found_both_ways() {
        let vms = [
            vm("x", "a", 1, VmState::Running),
            vm("gone", "b", 1, VmState::Running),
        ];
        let mut u = HashMap::new();
        u.insert("a".to_string(), usage(1, &[("x", Some(0.1))]));
        u.insert("b".to_string(), usage(1, &[]));
        u.insert("c".to_string(), usage(1, &[("new", None)]));
        assert_eq!(disagreeing(&vms, &u), ["b", "c"]);
    }
}
