//! The manager's coordinator: Virtual Node Interface, inventory, resource
//! pools, cluster manager and durable jobs.

/// Load balancing of virtual servers (HAProxy).
pub mod cluster;
/// The event log.
pub mod events;
/// Hosts and VMs as the manager last saw them, stored.
pub mod inventory;
/// Durable jobs: the engine every long operation runs on.
pub mod jobs;
/// Resource-monitor history: utilization rings per host and VM.
pub mod metrics;
/// The coordinator: operations on VMs, hosts and virtual servers as jobs.
pub mod ops;
/// Where a VM goes: least-loaded fitting host, anti-affinity.
pub mod placement;
/// Workload policies: versions, apply, rollback.
pub mod policies;
/// The live policy loop: observe, plan, execute as jobs, audit.
pub mod policy_loop;
/// Data-centre, host and service pools; admission control.
pub mod pools;
/// Waking hosts: Wake-on-LAN and power-on commands.
pub mod power;
/// The Virtual Node Interface: CIM-XML calls to host agents.
pub mod vni;
