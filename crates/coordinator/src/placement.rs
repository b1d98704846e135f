//! Where a new VM goes: the least-loaded healthy host that still fits it
//! under the overcommit ratios, avoiding the hosts an anti-affinity group
//! already uses. Pure: loads in, a host name (or the reason none fits) out.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// vCPUs and memory: a demand, a capacity or an allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    pub vcpus: u64,
    pub memory_mib: u64,
}

impl Resources {
    pub fn new(vcpus: u64, memory_mib: u64) -> Self {
        Resources { vcpus, memory_mib }
    }

    // Saturating, which `std::ops::Add` would hide behind `+`.
    #[allow(clippy::should_implement_trait)]
    pub fn add(self, o: Resources) -> Resources {
        Resources {
            vcpus: self.vcpus.saturating_add(o.vcpus),
            memory_mib: self.memory_mib.saturating_add(o.memory_mib),
        }
    }

    /// Saturating at zero: free room is never negative.
    #[allow(clippy::should_implement_trait)]
    pub fn sub(self, o: Resources) -> Resources {
        Resources {
            vcpus: self.vcpus.saturating_sub(o.vcpus),
            memory_mib: self.memory_mib.saturating_sub(o.memory_mib),
        }
    }

    /// Both dimensions at most `o`'s.
    pub fn fits_in(self, o: Resources) -> bool {
        self.vcpus <= o.vcpus && self.memory_mib <= o.memory_mib
    }
}

impl std::fmt::Display for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} vCPU, {} MiB", self.vcpus, self.memory_mib)
    }
}

/// How far allocations may exceed physical capacity: 4.0 lets a host of 8
/// cores carry 32 vCPUs. Memory is not overcommitted by default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overcommit {
    pub cpu: f64,
    pub memory: f64,
}

impl Default for Overcommit {
    fn default() -> Self {
        Overcommit {
            cpu: 4.0,
            memory: 1.0,
        }
    }
}

impl Overcommit {
    /// What a host of physical `capacity` may have allocated.
    pub fn allowed(&self, capacity: Resources) -> Resources {
        Resources {
            vcpus: (capacity.vcpus as f64 * self.cpu.max(0.0)).floor() as u64,
            memory_mib: (capacity.memory_mib as f64 * self.memory.max(0.0)).floor() as u64,
        }
    }
}

/// One candidate host as placement sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct HostLoad {
    pub name: String,
    /// Physical capacity.
    pub capacity: Resources,
    /// What its VMs have been given (defined VMs count, running or not:
    /// starting them must not overcommit).
    pub allocated: Resources,
    /// Up and accepting work.
    pub healthy: bool,
    /// In maintenance: up, but nothing new may be placed or moved here.
    pub maintenance: bool,
}

impl HostLoad {
    /// Free room under the ratios.
    pub fn free(&self, ratios: &Overcommit) -> Resources {
        ratios.allowed(self.capacity).sub(self.allocated)
    }
}

/// Why nothing fits.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum PlacementError {
    #[error("no host is up to place {demand} on")]
    NoHealthyHost { demand: Resources },
    /// Every host that is up is in maintenance.
    #[error("every host that is up is in maintenance ({hosts}), so none takes {demand}; `vine host maintenance NAME off` opens one again")]
    AllInMaintenance { demand: Resources, hosts: String },
    /// Names the largest free room seen, so the user knows how far off it is.
    #[error("no host has room for {demand} (most free on one host: {best_free}; overcommit ratios apply)")]
    NoRoom {
        demand: Resources,
        best_free: Resources,
    },
    #[error("anti-affinity: every host that fits {demand} already runs a node of this group ({used} hosts used)")]
    AntiAffinity { demand: Resources, used: usize },
}

/// Picks the host for `demand`: among healthy hosts out of maintenance and
/// not in `avoid` that fit
/// under `ratios`, the one with the most room left afterwards (the smaller
/// of the two dimensions' free fractions), ties broken by name so the
/// choice is repeatable.
pub fn place(
    demand: Resources,
    hosts: &[HostLoad],
    avoid: &HashSet<String>,
    ratios: &Overcommit,
) -> Result<String, PlacementError> {
    let up: Vec<&HostLoad> = hosts.iter().filter(|h| h.healthy).collect();
    if up.is_empty() {
        return Err(PlacementError::NoHealthyHost { demand });
    }
    let healthy: Vec<&HostLoad> = up.iter().copied().filter(|h| !h.maintenance).collect();
    if healthy.is_empty() {
        let mut names: Vec<&str> = up.iter().map(|h| h.name.as_str()).collect();
        names.sort_unstable();
        return Err(PlacementError::AllInMaintenance {
            demand,
            hosts: names.join(", "),
        });
    }
    let fitting: Vec<&HostLoad> = healthy
        .iter()
        .copied()
        .filter(|h| demand.fits_in(h.free(ratios)))
        .collect();
    if fitting.is_empty() {
        let best_free = healthy
            .iter()
            .map(|h| h.free(ratios))
            .max_by_key(|r| (r.memory_mib, r.vcpus))
            .unwrap_or_default();
        return Err(PlacementError::NoRoom { demand, best_free });
    }
    let score = |h: &HostLoad| -> f64 {
        let allowed = ratios.allowed(h.capacity);
        let left = h.free(ratios).sub(demand);
        let frac = |l: u64, a: u64| if a == 0 { 0.0 } else { l as f64 / a as f64 };
        frac(left.vcpus, allowed.vcpus).min(frac(left.memory_mib, allowed.memory_mib))
    };
    fitting
        .iter()
        .filter(|h| !avoid.contains(&h.name))
        .max_by(|a, b| {
            score(a)
                .total_cmp(&score(b))
                .then_with(|| b.name.cmp(&a.name))
        })
        .map(|h| h.name.clone())
        .ok_or(PlacementError::AntiAffinity {
            demand,
            used: avoid.len(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, cpus: u64, mem: u64, used_cpus: u64, used_mem: u64) -> HostLoad {
        HostLoad {
            name: name.into(),
            capacity: Resources::new(cpus, mem),
            allocated: Resources::new(used_cpus, used_mem),
            healthy: true,
            maintenance: false,
        }
    }

    #[test]
    fn least_loaded_host_that_fits_wins() {
        let hosts = [
            host("a", 8, 16384, 4, 12000),
            host("b", 8, 16384, 2, 2000),
            host("c", 8, 16384, 30, 1000),
        ];
        let d = Resources::new(2, 1024);
        assert_eq!(
            place(d, &hosts, &HashSet::new(), &Overcommit::default()).unwrap(),
            "b"
        );
    }

    #[test]
    fn overcommit_ratio_bounds_vcpus_and_memory() {
        let hosts = [host("a", 2, 4096, 7, 0)];
        let r = Overcommit::default();
        assert!(place(Resources::new(1, 512), &hosts, &HashSet::new(), &r).is_ok());
        let err = place(Resources::new(2, 512), &hosts, &HashSet::new(), &r).unwrap_err();
        assert_eq!(
            err,
            PlacementError::NoRoom {
                demand: Resources::new(2, 512),
                best_free: Resources::new(1, 4096)
            }
        );
        // Memory is not overcommitted by default.
        assert!(place(Resources::new(1, 4097), &hosts, &HashSet::new(), &r).is_err());
    }

    #[test]
    fn anti_affinity_spreads_and_says_why_it_cannot() {
        let hosts = [host("a", 8, 8192, 0, 0), host("b", 8, 8192, 0, 0)];
        let r = Overcommit::default();
        let mut used = HashSet::new();
        let first = place(Resources::new(1, 512), &hosts, &used, &r).unwrap();
        used.insert(first.clone());
        let second = place(Resources::new(1, 512), &hosts, &used, &r).unwrap();
        assert_ne!(first, second);
        used.insert(second);
        assert!(matches!(
            place(Resources::new(1, 512), &hosts, &used, &r),
            Err(PlacementError::AntiAffinity { used: 2, .. })
        ));
    }

    #[test]
    fn unhealthy_hosts_are_never_chosen() {
        let mut h = host("a", 8, 8192, 0, 0);
        h.healthy = false;
        assert!(matches!(
            place(
                Resources::new(1, 1),
                &[h],
                &HashSet::new(),
                &Overcommit::default()
            ),
            Err(PlacementError::NoHealthyHost { .. })
        ));
    }

    #[test]
    fn hosts_in_maintenance_take_nothing_new() {
        let mut busy = host("a", 64, 65536, 0, 0);
        busy.maintenance = true;
        let hosts = [busy.clone(), host("b", 8, 8192, 6, 6000)];
        let r = Overcommit::default();
        // a is far roomier, but in maintenance.
        assert_eq!(
            place(Resources::new(1, 512), &hosts, &HashSet::new(), &r).unwrap(),
            "b"
        );
        // b full: the refusal is about room on b, not about a.
        assert!(matches!(
            place(Resources::new(1, 4096), &hosts, &HashSet::new(), &r),
            Err(PlacementError::NoRoom { best_free, .. }) if best_free == Resources::new(26, 2192)
        ));
        // Only a: say it is in maintenance and how to open it.
        let err = place(Resources::new(1, 512), &[busy], &HashSet::new(), &r).unwrap_err();
        assert!(matches!(err, PlacementError::AllInMaintenance { .. }));
        assert!(err.to_string().contains("maintenance (a)"), "{err}");
    }
}
