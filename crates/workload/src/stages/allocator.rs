//! Resource allocator: the per-VM CPU allocation a policy asks for, and
//! virtual-server scaling decisions.

use crate::model::{CommandKind, Snapshot};
use crate::policy::{Allocation, Policy};

/// Shares, reservation and limit vine leaves alone (the hypervisor's own
/// defaults): a policy that keeps them emits no resize commands.
pub const UNMANAGED: Allocation = Allocation {
    shares: 1024,
    reservation: 0.0,
    limit: 1.0,
};

/// Resize commands for VMs first seen this round (`new_vms`), when the
/// policy sets a non-default allocation.
pub fn allocations(
    policy: &Policy,
    snap: &Snapshot,
    new_vms: &[usize],
) -> Vec<(CommandKind, String)> {
    let a = policy.allocation;
    if a == UNMANAGED {
        return Vec::new();
    }
    new_vms
        .iter()
        .filter_map(|&i| snap.vms.get(i))
        .filter(|vm| {
            snap.hosts
                .get(vm.host)
                .is_some_and(|h| policy.vm_in_scope(vm, h))
        })
        .map(|vm| {
            (
                CommandKind::Resize {
                    vm: vm.name.clone(),
                    shares: a.shares,
                    reservation: a.reservation,
                    limit: a.limit,
                },
                format!(
                    "policy {} allocates shares={} reservation={} limit={}",
                    policy.name, a.shares, a.reservation, a.limit
                ),
            )
        })
        .collect()
}

/// Grow or shrink the policy's virtual server by one node when its mean
/// node CPU leaves the scaling band.
pub fn scaling(policy: &Policy, snap: &Snapshot) -> Option<(CommandKind, String)> {
    let s = policy.scaling.as_ref()?;
    let nodes: Vec<f64> = snap
        .vms
        .iter()
        .filter(|v| {
            v.service.as_deref() == Some(s.service.as_str())
                && v.cpu_size > 0.0
                && v.cpu_used.is_finite()
        })
        .map(|v| v.cpu_used / v.cpu_size)
        .collect();
    let count = nodes.len() as u32;
    if count == 0 {
        return None;
    }
    let mean = nodes.iter().sum::<f64>() / f64::from(count);
    let (target, why) = if mean > s.scale_out_above && count < s.max_nodes {
        (
            count + 1,
            format!("mean node CPU {mean:.2} above {}", s.scale_out_above),
        )
    } else if mean < s.scale_in_below && count > s.min_nodes {
        (
            count - 1,
            format!("mean node CPU {mean:.2} below {}", s.scale_in_below),
        )
    } else if count < s.min_nodes {
        (s.min_nodes, format!("{count} nodes, fewer than min_nodes"))
    } else {
        return None;
    };
    Some((
        CommandKind::Scale {
            service: s.service.clone(),
            nodes: target,
        },
        why,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::VmState;
    use crate::policy::parse_str;

    fn node(i: usize, used: f64) -> VmState {
        VmState {
            name: format!("web-{i}"),
            host: 0,
            cpu_size: 100.0,
            vcpus: 1,
            cpu_used: used,
            mem_mb: 0.0,
            net_mbps: 0.0,
            migrating: false,
            service: Some("web".into()),
        }
    }

    #[test]
    fn scales_out_and_in_within_bounds() {
        let p = parse_str(
            "name='w'\n[scaling]\nservice='web'\nmin_nodes=2\nmax_nodes=3\nscale_out_above=0.7\nscale_in_below=0.2\n",
            "t",
        )
        .expect("valid");
        let hot = Snapshot {
            time_s: 0.0,
            hosts: vec![],
            vms: vec![node(1, 90.0), node(2, 80.0)],
        };
        assert_eq!(
            scaling(&p, &hot).map(|c| c.0),
            Some(CommandKind::Scale {
                service: "web".into(),
                nodes: 3
            })
        );
        let full = Snapshot {
            vms: vec![node(1, 90.0), node(2, 80.0), node(3, 95.0)],
            ..hot.clone()
        };
        assert_eq!(scaling(&p, &full), None);
        let idle = Snapshot {
            vms: vec![node(1, 5.0), node(2, 5.0), node(3, 5.0)],
            ..hot
        };
        assert_eq!(
            scaling(&p, &idle).map(|c| c.0),
            Some(CommandKind::Scale {
                service: "web".into(),
                nodes: 2
            })
        );
    }

    #[test]
    fn default_allocation_emits_nothing() {
        let p = Policy::builtin_default();
        let snap = Snapshot {
            time_s: 0.0,
            hosts: vec![],
            vms: vec![node(1, 1.0)],
        };
        assert!(allocations(&p, &snap, &[0]).is_empty());
    }
}
