//! Logical devices of virtual systems: `<P>_Processor` (one per vCPU),
//! `<P>_Memory`, `<P>_LogicalDisk` and `<P>_NetworkPort`, read from the
//! domain's definition.

use async_trait::async_trait;
use vine_cim::{CimClass, CimError, CimInstance, CimInstanceName, CimResult, CimStatus};
use vine_hypervisor::{DiskSpec, NicSpec};
use vine_wbem::provider::{InstanceProvider, RequestContext};

use crate::context::VirtContext;
use crate::paths::split_device_id;
use crate::view::{self, DomainView};

/// The device classes, by base name.
pub const DEVICE_CLASSES: [&str; 4] = ["Processor", "Memory", "LogicalDisk", "NetworkPort"];

fn device(ctx: &VirtContext, base: &str, v: &DomainView, devid: &str, name: String) -> CimInstance {
    let path = ctx.device_path(base, v.name(), devid);
    let active = v.info.state.is_active();
    let mut i = CimInstance::new(path.class_name.clone());
    for (k, val) in &path.key_bindings {
        i.set(k.clone(), val.clone());
    }
    i = i
        .with("ElementName", name)
        .with("EnabledState", if active { 2u16 } else { 3u16 })
        .with("HealthState", 5u16)
        .with("OperationalStatus", vec![if active { 2u16 } else { 10u16 }]);
    i.path = Some(path);
    i
}

pub fn processors(ctx: &VirtContext, v: &DomainView) -> Vec<CimInstance> {
    (0..v.vcpus())
        .map(|n| {
            device(ctx, "Processor", v, &n.to_string(), format!("vCPU {n}"))
                .with("NumberOfEnabledCores", 1u16)
        })
        .collect()
}

pub fn memory(ctx: &VirtContext, v: &DomainView) -> CimInstance {
    const BLOCK: u64 = 4096;
    let (cur, max) = if v.info.state.is_active() {
        (v.info.memory_kib, v.info.max_memory_kib)
    } else {
        (v.spec.memory_kib, v.spec.max_memory_kib)
    };
    device(ctx, "Memory", v, "mem", "Memory".into())
        .with("BlockSize", BLOCK)
        .with("NumberOfBlocks", max.max(cur) * 1024 / BLOCK)
        .with("ConsumableBlocks", cur * 1024 / BLOCK)
        .with("Volatile", true)
}

pub fn disk(ctx: &VirtContext, v: &DomainView, d: &DiskSpec) -> CimInstance {
    let mut i = device(
        ctx,
        "LogicalDisk",
        v,
        &d.target,
        format!("Disk {}", d.target),
    )
    .with("Name", d.target.as_str());
    if let Some(c) = d.capacity_bytes {
        i.set("BlockSize", 512u64);
        i.set("NumberOfBlocks", c / 512);
    }
    i
}

pub fn port(ctx: &VirtContext, v: &DomainView, n: &NicSpec) -> Option<CimInstance> {
    let mac = n.mac.as_deref()?;
    Some(
        device(ctx, "NetworkPort", v, mac, format!("NIC {mac}"))
            .with(
                "PermanentAddress",
                mac.replace(':', "").to_ascii_uppercase(),
            )
            .with("NetworkAddresses", vec![mac])
            // 2 = Ethernet.
            .with("LinkTechnology", 2u16),
    )
}

/// Every device of `base` class of one domain.
pub fn devices_of(ctx: &VirtContext, base: &str, v: &DomainView) -> Vec<CimInstance> {
    match base {
        "Processor" => processors(ctx, v),
        "Memory" => vec![memory(ctx, v)],
        "LogicalDisk" => v.spec.disks.iter().map(|d| disk(ctx, v, d)).collect(),
        "NetworkPort" => v.spec.nics.iter().filter_map(|n| port(ctx, v, n)).collect(),
        _ => Vec::new(),
    }
}

/// Serves the four device classes.
pub struct DeviceProvider {
    ctx: VirtContext,
}

impl DeviceProvider {
    pub fn new(ctx: VirtContext) -> Self {
        DeviceProvider { ctx }
    }

    fn base<'a>(&self, class: &'a CimClass) -> &'a str {
        let n = class.name.as_str();
        n.split_once('_').map_or(n, |(_, b)| b)
    }
}

#[async_trait]
impl InstanceProvider for DeviceProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let base = self.base(class);
        Ok(view::load_all(&self.ctx)
            .await?
            .iter()
            .flat_map(|v| devices_of(&self.ctx, base, v))
            .collect())
    }

    async fn get_instance(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        let (dom, _) = name
            .key_str("DeviceID")
            .and_then(split_device_id)
            .ok_or_else(|| CimError::not_found(name.local()))?;
        let v = match view::load(&self.ctx, dom).await {
            Ok(v) => v,
            Err(e) if e.status == CimStatus::NotFound => {
                return Err(CimError::not_found(name.local()))
            }
            Err(e) => return Err(e),
        };
        devices_of(&self.ctx, self.base(class), &v)
            .into_iter()
            .find(|i| i.path.as_ref().is_some_and(|p| p.same_object(name)))
            .ok_or_else(|| CimError::not_found(name.local()))
    }
}
