//! vine-workload: the policy engine (pure planning core) and the trace simulator.

/// Errors.
pub mod error;
/// Policy files.
pub mod policy;
/// Trace simulator.
pub mod sim;

pub use error::{Result, WorkloadError};
pub use sim::{run_sim, SimOptions, SimReport};
