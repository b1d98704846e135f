//! Policy files: what administrators author (TOML), validated into a
//! [`Policy`] the engine runs. Every finding carries file:line:column and a
//! hint; see `deploy/policies/` for samples and [`policy_schema`] for the
//! JSON Schema editors can use.

/// The raw file layout, with source positions.
mod raw;
/// The JSON Schema of the file format.
mod schema;
/// Turning a raw file into a policy, collecting every problem.
mod validate;

use std::path::Path;

use serde::Serialize;

use crate::error::{Result, WorkloadError};
use crate::model::{HostState, Snapshot};
use crate::stages::predictor::PredictorKind;

pub use schema::policy_schema;

/// vine's own default policy, as shipped in `deploy/policies/default.toml`.
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../../../deploy/policies/default.toml");

/// One finding in a policy file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// 1-based line, 0 when the finding has no single place.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    /// What to write instead.
    pub help: Option<String>,
}

/// Renders findings as `origin:line:column: message` lines with hints.
pub fn render_problems(origin: &str, problems: &[Problem]) -> String {
    let mut out = String::new();
    for p in problems {
        if p.line > 0 {
            out.push_str(&format!(
                "{origin}:{}:{}: {}\n",
                p.line, p.column, p.message
            ));
        } else {
            out.push_str(&format!("{origin}: {}\n", p.message));
        }
        if let Some(h) = &p.help {
            out.push_str(&format!("    help: {h}\n"));
        }
    }
    out
}

/// Where a policy applies.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Scope {
    /// Every host.
    Datacenter,
    /// Hosts of one resource pool (hosts labelled `pool=<name>`).
    Pool { name: String },
    /// The nodes of one virtual server.
    VirtualServer { name: String },
    /// Hosts carrying all these labels.
    Hosts { labels: Vec<String> },
}

/// Upper and lower utilization thresholds of one resource (fractions).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    /// Above this a host is overloaded.
    pub upper: f64,
    /// Below this a host is a consolidation candidate.
    pub lower: f64,
}

/// Observation window and the k-of-n rule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Observation {
    /// Samples kept per VM.
    pub window: usize,
    /// At least `k` …
    pub k: usize,
    /// … of the last `n` observations (the forecast counts as one) must
    /// cross a threshold before the engine acts.
    pub n: usize,
}

/// Which predictor forecasts demand.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredictorChoice {
    /// The validator back-tests the candidates and picks one per VM.
    Auto { candidates: Vec<PredictorKind> },
    /// Always this one.
    Fixed(PredictorKind),
}

/// Forecasting settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// Predictor or automatic choice.
    pub predictor: PredictorChoice,
    /// Rounds ahead to forecast.
    pub horizon: usize,
    /// Recent samples the validator back-tests on.
    pub backtest: usize,
    /// Multiples of the back-test error added to a forecast as headroom.
    pub safety_margin: f64,
}

/// Where a moved VM goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Destination {
    /// The fullest host that still fits (packs hosts, saves energy).
    BestFit,
    /// The emptiest host that fits (Sandpiper; spreads load).
    LeastLoaded,
}

/// Which VMs leave an overloaded host first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmChoice {
    /// Sandpiper: highest volume per MB moved.
    VolumeSizeRatio,
    /// The VM that removes the overload in one move, else the largest.
    FewestMoves,
}

/// Migration limits and anti-ping-pong rules.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Migration {
    /// Migrations the sender runs at once.
    pub max_concurrent: usize,
    /// Migrations planned per round (`None`: no limit).
    pub max_per_round: Option<usize>,
    /// Migrations per rolling hour (`None`: no limit).
    pub max_per_hour: Option<usize>,
    /// Rounds a VM stays put after it moved.
    pub vm_cooldown_rounds: u64,
    /// Rounds a host that received VMs is not drained.
    pub host_cooldown_rounds: u64,
    /// Margin below the upper threshold that moves aim for.
    pub hysteresis: f64,
    /// Destination rule.
    pub destination: Destination,
    /// VM choice on overloaded hosts.
    pub vm_choice: VmChoice,
}

/// Placement constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Placement {
    /// Groups of VMs kept on one host.
    pub affinity: Vec<Vec<String>>,
    /// Groups of VMs kept on distinct hosts.
    pub anti_affinity: Vec<Vec<String>>,
    /// Labels a destination host must carry.
    pub host_labels: Vec<String>,
}

/// Host power management.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Power {
    /// Drain underloaded hosts.
    pub consolidate: bool,
    /// Power emptied hosts off.
    pub power_off_idle: bool,
    /// Empty hosts kept powered on as spares.
    pub spare_hosts: usize,
}

/// Virtual-server scaling.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scaling {
    /// Service (virtual server) name.
    pub service: String,
    /// Fewest nodes.
    pub min_nodes: u32,
    /// Most nodes.
    pub max_nodes: u32,
    /// Add a node when mean node CPU is above this.
    pub scale_out_above: f64,
    /// Remove one when below this.
    pub scale_in_below: f64,
}

/// Per-VM CPU allocation, as fractions of the VM's size.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Allocation {
    /// Relative weight under contention.
    pub shares: u32,
    /// Guaranteed fraction.
    pub reservation: f64,
    /// Cap.
    pub limit: f64,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Policy {
    /// Policy name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Where it applies.
    pub scope: Scope,
    /// CPU thresholds.
    pub cpu: Band,
    /// Memory thresholds.
    pub memory: Band,
    /// Network thresholds.
    pub network: Band,
    /// Window and k-of-n.
    pub observation: Observation,
    /// Forecasting.
    pub prediction: Prediction,
    /// Migration limits.
    pub migration: Migration,
    /// Placement constraints.
    pub placement: Placement,
    /// Power management.
    pub power: Power,
    /// Virtual-server scaling.
    pub scaling: Option<Scaling>,
    /// Allocation per VM.
    pub allocation: Allocation,
    /// Active hours as [start, end) minute ranges of the day.
    pub active_minutes: Vec<(u32, u32)>,
}

impl Policy {
    /// vine's default policy (`deploy/policies/default.toml`).
    pub fn builtin_default() -> Policy {
        match parse_str(DEFAULT_POLICY_TOML, "default.toml") {
            Ok(p) => p,
            // The file is compiled in and covered by a test; reaching this
            // means the build itself is broken.
            Err(e) => panic!("built-in default policy is invalid: {e}"),
        }
    }

    /// Is the policy active at `seconds` since midnight?
    pub fn active_at(&self, seconds_of_day: f64) -> bool {
        if self.active_minutes.is_empty() {
            return true;
        }
        let m = ((seconds_of_day.rem_euclid(86_400.0)) / 60.0) as u32;
        self.active_minutes.iter().any(|&(a, b)| m >= a && m < b)
    }

    /// Does `host` fall in the policy's scope?
    pub fn host_in_scope(&self, host: &HostState) -> bool {
        match &self.scope {
            Scope::Datacenter | Scope::VirtualServer { .. } => true,
            Scope::Pool { name } => host.labels.iter().any(|l| l == &format!("pool={name}")),
            Scope::Hosts { labels } => labels.iter().all(|l| host.labels.contains(l)),
        }
    }

    /// Does the policy govern `vm` (running on `host`)?
    pub fn vm_in_scope(&self, vm: &crate::model::VmState, host: &HostState) -> bool {
        match &self.scope {
            Scope::VirtualServer { name } => vm.service.as_deref() == Some(name.as_str()),
            _ => self.host_in_scope(host),
        }
    }

    /// Findings that depend on the inventory: a scope matching nothing, or
    /// constraints no placement can meet.
    pub fn check_against(&self, snap: &Snapshot) -> Vec<Problem> {
        let mut out = Vec::new();
        let in_scope = snap.hosts.iter().filter(|h| self.host_in_scope(h)).count();
        let mut problem = |message: String, help: &str| {
            out.push(Problem {
                line: 0,
                column: 0,
                message,
                help: Some(help.into()),
            })
        };
        if in_scope == 0 {
            problem(
                format!(
                    "scope {:?} matches none of the {} hosts",
                    self.scope,
                    snap.hosts.len()
                ),
                "check the pool name or host labels in [scope]",
            );
        }
        if let Scope::VirtualServer { name } = &self.scope {
            if !snap.vms.iter().any(|v| v.service.as_deref() == Some(name)) {
                problem(
                    format!("virtual server {name:?} has no nodes"),
                    "check [scope] name",
                );
            }
        }
        if self.power.spare_hosts >= in_scope && in_scope > 0 {
            problem(
                format!(
                    "power.spare_hosts = {} leaves no host to run VMs on ({} in scope)",
                    self.power.spare_hosts, in_scope
                ),
                "lower spare_hosts",
            );
        }
        for g in &self.placement.anti_affinity {
            if g.len() > in_scope {
                problem(
                    format!("anti-affinity group of {} VMs needs more hosts than the {in_scope} in scope", g.len()),
                    "split the group or widen the scope",
                );
            }
        }
        out
    }
}

/// Parses and validates policy text; `origin` names it in messages.
pub fn parse_str(text: &str, origin: &str) -> Result<Policy> {
    validate::validate(text).map_err(|problems| WorkloadError::InvalidPolicy {
        origin: origin.to_string(),
        problems,
    })
}

/// Reads, parses and validates a policy file.
pub fn load_file(path: &Path) -> Result<Policy> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::ReadPolicy {
        path: path.to_path_buf(),
        source,
    })?;
    parse_str(&text, &path.display().to_string())
}

/// `default` (the built-in policy) or a path to a policy file.
pub fn resolve(name: &str) -> Result<Policy> {
    if name == "default" {
        return Ok(Policy::builtin_default());
    }
    let p = Path::new(name);
    if !p.is_file() {
        return Err(WorkloadError::UnknownPolicy { name: name.into() });
    }
    load_file(p)
}

/// Line and column (1-based) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(offset, |i| offset - i - 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
