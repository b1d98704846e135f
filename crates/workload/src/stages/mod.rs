//! The nine stages of VINE's policy engine, in pipeline order. Each is
//! pure or owns only its own state; [`crate::engine::Engine`] wires them.

/// 7. Resource allocator: per-VM shares, reservations and limits.
pub mod allocator;
/// 6. Migrator: greedy choice of VMs to move and their destinations.
pub mod migrator;
/// 5. Optimizer: hot and cold hosts by thresholds, k-of-n and forecasts.
pub mod optimizer;
/// 4. Predictor: forecasting models.
pub mod predictor;
/// 8. Prescriber: ordered commands with dependencies.
pub mod prescriber;
/// 2. Profiler: per-VM usage history across rounds and hosts.
pub mod profiler;
/// 1. Receiver: checks incoming samples, holds hosts with bad data.
pub mod receiver;
/// 9. Sender: runs commands through a sink with limits, retries, audit.
pub mod sender;
/// 3. Validator: back-tests predictors and picks one per VM.
pub mod validator;
