//! The pool provider: the four pool classes, their allocation
//! capabilities and template links, the pool associations, and
//! `<P>_ResourcePoolConfigurationService` (DSP1041) with its capabilities.
//!
//! CreateChildResourcePool(ElementName, Settings[] = one embedded processor
//! or memory RASD whose Reservation (else Limit, else VirtualQuantity) is
//! the amount to set aside, ParentPool[] = the pool to carve it from,
//! default the primordial one) → Pool; DeleteResourcePool(Pool). Both are
//! synchronous (return 0); refusals are CIM errors that say why.

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_wbem::provider::{
    param, AssociationProvider, InstanceProvider, MethodProvider, MethodResult, MethodTarget,
    RequestContext,
};

use crate::capabilities;
use crate::context::VirtContext;
use crate::paths::{instance_id_path, RPCS_NAME};
use crate::pool_assoc;
use crate::pools::{self, HostView, PoolKind};

/// InstanceID of the pool configuration capabilities (libvirt-cim's).
pub const RPCC_ID: &str = "RPCC";

/// Serves the pool classes, RPCS and RPCC, AllocationCapabilities,
/// SettingsDefineCapabilities and the three pool associations.
pub struct PoolProvider {
    ctx: VirtContext,
}

impl PoolProvider {
    pub fn new(ctx: VirtContext) -> Self {
        PoolProvider { ctx }
    }

    /// Every class this provider serves (prefixed).
    pub fn classes(ctx: &VirtContext) -> Vec<String> {
        let mut v: Vec<String> = PoolKind::ALL.iter().map(|k| ctx.class(k.base())).collect();
        for base in [
            "AllocationCapabilities",
            "ResourcePoolConfigurationService",
            "ResourcePoolConfigurationCapabilities",
            "SettingsDefineCapabilities",
            "HostedResourcePool",
            "ResourceAllocationFromPool",
            "ElementAllocatedFromPool",
        ] {
            v.push(ctx.class(base));
        }
        v
    }
}

/// The RPCS instance path.
pub fn rpcs_path(ctx: &VirtContext) -> CimInstanceName {
    ctx.service_path("ResourcePoolConfigurationService", RPCS_NAME)
}

/// The RPCC instance path.
pub fn rpcc_path(ctx: &VirtContext) -> CimInstanceName {
    instance_id_path(&ctx.class("ResourcePoolConfigurationCapabilities"), RPCC_ID)
}

fn rpcs_instance(ctx: &VirtContext) -> CimInstance {
    crate::host::running_service(rpcs_path(ctx), "Resource pool configuration service")
}

fn rpcc_instance(ctx: &VirtContext) -> CimInstance {
    let path = rpcc_path(ctx);
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", RPCC_ID)
        .with("ElementName", "Resource pool configuration capabilities")
        // 3 CreateChildResourcePool, 4 DeleteResourcePool.
        .with("SynchronousMethodsSupported", vec![3u32, 4u32])
        .with("AsynchronousMethodsSupported", Vec::<u32>::new());
    inst.path = Some(path);
    inst
}

#[async_trait]
impl InstanceProvider for PoolProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let is = |base: &str| class.name.matches(&ctx.class(base));
        if let Some(kind) = PoolKind::ALL.into_iter().find(|k| is(k.base())) {
            let view = HostView::read(ctx, kind == PoolKind::Network).await?;
            return Ok(pools::compute(ctx, &view)
                .iter()
                .filter(|p| p.kind == kind)
                .map(|p| pools::pool_instance(ctx, p))
                .collect());
        }
        if is("AllocationCapabilities") {
            return capabilities::all_caps(ctx).await;
        }
        if is("ResourcePoolConfigurationService") {
            return Ok(vec![rpcs_instance(ctx)]);
        }
        if is("ResourcePoolConfigurationCapabilities") {
            return Ok(vec![rpcc_instance(ctx)]);
        }
        if is("SettingsDefineCapabilities") {
            return capabilities::sdc_instances(ctx).await;
        }
        pool_assoc::instances(ctx, class.name.as_str()).await
    }
}

#[async_trait]
impl AssociationProvider for PoolProvider {
    /// Narrows the candidates to what `object` can be linked to; the
    /// dispatcher checks the ends and roles.
    async fn references(
        &self,
        _rc: &RequestContext,
        assoc_class: &CimClass,
        object: &CimInstanceName,
        _role: Option<&str>,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        if !assoc_class
            .name
            .matches(&ctx.class("SettingsDefineCapabilities"))
        {
            return pool_assoc::references(ctx, assoc_class.name.as_str(), object).await;
        }
        let of = |base: &str| object.class_name.matches(&ctx.class(base));
        let related = of("AllocationCapabilities")
            || of("VirtualSystemMigrationCapabilities")
            || of("VirtualSystemMigrationSettingData")
            || PoolKind::ALL.iter().any(|k| of(k.rasd_base()));
        if related {
            capabilities::sdc_instances(ctx).await
        } else {
            Ok(Vec::new())
        }
    }
}

impl PoolProvider {
    /// The association classes it also serves from one end.
    pub fn association_classes(ctx: &VirtContext) -> Vec<String> {
        [
            "SettingsDefineCapabilities",
            "HostedResourcePool",
            "ResourceAllocationFromPool",
            "ElementAllocatedFromPool",
        ]
        .iter()
        .map(|b| ctx.class(b))
        .collect()
    }
}

#[async_trait]
impl MethodProvider for PoolProvider {
    async fn invoke_method(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        if let MethodTarget::Instance(t) = target {
            if !t.same_object(&rpcs_path(ctx)) {
                return Err(CimError::not_found(t.local()));
            }
        }
        if method.name.matches("CreateChildResourcePool") {
            let (name, parent, amount) = child_request(ctx, &params)?;
            let child = pools::create_child(ctx, &name, &parent, amount).await?;
            return Ok(MethodResult::code(0)
                .with_out("Pool", pools::pool_path(ctx, child.kind, &child.id)));
        }
        if method.name.matches("DeleteResourcePool") {
            let pool = match param(&params, "Pool") {
                Some(CimValue::Reference(p)) => p,
                _ => {
                    return Err(CimError::invalid_parameter(
                        "parameter Pool (a pool reference) is required",
                    ))
                }
            };
            let id = pool
                .key_str("InstanceID")
                .ok_or_else(|| CimError::invalid_parameter("Pool has no InstanceID key"))?;
            pools::delete_child(ctx, id).await?;
            return Ok(MethodResult::code(0));
        }
        Err(CimError::new(
            CimStatus::MethodNotAvailable,
            format!(
                "{} is not supported: this service creates and deletes child pools only",
                method.name
            ),
        ))
    }
}

/// (name, parent PoolID, amount in the pool's units) of a
/// CreateChildResourcePool call.
fn child_request(ctx: &VirtContext, params: &[CimParamValue]) -> CimResult<(String, String, u64)> {
    let name = match param(params, "ElementName") {
        Some(CimValue::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(CimError::invalid_parameter(
                "parameter ElementName (the pool's name) is required",
            ))
        }
    };
    let settings: Vec<&CimInstance> = match param(params, "Settings") {
        Some(CimValue::Array(v)) => v
            .iter()
            .map(|v| match v {
                CimValue::Instance(i) => Ok(i.as_ref()),
                _ => Err(CimError::invalid_parameter(
                    "Settings must hold embedded RASD instances",
                )),
            })
            .collect::<CimResult<_>>()?,
        Some(CimValue::Instance(i)) => vec![i.as_ref()],
        _ => {
            return Err(CimError::invalid_parameter(
                "parameter Settings (one embedded processor or memory RASD) is required",
            ))
        }
    };
    let [rasd] = settings.as_slice() else {
        return Err(CimError::invalid_parameter(format!(
            "Settings must hold exactly one RASD, not {}",
            settings.len()
        )));
    };
    let kind = rasd_kind(ctx, rasd)?;
    let parent = match param(params, "ParentPool") {
        Some(CimValue::Array(v)) if v.len() > 1 => {
            return Err(CimError::invalid_parameter(
                "a child pool has one parent pool",
            ))
        }
        Some(CimValue::Array(v)) => v.first().map(ref_pool_id).transpose()?,
        Some(v @ CimValue::Reference(_)) => Some(ref_pool_id(v)?),
        _ => None,
    }
    .unwrap_or_else(|| pools::primordial_id(kind).to_string());
    if PoolKind::of_id(&parent) != Some(kind) {
        return Err(CimError::new(
            CimStatus::InvalidParameter,
            format!(
                "the RASD has ResourceType {} but the parent pool {parent} is not a {} pool",
                kind.resource_type(),
                kind.base()
            ),
        ));
    }
    let amount = ["Reservation", "Limit", "VirtualQuantity"]
        .iter()
        .find_map(|p| uint(rasd.get(p)))
        .ok_or_else(|| {
            CimError::invalid_parameter(
                "the RASD must give Reservation, Limit or VirtualQuantity: how much to set aside",
            )
        })?;
    let amount = match kind {
        PoolKind::Memory => to_kib(amount, rasd.get_str("AllocationUnits"))?,
        _ => amount,
    };
    Ok((name, parent, amount))
}

fn ref_pool_id(v: &CimValue) -> CimResult<String> {
    match v {
        CimValue::Reference(p) => p
            .key_str("InstanceID")
            .map(str::to_string)
            .ok_or_else(|| CimError::invalid_parameter("ParentPool has no InstanceID key")),
        _ => Err(CimError::invalid_parameter(
            "ParentPool must be a pool reference",
        )),
    }
}

/// Processor or memory, from ResourceType or else the RASD class name.
fn rasd_kind(ctx: &VirtContext, rasd: &CimInstance) -> CimResult<PoolKind> {
    let by_type = match rasd.get("ResourceType") {
        Some(CimValue::Uint16(rt)) => PoolKind::from_resource_type(*rt),
        _ => None,
    };
    let by_class = PoolKind::ALL
        .into_iter()
        .find(|k| rasd.class_name.matches(&ctx.class(k.rasd_base())));
    by_type
        .or(by_class)
        .filter(|k| k.divisible())
        .ok_or_else(|| {
            CimError::invalid_parameter(
                "child pools hold processors (ResourceType 3) or memory (ResourceType 4) only",
            )
        })
}

fn uint(v: Option<&CimValue>) -> Option<u64> {
    match v? {
        CimValue::Uint64(n) => Some(*n),
        CimValue::Uint32(n) => Some(u64::from(*n)),
        CimValue::Uint16(n) => Some(u64::from(*n)),
        CimValue::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Scales a memory amount to KiB. Accepts DSP0004 programmatic units and
/// libvirt-cim's words; no unit means KiB, the memory pool's own.
pub fn to_kib(amount: u64, units: Option<&str>) -> CimResult<u64> {
    let u: String = units
        .unwrap_or("byte*2^10")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let bytes_per_unit: u64 = match u.as_str() {
        "byte" | "bytes" => 1,
        "byte*2^10" | "kilobytes" | "kib" | "kb" => 1 << 10,
        "byte*2^20" | "megabytes" | "mib" | "mb" => 1 << 20,
        "byte*2^30" | "gigabytes" | "gib" | "gb" => 1 << 30,
        _ => {
            return Err(CimError::invalid_parameter(format!(
                "AllocationUnits `{}` is not a memory unit: use byte*2^10 (KiB), byte*2^20 (MiB) or byte*2^30 (GiB)",
                units.unwrap_or_default()
            )))
        }
    };
    amount
        .checked_mul(bytes_per_unit)
        .map(|b| b / 1024)
        .ok_or_else(|| CimError::invalid_parameter("the memory amount is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_scale_to_kib() {
        assert_eq!(to_kib(2, Some("byte*2^20")).unwrap(), 2048);
        assert_eq!(to_kib(2, Some("MegaBytes")).unwrap(), 2048);
        assert_eq!(to_kib(1, Some("byte * 2^30")).unwrap(), 1 << 20);
        assert_eq!(to_kib(4096, Some("Bytes")).unwrap(), 4);
        assert_eq!(to_kib(7, None).unwrap(), 7);
        assert!(to_kib(1, Some("furlongs")).is_err());
        assert!(to_kib(u64::MAX, Some("GigaBytes")).is_err());
    }
}
