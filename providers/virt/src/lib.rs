//! CIM providers for one virtualization host: the host system, its virtual
//! systems, resource pools, services, jobs, metrics and indications, in
//! namespace `root/virt` (DMTF System Virtualization profiles, libvirt-cim's
//! class naming: `<P>_ComputerSystem` with P = KVM, Xen or LXC).
//!
//! Every provider holds a [`VirtContext`] and reaches the host only through
//! its [`Hypervisor`](vine_hypervisor::Hypervisor); none calls libvirt.

/// Shared state of the providers: hypervisor, class prefix, host identity.
pub mod context;
/// HvError → CIM error mapping.
pub mod errors;
/// Object paths and InstanceIDs of every class, in one place.
pub mod paths;

/// Allocation capabilities and their template RASDs (DSP1043).
pub mod capabilities;
/// Base metrics (DSP1053) over the monitor's history.
pub mod metrics;
/// The virtual system migration service (DSP1081).
pub mod migration;
/// The resource monitor: periodic samples with bounded history.
pub mod monitor;
/// Migration to another vine agent through its CIM interface.
pub mod peer;
/// HostedResourcePool, ResourceAllocationFromPool, ElementAllocatedFromPool.
pub mod pool_assoc;
/// Resource pools, child pools and admission control (DSP1041/1045/1059).
pub mod pools;
/// Power state management of the host (DSP1027): powering it off.
pub mod power;
/// Installs pools, migration, metrics and their profiles.
pub mod resources;
/// The pool provider and the pool configuration service.
pub mod rpcs;

/// SystemDevice, HostedDependency, SettingsDefineState, … associations.
pub mod assoc;
/// `<P>_Processor`, `_Memory`, `_LogicalDisk`, `_NetworkPort`.
pub mod devices;
/// libvirt domain events → Created/Deleted/Modified indications.
pub mod events;
/// `<P>_HostSystem`, the management service and its capabilities.
pub mod host;
/// The host's processors, memory and operating system (DSP1052).
pub mod host_resources;
/// Registers the providers and profiles: start here.
pub mod install;
/// The job classes: ConcreteJob, AffectedJobElement, OwningJobElement.
pub mod job_provider;
/// `<P>_ConcreteJob`: long operations (DSP1103).
pub mod jobs;
/// CIM settings ⇄ DomainSpec conversion.
pub mod rasd;
/// `<P>_VirtualSystemSettingData` and the RASDs.
pub mod settings;
/// The DSP1057 state model: domain state → CIM, valid transitions.
pub mod state;
/// `<P>_ComputerSystem`, RequestStateChange, state capabilities.
pub mod system;
/// One read of a domain shared by settings, devices and associations.
pub mod view;
/// DefineSystem, DestroySystem and the resource-settings methods.
pub mod vsms;

pub use context::VirtContext;
pub use install::{install, Installed};

/// The namespace the virtualization classes live in.
pub const VIRT_NS: &str = "root/virt";
/// The `schemas/virt` MOF, compiled with the agent's class prefix.
pub mod schema;
