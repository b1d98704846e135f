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

pub use context::VirtContext;

/// The namespace the virtualization classes live in.
pub const VIRT_NS: &str = "root/virt";
/// The `schemas/virt` MOF, compiled with the agent's class prefix.
pub mod schema;
