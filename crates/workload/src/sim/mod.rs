//! The trace simulator behind `vine sim`: replays a PlanetLab day through a
//! planning policy on the CloudSim experiment's data centre and reports
//! energy, SLA figures, migrations and planning time.

/// CloudSim's reference policies (LR-MMT, THR-MMT) and initial placement.
pub mod cloudsim;
/// Hosts, VMs, CPU sharing, migrations and metric bookkeeping.
pub mod dc;
/// Host and VM types, SPECpower curves.
pub mod power;
/// Reading PlanetLab trace folders.
pub mod trace;
/// Driving vine's own pipeline from the simulator.
pub mod vine;

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;

use crate::engine::{Engine, Plan};
use crate::error::{Result, WorkloadError};
use crate::model::Snapshot;
use crate::policy::Policy;
use cloudsim::Detector;
use dc::{Datacenter, Move};
use power::{HostSpec, HP_ML110_G4, HP_ML110_G5, VM_TYPES};

/// Seconds between samples and planning rounds.
pub const INTERVAL_S: f64 = 300.0;
/// Rounds happen 0.1 s after each sample boundary, as in CloudSim, where
/// VMs are created at t = 0.1 s.
pub const ROUND_OFFSET_S: f64 = 0.1;
/// CloudSim stops the run at 24 h.
pub const SIMULATION_LIMIT_S: f64 = 86_400.0;

/// How VM types are dealt out to trace files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VmTypeAssignment {
    /// VM `i` gets type `i % 4` (the experiment as documented here).
    #[default]
    Modulo,
    /// Four equal blocks: the first quarter type 0, and so on (CloudSim's
    /// example helper).
    Blocks,
}

/// What `vine sim` runs.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// A folder of trace files for one day.
    pub trace_dir: PathBuf,
    /// `lr-mmt`, `thr-mmt`, `default`, or a path to a policy TOML file.
    pub policy: String,
    /// Number of hosts (alternating G4, G5).
    pub hosts: usize,
    /// VM type assignment.
    pub vm_types: VmTypeAssignment,
    /// Stop after this many rounds (for quick tests); `None` runs the day.
    pub max_rounds: Option<usize>,
}

impl SimOptions {
    /// The reference experiment on `trace_dir` with `policy`.
    pub fn new(trace_dir: impl Into<PathBuf>, policy: impl Into<String>) -> Self {
        SimOptions {
            trace_dir: trace_dir.into(),
            policy: policy.into(),
            hosts: 800,
            vm_types: VmTypeAssignment::default(),
            max_rounds: None,
        }
    }
}

/// One planning round's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RoundStat {
    /// Round number (1-based).
    pub round: usize,
    /// Hosts with load after the round's update, before planning.
    pub hosts_on: usize,
    /// CPU lower bound: fewest hosts (largest first) that hold the demand.
    pub lower_bound: usize,
    /// VMs still running.
    pub vms_alive: usize,
    /// Migrations the round started.
    pub migrations: usize,
    /// Planning time in milliseconds.
    pub plan_ms: f64,
}

/// What a simulation produced. Fractions, not percentages.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// Trace day (folder name).
    pub day: String,
    /// Policy name.
    pub policy: String,
    /// Hosts in the data centre.
    pub hosts: usize,
    /// VMs in the trace.
    pub vms: usize,
    /// VMs that found no host at creation.
    pub vms_unplaced: usize,
    /// Energy in kWh.
    pub energy_kwh: f64,
    /// Share of active host time with less CPU given than asked.
    pub slatah: f64,
    /// Share of requested CPU lost to migrations.
    pub pdm: f64,
    /// SLATAH × PDM.
    pub slav: f64,
    /// Live migrations.
    pub migrations: u64,
    /// Mean planning time per round, ms.
    pub plan_ms_mean: f64,
    /// Slowest round, ms.
    pub plan_ms_max: f64,
    /// Mean hosts on per round.
    pub hosts_on_mean: f64,
    /// Mean CPU lower bound per round.
    pub lower_bound_mean: f64,
    /// Per round figures.
    pub rounds: Vec<RoundStat>,
}

/// A planning policy the simulator can drive.
pub trait Planner {
    /// Decides the round's migrations.
    fn plan(&mut self, dc: &Datacenter, round: usize, t: f64) -> Vec<Move>;
}

struct CloudSimPlanner(Detector);

impl Planner for CloudSimPlanner {
    fn plan(&mut self, dc: &Datacenter, _round: usize, _t: f64) -> Vec<Move> {
        cloudsim::plan_round(dc, self.0)
    }
}

/// Resolves a policy argument to a planner and its display name.
pub fn planner_for(policy: &str) -> Result<(String, Box<dyn Planner>)> {
    match policy {
        "lr-mmt" | "lr-mmt-1.2" => Ok((
            "lr-mmt-1.2".into(),
            Box::new(CloudSimPlanner(Detector::LocalRegression {
                safety: 1.2,
                fallback: 0.7,
            })),
        )),
        "thr-mmt" | "thr-mmt-0.8" => Ok((
            "thr-mmt-0.8".into(),
            Box::new(CloudSimPlanner(Detector::Threshold(0.8))),
        )),
        "default" => {
            let p = Policy::builtin_default();
            Ok((p.name.clone(), Box::new(vine::VinePlanner::new(p))))
        }
        path => {
            let p = std::path::Path::new(path);
            if !p.is_file() {
                return Err(WorkloadError::UnknownPolicy { name: path.into() });
            }
            let policy = crate::policy::load_file(p)?;
            Ok((
                policy.name.clone(),
                Box::new(vine::VinePlanner::new(policy)),
            ))
        }
    }
}

/// The 800-host data centre (alternating G4, G5) of the experiment.
pub fn reference_hosts(n: usize) -> Vec<HostSpec> {
    (0..n)
        .map(|i| if i % 2 == 0 { HP_ML110_G4 } else { HP_ML110_G5 })
        .collect()
}

/// Builds the data centre for a trace day and places its VMs as CloudSim
/// does at creation; returns it, the day name and the unplaced count.
pub fn build_datacenter(opts: &SimOptions) -> Result<(Datacenter, String, usize)> {
    let day = trace::load_day(&opts.trace_dir)?;
    let n = day.vms.len();
    let block = n.div_ceil(VM_TYPES.len()).max(1);
    let vms = day
        .vms
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let ty = match opts.vm_types {
                VmTypeAssignment::Modulo => i % VM_TYPES.len(),
                VmTypeAssignment::Blocks => (i / block).min(VM_TYPES.len() - 1),
            };
            (VM_TYPES[ty], t)
        })
        .collect();
    let mut dc = Datacenter::new(reference_hosts(opts.hosts), vms, INTERVAL_S);
    let unplaced = cloudsim::initial_placement(&mut dc);
    Ok((dc, day.day, unplaced))
}

/// Runs one trace day through one policy.
pub fn run_sim(opts: &SimOptions) -> Result<SimReport> {
    let (name, mut planner) = planner_for(&opts.policy)?;
    let (mut dc, day, unplaced) = build_datacenter(opts)?;
    Ok(simulate(
        &mut dc,
        planner.as_mut(),
        &day,
        &name,
        unplaced,
        opts.max_rounds,
    ))
}

/// Replays a trace day with a vine policy up to `round` and returns that
/// round's snapshot and plan without carrying it out (`policy explain`).
pub fn explain_round(opts: &SimOptions, policy: Policy, round: usize) -> Result<(Snapshot, Plan)> {
    let (mut dc, _, _) = build_datacenter(opts)?;
    let mut engine = Engine::new(policy);
    let last = round.max(1);
    let mut out = (Snapshot::default(), Plan::default());
    for k in 1..=last {
        let t = k as f64 * INTERVAL_S + ROUND_OFFSET_S;
        dc.finish_migrations(t);
        dc.round_update(t);
        let (snap, index) = vine::snapshot(&dc, t);
        let plan = engine.plan(&snap);
        let moves: Vec<Move> = plan
            .moves
            .iter()
            .map(|m| Move {
                vm: index[m.vm],
                to: m.to,
            })
            .collect();
        if k == last {
            out = (snap, plan);
            break;
        }
        dc.start_migrations(t, &moves);
    }
    Ok(out)
}

/// Drives `dc` through the day's rounds with `planner`.
pub fn simulate(
    dc: &mut Datacenter,
    planner: &mut dyn Planner,
    day: &str,
    policy: &str,
    unplaced: usize,
    max_rounds: Option<usize>,
) -> SimReport {
    let mut capacities: Vec<f64> = dc.hosts.iter().map(|h| h.total_mips()).collect();
    capacities.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let last_round = ((SIMULATION_LIMIT_S - ROUND_OFFSET_S) / INTERVAL_S).floor() as usize;
    let last_round = max_rounds.map_or(last_round, |m| m.min(last_round));
    let mut rounds = Vec::with_capacity(last_round);
    for k in 1..=last_round {
        let t = k as f64 * INTERVAL_S + ROUND_OFFSET_S;
        dc.finish_migrations(t);
        dc.round_update(t);
        let demand: f64 = dc
            .vms
            .iter()
            .filter(|v| v.host.is_some())
            .map(|v| v.requested)
            .sum();
        let started = Instant::now();
        let moves = planner.plan(dc, k, t);
        let plan_ms = started.elapsed().as_secs_f64() * 1e3;
        rounds.push(RoundStat {
            round: k,
            hosts_on: dc.hosts_on(),
            lower_bound: lower_bound(&capacities, demand),
            vms_alive: dc.vms_alive(),
            migrations: moves.len(),
            plan_ms,
        });
        dc.start_migrations(t, &moves);
    }
    dc.finish_migrations(SIMULATION_LIMIT_S);
    let m = dc.meters;
    let slatah = ratio(m.violation_s, m.active_s);
    let pdm = ratio(m.migration_loss_mips_s, m.requested_mips_s);
    let count = rounds.len().max(1) as f64;
    SimReport {
        day: day.to_string(),
        policy: policy.to_string(),
        hosts: dc.hosts.len(),
        vms: dc.vms.len(),
        vms_unplaced: unplaced,
        energy_kwh: m.energy_ws / 3.6e6,
        slatah,
        pdm,
        slav: slatah * pdm,
        migrations: m.migrations,
        plan_ms_mean: rounds.iter().map(|r| r.plan_ms).sum::<f64>() / count,
        plan_ms_max: rounds.iter().map(|r| r.plan_ms).fold(0.0, f64::max),
        hosts_on_mean: rounds.iter().map(|r| r.hosts_on as f64).sum::<f64>() / count,
        lower_bound_mean: rounds.iter().map(|r| r.lower_bound as f64).sum::<f64>() / count,
        rounds,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Fewest hosts, taken largest first, whose capacity covers `demand`.
pub fn lower_bound(capacities_desc: &[f64], demand: f64) -> usize {
    let mut left = demand;
    let mut n = 0;
    for &c in capacities_desc {
        if left <= 0.0 {
            break;
        }
        left -= c;
        n += 1;
    }
    n
}
