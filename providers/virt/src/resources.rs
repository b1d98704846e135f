//! Installs the resource side of the agent: pools and their configuration
//! service, allocation capabilities, migration, metrics and the resource
//! monitor, with their registered profiles (DSP1041, 1043, 1044, 1045,
//! 1059, 1081, 1053).

use std::sync::Arc;

use vine_wbem::server::profiles::{ProfileSpec, ProfileTable};
use vine_wbem::server::Registry;

use crate::capabilities;
use crate::context::VirtContext;
use crate::metrics::MetricsProvider;
use crate::migration::{self, MigrationProvider};
use crate::pools::{self, PoolKind};
use crate::rpcs::{self, PoolProvider};
use crate::VIRT_NS;

/// InstanceIDs of the registered profiles (libvirt-cim's strings where it
/// has them; the DSP1053 and DSP1044 versions are vine's choice).
pub mod profile_ids {
    /// Registered by the system providers; the resource profiles reference it.
    pub const DSP1042: &str = "CIM:DSP1042-SystemVirtualization-1.0.0";
    pub const DSP1041: &str = "CIM:DSP1041-ResourceAllocation-1.1.0c";
    pub const DSP1043: &str = "CIM:DSP1043-AllocationCapabilities-1.0.0a";
    pub const DSP1044: &str = "CIM:DSP1044-ProcessorResourceVirtualization-1.0.0";
    pub const DSP1045: &str = "CIM:DSP1045-MemoryResourceVirtualization-1.0.0";
    pub const DSP1059: &str = "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0";
    pub const DSP1081: &str = "CIM:DSP1081-VirtualSystemMigration-0.8.1";
    pub const DSP1053: &str = "CIM:DSP1053-BaseMetrics-1.0.1";
}

/// Registers the pool, migration and metrics providers and their profiles,
/// declares their services and capabilities in `ctx.links`, and starts
/// `ctx.monitor` (when called inside a tokio runtime; otherwise call
/// `ctx.monitor.start(hv)` once one runs).
pub fn install(ctx: &VirtContext, registry: &mut Registry, profiles: &mut ProfileTable) {
    let pools = Arc::new(PoolProvider::new(ctx.clone()));
    for class in PoolProvider::classes(ctx) {
        registry.register_instances(VIRT_NS, &class, pools.clone());
    }
    for class in PoolProvider::association_classes(ctx) {
        registry.register_associations(VIRT_NS, &class, pools.clone());
    }
    registry.register_methods(
        VIRT_NS,
        &ctx.class("ResourcePoolConfigurationService"),
        pools.clone(),
    );

    let migration = Arc::new(MigrationProvider::new(ctx.clone()));
    for class in MigrationProvider::classes(ctx) {
        registry.register_instances(VIRT_NS, &class, migration.clone());
    }
    registry.register_methods(
        VIRT_NS,
        &ctx.class("VirtualSystemMigrationService"),
        migration,
    );

    let metrics = Arc::new(MetricsProvider::new(ctx.clone(), ctx.monitor.clone()));
    for class in MetricsProvider::classes(ctx) {
        registry.register_instances(VIRT_NS, &class, metrics.clone());
    }
    for class in MetricsProvider::association_classes(ctx) {
        registry.register_associations(VIRT_NS, &class, metrics.clone());
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        ctx.monitor.start(ctx.hv.clone());
    } else {
        tracing::warn!("no tokio runtime: the resource monitor is not sampling");
    }

    ctx.links.add_hosted_service(rpcs::rpcs_path(ctx));
    ctx.links.add_hosted_service(migration::service_path(ctx));
    ctx.links
        .add_capabilities(rpcs::rpcs_path(ctx), rpcs::rpcc_path(ctx));
    ctx.links
        .add_capabilities(migration::service_path(ctx), migration::caps_path(ctx));
    // The primordial pools never change; child pools, storage pools and
    // networks come and go (see capabilities::pool_capability_links).
    for kind in PoolKind::ALL {
        let id = primordial(kind);
        ctx.links.add_capabilities(
            pools::pool_path(ctx, kind, id),
            capabilities::caps_path(ctx, id),
        );
    }

    register_profiles(ctx, profiles);
}

fn primordial(kind: PoolKind) -> &'static str {
    match kind {
        PoolKind::Processor => pools::PROCESSOR_POOL_ID,
        PoolKind::Memory => pools::MEMORY_POOL_ID,
        PoolKind::Disk => pools::DISK_POOL_PRIMORDIAL,
        PoolKind::Network => pools::NETWORK_POOL_PRIMORDIAL,
    }
}

fn register_profiles(ctx: &VirtContext, profiles: &mut ProfileTable) {
    use profile_ids::*;
    let c = |base: &str| ctx.class(base);
    let p = |id: &str, name: &str, version: &str, centrals: &[&str]| {
        let mut spec = ProfileSpec::dmtf(id, name, version).references(DSP1042);
        for base in centrals {
            spec = spec.central(VIRT_NS, &c(base));
        }
        spec
    };
    profiles.add(p(
        DSP1041,
        "Resource Allocation",
        "1.1.0c",
        &["ProcessorPool", "MemoryPool", "DiskPool", "NetworkPool"],
    ));
    profiles.add(p(
        DSP1043,
        "Allocation Capabilities",
        "1.0.0a",
        &["AllocationCapabilities"],
    ));
    profiles.add(p(
        DSP1044,
        "Processor Resource Virtualization",
        "1.0.0",
        &["ProcessorPool"],
    ));
    profiles.add(p(
        DSP1045,
        "Memory Resource Virtualization",
        "1.0.0",
        &["MemoryPool"],
    ));
    profiles.add(p(
        DSP1059,
        "Generic Device Resource Virtualization",
        "1.0.0",
        &["DiskPool", "NetworkPool"],
    ));
    profiles.add(p(
        DSP1081,
        "Virtual System Migration",
        "0.8.1",
        &["VirtualSystemMigrationService"],
    ));
    profiles.add(p(
        DSP1053,
        "Base Metrics",
        "1.0.1",
        &["BaseMetricDefinition"],
    ));
}
