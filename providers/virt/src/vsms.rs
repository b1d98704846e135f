//! `<P>_VirtualSystemManagementService` (DSP1042): define, destroy and
//! reconfigure virtual systems from embedded VSSD/RASD instances.
//!
//! Every method runs synchronously (libvirt define/attach calls are quick)
//! and returns 0, or a CIM error whose message says what to fix: bad
//! settings are CIM_ERR_INVALID_PARAMETER, an unknown VM CIM_ERR_NOT_FOUND,
//! a VM busy with another request CIM_ERR_FAILED. Embedded instances are
//! accepted both decoded (EmbeddedObject="instance") and as plain strings
//! holding CIM-XML `<INSTANCE>` text.
//!
//! Added, removed and changed resources are published as
//! `<P>_ResourceAllocationSettingData{Created,Deleted,Modified}Indication`
//! with the RASD as SourceInstance.

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_cimxml::DecodeLimits;
use vine_hypervisor::{Capabilities, OsKind, Scope};
use vine_wbem::provider::{
    param, required_param, MethodProvider, MethodResult, MethodTarget, RequestContext,
};

use crate::context::{DomainGuard, VirtContext};
use crate::events::{publish_created, publish_deleted, publish_modified};
use crate::paths::{device_id, instance_id_path, split_device_id, split_vssd_id};
use crate::pools::{self, PoolKind};
use crate::rasd::{self, RasdKind};
use crate::system::domain_of;
use crate::view;

/// The PoolID the processor or memory RASD among `rasds` asks for; the
/// primordial pool when there is no such RASD or it names none.
fn requested_pool(rasds: &[CimInstance], kind: RasdKind) -> CimResult<String> {
    let pool_kind = match kind {
        RasdKind::Proc => PoolKind::Processor,
        _ => PoolKind::Memory,
    };
    for r in rasds {
        if rasd::kind_of(r)? != kind {
            continue;
        }
        if let Some(id) = r.get_str("PoolID").map(str::trim).filter(|s| !s.is_empty()) {
            if PoolKind::of_id(id) != Some(pool_kind) {
                return Err(CimError::invalid_parameter(format!(
                    "PoolID `{id}` of a {} RASD must name a {}",
                    kind.class_base(),
                    pool_kind.base()
                )));
            }
            return Ok(id.to_string());
        }
    }
    Ok(pools::primordial_id(pool_kind).to_string())
}

/// Decodes an embedded instance parameter value (one, or each of an array).
pub fn embedded_instances(v: &CimValue, what: &str) -> CimResult<Vec<CimInstance>> {
    match v {
        CimValue::Array(items) => items.iter().map(|i| embedded_instance(i, what)).collect(),
        other => Ok(vec![embedded_instance(other, what)?]),
    }
}

/// One embedded instance: already decoded, or CIM-XML text.
pub fn embedded_instance(v: &CimValue, what: &str) -> CimResult<CimInstance> {
    match v {
        CimValue::Instance(i) => Ok((**i).clone()),
        CimValue::String(s) => decode_instance_text(s).map_err(|e| {
            CimError::invalid_parameter(format!("Unable to parse embedded object in {what}: {e}"))
        }),
        _ => Err(CimError::invalid_parameter(format!(
            "{what} must be an embedded instance"
        ))),
    }
}

/// Decodes `<INSTANCE>` text with the CIM-XML decoder, by wrapping it in
/// the one message form whose parameter is a bare instance (an export
/// request), so it gets the same limits as any request.
fn decode_instance_text(text: &str) -> Result<CimInstance, String> {
    let t = text.trim();
    if !t.starts_with("<INSTANCE") {
        return Err("the value is not a CIM-XML <INSTANCE>".into());
    }
    let doc = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
         <MESSAGE ID=\"0\" PROTOCOLVERSION=\"1.0\"><SIMPLEEXPREQ>\
         <EXPMETHODCALL NAME=\"ExportIndication\"><EXPPARAMVALUE NAME=\"NewIndication\">{t}\
         </EXPPARAMVALUE></EXPMETHODCALL></SIMPLEEXPREQ></MESSAGE></CIM>"
    );
    vine_cimxml::decode_export_indication(doc.as_bytes(), &DecodeLimits::default())
        .map(|e| e.indication)
        .map_err(|e| e.to_string())
}

fn busy(dom: &str) -> CimError {
    CimError::new(
        CimStatus::Failed,
        format!("VM {dom} is busy with another operation; try again when it has finished"),
    )
}

fn lock(ctx: &VirtContext, dom: &str) -> CimResult<DomainGuard> {
    ctx.locks.try_lock(dom).ok_or_else(|| busy(dom))
}

async fn caps(ctx: &VirtContext) -> CimResult<Capabilities> {
    ctx.call(|hv| hv.capabilities()).await
}

/// Live and persistent for a running VM, persistent for a stopped one.
async fn scope(ctx: &VirtContext, dom: &str) -> CimResult<Scope> {
    Ok(match ctx.hv_domain_state(dom).await? {
        Some(s) if s.is_active() => Scope::Both,
        Some(_) => Scope::Config,
        None => return Err(CimError::not_found(format!("VM {dom} does not exist"))),
    })
}

/// `Both` as two steps, persistent first.
fn split(scope: Scope) -> Vec<Scope> {
    match scope {
        Scope::Both => vec![Scope::Config, Scope::Live],
        s => vec![s],
    }
}

const RASD_CREATED: &str = "ResourceAllocationSettingDataCreatedIndication";
const RASD_DELETED: &str = "ResourceAllocationSettingDataDeletedIndication";
const RASD_MODIFIED: &str = "ResourceAllocationSettingDataModifiedIndication";

/// The RASDs of `dom` as they are now, for indications; none when nobody
/// listens or the VM cannot be read (an indication is not worth failing
/// the request for).
async fn rasds_now(ctx: &VirtContext, dom: &str, caps: &Capabilities) -> Vec<CimInstance> {
    if ctx.sink.is_none() {
        return Vec::new();
    }
    match view::load(ctx, dom).await {
        Ok(v) => rasd::rasd_instances(ctx, &v.spec, Some(caps)),
        Err(e) => {
            tracing::debug!(domain = dom, error = %e, "no RASD indications");
            Vec::new()
        }
    }
}

fn rasd_at<'a>(all: &'a [CimInstance], path: &CimInstanceName) -> Option<&'a CimInstance> {
    all.iter()
        .find(|i| i.path.as_ref().is_some_and(|p| p.same_object(path)))
}

/// Runs the management service's methods.
pub struct VsmsProvider {
    ctx: VirtContext,
}

impl VsmsProvider {
    pub fn new(ctx: VirtContext) -> Self {
        VsmsProvider { ctx }
    }

    fn rasd_path(&self, kind: RasdKind, dom: &str, devid: &str) -> CimInstanceName {
        instance_id_path(&self.ctx.class(kind.class_base()), &device_id(dom, devid))
    }

    async fn define_system(&self, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let vssd = embedded_instance(
            param(params, "SystemSettings")
                .ok_or_else(|| CimError::invalid_parameter("Missing argument `SystemSettings'"))?,
            "SystemSettings",
        )?;
        let rasds = match param(params, "ResourceSettings") {
            Some(v) => embedded_instances(v, "ResourceSettings")?,
            None => Vec::new(),
        };
        let reference = match param(params, "ReferenceConfiguration") {
            Some(CimValue::Reference(r)) => {
                let dom = r
                    .key_str("InstanceID")
                    .and_then(split_vssd_id)
                    .map(|(_, d)| d.to_string())
                    .ok_or_else(|| {
                        CimError::invalid_parameter(
                            "Invalid `InstanceID' from ReferenceConfiguration",
                        )
                    })?;
                Some(view::load(ctx, &dom).await?.spec)
            }
            Some(_) => {
                return Err(CimError::invalid_parameter(
                    "ReferenceConfiguration must be a reference to a VSSD",
                ))
            }
            None => None,
        };
        if rasds.is_empty() && reference.is_none() {
            return Err(CimError::invalid_parameter(
                "Missing argument `ResourceSettings' (at least a processor and a memory RASD)",
            ));
        }
        let caps = caps(ctx).await?;
        let spec = rasd::spec_from_settings(&ctx.prefix, &vssd, &rasds, &caps, reference.as_ref())?;
        let _guard = lock(ctx, &spec.name)?;
        let proc_pool = requested_pool(&rasds, RasdKind::Proc)?;
        let mem_pool = requested_pool(&rasds, RasdKind::Mem)?;
        pools::admit(ctx, &proc_pool, spec.vcpus, spec.memory_kib).await?;
        pools::admit(ctx, &mem_pool, spec.vcpus, spec.memory_kib).await?;
        let name = spec.name.clone();
        let info = ctx.call(move |hv| hv.define(&spec)).await?;
        pools::assign(ctx, &info.name, &proc_pool);
        pools::assign(ctx, &info.name, &mem_pool);
        tracing::info!(domain = %name, uuid = %info.uuid, "defined");
        Ok(MethodResult::code(0).with_out("ResultingSystem", ctx.system_path(&info.name)))
    }

    async fn destroy_system(&self, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let CimValue::Reference(path) = required_param(params, "AffectedSystem")? else {
            return Err(CimError::invalid_parameter(
                "AffectedSystem must be a reference to a ComputerSystem",
            ));
        };
        let dom = domain_of(ctx, path)?;
        let _guard = lock(ctx, &dom)?;
        let d = dom.clone();
        ctx.call(move |hv| {
            let info = hv.domain(&d)?;
            if info.state.is_active() {
                hv.destroy(&d)?;
            }
            hv.undefine(&d)
        })
        .await?;
        pools::release(ctx, &dom);
        tracing::info!(domain = %dom, "destroyed and undefined");
        Ok(MethodResult::code(0))
    }

    /// The domain of a VSSD reference (AffectedConfiguration).
    fn configuration_domain(&self, v: &CimValue) -> CimResult<String> {
        let CimValue::Reference(r) = v else {
            return Err(CimError::invalid_parameter(
                "AffectedConfiguration must be a reference to a VSSD",
            ));
        };
        r.key_str("InstanceID")
            .and_then(split_vssd_id)
            .filter(|(p, _)| p.eq_ignore_ascii_case(&self.ctx.prefix))
            .map(|(_, d)| d.to_string())
            .ok_or_else(|| {
                CimError::invalid_parameter(format!(
                    "AffectedConfiguration has invalid InstanceID (want {}:<vm>)",
                    self.ctx.prefix
                ))
            })
    }

    async fn add_resource_settings(&self, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let dom = self.configuration_domain(param(params, "AffectedConfiguration").ok_or_else(
            || CimError::invalid_parameter("Missing AffectedConfiguration parameter"),
        )?)?;
        let rasds = embedded_instances(
            required_param(params, "ResourceSettings")?,
            "ResourceSettings",
        )?;
        let _guard = lock(ctx, &dom)?;
        let scope = scope(ctx, &dom).await?;
        let caps = caps(ctx).await?;
        let mut out = Vec::new();
        for r in &rasds {
            match rasd::kind_of(r)? {
                k @ (RasdKind::Proc | RasdKind::Mem) => {
                    return Err(CimError::invalid_parameter(format!(
                        "Cannot add resources of type {}: a VM has one; change it with \
                         ModifyResourceSettings",
                        if k == RasdKind::Proc { 3 } else { 4 }
                    )))
                }
                RasdKind::Disk => {
                    let disk = rasd::disk_from_rasd(&ctx.prefix, r, &caps)?;
                    let (d, spec) = (dom.clone(), disk.clone());
                    ctx.call(move |hv| hv.attach_disk(&d, &spec, scope)).await?;
                    out.push(self.rasd_path(RasdKind::Disk, &dom, &disk.target));
                }
                RasdKind::Net => {
                    let nic = rasd::nic_from_rasd(r, &caps)?;
                    let d = dom.clone();
                    let added = ctx.call(move |hv| hv.attach_nic(&d, &nic, scope)).await?;
                    let mac = added.mac.unwrap_or_default();
                    out.push(self.rasd_path(RasdKind::Net, &dom, &mac));
                }
            }
        }
        tracing::info!(domain = %dom, added = out.len(), "resources added");
        let now = rasds_now(ctx, &dom, &caps).await;
        for p in &out {
            if let Some(r) = rasd_at(&now, p) {
                publish_created(ctx, RASD_CREATED, r);
            }
        }
        Ok(MethodResult::code(0).with_out("ResultingResourceSettings", out))
    }

    async fn modify_resource_settings(&self, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let rasds = embedded_instances(
            required_param(params, "ResourceSettings")?,
            "ResourceSettings",
        )?;
        let caps = caps(ctx).await?;
        let mut out = Vec::new();
        for r in &rasds {
            let id = r
                .get_str("InstanceID")
                .ok_or_else(|| CimError::invalid_parameter("Missing InstanceID in RASD"))?;
            let (dom, devid) = split_device_id(id)
                .ok_or_else(|| CimError::invalid_parameter(format!("Invalid InstanceID `{id}'")))?;
            let (dom, devid) = (dom.to_string(), devid.to_string());
            let kind = rasd::kind_of(r)?;
            let _guard = lock(ctx, &dom)?;
            let scope = scope(ctx, &dom).await?;
            let current = view::load(ctx, &dom).await?;
            match kind {
                RasdKind::Proc => {
                    // vCPUs when VirtualQuantity is given; Weight, CPULimit
                    // and CPUReservation (CPU shares and time) with them or
                    // alone.
                    let req = rasd::cpu::CpuRequest::from_rasd(r)?;
                    let vcpus = if r.get("VirtualQuantity").is_some() {
                        let mut spec = current.spec.clone();
                        rasd::apply_quantity(&mut spec, r, kind, &caps)?;
                        Some(spec.vcpus)
                    } else if req.is_empty() {
                        return Err(CimError::invalid_parameter(
                            "the processor RASD has none of VirtualQuantity (vCPUs), Weight \
                             (CPU shares), CPULimit or CPUReservation (percent of a core per \
                             vCPU)",
                        ));
                    } else {
                        None
                    };
                    let d = dom.clone();
                    // The definition first, then the running VM: some
                    // drivers (the test driver) refuse both in one call.
                    ctx.call(move |hv| Ok(rasd::cpu::apply(hv, &d, req, vcpus, &split(scope))))
                        .await??;
                    out.push(self.rasd_path(kind, &dom, "proc"));
                }
                RasdKind::Mem => {
                    let mut spec = current.spec.clone();
                    rasd::apply_quantity(&mut spec, r, kind, &caps)?;
                    let d = dom.clone();
                    let kib = spec.memory_kib;
                    ctx.call(move |hv| {
                        split(scope)
                            .into_iter()
                            .try_for_each(|s| hv.set_memory(&d, kib, s))
                    })
                    .await?;
                    out.push(self.rasd_path(kind, &dom, "mem"));
                }
                RasdKind::Disk => {
                    let old = current
                        .spec
                        .disks
                        .iter()
                        .find(|d| d.target == devid)
                        .ok_or_else(|| CimError::failed(format!("Device `{id}' not found")))?;
                    // A partial RASD changes only what it names.
                    let mut merged = rasd::disk_rasd(ctx, &dom, old, Some(&caps));
                    for p in &r.properties {
                        merged.set_property(p.clone());
                    }
                    let disk = rasd::disk_from_rasd(&ctx.prefix, &merged, &caps)?;
                    if disk.target != devid {
                        return Err(CimError::invalid_parameter(
                            "a disk's VirtualDevice cannot change; remove it and add a new one",
                        ));
                    }
                    let d = dom.clone();
                    ctx.call(move |hv| {
                        hv.detach_disk(&d, &disk.target, scope)?;
                        hv.attach_disk(&d, &disk, scope)
                    })
                    .await?;
                    out.push(self.rasd_path(RasdKind::Disk, &dom, &devid));
                }
                RasdKind::Net => {
                    let old = current
                        .spec
                        .nics
                        .iter()
                        .find(|n| n.mac.as_deref() == Some(devid.as_str()))
                        .ok_or_else(|| CimError::failed(format!("Device `{id}' not found")))?;
                    let mut merged = rasd::net_rasd(ctx, &dom, old)
                        .ok_or_else(|| CimError::failed(format!("Device `{id}' not found")))?;
                    for p in &r.properties {
                        merged.set_property(p.clone());
                    }
                    let mut nic = rasd::nic_from_rasd(&merged, &caps)?;
                    nic.mac = Some(devid.clone());
                    let d = dom.clone();
                    let mac = devid.clone();
                    ctx.call(move |hv| {
                        hv.detach_nic(&d, &mac, scope)?;
                        hv.attach_nic(&d, &nic, scope)
                    })
                    .await?;
                    out.push(self.rasd_path(RasdKind::Net, &dom, &devid));
                }
            }
            tracing::info!(domain = %dom, rasd = %id, "resource modified");
            if let Some(changed) = out.last() {
                let before = rasd::rasd_instances(ctx, &current.spec, Some(&caps));
                let after = rasds_now(ctx, &dom, &caps).await;
                if let (Some(b), Some(a)) = (rasd_at(&before, changed), rasd_at(&after, changed)) {
                    publish_modified(ctx, RASD_MODIFIED, b, a.clone());
                }
            }
        }
        Ok(MethodResult::code(0).with_out("ResultingResourceSettings", out))
    }

    async fn remove_resource_settings(&self, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let refs: Vec<CimInstanceName> = match required_param(params, "ResourceSettings")? {
            CimValue::Array(a) => a
                .iter()
                .map(|v| match v {
                    CimValue::Reference(r) => Ok((**r).clone()),
                    _ => Err(CimError::invalid_parameter(
                        "ResourceSettings must be references to RASDs",
                    )),
                })
                .collect::<CimResult<_>>()?,
            CimValue::Reference(r) => vec![(**r).clone()],
            _ => {
                return Err(CimError::invalid_parameter(
                    "ResourceSettings must be references to RASDs",
                ))
            }
        };
        // Only to describe what goes in the Deleted indications.
        let caps = if ctx.sink.is_some() {
            caps(ctx).await.ok()
        } else {
            None
        };
        for r in &refs {
            let id = r.key_str("InstanceID").unwrap_or_default();
            let (dom, devid) = split_device_id(id)
                .ok_or_else(|| CimError::not_found(format!("No such instance: {r}")))?;
            let (dom, devid) = (dom.to_string(), devid.to_string());
            let kind = RasdKind::all()
                .into_iter()
                .find(|k| r.class_name.matches(&ctx.class(k.class_base())))
                .ok_or_else(|| CimError::not_found(format!("No such instance: {r}")))?;
            let _guard = lock(ctx, &dom)?;
            let scope = scope(ctx, &dom).await?;
            let before = match &caps {
                Some(c) => rasds_now(ctx, &dom, c).await,
                None => Vec::new(),
            };
            let d = dom.clone();
            let dev = devid.clone();
            match kind {
                RasdKind::Proc | RasdKind::Mem => {
                    return Err(CimError::invalid_parameter(format!(
                        "{id}: a VM's processors and memory cannot be removed"
                    )))
                }
                RasdKind::Disk => ctx.call(move |hv| hv.detach_disk(&d, &dev, scope)).await?,
                RasdKind::Net => ctx.call(move |hv| hv.detach_nic(&d, &dev, scope)).await?,
            }
            tracing::info!(domain = %dom, rasd = %id, "resource removed");
            if let Some(gone) = rasd_at(&before, r) {
                publish_deleted(ctx, RASD_DELETED, gone);
            }
        }
        Ok(MethodResult::code(0))
    }

    async fn modify_system_settings(&self, params: &[CimParamValue]) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let vssd = embedded_instance(
            param(params, "SystemSettings")
                .ok_or_else(|| CimError::invalid_parameter("Missing argument `SystemSettings'"))?,
            "SystemSettings",
        )?;
        let dom = vssd
            .get_str("InstanceID")
            .and_then(split_vssd_id)
            .map(|(_, d)| d.to_string())
            .or_else(|| vssd.get_str("VirtualSystemIdentifier").map(str::to_string))
            .ok_or_else(|| {
                CimError::invalid_parameter("SystemSettings has no InstanceID (<P>:<vm>)")
            })?;
        let _guard = lock(ctx, &dom)?;
        let current = view::load(ctx, &dom).await?;
        let wanted = rasd::spec_from_vssd(&ctx.prefix, &{
            let mut v = vssd.clone();
            if v.get("VirtualSystemIdentifier").is_none() {
                v.set("VirtualSystemIdentifier", dom.as_str());
            }
            v
        })?;
        if wanted.name != dom {
            return Err(CimError::not_supported(
                "renaming a VM is not supported (VirtualSystemIdentifier must stay the same)",
            ));
        }
        if let Some(u) = &wanted.uuid {
            if !u.eq_ignore_ascii_case(&current.info.uuid) {
                return Err(CimError::failed(format!(
                    "{dom} is already defined with UUID {}; the UUID cannot change",
                    current.info.uuid
                )));
            }
        }
        let mut spec = current.spec.clone();
        spec.uuid = Some(current.info.uuid.clone());
        if vssd.get("Notes").is_some() {
            spec.description = wanted.description;
        }
        if vssd.get("BootDevices").is_some() {
            if let (OsKind::Hvm { boot }, OsKind::Hvm { boot: new }) = (&mut spec.os, &wanted.os) {
                *boot = new.clone();
            }
        }
        ctx.call(move |hv| {
            let xml = hv.render_xml(&spec)?;
            hv.define_xml(&xml).map(|_| ())
        })
        .await?;
        tracing::info!(domain = %dom, "system settings modified");
        Ok(MethodResult::code(0))
    }
}

#[async_trait]
impl MethodProvider for VsmsProvider {
    async fn invoke_method(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        _target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        let m = method.name.as_str().to_ascii_lowercase();
        let r = match m.as_str() {
            "definesystem" => self.define_system(&params).await,
            "destroysystem" => self.destroy_system(&params).await,
            "addresourcesettings" => self.add_resource_settings(&params).await,
            "modifyresourcesettings" => self.modify_resource_settings(&params).await,
            "removeresourcesettings" => self.remove_resource_settings(&params).await,
            "modifysystemsettings" => self.modify_system_settings(&params).await,
            _ => Err(CimError::new(
                CimStatus::MethodNotAvailable,
                format!("{} is not implemented", method.name),
            )),
        };
        if let Err(e) = &r {
            tracing::info!(method = %method.name, error = %e, "management request refused");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_text_decodes() {
        let t = r#"<INSTANCE CLASSNAME="KVM_ProcResourceAllocationSettingData">
            <PROPERTY NAME="VirtualQuantity" TYPE="uint64"><VALUE>2</VALUE></PROPERTY>
            </INSTANCE>"#;
        let i = embedded_instance(&CimValue::String(t.into()), "ResourceSettings").unwrap();
        assert_eq!(i.get("VirtualQuantity"), Some(&CimValue::Uint64(2)));
        let e =
            embedded_instance(&CimValue::String("hello".into()), "ResourceSettings").unwrap_err();
        assert_eq!(e.status, CimStatus::InvalidParameter);
        assert!(e.description.contains("Unable to parse embedded object"));
    }
}
