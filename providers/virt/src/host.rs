//! The host (DSP1052 / DSP1042 central instance): `<P>_HostSystem`, its
//! `<P>_VirtualSystemManagementService` and that service's
//! `<P>_VirtualSystemManagementCapabilities`.

use async_trait::async_trait;
use vine_cim::{CimClass, CimInstance, CimInstanceName, CimResult};
use vine_hypervisor::HostInfo;
use vine_wbem::provider::{InstanceProvider, RequestContext};

use crate::context::VirtContext;
use crate::paths::{instance_id_path, VSMS_NAME};

/// InstanceID of the management capabilities (libvirt-cim's).
pub const VSMC_ID: &str = "ManagementCapabilities";

fn with_keys(mut i: CimInstance, path: CimInstanceName) -> CimInstance {
    for (k, v) in &path.key_bindings {
        i.set(k.clone(), v.clone());
    }
    i.path = Some(path);
    i
}

/// A service of this host that is up: its keys, name and the state
/// properties every vine service reports alike.
pub fn running_service(path: CimInstanceName, element_name: &str) -> CimInstance {
    let i = CimInstance::new(path.class_name.clone())
        .with("ElementName", element_name)
        .with("Started", true)
        .with("EnabledState", 2u16)
        .with("RequestedState", 12u16)
        .with("EnabledDefault", 2u16)
        .with("HealthState", 5u16)
        .with("OperationalStatus", vec![2u16]);
    with_keys(i, path)
}

/// `<P>_HostSystem`.
pub fn host_instance(ctx: &VirtContext, h: &HostInfo) -> CimInstance {
    let i = CimInstance::new(ctx.class("HostSystem"))
        .with("ElementName", ctx.host_name.as_str())
        .with("Caption", "Host System")
        .with(
            "Description",
            format!(
                "{} host: {} x {} MHz {}, {} MiB",
                h.hypervisor_type,
                h.cpus,
                h.mhz,
                h.arch,
                h.memory_kib / 1024
            ),
        )
        .with("NameFormat", "Other")
        .with("EnabledState", 2u16)
        .with("RequestedState", 12u16)
        .with("EnabledDefault", 2u16)
        .with("HealthState", 5u16)
        .with("OperationalStatus", vec![2u16])
        // 39 = Server.
        .with("Dedicated", vec![39u16])
        .with("OtherIdentifyingInfo", vec![h.uuid.as_str()])
        .with("IdentifyingDescriptions", vec!["UUID"]);
    with_keys(i, ctx.host_path())
}

/// `<P>_VirtualSystemManagementService`.
pub fn vsms_instance(ctx: &VirtContext, h: &HostInfo) -> CimInstance {
    let path = ctx.service_path("VirtualSystemManagementService", VSMS_NAME);
    running_service(path, "Virtual System Management Service")
        .with(
            "Caption",
            format!("{} {}", h.hypervisor_type, h.hypervisor_version),
        )
        .with("LibvirtVersion", h.libvirt_version.as_str())
}

/// `<P>_VirtualSystemManagementCapabilities`: every VSMS method runs
/// synchronously except that state changes to Shut Down return jobs.
pub fn vsmc_instance(ctx: &VirtContext) -> CimInstance {
    let class = ctx.class("VirtualSystemManagementCapabilities");
    let mut i = CimInstance::new(class.as_str())
        .with("InstanceID", VSMC_ID)
        .with("ElementName", "Virtual system management capabilities")
        .with("VirtualSystemTypesSupported", vec![ctx.prefix.as_str()])
        // 2 DefineSystem, 3 DestroySystem, 5 ModifyResourceSettings,
        // 6 ModifySystemSettings, 7 RemoveResources, 10 AddResources.
        .with("SynchronousMethodsSupported", vec![2u16, 3, 5, 6, 7, 10])
        // 2 VirtualResourceStateChange (RASD indications),
        // 3 ConcreteJobStateChange, 4 VirtualSystemStateChange.
        .with("IndicationsSupported", vec![2u16, 3, 4]);
    i.path = Some(instance_id_path(&class, VSMC_ID));
    i
}

/// Serves the host, the management service and its capabilities.
pub struct HostProvider {
    ctx: VirtContext,
}

impl HostProvider {
    pub fn new(ctx: VirtContext) -> Self {
        HostProvider { ctx }
    }
}

#[async_trait]
impl InstanceProvider for HostProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        if class
            .name
            .matches(&ctx.class("VirtualSystemManagementCapabilities"))
        {
            return Ok(vec![vsmc_instance(ctx)]);
        }
        let h = ctx.call(|hv| hv.host_info()).await?;
        Ok(vec![if class.name.matches(&ctx.class("HostSystem")) {
            host_instance(ctx, &h)
        } else {
            vsms_instance(ctx, &h)
        }])
    }
}
