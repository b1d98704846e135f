//! The manager's coordinator: Virtual Node Interface, inventory, resource
//! pools, cluster manager and durable jobs.

/// Load balancing of virtual servers (HAProxy).
pub mod cluster;
