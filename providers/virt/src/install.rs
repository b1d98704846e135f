//! Registers every virtualization provider and profile with a server.
//!
//! 1. Build a [`VirtContext`] (hypervisor, class prefix, host name, and the
//!    indication sink when the server has an indication service).
//! 2. Call [`install`] before `Cimom::new`: it registers the providers of
//!    every class in `schemas/virt/system.mof` and `host.mof` in `root/virt`
//!    and adds the DSP1052 (with DSP1022 and DSP1026 for the host's
//!    processors and memory), DSP1042 and DSP1057 profiles.
//! 3. Once inside the runtime, call [`Installed::spawn_events`] so libvirt
//!    events become indications.

use std::sync::Arc;

use vine_wbem::server::profiles::{ProfileSpec, ProfileTable};
use vine_wbem::server::Registry;

use crate::assoc::{AssocProvider, ASSOC_CLASSES};
use crate::context::VirtContext;
use crate::devices::{DeviceProvider, DEVICE_CLASSES};
use crate::host::{HostProvider, VSMC_ID};
use crate::host_resources::{HostResourceProvider, HOST_OS_ASSOCIATIONS, HOST_RESOURCE_CLASSES};
use crate::job_provider::JobProvider;
use crate::paths::{instance_id_path, VSMS_NAME};
use crate::rasd::RasdKind;
use crate::settings::SettingsProvider;
use crate::system::SystemProvider;
use crate::vsms::VsmsProvider;
use crate::VIRT_NS;

/// InstanceID of the DSP1042 System Virtualization profile.
pub const PROFILE_SYSTEM_VIRTUALIZATION: &str = "CIM:DSP1042-SystemVirtualization-1.0.0";
/// InstanceID of the DSP1057 Virtual System profile.
pub const PROFILE_VIRTUAL_SYSTEM: &str = "CIM:DSP1057-VirtualSystem-1.0.0a";
/// InstanceID of the DSP1052 Computer System profile.
pub const PROFILE_COMPUTER_SYSTEM: &str = "CIM:DSP1052-ComputerSystem-1.0.0";
/// InstanceID of the DSP1022 CPU profile (the host's processors).
pub const PROFILE_CPU: &str = "CIM:DSP1022-CPU-1.0.1";
/// InstanceID of the DSP1026 System Memory profile (the host's memory).
pub const PROFILE_SYSTEM_MEMORY: &str = "CIM:DSP1026-SystemMemory-1.0.1";

/// What [`install`] set up.
pub struct Installed {
    pub ctx: VirtContext,
}

impl Installed {
    /// Starts turning libvirt domain events into indications; must run
    /// inside a tokio runtime.
    pub fn spawn_events(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(crate::events::run(self.ctx.clone()))
    }
}

/// Registers the host, virtual system, settings, device, management
/// service, job and association providers for `ctx`'s class prefix.
pub fn install(
    registry: &mut Registry,
    profiles: &mut ProfileTable,
    ctx: VirtContext,
) -> Installed {
    let ns = VIRT_NS;
    let c = |base: &str| ctx.class(base);

    let host = Arc::new(HostProvider::new(ctx.clone()));
    for base in [
        "HostSystem",
        "VirtualSystemManagementService",
        "VirtualSystemManagementCapabilities",
    ] {
        registry.register_instances(ns, &c(base), host.clone());
    }

    let host_resources = Arc::new(HostResourceProvider::new(ctx.clone()));
    for base in HOST_RESOURCE_CLASSES
        .iter()
        .chain(HOST_OS_ASSOCIATIONS.iter())
    {
        registry.register_instances(ns, &c(base), host_resources.clone());
    }

    let systems = Arc::new(SystemProvider::new(ctx.clone()));
    registry.register_instances(ns, &c("ComputerSystem"), systems.clone());
    registry.register_methods(ns, &c("ComputerSystem"), systems.clone());
    registry.register_instances(ns, &c("EnabledLogicalElementCapabilities"), systems);

    let settings = Arc::new(SettingsProvider::new(ctx.clone()));
    registry.register_instances(ns, &c("VirtualSystemSettingData"), settings.clone());
    for k in RasdKind::all() {
        registry.register_instances(ns, &c(k.class_base()), settings.clone());
    }

    let devices = Arc::new(DeviceProvider::new(ctx.clone()));
    for base in DEVICE_CLASSES {
        registry.register_instances(ns, &c(base), devices.clone());
    }

    registry.register_methods(
        ns,
        &c("VirtualSystemManagementService"),
        Arc::new(VsmsProvider::new(ctx.clone())),
    );

    let jobs = Arc::new(JobProvider::new(ctx.clone()));
    registry.register_instances(ns, &c("ConcreteJob"), jobs.clone());
    registry.register_methods(ns, &c("ConcreteJob"), jobs.clone());
    registry.register_instances(ns, &c("AffectedJobElement"), jobs.clone());
    registry.register_instances(ns, &c("OwningJobElement"), jobs);

    let assoc = Arc::new(AssocProvider::new(ctx.clone()));
    for base in ASSOC_CLASSES {
        registry.register_instances(ns, &c(base), assoc.clone());
        registry.register_associations(ns, &c(base), assoc.clone());
    }

    let vsms = ctx.service_path("VirtualSystemManagementService", VSMS_NAME);
    let vsmc = instance_id_path(&c("VirtualSystemManagementCapabilities"), VSMC_ID);
    ctx.links.add_hosted_service(vsms.clone());
    ctx.links.add_capabilities(vsms, vsmc.clone());
    ctx.links.add_capabilities(ctx.host_path(), vsmc);

    // Pools, allocation capabilities, pool configuration, migration and
    // metrics register here (their own install functions, same registry,
    // profiles and ctx; services and capabilities go into ctx.links).
    crate::resources::install(&ctx, registry, profiles);
    crate::power::install(&ctx, registry, profiles);

    profiles.add(
        ProfileSpec::dmtf(PROFILE_COMPUTER_SYSTEM, "Computer System", "1.0.0")
            .central(ns, &c("HostSystem")),
    );
    // The host's processors and memory: component profiles of DSP1052.
    profiles.add(
        ProfileSpec::dmtf(PROFILE_CPU, "CPU", "1.0.1")
            .central(ns, &c("HostProcessor"))
            .references(PROFILE_COMPUTER_SYSTEM),
    );
    profiles.add(
        ProfileSpec::dmtf(PROFILE_SYSTEM_MEMORY, "System Memory", "1.0.1")
            .central(ns, &c("HostMemory"))
            .references(PROFILE_COMPUTER_SYSTEM),
    );
    profiles.add(
        ProfileSpec::dmtf(PROFILE_VIRTUAL_SYSTEM, "Virtual System Profile", "1.0.0a")
            .central(ns, &c("ComputerSystem")),
    );
    profiles.add(
        ProfileSpec::dmtf(
            PROFILE_SYSTEM_VIRTUALIZATION,
            "System Virtualization",
            "1.0.0",
        )
        .central(ns, &c("HostSystem"))
        .references(PROFILE_VIRTUAL_SYSTEM),
    );
    Installed { ctx }
}
