//! What the planning core reads and writes: a snapshot of the data centre
//! (observations in) and commands (out). Plain data, serializable so a
//! recorded state can be replayed by `vine policy explain`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Result, WorkloadError};

/// Reads a recorded snapshot (JSON), e.g. for `vine policy explain`.
pub fn load_snapshot(path: &Path) -> Result<Snapshot> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::ReadTrace {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| WorkloadError::ParseState {
        path: path.to_path_buf(),
        source,
    })
}

/// The data centre as the receiver last saw it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// Seconds since an arbitrary epoch; must not go backwards.
    pub time_s: f64,
    /// Physical hosts.
    pub hosts: Vec<HostState>,
    /// Virtual machines; `host` indexes `hosts`.
    pub vms: Vec<VmState>,
}

/// One physical host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    /// Unique name.
    pub name: String,
    /// CPU capacity (MIPS, or cores × 1000 — any unit shared with VMs).
    pub cpu_capacity: f64,
    /// The most one virtual CPU can get here (one physical core).
    pub core_capacity: f64,
    /// Memory in MB.
    #[serde(default)]
    pub mem_mb: f64,
    /// Network in Mbit/s.
    #[serde(default)]
    pub net_mbps: f64,
    /// Watts drawn idle.
    #[serde(default)]
    pub idle_watts: f64,
    /// Watts drawn at full CPU.
    #[serde(default)]
    pub max_watts: f64,
    /// Labels such as `rack=a`, `ssd`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Whether the host is powered on.
    #[serde(default = "yes")]
    pub powered_on: bool,
    /// When its agent last reported (same clock as `time_s`); `None` if
    /// there is no report to go by (it never reported, or cannot be
    /// reached now): the host is then held.
    #[serde(default)]
    pub reported_at: Option<f64>,
    /// In maintenance: it takes no VMs, but its own may still leave.
    #[serde(default)]
    pub maintenance: bool,
    /// Whether it can be powered off (a live host whose agent has no
    /// power-off command cannot): one that cannot is never emptied to be.
    #[serde(default = "yes")]
    pub can_power_off: bool,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn missing() -> f64 {
    f64::NAN
}

fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// One virtual machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VmState {
    /// Unique name.
    pub name: String,
    /// Index of its host in `Snapshot::hosts`.
    pub host: usize,
    /// CPU size (same unit as host capacity).
    pub cpu_size: f64,
    /// Virtual CPUs: its demand may spread over this many host cores at
    /// once, each no more than `HostState::core_capacity` (CloudSim's
    /// VMs, and an absent field, have one).
    #[serde(default = "one")]
    pub vcpus: u32,
    /// CPU in use now; NaN (JSON `null` or absent) or negative means the
    /// sample is missing.
    #[serde(default = "missing", deserialize_with = "nan_if_null")]
    pub cpu_used: f64,
    /// Memory allocated, MB.
    #[serde(default)]
    pub mem_mb: f64,
    /// Network in use, Mbit/s.
    #[serde(default)]
    pub net_mbps: f64,
    /// A migration of this VM is under way.
    #[serde(default)]
    pub migrating: bool,
    /// Virtual server (service) it belongs to, if any.
    #[serde(default)]
    pub service: Option<String>,
}

/// One thing the engine wants done.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum CommandKind {
    /// Power a host on.
    PowerOn { host: String },
    /// Live-migrate a VM.
    Migrate {
        vm: String,
        from: String,
        to: String,
    },
    /// Power an emptied host off.
    PowerOff { host: String },
    /// Set a VM's CPU shares, reservation and limit (fractions of its size).
    Resize {
        vm: String,
        shares: u32,
        reservation: f64,
        limit: f64,
    },
    /// Grow or shrink a virtual server to `nodes` nodes.
    Scale { service: String, nodes: u32 },
}

/// A command with its place in the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    /// Position in the plan (0-based); dependencies refer to it.
    pub id: usize,
    /// What to do.
    #[serde(flatten)]
    pub kind: CommandKind,
    /// Commands that must succeed first.
    pub depends_on: Vec<usize>,
    /// Why, in words an operator can check.
    pub reason: String,
}

impl CommandKind {
    /// Short human form, e.g. `migrate vm-3 host-1 -> host-7`.
    pub fn describe(&self) -> String {
        match self {
            CommandKind::PowerOn { host } => format!("power-on {host}"),
            CommandKind::Migrate { vm, from, to } => format!("migrate {vm} {from} -> {to}"),
            CommandKind::PowerOff { host } => format!("power-off {host}"),
            CommandKind::Resize {
                vm,
                shares,
                reservation,
                limit,
            } => format!("resize {vm} shares={shares} reservation={reservation} limit={limit}"),
            CommandKind::Scale { service, nodes } => format!("scale {service} to {nodes} nodes"),
        }
    }
}
