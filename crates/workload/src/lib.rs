//! vine-workload — VINE's policy-based workload management: the policy
//! model, the nine-stage planning pipeline and the trace simulator.
//!
//! Start at [`engine::Engine`]: it takes a [`model::Snapshot`]
//! (observations in) and returns a [`engine::Plan`] of
//! [`model::Command`]s (commands out); nothing here does I/O except
//! reading policy and trace files. [`stages`] holds the nine stages in
//! pipeline order, [`policy`] the TOML policy format, and [`sim`] the
//! CloudSim PlanetLab experiment with CloudSim's own LR-MMT and THR-MMT
//! for comparison ([`run_sim`]). The manager executes plans through a
//! [`stages::sender::CommandSink`].

/// The policy engine: the stages wired together.
pub mod engine;
/// The crate's error type.
pub mod error;
/// Snapshots in, commands out.
pub mod model;
/// Policy files: format, validation, schema.
pub mod policy;
/// The trace simulator.
pub mod sim;
/// The nine pipeline stages.
pub mod stages;
/// Synthetic data centres for benchmarks.
pub mod synth;

pub use engine::{Engine, Plan};
pub use error::{Result, WorkloadError};
pub use model::{Command, CommandKind, Snapshot};
pub use policy::{policy_schema, Policy};
pub use sim::{run_sim, SimOptions, SimReport};
