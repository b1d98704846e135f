//! The cluster manager's front end: each virtual server gets one address
//! that balances over its nodes. The balancer is a real one (HAProxy), driven
//! through the [`LoadBalancer`] trait so the cluster manager does not care
//! which.

mod haproxy;
mod lb;

#[doc(hidden)]
pub use haproxy::fuzz_parse_stat;
pub use haproxy::{Haproxy, HaproxyConfig};
pub use lb::{Backend, BackendState, Frontend, HealthCheck, LbError, LoadBalancer, ServerStatus};
