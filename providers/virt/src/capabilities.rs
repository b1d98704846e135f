//! Allocation capabilities (DSP1043): for every pool, one
//! `<P>_AllocationCapabilities` (InstanceID = the PoolID) and four template
//! RASDs that say what a guest may ask of the pool, linked by
//! `<P>_SettingsDefineCapabilities`:
//!
//! | template InstanceID | ValueRole | ValueRange |
//! |---|---|---|
//! | `<PoolID>/Default` | 0 Default | 0 Point |
//! | `<PoolID>/Minimum` | 3 Supported | 1 Minimums |
//! | `<PoolID>/Maximum` | 3 Supported | 2 Maximums |
//! | `<PoolID>/Increment` | 3 Supported | 3 Increments |
//!
//! A guest's RASD InstanceID is `<dom>/<devid>` with exactly one `/`
//! (libvirt refuses `/` in domain names, devids have none); a template's
//! has at least two, so the two never collide.
//!
//! The templates are instances of the RASD classes the settings provider
//! serves; that provider answers GetInstance on them through
//! [`template_rasd`].

use vine_cim::{CimError, CimInstance, CimInstanceName, CimResult};

use crate::context::VirtContext;
use crate::paths::instance_id_path;
use crate::pools::{self, HostView, Pool, PoolKind};

/// The four template roles, with their SettingsDefineCapabilities
/// ValueRole and ValueRange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Default,
    Minimum,
    Maximum,
    Increment,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Default, Role::Minimum, Role::Maximum, Role::Increment];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Default => "Default",
            Role::Minimum => "Minimum",
            Role::Maximum => "Maximum",
            Role::Increment => "Increment",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// (ValueRole, ValueRange).
    pub fn sdc_values(self) -> (u16, u16) {
        match self {
            Role::Default => (0, 0),
            Role::Minimum => (3, 1),
            Role::Maximum => (3, 2),
            Role::Increment => (3, 3),
        }
    }
}

/// Memory a guest gets when it asks for nothing else: 512 MiB, in KiB.
const MEM_DEFAULT_KIB: u64 = 512 * 1024;
/// The smallest guest memory offered: 64 MiB, in KiB.
const MEM_MIN_KIB: u64 = 64 * 1024;
/// Memory granularity: 1 MiB, in KiB.
const MEM_STEP_KIB: u64 = 1024;
/// Disk size offered by default: 10 GiB, in MiB.
const DISK_DEFAULT_MIB: u64 = 10 * 1024;

/// `<PoolID>/<Role>`.
pub fn template_id(pool_id: &str, role: Role) -> String {
    format!("{pool_id}/{}", role.as_str())
}

/// Whether a RASD InstanceID is a template's rather than a guest's.
pub fn is_template_id(id: &str) -> bool {
    id.matches('/').count() >= 2
}

/// (PoolID, role) of a template InstanceID.
pub fn split_template_id(id: &str) -> Option<(&str, Role)> {
    if !is_template_id(id) {
        return None;
    }
    let (pool, role) = id.rsplit_once('/')?;
    Some((pool, Role::parse(role)?))
}

/// `<P>_AllocationCapabilities.InstanceID=<PoolID>`.
pub fn caps_path(ctx: &VirtContext, pool_id: &str) -> CimInstanceName {
    instance_id_path(&ctx.class("AllocationCapabilities"), pool_id)
}

/// The path of a template RASD.
pub fn template_path(
    ctx: &VirtContext,
    kind: PoolKind,
    pool_id: &str,
    role: Role,
) -> CimInstanceName {
    instance_id_path(&ctx.class(kind.rasd_base()), &template_id(pool_id, role))
}

/// The allocation capabilities of a pool.
pub fn caps_instance(ctx: &VirtContext, p: &Pool) -> CimInstance {
    let path = caps_path(ctx, &p.id);
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", p.id.as_str())
        .with(
            "ElementName",
            format!("Allocation capabilities of {}", p.id),
        )
        .with("ResourceType", p.kind.resource_type())
        // 3 = General: a guest asks for an amount, not for a named resource.
        .with("RequestTypesSupported", 3u16)
        // vCPUs and network time-share the host (3 Shared); memory and
        // disk space, once given, are a guest's own (2 Dedicated).
        .with(
            "SharingMode",
            match p.kind {
                PoolKind::Processor | PoolKind::Network => 3u16,
                PoolKind::Memory | PoolKind::Disk => 2u16,
            },
        );
    // Disks and NICs can be added to running (2) and stopped (3) guests;
    // vCPUs and memory are changed, not added.
    if matches!(p.kind, PoolKind::Disk | PoolKind::Network) {
        inst.set("SupportedAddStates", vec![2u16, 3u16]);
        inst.set("SupportedRemoveStates", vec![2u16, 3u16]);
    }
    inst.path = Some(path);
    inst
}

/// VirtualQuantity of a pool's template in `role`.
fn quantity(view: &HostView, p: &Pool, role: Role) -> u64 {
    let cap = p.capacity.unwrap_or(1).max(1);
    match (p.kind, role) {
        (PoolKind::Processor, Role::Maximum) => cap.min(u64::from(view.caps.max_vcpus.max(1))),
        (PoolKind::Processor, _) => 1,
        (PoolKind::Memory, Role::Default) => MEM_DEFAULT_KIB.min(cap),
        (PoolKind::Memory, Role::Minimum) => MEM_MIN_KIB.min(cap),
        (PoolKind::Memory, Role::Maximum) => cap,
        (PoolKind::Memory, Role::Increment) => MEM_STEP_KIB,
        (PoolKind::Disk, Role::Default) => DISK_DEFAULT_MIB.min(cap),
        (PoolKind::Disk, Role::Maximum) => cap,
        (PoolKind::Disk, Role::Minimum | Role::Increment) => 1,
        // One NIC per RASD.
        (PoolKind::Network, _) => 1,
    }
}

/// The template RASD of pool `p` in `role`.
pub fn template_instance(ctx: &VirtContext, view: &HostView, p: &Pool, role: Role) -> CimInstance {
    let path = template_path(ctx, p.kind, &p.id, role);
    let id = template_id(&p.id, role);
    let units = p.kind.units();
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", id.as_str())
        .with("ElementName", format!("{} {}", p.id, role.as_str()))
        .with("ResourceType", p.kind.resource_type())
        .with("PoolID", p.id.as_str())
        .with("AllocationUnits", units)
        .with("VirtualQuantity", quantity(view, p, role))
        .with("VirtualQuantityUnits", units);
    if p.kind == PoolKind::Network {
        inst.set("Connection", vec![p.element_name.as_str()]);
    }
    inst.path = Some(path);
    inst
}

/// Every pool's capabilities, read now.
pub async fn all_caps(ctx: &VirtContext) -> CimResult<Vec<CimInstance>> {
    let view = HostView::read(ctx, false).await?;
    Ok(pools::compute(ctx, &view)
        .iter()
        .map(|p| caps_instance(ctx, p))
        .collect())
}

/// Hook for the `<P>_ElementCapabilities` provider: pool → capabilities
/// pairs of the pools that come and go (child pools, storage pools,
/// networks). The primordial pools' pairs are declared once in
/// `ctx.links` at install; these must be asked for each time.
pub async fn pool_capability_links(
    ctx: &VirtContext,
) -> CimResult<Vec<(CimInstanceName, CimInstanceName)>> {
    let view = HostView::read(ctx, false).await?;
    Ok(pools::compute(ctx, &view)
        .iter()
        .filter(|p| !p.primordial)
        .map(|p| (pools::pool_path(ctx, p.kind, &p.id), caps_path(ctx, &p.id)))
        .collect())
}

/// Hook for the settings (RASD) provider: the template RASD at `name`, or
/// `Ok(None)` when `name` is not a template's path (then it is a guest's
/// RASD). A template path of a pool that does not exist is
/// `CIM_ERR_NOT_FOUND`.
pub async fn template_rasd(
    ctx: &VirtContext,
    name: &CimInstanceName,
) -> CimResult<Option<CimInstance>> {
    let Some(id) = name.key_str("InstanceID") else {
        return Ok(None);
    };
    if !is_template_id(id) {
        return Ok(None);
    }
    let not_found = || CimError::not_found(name.local());
    let (pool_id, role) = split_template_id(id).ok_or_else(not_found)?;
    let kind = PoolKind::of_id(pool_id).ok_or_else(not_found)?;
    if !name.class_name.matches(&ctx.class(kind.rasd_base())) {
        return Err(not_found());
    }
    let view = HostView::read(ctx, false).await?;
    let pools = pools::compute(ctx, &view);
    let p = pools
        .iter()
        .find(|p| p.id == pool_id)
        .ok_or_else(not_found)?;
    Ok(Some(template_instance(ctx, &view, p, role)))
}

/// Hook for the settings (RASD) provider: every template RASD of class
/// `class` (`<P>_MemResourceAllocationSettingData`, …). Templates are not
/// guests' settings, so EnumerateInstances should normally leave them out;
/// this is for providers that want them listed.
pub async fn template_rasds(ctx: &VirtContext, class: &str) -> CimResult<Vec<CimInstance>> {
    let view = HostView::read(ctx, false).await?;
    Ok(pools::compute(ctx, &view)
        .iter()
        .filter(|p| ctx.class(p.kind.rasd_base()).eq_ignore_ascii_case(class))
        .flat_map(|p| {
            Role::ALL
                .into_iter()
                .map(|r| template_instance(ctx, &view, p, r))
                .collect::<Vec<_>>()
        })
        .collect())
}

/// `<P>_SettingsDefineCapabilities` instances: every pool's capabilities
/// to its four templates.
pub async fn sdc_instances(ctx: &VirtContext) -> CimResult<Vec<CimInstance>> {
    let view = HostView::read(ctx, false).await?;
    let class = ctx.class("SettingsDefineCapabilities");
    let mut out = vec![crate::migration::sdc_link(ctx)];
    for p in pools::compute(ctx, &view) {
        for role in Role::ALL {
            let (value_role, value_range) = role.sdc_values();
            let caps = caps_path(ctx, &p.id);
            let tmpl = template_path(ctx, p.kind, &p.id, role);
            let mut inst =
                crate::pool_assoc::link(&class, ("GroupComponent", caps), ("PartComponent", tmpl));
            inst.set("PropertyPolicy", 0u16);
            inst.set("ValueRole", value_role);
            inst.set("ValueRange", value_range);
            out.push(inst);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_ids_do_not_look_like_guest_rasds() {
        let id = template_id("MemoryPool/0", Role::Maximum);
        assert_eq!(id, "MemoryPool/0/Maximum");
        assert!(is_template_id(&id));
        assert_eq!(
            split_template_id(&id),
            Some(("MemoryPool/0", Role::Maximum))
        );
        assert!(!is_template_id("web/mem"));
        assert_eq!(split_template_id("web/mem"), None);
        assert_eq!(split_template_id("DiskPool/a/Sideways"), None);
    }

    #[test]
    fn roles_map_to_value_role_and_range() {
        assert_eq!(Role::Default.sdc_values(), (0, 0));
        assert_eq!(Role::Minimum.sdc_values(), (3, 1));
        assert_eq!(Role::Maximum.sdc_values(), (3, 2));
        assert_eq!(Role::Increment.sdc_values(), (3, 3));
    }
}
