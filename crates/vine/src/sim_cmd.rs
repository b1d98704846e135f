//! `vine sim` (replay utilization traces through a policy) and
//! `vine policy check | schema | explain`.
//!
//! Wiring (in `main.rs`): add `Sim(sim_cmd::SimArgs)` and
//! `Policy(sim_cmd::PolicyArgs)` to the command enum and dispatch to
//! [`run_sim`] and [`run_policy`]; both are synchronous.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use vine_workload::policy::{self, render_problems};
use vine_workload::sim::{self, trace, SimOptions, SimReport, VmTypeAssignment};
use vine_workload::stages::sender::{DryRunSink, Sender};
use vine_workload::{model, Engine, Plan, Snapshot, WorkloadError};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// JSON (one object per day; an array for several days).
    Json,
}

/// How VM types are dealt out to trace files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VmTypes {
    /// Four equal blocks, as CloudSim 3.0.3's helper does (default).
    Blocks,
    /// VM i gets type i % 4.
    Modulo,
}

/// `vine sim`: replay PlanetLab-format traces through a policy on the
/// CloudSim experiment's data centre (800 HP hosts, 300 s rounds).
#[derive(Debug, Args)]
pub struct SimArgs {
    /// A day folder of trace files, or a folder of day folders (all run)
    #[arg(long)]
    pub trace: PathBuf,
    /// lr-mmt, thr-mmt, default, or a policy TOML file
    #[arg(long, default_value = "default")]
    pub policy: String,
    /// Output format
    #[arg(long, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Number of hosts (alternating HP ML110 G4 and G5)
    #[arg(long, default_value_t = 800)]
    pub hosts: usize,
    /// VM type assignment
    #[arg(long, value_enum, default_value_t = VmTypes::Blocks)]
    pub vm_types: VmTypes,
    /// Stop after this many rounds (a day has 287)
    #[arg(long)]
    pub rounds: Option<usize>,
}

/// `vine policy …`: check, publish the schema, explain a plan.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    #[command(subcommand)]
    pub cmd: PolicyCmd,
}

/// Policy subcommands.
#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Validate a policy file; every problem is reported with file:line:column
    Check {
        /// Policy TOML file
        file: PathBuf,
        /// Also check scope and constraints against a recorded state (JSON snapshot)
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// Print the JSON Schema of policy files
    Schema,
    /// Run the pipeline once and print the commands it would issue, and why
    Explain(ExplainArgs),
    #[command(flatten)]
    Store(crate::cli::PolicyStoreCmd),
}

/// `vine policy explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Policy TOML file, or `default`
    pub file: String,
    /// A recorded state: JSON snapshot of hosts and VMs
    #[arg(long, conflicts_with = "trace")]
    pub state: Option<PathBuf>,
    /// Or a trace day folder, replayed with this policy up to --round
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Round of the trace day to explain (1 = first 5-minute round)
    #[arg(long, default_value_t = 12)]
    pub round: usize,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
    /// Ask the manager instead: FILE on its live data centre now (or, with
    /// --stored, the stored policy named FILE); nothing is sent
    #[arg(long, conflicts_with_all = ["state", "trace"])]
    pub live: bool,
    /// With --live: FILE is the name of a policy stored on the manager
    #[arg(long, requires = "live")]
    pub stored: bool,
    /// With --live --stored: this stored version, not the active one
    #[arg(long, requires = "stored")]
    pub version: Option<u32>,
    #[command(flatten)]
    pub conn: crate::cli::ConnArgs,
}

/// Runs `vine sim`.
pub fn run_sim(a: SimArgs) -> Result<()> {
    let days = trace::discover_days(&a.trace)?;
    let mut reports = Vec::new();
    for day in days {
        let opts = SimOptions {
            trace_dir: day.clone(),
            policy: a.policy.clone(),
            hosts: a.hosts,
            vm_types: match a.vm_types {
                VmTypes::Blocks => VmTypeAssignment::Blocks,
                VmTypes::Modulo => VmTypeAssignment::Modulo,
            },
            max_rounds: a.rounds,
        };
        let r = sim::run_sim(&opts).with_context(|| format!("simulating {}", day.display()))?;
        reports.push(r);
    }
    match a.output {
        Output::Json if reports.len() == 1 => {
            println!("{}", serde_json::to_string_pretty(&reports[0])?)
        }
        Output::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
        Output::Table => print_table(&reports),
    }
    Ok(())
}

fn print_table(reports: &[SimReport]) {
    println!(
        "{:<10} {:<12} {:>5} {:>11} {:>7} {:>6} {:>9} {:>10} {:>8} {:>7} {:>8}",
        "day",
        "policy",
        "VMs",
        "energy kWh",
        "SLATAH",
        "PDM",
        "SLAV",
        "migrations",
        "hosts on",
        "LB",
        "plan ms"
    );
    for r in reports {
        println!(
            "{:<10} {:<12} {:>5} {:>11.2} {:>6.2}% {:>5.2}% {:>8.5}% {:>10} {:>8.1} {:>7.1} {:>8.3}",
            r.day,
            r.policy,
            r.vms,
            r.energy_kwh,
            r.slatah * 100.0,
            r.pdm * 100.0,
            r.slav * 100.0,
            r.migrations,
            r.hosts_on_mean,
            r.lower_bound_mean,
            r.plan_ms_mean
        );
    }
}

/// Runs `vine policy …`.
pub fn run_policy(a: PolicyArgs) -> Result<()> {
    match a.cmd {
        PolicyCmd::Schema => {
            println!("{}", policy::policy_schema());
            Ok(())
        }
        PolicyCmd::Check { file, state } => {
            let origin = file.display().to_string();
            let p = match policy::load_file(&file) {
                Ok(p) => p,
                Err(WorkloadError::InvalidPolicy { origin, problems }) => {
                    eprint!("{}", render_problems(&origin, &problems));
                    bail!("{} problem(s) in {origin}", problems.len());
                }
                Err(e) => return Err(e.into()),
            };
            if let Some(state) = state {
                let snap = model::load_snapshot(&state)?;
                let found = p.check_against(&snap);
                if !found.is_empty() {
                    eprint!("{}", render_problems(&origin, &found));
                    bail!(
                        "{} problem(s) in {origin} against {}",
                        found.len(),
                        state.display()
                    );
                }
            }
            println!("{origin}: policy {:?} is valid", p.name);
            Ok(())
        }
        PolicyCmd::Explain(e) => explain(e),
        // Handled by `main` (it talks to a manager, asynchronously).
        PolicyCmd::Store(_) => {
            bail!("vine policy apply|ls|history|rollback run through the manager client")
        }
    }
}

fn explain(e: ExplainArgs) -> Result<()> {
    let policy = policy::resolve(&e.file)?;
    let (snap, plan): (Snapshot, Plan) = match (&e.state, &e.trace) {
        (Some(state), _) => {
            let snap = model::load_snapshot(state)?;
            for p in policy.check_against(&snap) {
                eprintln!("warning: {}", p.message);
            }
            let plan = Engine::new(policy.clone()).plan(&snap);
            (snap, plan)
        }
        (None, Some(trace)) => {
            let opts = SimOptions::new(trace, e.file.clone());
            sim::explain_round(&opts, policy.clone(), e.round)?
        }
        (None, None) => bail!(
            "give --state FILE (a recorded snapshot), --trace DAY_DIR, or --live (the manager's data centre now)"
        ),
    };
    if e.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(());
    }
    let on = snap.hosts.iter().filter(|h| h.powered_on).count();
    println!(
        "policy {:?}, round {}: {} hosts ({} on), {} VMs",
        policy.name,
        plan.round,
        snap.hosts.len(),
        on,
        snap.vms.len()
    );
    for (label, list) in [
        ("held", &plan.held),
        ("hot", &plan.hot),
        ("cold", &plan.cold),
        ("unresolved", &plan.unresolved),
    ] {
        if !list.is_empty() {
            println!("{label} ({}): {}", list.len(), list.join(" "));
        }
    }
    for n in &plan.notes {
        println!("note: {n}");
    }
    if plan.commands.is_empty() {
        println!("no commands: nothing to do");
        return Ok(());
    }
    let mut sender = Sender::new(policy.migration.max_concurrent);
    let mut sink = DryRunSink::default();
    sender.run(&plan.commands, &mut sink);
    println!("{} command(s), dry run:", plan.commands.len());
    for c in &plan.commands {
        let deps = if c.depends_on.is_empty() {
            String::new()
        } else {
            format!(" (after {:?})", c.depends_on)
        };
        println!(
            "  #{:<3} {}{deps}\n        because {}",
            c.id,
            c.kind.describe(),
            c.reason
        );
    }
    Ok(())
}
