//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in the policy engine and the simulator.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// A policy file could not be read from disk.
    #[error("cannot read policy file {path}")]
    ReadPolicy {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A policy file is malformed or contradictory; every finding is listed.
    #[error("{count} problem(s) in policy {origin}:\n{report}", count = .problems.len(), report = crate::policy::render_problems(.origin, .problems))]
    InvalidPolicy {
        origin: String,
        problems: Vec<crate::policy::Problem>,
    },
    /// A trace folder or file could not be read.
    #[error("cannot read trace {path}")]
    ReadTrace {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A trace file holds something other than one integer percentage a line.
    #[error("trace {path}:{line}: {message}")]
    ParseTrace {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The named built-in policy does not exist and is not a readable file.
    #[error("unknown policy {name:?}: use lr-mmt, thr-mmt, default or a path to a TOML file")]
    UnknownPolicy { name: String },
    /// A recorded state file for `policy explain` is malformed.
    #[error("cannot parse state file {path}")]
    ParseState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// The sink cannot carry out this kind of command at all; the sender
    /// audits it as skipped (no retries) and skips what depends on it.
    #[error("command {id} ({what}) skipped: {reason}")]
    Unsupported {
        id: usize,
        what: String,
        reason: String,
    },
    /// A command sink refused or failed a command.
    #[error("command {id} ({what}) failed: {message}")]
    Command {
        id: usize,
        what: String,
        message: String,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, WorkloadError>;
