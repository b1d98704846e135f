//! `vine`: the one binary. Servers (`vine wbem serve`, later `vine agent`,
//! `vine manager`, `vine up`) and client commands (`vine cim …`,
//! `vine user …`, `vine bench …`).

/// `vine agent`: one host's CIMOM over libvirt.
mod agent;
/// `vine bench …`: load generators that print figures.
mod bench;
/// `vine bench agent`: the agent's footprint and latencies.
mod bench_agent;
/// `vine bench manager`: a manager over 1,000 simulated hosts.
mod bench_manager;
/// `vine cim …`: the CIM client commands.
mod cim_cmd;
/// `vine host|vm|pool|vs|job …`: the REST client commands.
mod cli;
/// Serving configuration: flags and file, validated.
mod config;
/// Agents joining a manager: join token, registration, callback URLs.
mod join;
/// `vine manager`: inventory, REST API, console, WBEM.
mod manager;
/// The embedded schema and the repository built from it.
mod schema;
/// `vine wbem serve` and the start-up steps shared by servers.
mod serve;
/// `vine sim` and `vine policy …`: trace simulator and policy tools.
mod sim_cmd;
/// `vine up`: manager + agents on test-driver hosts, in one process.
mod up;
/// `vine user …`: the users file.
mod user_cmd;

use clap::{Parser, Subcommand};

/// vine — a virtual infrastructure manager on DMTF CIM/WBEM.
///
/// Every server speaks CIM-XML (DSP0200) on HTTP 5988 and HTTPS 5989, so
/// pywbemcli, wbemcli or `vine cim` can query and drive it.
#[derive(Debug, Parser)]
#[command(name = "vine", version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. `info` or `vine_wbem=debug` (also RUST_LOG)
    #[arg(long, global = true, env = "VINE_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    cmd: Cmd,
}

// Parsed once per run: a large variant costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Cmd {
    /// WBEM server commands
    Wbem {
        #[command(subcommand)]
        cmd: WbemCmd,
    },
    /// Run a manager and N agents on simulated hosts in one process (the embedded default)
    Up(up::UpArgs),
    /// Host agent: the host's VMs as DMTF virtualization classes, over libvirt
    Agent(agent::AgentCmd),
    /// Management server: inventory of every agent's host, REST API, console
    Manager(manager::ManagerArgs),
    /// CIM client: enumerate, get, associations, methods, queries
    Cim(cim_cmd::CimArgs),
    /// Manage the users of a state directory
    User(user_cmd::UserArgs),
    /// Replay utilization traces through a policy (CloudSim PlanetLab experiment)
    Sim(sim_cmd::SimArgs),
    /// Policy files: check, schema, explain
    Policy(sim_cmd::PolicyArgs),
    /// Benchmarks that print figures
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCmd,
    },
    #[command(flatten)]
    Client(cli::Command),
}

#[derive(Debug, Subcommand)]
enum WbemCmd {
    /// Serve CIM-XML on HTTP and HTTPS: root/interop (and test/sample with --sample)
    Serve(serve::WbemServeArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&cli.log))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Wbem {
                cmd: WbemCmd::Serve(a),
            } => serve::run(a).await,
            Cmd::Agent(a) => agent::run(a).await,
            Cmd::Manager(a) => manager::run(a).await,
            Cmd::Up(a) => up::run(a).await,
            Cmd::Cim(a) => cim_cmd::run(a).await,
            Cmd::User(a) => user_cmd::run(a),
            Cmd::Bench { cmd } => bench::run(cmd).await,
            Cmd::Sim(a) => sim_cmd::run_sim(a),
            Cmd::Policy(sim_cmd::PolicyArgs {
                cmd: sim_cmd::PolicyCmd::Store(c),
            }) => cli::run_policy_store(c).await,
            Cmd::Policy(sim_cmd::PolicyArgs {
                cmd: sim_cmd::PolicyCmd::Explain(e),
            }) if e.live => cli::run_policy_explain_live(e).await,
            Cmd::Policy(a) => sim_cmd::run_policy(a),
            Cmd::Client(c) => cli::run(c).await,
        }
    })
}
