//! `VINE_ResourcePool`: the data-centre pool, one pool per host and the
//! service pools, each as two CIM pools (a CIM_ResourcePool has one
//! ResourceType): processors (3, counted in vCPUs) and memory (4, in MiB).
//! InstanceID is `<pool>/Processor` or `<pool>/Memory`; PoolID is the
//! coordinator's pool name (`datacenter`, `host/<host>`, `<service pool>`).

use async_trait::async_trait;
use vine_cim::{CimClass, CimInstance, CimInstanceName, CimResult};
use vine_coordinator::placement::Resources;
use vine_coordinator::pools::{PoolKind, PoolView, DATACENTER, HOST_POOL_PREFIX};
use vine_wbem::provider::{InstanceProvider, RequestContext};

use crate::context::ManagerContext;
use crate::errors::to_cim;
use crate::paths;

/// One of the two resources every pool has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Processor,
    Memory,
}

impl Resource {
    pub const ALL: [Resource; 2] = [Resource::Processor, Resource::Memory];

    fn name(self) -> &'static str {
        match self {
            Resource::Processor => "Processor",
            Resource::Memory => "Memory",
        }
    }

    /// CIM ResourceType.
    fn resource_type(self) -> u16 {
        match self {
            Resource::Processor => 3,
            Resource::Memory => 4,
        }
    }

    /// DSP0004 programmatic unit of the amounts.
    fn units(self) -> &'static str {
        match self {
            Resource::Processor => "count",
            Resource::Memory => "byte*2^20",
        }
    }

    fn of(self, r: Resources) -> u64 {
        match self {
            Resource::Processor => r.vcpus,
            Resource::Memory => r.memory_mib,
        }
    }
}

/// `VINE_ResourcePool.InstanceID="<pool>/<Processor|Memory>"`.
pub fn pool_path(pool: &str, r: Resource) -> CimInstanceName {
    paths::instance_id(paths::POOL, &format!("{pool}/{}", r.name()))
}

fn kind_name(k: PoolKind) -> &'static str {
    match k {
        PoolKind::Datacenter => "datacenter",
        PoolKind::Host => "host",
        PoolKind::Service => "service",
    }
}

/// The system that hosts pool `p` (for VINE_HostedResourcePool): its host
/// for a host pool, the data centre `dc` otherwise.
pub fn hosting_system(p: &PoolView, dc: &str) -> CimInstanceName {
    match p.kind {
        PoolKind::Host => {
            let host = p.name.strip_prefix(HOST_POOL_PREFIX).unwrap_or(&p.name);
            paths::host(host)
        }
        PoolKind::Datacenter | PoolKind::Service => paths::datacenter(dc),
    }
}

/// The pool a service pool draws from (for VINE_ElementAllocatedFromPool).
pub fn parent_pool(p: &PoolView, r: Resource) -> Option<CimInstanceName> {
    match p.kind {
        PoolKind::Service => Some(pool_path(DATACENTER, r)),
        PoolKind::Datacenter | PoolKind::Host => None,
    }
}

/// The CIM pool of resource `r` of `p`.
pub fn pool_instance(p: &PoolView, r: Resource) -> CimInstance {
    let allocated = r.of(p.allocated);
    let mut inst = CimInstance::new(paths::POOL)
        .with("InstanceID", format!("{}/{}", p.name, r.name()))
        .with("PoolID", p.name.as_str())
        .with(
            "ElementName",
            format!("{} {}", p.name, r.name().to_lowercase()),
        )
        .with("PoolKind", kind_name(p.kind))
        // The data-centre and host pools are the physical resources; only
        // service pools are carved out of another pool.
        .with("Primordial", p.kind != PoolKind::Service)
        .with("ResourceType", r.resource_type())
        .with("AllocationUnits", r.units())
        .with("ConsumedResourceUnits", r.units())
        .with("Reserved", allocated)
        .with("CurrentlyConsumedResource", allocated)
        .with("VirtualMachines", u32::try_from(p.vms).unwrap_or(u32::MAX))
        .with("OperationalStatus", vec![2u16])
        .with("HealthState", 5u16);
    // A service pool's capacity is its limit; without one it may grow to
    // what the data centre allows, which the data-centre pool shows.
    if let Some(c) = p.capacity.or(match p.kind {
        PoolKind::Service => p.allowed,
        PoolKind::Datacenter | PoolKind::Host => None,
    }) {
        inst.set("Capacity", r.of(c));
    }
    if let Some(a) = p.allowed {
        inst.set("MaxConsumableResource", r.of(a));
    }
    if let Some(res) = p.reservation {
        inst.set("Reservation", r.of(res));
    }
    inst.path = Some(pool_path(&p.name, r));
    inst
}

/// Every pool view.
pub fn pool_views(ctx: &ManagerContext) -> CimResult<Vec<PoolView>> {
    ctx.coordinator
        .pools()
        .list()
        .map_err(|e| to_cim(&e.into()))
}

/// Serves `VINE_ResourcePool`.
pub struct PoolProvider {
    ctx: ManagerContext,
}

impl PoolProvider {
    pub fn new(ctx: ManagerContext) -> Self {
        PoolProvider { ctx }
    }
}

#[async_trait]
impl InstanceProvider for PoolProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        Ok(pool_views(&self.ctx)?
            .iter()
            .flat_map(|p| Resource::ALL.map(|r| pool_instance(p, r)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_is_two_cim_pools_in_their_units() {
        let p = PoolView {
            name: "host/a".into(),
            kind: PoolKind::Host,
            capacity: Some(Resources::new(8, 16384)),
            allowed: Some(Resources::new(32, 24576)),
            allocated: Resources::new(3, 1024),
            reservation: None,
            vms: 3,
        };
        let cpu = pool_instance(&p, Resource::Processor);
        assert_eq!(cpu.get_str("InstanceID"), Some("host/a/Processor"));
        assert_eq!(cpu.get("Capacity"), Some(&8u64.into()));
        assert_eq!(cpu.get("MaxConsumableResource"), Some(&32u64.into()));
        assert_eq!(cpu.get("Reserved"), Some(&3u64.into()));
        let mem = pool_instance(&p, Resource::Memory);
        assert_eq!(mem.get("ResourceType"), Some(&4u16.into()));
        assert_eq!(mem.get_str("AllocationUnits"), Some("byte*2^20"));
        assert_eq!(mem.get("Capacity"), Some(&16384u64.into()));
        assert_eq!(hosting_system(&p, "dc").key_str("Name"), Some("a"));
        assert!(parent_pool(&p, Resource::Memory).is_none());
    }
}
