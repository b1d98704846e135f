//! The manager's coordinator: Virtual Node Interface, inventory, resource pools, cluster manager and durable jobs.
