//! The associations that hang off the pools:
//!
//! - `<P>_HostedResourcePool`: host → every pool;
//! - `<P>_ResourceAllocationFromPool`: pool → each guest RASD drawn from it
//!   (the RASD's PoolID);
//! - `<P>_ElementAllocatedFromPool`: pool → each guest logical device drawn
//!   from it, and parent pool → child pool.

use vine_cim::{CimInstance, CimInstanceName, CimResult};

use crate::context::VirtContext;
use crate::paths::{device_id, instance_id_path, split_device_id};
use crate::pools::{self, network_pool_of, HostView, Pool, PoolKind, DISK_POOL_PRIMORDIAL};

/// An association instance with two references, its path keyed by both.
pub fn link(class: &str, a: (&str, CimInstanceName), b: (&str, CimInstanceName)) -> CimInstance {
    let path = CimInstanceName::new(class)
        .with_key(a.0, a.1.clone())
        .with_key(b.0, b.1.clone())
        .with_namespace(crate::VIRT_NS);
    let mut inst = CimInstance::new(class).with(a.0, a.1).with(b.0, b.1);
    inst.path = Some(path);
    inst
}

/// One thing a guest draws from a pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Allocation {
    pub pool_id: String,
    pub kind: PoolKind,
    pub domain: String,
    /// devid of the RASD (`proc`, `mem`, the disk's target, the NIC's MAC).
    pub rasd_devid: String,
    /// devids of the logical devices (one per vCPU for processors).
    pub device_ids: Vec<String>,
}

/// Every guest allocation of the host. Needs a view read with specs.
pub fn allocations(ctx: &VirtContext, view: &HostView) -> Vec<Allocation> {
    let mut out = Vec::new();
    for spec in &view.specs {
        let dom = spec.name.as_str();
        out.push(Allocation {
            pool_id: pools::pool_of(ctx, dom, PoolKind::Processor),
            kind: PoolKind::Processor,
            domain: dom.into(),
            rasd_devid: "proc".into(),
            device_ids: (0..spec.vcpus).map(|n| n.to_string()).collect(),
        });
        out.push(Allocation {
            pool_id: pools::pool_of(ctx, dom, PoolKind::Memory),
            kind: PoolKind::Memory,
            domain: dom.into(),
            rasd_devid: "mem".into(),
            device_ids: vec!["mem".into()],
        });
        for disk in &spec.disks {
            out.push(Allocation {
                pool_id: disk
                    .source
                    .as_deref()
                    .map(|s| view.disk_pool_of(s))
                    .unwrap_or_else(|| DISK_POOL_PRIMORDIAL.to_string()),
                kind: PoolKind::Disk,
                domain: dom.into(),
                rasd_devid: disk.target.clone(),
                device_ids: vec![disk.target.clone()],
            });
        }
        for nic in &spec.nics {
            // A NIC without a MAC yet has no RASD or device to point at.
            let Some(mac) = nic.mac.as_deref() else {
                continue;
            };
            out.push(Allocation {
                pool_id: network_pool_of(&nic.source),
                kind: PoolKind::Network,
                domain: dom.into(),
                rasd_devid: mac.into(),
                device_ids: vec![mac.into()],
            });
        }
    }
    out
}

/// `<P>_HostedResourcePool` for every pool.
pub fn hosted_pools(ctx: &VirtContext, pools: &[Pool]) -> Vec<CimInstance> {
    let class = ctx.class("HostedResourcePool");
    pools
        .iter()
        .map(|p| {
            link(
                &class,
                ("GroupComponent", ctx.host_path()),
                ("PartComponent", pools::pool_path(ctx, p.kind, &p.id)),
            )
        })
        .collect()
}

/// `<P>_ResourceAllocationFromPool` for every guest RASD.
pub fn rasd_links(ctx: &VirtContext, allocs: &[Allocation]) -> Vec<CimInstance> {
    let class = ctx.class("ResourceAllocationFromPool");
    allocs
        .iter()
        .map(|a| {
            let rasd = instance_id_path(
                &ctx.class(a.kind.rasd_base()),
                &device_id(&a.domain, &a.rasd_devid),
            );
            link(
                &class,
                ("Antecedent", pools::pool_path(ctx, a.kind, &a.pool_id)),
                ("Dependent", rasd),
            )
        })
        .collect()
}

/// `<P>_ElementAllocatedFromPool`: pools → guest devices, parents → children.
pub fn element_links(ctx: &VirtContext, pools: &[Pool], allocs: &[Allocation]) -> Vec<CimInstance> {
    let class = ctx.class("ElementAllocatedFromPool");
    let mut out: Vec<CimInstance> = pools
        .iter()
        .filter_map(|p| {
            let parent = p.parent.as_deref()?;
            Some(link(
                &class,
                ("Antecedent", pools::pool_path(ctx, p.kind, parent)),
                ("Dependent", pools::pool_path(ctx, p.kind, &p.id)),
            ))
        })
        .collect();
    for a in allocs {
        for dev in &a.device_ids {
            out.push(link(
                &class,
                ("Antecedent", pools::pool_path(ctx, a.kind, &a.pool_id)),
                (
                    "Dependent",
                    ctx.device_path(a.kind.device_base(), &a.domain, dev),
                ),
            ));
        }
    }
    out
}

/// The instances of one of the three association classes, read now.
pub async fn instances(ctx: &VirtContext, class: &str) -> CimResult<Vec<CimInstance>> {
    let is = |base: &str| ctx.class(base).eq_ignore_ascii_case(class);
    if is("HostedResourcePool") {
        let view = HostView::read(ctx, false).await?;
        return Ok(hosted_pools(ctx, &pools::compute(ctx, &view)));
    }
    let view = HostView::read(ctx, true).await?;
    let allocs = allocations(ctx, &view);
    if is("ResourceAllocationFromPool") {
        return Ok(rasd_links(ctx, &allocs));
    }
    Ok(element_links(ctx, &pools::compute(ctx, &view), &allocs))
}

/// The instances of one of the three association classes that may refer
/// to `object`, reading only what it can be linked to: a guest's device
/// or RASD needs that guest's definition only; anything else but a pool
/// or the host is in none of them.
pub async fn references(
    ctx: &VirtContext,
    class: &str,
    object: &CimInstanceName,
) -> CimResult<Vec<CimInstance>> {
    let is = |base: &str| ctx.class(base).eq_ignore_ascii_case(class);
    let of = |base: &str| object.class_name.matches(&ctx.class(base));
    let is_pool = PoolKind::ALL.iter().any(|k| of(k.base()));
    if is_pool || (is("HostedResourcePool") && of("HostSystem")) {
        return instances(ctx, class).await;
    }
    let (key, bases): (&str, Vec<&str>) = if is("ResourceAllocationFromPool") {
        (
            "InstanceID",
            PoolKind::ALL.iter().map(|k| k.rasd_base()).collect(),
        )
    } else if is("ElementAllocatedFromPool") {
        (
            "DeviceID",
            PoolKind::ALL.iter().map(|k| k.device_base()).collect(),
        )
    } else {
        return Ok(Vec::new());
    };
    if !bases.iter().any(|b| of(b)) {
        return Ok(Vec::new());
    }
    let Some((dom, _)) = object.key_str(key).and_then(split_device_id) else {
        return Ok(Vec::new());
    };
    let view = HostView::read_domain(ctx, dom).await?;
    let allocs = allocations(ctx, &view);
    Ok(if is("ResourceAllocationFromPool") {
        rasd_links(ctx, &allocs)
    } else {
        element_links(ctx, &[], &allocs)
    })
}
