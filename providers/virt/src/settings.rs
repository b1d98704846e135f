//! Settings of virtual systems: `<P>_VirtualSystemSettingData` (InstanceID
//! `<P>:<dom>`) and the processor, memory, disk and network RASDs
//! (InstanceID `<dom>/<devid>`), read from the domain's definition.

use async_trait::async_trait;
use vine_cim::{CimClass, CimError, CimInstance, CimInstanceName, CimResult, CimStatus};
use vine_hypervisor::Capabilities;
use vine_wbem::provider::{InstanceProvider, RequestContext};

use crate::context::VirtContext;
use crate::paths::{split_device_id, split_vssd_id};
use crate::rasd::{self, RasdKind};
use crate::view::{self, DomainView};

/// The settings of one domain that are instances of `class`.
pub fn settings_of(
    ctx: &VirtContext,
    class: &CimClass,
    v: &DomainView,
    caps: Option<&Capabilities>,
) -> Vec<CimInstance> {
    if class.name.matches(&ctx.class("VirtualSystemSettingData")) {
        return vec![rasd::vssd_instance(ctx, &v.spec, &v.info.uuid)];
    }
    let kind = RasdKind::all()
        .into_iter()
        .find(|k| class.name.matches(&ctx.class(k.class_base())));
    match kind {
        Some(RasdKind::Proc) => vec![rasd::proc_rasd(ctx, &v.spec)],
        Some(RasdKind::Mem) => vec![rasd::mem_rasd(ctx, &v.spec)],
        Some(RasdKind::Disk) => v
            .spec
            .disks
            .iter()
            .map(|d| rasd::disk_rasd(ctx, v.name(), d, caps))
            .collect(),
        Some(RasdKind::Net) => v
            .spec
            .nics
            .iter()
            .filter_map(|n| rasd::net_rasd(ctx, v.name(), n))
            .collect(),
        None => Vec::new(),
    }
}

/// Serves the VSSD and the four RASD classes.
pub struct SettingsProvider {
    ctx: VirtContext,
}

impl SettingsProvider {
    pub fn new(ctx: VirtContext) -> Self {
        SettingsProvider { ctx }
    }

    /// Processor RASDs show CPULimit and CPUReservation where the
    /// hypervisor knows them (a VM it cannot read them of just lacks them).
    async fn with_cpu_time(&self, class: &CimClass, rasds: &mut [CimInstance]) {
        if !class
            .name
            .matches(&self.ctx.class(RasdKind::Proc.class_base()))
        {
            return;
        }
        let doms: Vec<Option<String>> = rasds
            .iter()
            .map(|r| split_device_id(r.get_str("InstanceID")?).map(|(d, _)| d.to_string()))
            .collect();
        let times = self
            .ctx
            .call(move |hv| {
                Ok(doms
                    .iter()
                    .map(|d| hv.cpu_time(d.as_deref()?).ok())
                    .collect::<Vec<_>>())
            })
            .await
            .unwrap_or_default();
        for (r, t) in rasds.iter_mut().zip(times) {
            if let Some(t) = t {
                rasd::cpu::report(r, &t);
            }
        }
    }

    async fn caps(&self) -> Option<Capabilities> {
        // Pools only refine PoolID; settings still show without them.
        self.ctx.call(|hv| hv.capabilities()).await.ok()
    }
}

#[async_trait]
impl InstanceProvider for SettingsProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let caps = self.caps().await;
        let mut out: Vec<CimInstance> = view::load_all(&self.ctx)
            .await?
            .iter()
            .flat_map(|v| settings_of(&self.ctx, class, v, caps.as_ref()))
            .collect();
        self.with_cpu_time(class, &mut out).await;
        Ok(out)
    }

    async fn get_instance(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        // Allocation capabilities' template RASDs (`<PoolID>/<Role>`).
        if let Some(inst) = crate::capabilities::template_rasd(&self.ctx, name).await? {
            return Ok(inst);
        }
        let id = name
            .key_str("InstanceID")
            .ok_or_else(|| CimError::not_found(name.local()))?;
        let dom = if class
            .name
            .matches(&self.ctx.class("VirtualSystemSettingData"))
        {
            split_vssd_id(id).map(|(_, d)| d)
        } else {
            split_device_id(id).map(|(d, _)| d)
        }
        .ok_or_else(|| CimError::not_found(name.local()))?;
        let v = match view::load(&self.ctx, dom).await {
            Ok(v) => v,
            Err(e) if e.status == CimStatus::NotFound => {
                return Err(CimError::not_found(name.local()))
            }
            Err(e) => return Err(e),
        };
        let caps = self.caps().await;
        let mut found: Vec<CimInstance> = settings_of(&self.ctx, class, &v, caps.as_ref())
            .into_iter()
            .filter(|i| i.path.as_ref().is_some_and(|p| p.same_object(name)))
            .take(1)
            .collect();
        self.with_cpu_time(class, &mut found).await;
        found.pop().ok_or_else(|| CimError::not_found(name.local()))
    }
}
