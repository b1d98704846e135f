//! Resource pools (DSP1041 Resource Allocation, DSP1045 Memory, DSP1059
//! Generic Device): what the host offers and what its guests draw.
//!
//! 1. The primordial pools come from the hypervisor: `ProcessorPool/0`
//!    (host CPUs), `MemoryPool/0` (host memory, KiB), `DiskPool/0` (all
//!    storage pools together, MiB; also disks outside every pool) and
//!    `NetworkPool/0` (bridged NICs). Below the last two, as libvirt-cim
//!    has them, one `DiskPool/<pool>` per libvirt storage pool and one
//!    `NetworkPool/<network>` per libvirt network.
//! 2. Child pools are carved out of a processor or memory pool by
//!    CreateChildResourcePool ([`crate::rpcs`]); they live in the agent's
//!    memory ([`PoolBook`]), not in libvirt: the manager owns durable pools.
//! 3. A guest draws vCPUs and memory from the pools its RASDs name
//!    (recorded with [`assign`]), else from the primordial ones; disks from
//!    the storage pool their image lives in; NICs from their network.
//!
//! `Reserved` of a processor or memory pool is what is set aside in it:
//! the vCPUs (or KiB) of every *defined* guest drawing from it, running or
//! not (a stopped guest keeps its claim), plus the capacity of its child
//! pools.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use vine_cim::{CimError, CimInstance, CimInstanceName, CimResult, CimStatus};
use vine_hypervisor::{Capabilities, DomainInfo, DomainSpec, HostInfo, NicSource};

use crate::context::VirtContext;
use crate::paths::{instance_id_path, pool_for_disk};
pub use crate::paths::{
    DISK_POOL_PRIMORDIAL, MEMORY_POOL_ID, NETWORK_POOL_PRIMORDIAL, PROCESSOR_POOL_ID,
};

/// The four kinds of pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PoolKind {
    Processor,
    Memory,
    Disk,
    Network,
}

impl PoolKind {
    pub const ALL: [PoolKind; 4] = [
        PoolKind::Processor,
        PoolKind::Memory,
        PoolKind::Disk,
        PoolKind::Network,
    ];

    /// Class base name and PoolID prefix: `ProcessorPool`.
    pub fn base(self) -> &'static str {
        match self {
            PoolKind::Processor => "ProcessorPool",
            PoolKind::Memory => "MemoryPool",
            PoolKind::Disk => "DiskPool",
            PoolKind::Network => "NetworkPool",
        }
    }

    /// CIM ResourceType: 3 Processor, 4 Memory, 17 Disk Drive, 10 Ethernet
    /// Adapter.
    pub fn resource_type(self) -> u16 {
        match self {
            PoolKind::Processor => 3,
            PoolKind::Memory => 4,
            PoolKind::Disk => 17,
            PoolKind::Network => 10,
        }
    }

    /// The kind whose ResourceType is `rt`.
    pub fn from_resource_type(rt: u16) -> Option<PoolKind> {
        PoolKind::ALL.into_iter().find(|k| k.resource_type() == rt)
    }

    /// Programmatic unit (DSP0004 Annex C) of Capacity and Reserved.
    pub fn units(self) -> &'static str {
        match self {
            PoolKind::Processor | PoolKind::Network => "count",
            PoolKind::Memory => "byte*2^10",
            PoolKind::Disk => "byte*2^20",
        }
    }

    /// Base name of the RASD class a guest's allocation from this pool has.
    pub fn rasd_base(self) -> &'static str {
        match self {
            PoolKind::Processor => "ProcResourceAllocationSettingData",
            PoolKind::Memory => "MemResourceAllocationSettingData",
            PoolKind::Disk => "DiskResourceAllocationSettingData",
            PoolKind::Network => "NetResourceAllocationSettingData",
        }
    }

    /// Base name of the logical device class of a guest's allocation.
    pub fn device_base(self) -> &'static str {
        match self {
            PoolKind::Processor => "Processor",
            PoolKind::Memory => "Memory",
            PoolKind::Disk => "LogicalDisk",
            PoolKind::Network => "NetworkPort",
        }
    }

    /// The kind a PoolID (`MemoryPool/small`) or pool class name
    /// (`KVM_MemoryPool`) names.
    pub fn of_id(id: &str) -> Option<PoolKind> {
        let (head, _) = id.split_once('/')?;
        PoolKind::ALL.into_iter().find(|k| k.base() == head)
    }

    /// Whether child pools can be carved out of pools of this kind.
    pub fn divisible(self) -> bool {
        matches!(self, PoolKind::Processor | PoolKind::Memory)
    }
}

/// `<Base>/<name>`.
pub fn pool_id(kind: PoolKind, name: &str) -> String {
    format!("{}/{name}", kind.base())
}

/// A pool as the host has it now.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub id: String,
    pub kind: PoolKind,
    pub element_name: String,
    pub primordial: bool,
    /// `None` where the host sets no bound (networks).
    pub capacity: Option<u64>,
    pub reserved: u64,
    /// PoolID of the parent of a child pool.
    pub parent: Option<String>,
    /// Directory of a storage pool.
    pub path: Option<String>,
}

/// A child pool set aside by CreateChildResourcePool.
#[derive(Clone, Debug, PartialEq)]
pub struct ChildPool {
    pub id: String,
    pub name: String,
    pub kind: PoolKind,
    pub parent: String,
    /// vCPUs or KiB set aside.
    pub capacity: u64,
}

/// Child pools and which guests draw from them, in the agent's memory.
#[derive(Default)]
pub struct PoolBook {
    inner: Mutex<BookInner>,
}

#[derive(Default, Clone)]
struct BookInner {
    children: BTreeMap<String, ChildPool>,
    /// (domain, kind) → child PoolID; absent means the primordial pool.
    members: HashMap<(String, PoolKind), String>,
}

impl PoolBook {
    fn lock(&self) -> std::sync::MutexGuard<'_, BookInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every child pool, by PoolID.
    pub fn children(&self) -> Vec<ChildPool> {
        self.lock().children.values().cloned().collect()
    }

    /// The child pool `domain` draws `kind` from, if any.
    pub fn member_of(&self, domain: &str, kind: PoolKind) -> Option<String> {
        self.lock()
            .members
            .get(&(domain.to_string(), kind))
            .cloned()
    }

    fn members(&self) -> HashMap<(String, PoolKind), String> {
        self.lock().members.clone()
    }
}

/// Which domain definitions a [`HostView`] reads.
enum Specs {
    None,
    All,
    One(String),
}

/// What the pool accounting reads from the hypervisor.
#[derive(Clone, Debug)]
pub struct HostView {
    pub host: HostInfo,
    pub caps: Capabilities,
    pub domains: Vec<DomainInfo>,
    /// Definitions of the domains, for disks and NICs; empty when the
    /// snapshot was taken without them.
    pub specs: Vec<DomainSpec>,
}

impl HostView {
    /// Reads host, capabilities, domains and (when `with_specs`) every
    /// domain's definition. A domain that vanishes between the listing and
    /// its definition is skipped.
    pub async fn read(ctx: &VirtContext, with_specs: bool) -> CimResult<HostView> {
        HostView::read_specs(ctx, if with_specs { Specs::All } else { Specs::None }).await
    }

    /// Like [`HostView::read`], with the definition of `domain` only.
    pub async fn read_domain(ctx: &VirtContext, domain: &str) -> CimResult<HostView> {
        HostView::read_specs(ctx, Specs::One(domain.to_string())).await
    }

    async fn read_specs(ctx: &VirtContext, which: Specs) -> CimResult<HostView> {
        ctx.call(move |hv| {
            let host = hv.host_info()?;
            let caps = hv.capabilities()?;
            let domains = hv.domains()?;
            let wanted: Vec<&str> = match &which {
                Specs::None => Vec::new(),
                Specs::All => domains.iter().map(|d| d.name.as_str()).collect(),
                Specs::One(d) => vec![d.as_str()],
            };
            let mut specs = Vec::new();
            for name in wanted {
                match hv.domain_spec(name) {
                    Ok(s) => specs.push(s),
                    Err(vine_hypervisor::HvError::NoDomain(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(HostView {
                host,
                caps,
                domains,
                specs,
            })
        })
        .await
    }

    /// PoolID of the disk pool holding the image at `path`: its storage
    /// pool, else the primordial disk pool (same rule as the RASDs').
    pub fn disk_pool_of(&self, path: &str) -> String {
        pool_for_disk(path, &self.caps.storage_pools)
            .map(|p| pool_id(PoolKind::Disk, &p.name))
            .unwrap_or_else(|| DISK_POOL_PRIMORDIAL.to_string())
    }
}

/// PoolID of the network pool a NIC draws from: its libvirt network, or
/// the primordial network pool for bridged NICs.
pub fn network_pool_of(source: &NicSource) -> String {
    match source {
        NicSource::Network(n) => pool_id(PoolKind::Network, n),
        NicSource::Bridge(_) => NETWORK_POOL_PRIMORDIAL.to_string(),
    }
}

/// Every pool of the host, primordial first, with Capacity and Reserved.
pub fn compute(ctx: &VirtContext, view: &HostView) -> Vec<Pool> {
    compute_with(view, &ctx.pools.children(), &ctx.pools.members())
}

fn compute_with(
    view: &HostView,
    children: &[ChildPool],
    members: &HashMap<(String, PoolKind), String>,
) -> Vec<Pool> {
    let mut out = Vec::new();
    // Processor and memory: guests' claims, then child pools' capacity.
    let mut reserved: HashMap<String, u64> = HashMap::new();
    for d in &view.domains {
        for (kind, amount) in [
            (PoolKind::Processor, u64::from(d.vcpus)),
            (PoolKind::Memory, d.memory_kib),
        ] {
            let pool = members
                .get(&(d.name.clone(), kind))
                .filter(|id| children.iter().any(|c| &c.id == *id))
                .cloned()
                .unwrap_or_else(|| primordial_id(kind).to_string());
            *reserved.entry(pool).or_default() += amount;
        }
    }
    for c in children {
        *reserved.entry(c.parent.clone()).or_default() += c.capacity;
    }
    let get = |id: &str| reserved.get(id).copied().unwrap_or(0);
    out.push(Pool {
        id: PROCESSOR_POOL_ID.into(),
        kind: PoolKind::Processor,
        element_name: "Host processors".into(),
        primordial: true,
        capacity: Some(u64::from(view.host.cpus)),
        reserved: get(PROCESSOR_POOL_ID),
        parent: None,
        path: None,
    });
    out.push(Pool {
        id: MEMORY_POOL_ID.into(),
        kind: PoolKind::Memory,
        element_name: "Host memory".into(),
        primordial: true,
        capacity: Some(view.host.memory_kib),
        reserved: get(MEMORY_POOL_ID),
        parent: None,
        path: None,
    });
    const MIB: u64 = 1024 * 1024;
    let storage = &view.caps.storage_pools;
    out.push(Pool {
        id: DISK_POOL_PRIMORDIAL.into(),
        kind: PoolKind::Disk,
        element_name: "Host storage".into(),
        primordial: true,
        capacity: Some(storage.iter().map(|p| p.capacity_bytes / MIB).sum()),
        reserved: storage.iter().map(|p| p.allocation_bytes / MIB).sum(),
        parent: None,
        path: None,
    });
    for p in storage {
        out.push(Pool {
            id: pool_id(PoolKind::Disk, &p.name),
            kind: PoolKind::Disk,
            element_name: p.name.clone(),
            primordial: false,
            capacity: Some(p.capacity_bytes / MIB),
            reserved: p.allocation_bytes / MIB,
            parent: Some(DISK_POOL_PRIMORDIAL.into()),
            path: p.path.clone(),
        });
    }
    let nics = |id: &str| {
        view.specs
            .iter()
            .flat_map(|s| &s.nics)
            .filter(|nic| network_pool_of(&nic.source) == id)
            .count() as u64
    };
    out.push(Pool {
        id: NETWORK_POOL_PRIMORDIAL.into(),
        kind: PoolKind::Network,
        element_name: "Host network (bridged NICs)".into(),
        primordial: true,
        capacity: None,
        reserved: nics(NETWORK_POOL_PRIMORDIAL),
        parent: None,
        path: None,
    });
    for n in &view.caps.networks {
        let id = pool_id(PoolKind::Network, &n.name);
        out.push(Pool {
            reserved: nics(&id),
            id,
            kind: PoolKind::Network,
            element_name: n.name.clone(),
            primordial: false,
            capacity: None,
            parent: Some(NETWORK_POOL_PRIMORDIAL.into()),
            path: None,
        });
    }
    for c in children {
        out.push(Pool {
            id: c.id.clone(),
            kind: c.kind,
            element_name: c.name.clone(),
            primordial: false,
            capacity: Some(c.capacity),
            reserved: get(&c.id),
            parent: Some(c.parent.clone()),
            path: None,
        });
    }
    out
}

/// PoolID of the primordial pool of a processor or memory allocation.
pub fn primordial_id(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::Processor => PROCESSOR_POOL_ID,
        _ => MEMORY_POOL_ID,
    }
}

/// The PoolID a guest's allocation of `kind` comes from, for `RASD.PoolID`:
/// its child pool if it was assigned one, else the primordial pool. Disks
/// and NICs: see [`HostView::disk_pool_of`] and [`network_pool_of`].
pub fn pool_of(ctx: &VirtContext, domain: &str, kind: PoolKind) -> String {
    ctx.pools
        .member_of(domain, kind)
        .filter(|id| ctx.pools.lock().children.contains_key(id))
        .unwrap_or_else(|| primordial_id(kind).to_string())
}

fn insufficient(pool: &Pool, need: u64) -> CimError {
    let cap = pool.capacity.unwrap_or(0);
    CimError::new(
        CimStatus::Failed,
        format!(
            "insufficient resources in {}: {} of {} {} are reserved, {} free, {} asked",
            pool.id,
            pool.reserved,
            cap,
            pool.kind.units(),
            cap.saturating_sub(pool.reserved),
            need
        ),
    )
}

/// Admission control for a new guest (DefineSystem): whether pool
/// `pool_id` can give `vcpus` (processor pool) or `mem_kib` (memory pool);
/// the quantity of the other kind is ignored. Primordial pools always
/// admit (the hypervisor checks the host's limits); a child pool admits
/// while its capacity is not exceeded. Unknown pools are
/// `CIM_ERR_INVALID_PARAMETER`, a full pool `CIM_ERR_FAILED` saying how
/// much is free. After the guest is defined, call [`assign`].
pub async fn admit(ctx: &VirtContext, pool_id: &str, vcpus: u32, mem_kib: u64) -> CimResult<()> {
    let kind = PoolKind::of_id(pool_id)
        .ok_or_else(|| CimError::invalid_parameter(format!("PoolID {pool_id} names no pool")))?;
    let view = HostView::read(ctx, false).await?;
    let pools = compute(ctx, &view);
    let pool = pools
        .iter()
        .find(|p| p.id == pool_id)
        .ok_or_else(|| CimError::invalid_parameter(format!("PoolID {pool_id} names no pool")))?;
    if pool.primordial || !kind.divisible() {
        return Ok(());
    }
    let need = match kind {
        PoolKind::Processor => u64::from(vcpus),
        _ => mem_kib,
    };
    if pool.reserved.saturating_add(need) > pool.capacity.unwrap_or(0) {
        return Err(insufficient(pool, need));
    }
    Ok(())
}

/// Records that `domain` draws from pool `pool_id` (a child pool; a
/// primordial id clears the record). Call after the guest is defined.
pub fn assign(ctx: &VirtContext, domain: &str, pool_id: &str) {
    let Some(kind) = PoolKind::of_id(pool_id).filter(|k| k.divisible()) else {
        return;
    };
    let mut book = ctx.pools.lock();
    let key = (domain.to_string(), kind);
    if book.children.contains_key(pool_id) {
        book.members.insert(key, pool_id.to_string());
    } else {
        book.members.remove(&key);
    }
}

/// Forgets `domain`'s child pools (DestroySystem).
pub fn release(ctx: &VirtContext, domain: &str) {
    ctx.pools.lock().members.retain(|(d, _), _| d != domain);
}

/// Sets aside `capacity` of `parent` as a new child pool named `name`;
/// refuses to over-commit the parent.
pub async fn create_child(
    ctx: &VirtContext,
    name: &str,
    parent: &str,
    capacity: u64,
) -> CimResult<ChildPool> {
    if name.is_empty() || name.contains('/') || name == "0" {
        return Err(CimError::invalid_parameter(format!(
            "pool name `{name}` is not usable: give a non-empty ElementName without `/`"
        )));
    }
    let kind = PoolKind::of_id(parent)
        .filter(|k| k.divisible())
        .ok_or_else(|| {
            CimError::invalid_parameter(format!(
                "child pools can be made from processor and memory pools only, not {parent}"
            ))
        })?;
    if capacity == 0 {
        return Err(CimError::invalid_parameter(
            "a child pool needs a Reservation (or Limit) greater than 0",
        ));
    }
    let view = HostView::read(ctx, false).await?;
    let id = pool_id(kind, name);
    let mut book = ctx.pools.lock();
    // Checked under the lock so that two creations cannot both fit.
    let pools = compute_with(
        &view,
        &book.children.values().cloned().collect::<Vec<_>>(),
        &book.members,
    );
    let parent_pool = pools.iter().find(|p| p.id == parent).ok_or_else(|| {
        CimError::invalid_parameter(format!("parent pool {parent} does not exist"))
    })?;
    if book.children.contains_key(&id) {
        return Err(CimError::new(
            CimStatus::AlreadyExists,
            format!("a pool {id} already exists"),
        ));
    }
    if parent_pool.reserved.saturating_add(capacity) > parent_pool.capacity.unwrap_or(0) {
        return Err(insufficient(parent_pool, capacity));
    }
    let child = ChildPool {
        id: id.clone(),
        name: name.to_string(),
        kind,
        parent: parent.to_string(),
        capacity,
    };
    book.children.insert(id, child.clone());
    tracing::info!(pool = %child.id, parent, capacity, "child pool created");
    Ok(child)
}

/// Deletes child pool `id`; refuses primordial pools and pools that still
/// have children or guests.
pub async fn delete_child(ctx: &VirtContext, id: &str) -> CimResult<()> {
    let view = HostView::read(ctx, false).await?;
    let mut book = ctx.pools.lock();
    if !book.children.contains_key(id) {
        let known = compute_with(&view, &[], &HashMap::new())
            .iter()
            .any(|p| p.id == id);
        return Err(if known {
            CimError::invalid_parameter(format!("{id} is a primordial pool; it cannot be deleted"))
        } else {
            CimError::not_found(format!("pool {id}"))
        });
    }
    if let Some(c) = book.children.values().find(|c| c.parent == id) {
        return Err(CimError::failed(format!(
            "pool {id} is in use: child pool {} draws from it",
            c.id
        )));
    }
    let live: Vec<&str> = view.domains.iter().map(|d| d.name.as_str()).collect();
    if let Some(((dom, _), _)) = book
        .members
        .iter()
        .find(|((d, _), p)| p.as_str() == id && live.contains(&d.as_str()))
    {
        return Err(CimError::failed(format!(
            "pool {id} is in use: guest {dom} draws from it"
        )));
    }
    book.children.remove(id);
    book.members.retain(|_, p| p != id);
    tracing::info!(pool = %id, "child pool deleted");
    Ok(())
}

/// `<P>_<Kind>Pool.InstanceID=<id>`.
pub fn pool_path(ctx: &VirtContext, kind: PoolKind, id: &str) -> CimInstanceName {
    instance_id_path(&ctx.class(kind.base()), id)
}

/// The CIM instance of a pool.
pub fn pool_instance(ctx: &VirtContext, p: &Pool) -> CimInstance {
    let path = pool_path(ctx, p.kind, &p.id);
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", p.id.as_str())
        .with("PoolID", p.id.as_str())
        .with("ElementName", p.element_name.as_str())
        .with("Primordial", p.primordial)
        .with("ResourceType", p.kind.resource_type())
        .with("AllocationUnits", p.kind.units())
        .with("ConsumedResourceUnits", p.kind.units())
        .with("Reserved", p.reserved)
        .with("CurrentlyConsumedResource", p.reserved)
        // 2 = OK.
        .with("OperationalStatus", vec![2u16])
        .with("HealthState", 5u16);
    if let Some(c) = p.capacity {
        inst.set("Capacity", c);
        inst.set("MaxConsumableResource", c);
    }
    if let Some(path) = &p.path {
        inst.set("Path", path.as_str());
    }
    inst.path = Some(path);
    inst
}

#[cfg(test)]
mod tests {
    use super::*;
    use vine_hypervisor::{DomainState, NetworkInfo, NicSpec, StoragePoolInfo};

    fn view() -> HostView {
        let dom = |name: &str, vcpus: u32, kib: u64| DomainInfo {
            name: name.into(),
            uuid: String::new(),
            id: None,
            state: DomainState::Shutoff,
            vcpus,
            max_vcpus: vcpus,
            memory_kib: kib,
            max_memory_kib: kib,
            persistent: true,
            autostart: false,
        };
        let mut spec = DomainSpec::new("a", 2, 512);
        spec.nics.push(NicSpec {
            mac: None,
            source: NicSource::Network("default".into()),
            model: None,
        });
        HostView {
            host: HostInfo {
                hostname: "h".into(),
                arch: "x86_64".into(),
                cpu_model: String::new(),
                cpus: 16,
                mhz: 0,
                sockets: 1,
                cores_per_socket: 16,
                threads_per_core: 1,
                memory_kib: 8 << 20,
                free_memory_kib: 0,
                hypervisor_type: "Test".into(),
                hypervisor_version: String::new(),
                libvirt_version: String::new(),
                uuid: String::new(),
            },
            caps: Capabilities {
                guest_types: Vec::new(),
                max_vcpus: 16,
                storage_pools: vec![
                    StoragePoolInfo {
                        name: "images".into(),
                        path: Some("/var/lib/images".into()),
                        capacity_bytes: 100 << 20,
                        allocation_bytes: 10 << 20,
                        available_bytes: 90 << 20,
                        active: true,
                    },
                    StoragePoolInfo {
                        name: "nested".into(),
                        path: Some("/var/lib/images/nested/".into()),
                        capacity_bytes: 0,
                        allocation_bytes: 0,
                        available_bytes: 0,
                        active: true,
                    },
                ],
                networks: vec![NetworkInfo {
                    name: "default".into(),
                    bridge: None,
                    active: true,
                }],
            },
            domains: vec![dom("a", 2, 512 << 10), dom("b", 4, 1 << 20)],
            specs: vec![spec],
        }
    }

    #[test]
    fn primordial_pools_sum_every_defined_guest() {
        let pools = compute_with(&view(), &[], &HashMap::new());
        let get = |id: &str| pools.iter().find(|p| p.id == id).unwrap().clone();
        let cpu = get(PROCESSOR_POOL_ID);
        assert_eq!((cpu.capacity, cpu.reserved), (Some(16), 6));
        let mem = get(MEMORY_POOL_ID);
        assert_eq!(
            (mem.capacity, mem.reserved),
            (Some(8 << 20), (512 << 10) + (1 << 20))
        );
        let disk = get("DiskPool/images");
        assert_eq!((disk.capacity, disk.reserved), (Some(100), 10));
        assert_eq!(get("NetworkPool/default").reserved, 1);
    }

    #[test]
    fn child_pools_move_their_members_claims() {
        let child = ChildPool {
            id: "ProcessorPool/web".into(),
            name: "web".into(),
            kind: PoolKind::Processor,
            parent: PROCESSOR_POOL_ID.into(),
            capacity: 8,
        };
        let mut members = HashMap::new();
        members.insert(("b".to_string(), PoolKind::Processor), child.id.clone());
        // A record for a pool that is gone counts against the primordial one.
        members.insert(
            ("a".to_string(), PoolKind::Memory),
            "MemoryPool/gone".into(),
        );
        let pools = compute_with(&view(), &[child], &members);
        let get = |id: &str| pools.iter().find(|p| p.id == id).unwrap().clone();
        // a's 2 vCPUs + the child's 8.
        assert_eq!(get(PROCESSOR_POOL_ID).reserved, 10);
        let web = get("ProcessorPool/web");
        assert_eq!(
            (web.capacity, web.reserved, web.primordial),
            (Some(8), 4, false)
        );
        assert_eq!(web.parent.as_deref(), Some(PROCESSOR_POOL_ID));
        assert_eq!(get(MEMORY_POOL_ID).reserved, (512 << 10) + (1 << 20));
    }

    #[test]
    fn disks_and_nics_outside_pools_fall_to_the_primordial_ones() {
        let v = view();
        assert_eq!(v.disk_pool_of("/var/lib/images/a.img"), "DiskPool/images");
        assert_eq!(v.disk_pool_of("/tmp/d.img"), DISK_POOL_PRIMORDIAL);
        assert_eq!(
            network_pool_of(&NicSource::Bridge("br0".into())),
            NETWORK_POOL_PRIMORDIAL
        );
        let pools = compute_with(&v, &[], &HashMap::new());
        let disk0 = pools.iter().find(|p| p.id == DISK_POOL_PRIMORDIAL).unwrap();
        assert!(disk0.primordial);
        assert_eq!(disk0.capacity, Some(100));
        let images = pools.iter().find(|p| p.id == "DiskPool/images").unwrap();
        assert_eq!(images.parent.as_deref(), Some(DISK_POOL_PRIMORDIAL));
    }

    #[test]
    fn pool_ids_name_their_kind() {
        assert_eq!(PoolKind::of_id("MemoryPool/0"), Some(PoolKind::Memory));
        assert_eq!(PoolKind::of_id("DiskPool/a/b"), Some(PoolKind::Disk));
        assert_eq!(PoolKind::of_id("GraphicsPool/0"), None);
        assert_eq!(PoolKind::of_id("ProcessorPool"), None);
        assert_eq!(PoolKind::from_resource_type(10), Some(PoolKind::Network));
    }
}
