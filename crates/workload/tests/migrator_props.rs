//! Property tests of the migrator: it never plans a destination past its
//! limit, never moves a VM twice, respects held hosts and budgets, and
//! always terminates.

use proptest::prelude::*;
use vine_workload::policy::{Destination, VmChoice};
use vine_workload::stages::migrator::{plan, HostView, Rules, VmView};

fn host_strategy() -> impl Strategy<Value = HostView> {
    (
        50.0..200.0f64,
        any::<bool>(),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.3),
        0.01..0.05f64,
    )
        .prop_map(|(cpu, on, held, hot, cold, w)| HostView {
            cpu,
            core: cpu / 2.0,
            mem: 0.0,
            on: on || hot,
            eligible: !held,
            held,
            hot,
            cold,
            cooling: false,
            watts_per_cpu: w,
        })
}

fn case() -> impl Strategy<Value = (Vec<HostView>, Vec<VmView>, Rules)> {
    prop::collection::vec(host_strategy(), 1..16).prop_flat_map(|hosts| {
        let n = hosts.len();
        let vm = (0..n, 0.0..60.0f64, any::<bool>(), prop::option::of(0u32..3)).prop_map(
            |(host, demand, movable, group)| VmView {
                host,
                demand,
                peak: demand,
                cores: 1.0,
                mem: 0.0,
                movable,
                group,
            },
        );
        let rules = (
            0.6..0.95f64,
            0.0..0.2f64,
            0usize..40,
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(upper, hyst, max_moves, consolidate, best, fewest)| Rules {
                    upper,
                    hysteresis: hyst.min(upper / 2.0),
                    mem_upper: 0.95,
                    max_moves,
                    consolidate,
                    spare_hosts: 0,
                    destination: if best {
                        Destination::BestFit
                    } else {
                        Destination::LeastLoaded
                    },
                    vm_choice: if fewest {
                        VmChoice::FewestMoves
                    } else {
                        VmChoice::VolumeSizeRatio
                    },
                },
            );
        (Just(hosts), prop::collection::vec(vm, 0..60), rules)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn never_overcommits_never_moves_twice((hosts, vms, rules) in case()) {
        let p = plan(&hosts, &vms, &rules);
        prop_assert!(p.moves.len() <= rules.max_moves);

        let mut seen = std::collections::HashSet::new();
        for m in &p.moves {
            prop_assert!(seen.insert(m.vm), "vm {} moved twice", m.vm);
            prop_assert_eq!(m.from, vms[m.vm].host);
            prop_assert!(m.from != m.to);
            prop_assert!(vms[m.vm].movable);
            prop_assert!(!hosts[m.to].held && !hosts[m.from].held);
            prop_assert!(!hosts[m.to].hot);
        }

        // Final loads: every host that received a VM is within its mark.
        let mut load = vec![0.0; hosts.len()];
        let mut host_of: Vec<usize> = vms.iter().map(|v| v.host).collect();
        for m in &p.moves {
            host_of[m.vm] = m.to;
        }
        for (i, v) in vms.iter().enumerate() {
            load[host_of[i]] += v.demand;
        }
        let mark = rules.upper - rules.hysteresis;
        for m in &p.moves {
            prop_assert!(load[m.to] <= mark * hosts[m.to].cpu + 1e-9,
                "host {} planned to {} of {}", m.to, load[m.to], hosts[m.to].cpu);
        }
        // Anti-affinity groups never meet on a destination.
        for m in &p.moves {
            if let Some(g) = vms[m.vm].group {
                let clash = (0..vms.len()).any(|o| o != m.vm && host_of[o] == m.to && vms[o].group == Some(g));
                prop_assert!(!clash);
            }
        }
        // Powered-off hosts end empty.
        for &h in &p.power_off {
            prop_assert!(host_of.iter().all(|&x| x != h));
        }
    }
}
