//! The Virtual Node Interface: the manager's only way to act on a host.
//! Every call is a CIM-XML request to the host's `vine agent` (any DMTF
//! System Virtualization implementation would do): enumerations for the
//! inventory, DSP1042/1057/1081 methods for changes, and CIM_ConcreteJob
//! polling for the slow ones.
//!
//! The agent's class prefix (KVM, Xen, LXC) is discovered, never assumed:
//! queries go to the DMTF base classes and methods to the instances found.

mod agent;
/// The manager's subscriptions on agents and the resyncs indications cause.
pub mod indications;
mod model;
/// Host power-off through the agent (DSP1027).
pub mod power;
mod template;
/// CPU and memory use from the agent's base metrics.
mod usage;

pub use agent::{AgentConn, RequestedState, VniError};
pub use model::{HostCapacity, HostView, JobOutcome, JobView, MigrationCheck, VmState, VmView};
pub use template::{CpuAllocation, DiskTemplate, NicTemplate, VmTemplate};
pub use usage::{Usage, Utilization};

/// The namespace of the virtualization model on an agent.
pub const VIRT_NS: &str = "root/virt";
