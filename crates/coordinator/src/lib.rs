//! The manager's coordinator: Virtual Node Interface, inventory, resource
//! pools, cluster manager and durable jobs.

/// Load balancing of virtual servers (HAProxy).
pub mod cluster;
/// Hosts and VMs as the manager last saw them, stored.
pub mod inventory;
/// Durable jobs: the engine every long operation runs on.
pub mod jobs;
/// The Virtual Node Interface: CIM-XML calls to host agents.
pub mod vni;
