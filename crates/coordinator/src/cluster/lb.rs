use std::net::SocketAddr;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// One virtual server's front end: an address and the nodes behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontend {
    /// The virtual server's name; letters, digits, `-`, `_`, `.` only.
    pub name: String,
    /// Where clients connect.
    pub bind: SocketAddr,
    pub backends: Vec<Backend>,
    /// How nodes are checked; `None` means they are always taken as up.
    pub health: Option<HealthCheck>,
}

/// One node of a virtual server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// The node's name, unique in its front end (same charset as
    /// [`Frontend::name`]).
    pub name: String,
    pub addr: SocketAddr,
    /// Relative share of requests, 1..=256.
    pub weight: u16,
}

/// An HTTP health check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Path requested with GET; any 2xx/3xx answer is healthy.
    pub path: String,
    /// Milliseconds between checks.
    pub interval_ms: u32,
    /// Failed checks before a node is taken out.
    pub fall: u32,
    /// Passed checks before it is put back.
    pub rise: u32,
}

impl Default for HealthCheck {
    fn default() -> Self {
        HealthCheck {
            path: "/".into(),
            interval_ms: 2000,
            fall: 2,
            rise: 1,
        }
    }
}

/// What the balancer thinks of one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendState {
    Up,
    Down,
    /// Not checked (no health check configured) or not yet checked.
    Unchecked,
    /// Taken out by an operator or being drained.
    Maintenance,
}

/// One node's state as reported by the balancer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub frontend: String,
    pub backend: String,
    pub state: BackendState,
    /// Requests (sessions) sent to it since the balancer started it.
    pub sessions: u64,
}

/// What can go wrong driving a balancer.
#[derive(Debug, Error)]
pub enum LbError {
    /// A name or value the balancer cannot take; the message says which.
    #[error("invalid load-balancer configuration: {0}")]
    Invalid(String),
    /// The balancer program is not installed.
    #[error("{0} not found; run deploy/setup.sh to install it")]
    Missing(String),
    /// The balancer refused the generated configuration (its own words);
    /// the running configuration is unchanged.
    #[error("the load balancer rejected the configuration: {0}")]
    Rejected(String),
    /// Starting, reloading or asking the balancer failed.
    #[error("load balancer: {0}")]
    Runtime(String),
    #[error("load balancer I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A load balancer that vine configures as a whole: `apply` replaces the
/// set of front ends, without dropping connections of those that stay.
#[async_trait]
pub trait LoadBalancer: Send + Sync {
    /// Makes `frontends` the balancer's whole configuration. On error the
    /// previous configuration keeps running.
    async fn apply(&self, frontends: &[Frontend]) -> Result<(), LbError>;

    /// The state of every node, as the balancer's health checks see it.
    async fn status(&self) -> Result<Vec<ServerStatus>, LbError>;

    /// Stops the balancer.
    async fn stop(&self) -> Result<(), LbError>;
}

/// `name` is safe to put in a balancer configuration.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), LbError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(LbError::Invalid(format!(
            "{what} name {name:?} must be 1-64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// Checks a whole configuration before it is rendered.
pub(crate) fn validate(frontends: &[Frontend]) -> Result<(), LbError> {
    let mut names = std::collections::HashSet::new();
    let mut binds = std::collections::HashSet::new();
    for f in frontends {
        check_name("front-end", &f.name)?;
        if !names.insert(f.name.as_str()) {
            return Err(LbError::Invalid(format!(
                "two front ends are named {}",
                f.name
            )));
        }
        if !binds.insert(f.bind) {
            return Err(LbError::Invalid(format!("two front ends bind {}", f.bind)));
        }
        let mut nodes = std::collections::HashSet::new();
        for b in &f.backends {
            check_name("node", &b.name)?;
            if !nodes.insert(b.name.as_str()) {
                return Err(LbError::Invalid(format!(
                    "front end {} has two nodes named {}",
                    f.name, b.name
                )));
            }
            if !(1..=256).contains(&b.weight) {
                return Err(LbError::Invalid(format!(
                    "node {} of {} has weight {}; use 1..=256",
                    b.name, f.name, b.weight
                )));
            }
        }
        if let Some(h) = &f.health {
            if !h.path.starts_with('/')
                || h.path.chars().any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(LbError::Invalid(format!(
                    "health-check path {:?} of {} must start with '/' and have no spaces",
                    h.path, f.name
                )));
            }
            if h.interval_ms < 100 || h.fall == 0 || h.rise == 0 {
                return Err(LbError::Invalid(format!(
                    "health check of {}: interval must be at least 100 ms, fall and rise at least 1",
                    f.name
                )));
            }
        }
    }
    Ok(())
}
