//! CIM providers for the manager's model of the data centre, in namespace
//! `root/vine`: the data centre (`VINE_DataCenter`), its hosts
//! (`VINE_Host`), virtual servers (`VINE_VirtualServer`) and pools
//! (`VINE_ResourcePool`), every manager job (`VINE_ConcreteJob`, DSP1103)
//! and the service whose methods create, scale and delete virtual servers
//! (`VINE_VirtualServerService`), and the workload policies as CIM policy
//! rules (`VINE_PolicyRule`). The classes are in
//! `schemas/vine/VINE_Manager.mof` and `schemas/vine/VINE_Policy.mof`.
//!
//! Every provider reads and acts through the
//! [`Coordinator`](vine_coordinator::ops::Coordinator); none talks to an
//! agent. A host's own model stays on its agent: associations to a VM
//! carry a reference to the VM's `<P>_ComputerSystem` with the agent's
//! address and namespace (`root/virt`), so a client follows it there.
//!
//! Start at [`install`].

/// What every provider holds: the coordinator and the data centre's name.
pub mod context;
/// Coordinator errors → CIM errors.
pub mod errors;
/// Registers the providers and profiles: start here.
pub mod install;
/// Object paths of every class, in one place.
pub mod paths;
/// The MOF of the manager's classes.
pub mod schema;

/// Associations between data centre, hosts, VMs, pools and jobs.
pub mod assoc;
/// `VINE_ConcreteJob`: manager jobs as CIM jobs.
pub mod jobs;
/// `VINE_PolicyRule` and its versions and scope: the stored policies.
pub mod policies;
/// `VINE_ResourcePool`: data-centre, host and service pools.
pub mod pools;
/// `VINE_VirtualServerService` and its methods.
pub mod service;
/// `VINE_DataCenter`, `VINE_Host`, `VINE_VirtualServer`.
pub mod systems;

pub use context::ManagerContext;
pub use install::install;

/// The namespace of the manager's classes.
pub const VINE_NS: &str = "root/vine";
