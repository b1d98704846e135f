//! The REST client commands: `vine host|vm|pool|vs|job`. They talk to a
//! manager's API (`vine up`'s by default, with the password and certificate
//! it keeps in its state directory), print aligned tables or the API's JSON,
//! wait for the jobs they submit, and exit with a code that says what kind
//! of failure happened (see [`conn::EXIT_CODES`]).

/// Flags, credentials, TLS, the client and the failure kinds.
mod conn;
/// `vine host …`.
mod host;
/// `vine job …` and waiting for a submitted job.
mod job;
/// `vine policy apply|ls|history|rollback`.
mod policy;
/// `vine pool …`.
mod pool;
/// Tables and `key  value` lines.
mod table;
/// `vine vm …`.
mod vm;
/// `vine vs …`.
mod vs;

use std::io::Write;

pub use conn::ConnArgs;
pub use policy::PolicyStoreCmd;

/// The client commands, flattened into `vine`'s own.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Hosts: list, show, drain
    Host(host::HostArgs),
    /// Virtual machines: list, show, create, start/stop/pause/resume/reboot, resize, migrate, rm
    Vm(vm::VmArgs),
    /// Resource pools: list, show, create, rm
    Pool(pool::PoolArgs),
    /// Virtual servers: list, show, create, scale, rm
    Vs(vs::VsArgs),
    /// Jobs: list, show, watch, cancel
    Job(job::JobArgs),
}

/// Runs a client command. Failures are printed here and end the process
/// with their exit code (so `main` never sees them).
pub async fn run(cmd: Command) -> anyhow::Result<()> {
    let r = match cmd {
        Command::Host(a) => host::run(a).await,
        Command::Vm(a) => vm::run(a).await,
        Command::Pool(a) => pool::run(a).await,
        Command::Vs(a) => vs::run(a).await,
        Command::Job(a) => job::run(a).await,
    };
    finish(r)
}

/// `vine policy apply|ls|history|rollback`, with the same failure handling.
pub async fn run_policy_store(a: PolicyStoreCmd) -> anyhow::Result<()> {
    finish(policy::run(a).await)
}

/// `vine policy explain FILE --live`: the manager explains, nothing is sent.
pub async fn run_policy_explain_live(e: crate::sim_cmd::ExplainArgs) -> anyhow::Result<()> {
    finish(policy::explain_live(e).await)
}

fn finish(r: conn::Result<()>) -> anyhow::Result<()> {
    if let Err(e) = r {
        let _ = std::io::stdout().flush();
        let _ = writeln!(std::io::stderr(), "error: {}", e.message());
        std::process::exit(e.code());
    }
    let _ = std::io::stdout().flush();
    Ok(())
}
