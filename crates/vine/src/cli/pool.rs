//! `vine pool …`: the data-centre pool, host pools, and service pools with
//! a reservation and a limit.

use serde_json::{json, Value};

use super::conn::{print_json, seg, CliError, ConnArgs, Result, EXIT_CODES};
use super::table::{cell, print_object, ratio, resources, Table};

/// Resource pools: list, show, create, delete
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct PoolArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: PoolCmd,
}

#[derive(Debug, clap::Subcommand)]
enum PoolCmd {
    /// List pools. VCPUS and MEMORY_MIB are allocated/allowed: allowed is
    /// the capacity under the overcommit ratios, or a service pool's limit
    Ls,
    /// Show one pool (`datacenter`, `host/<host>` or a service pool)
    Show { name: String },
    /// Create a service pool: room kept for its VMs, and an optional cap
    Create {
        name: String,
        /// vCPUs kept free for this pool's VMs
        #[arg(long, value_name = "N", default_value_t = 0)]
        reserve_vcpus: u64,
        /// Memory (MiB) kept free for this pool's VMs
        #[arg(long, value_name = "MIB", default_value_t = 0)]
        reserve_memory: u64,
        /// At most this many vCPUs for the pool's VMs together
        #[arg(long, value_name = "N", requires = "limit_memory")]
        limit_vcpus: Option<u64>,
        /// At most this much memory (MiB) for the pool's VMs together
        #[arg(long, value_name = "MIB", requires = "limit_vcpus")]
        limit_memory: Option<u64>,
    },
    /// Delete an empty service pool
    Rm { name: String },
}

fn pool_table(pools: &Value) -> Table {
    let mut t = Table::new(&["NAME", "KIND", "VMS", "VCPUS", "MEMORY_MIB", "RESERVED"]);
    for p in pools.as_array().map(Vec::as_slice).unwrap_or_default() {
        t.row(vec![
            cell(&p["name"]),
            cell(&p["kind"]),
            cell(&p["vms"]),
            ratio(&p["allocated"]["vcpus"], &p["allowed"]["vcpus"]),
            ratio(&p["allocated"]["memory_mib"], &p["allowed"]["memory_mib"]),
            resources(&p["reservation"]),
        ]);
    }
    t
}

pub async fn run(args: PoolArgs) -> Result<()> {
    let ctx = args.conn.connect()?;
    match args.cmd {
        PoolCmd::Ls => {
            let pools = ctx.get("/pools").await?;
            if ctx.json() {
                print_json(&pools);
            } else {
                pool_table(&pools).print();
            }
        }
        PoolCmd::Show { name } => {
            let p = ctx.get(&format!("/pools/{}", seg(&name))).await?;
            if ctx.json() {
                print_json(&p);
            } else {
                print_object(&p);
            }
        }
        PoolCmd::Create {
            name,
            reserve_vcpus,
            reserve_memory,
            limit_vcpus,
            limit_memory,
        } => {
            let limit = match (limit_vcpus, limit_memory) {
                (Some(v), Some(m)) => json!({"vcpus": v, "memory_mib": m}),
                (None, None) => Value::Null,
                // clap's `requires` rules this out; say so all the same.
                _ => {
                    return Err(CliError::Usage(
                        "give --limit-vcpus and --limit-memory together".into(),
                    ))
                }
            };
            let rec = ctx
                .post(
                    "/pools",
                    &json!({"name": name,
                        "reservation": {"vcpus": reserve_vcpus, "memory_mib": reserve_memory},
                        "limit": limit}),
                )
                .await?;
            if ctx.json() {
                print_json(&rec);
            } else {
                println!(
                    "pool {} created: reserved {}, limit {}",
                    cell(&rec["name"]),
                    resources(&rec["reservation"]),
                    match &rec["limit"] {
                        Value::Null => "none".into(),
                        l => resources(l),
                    }
                );
            }
        }
        PoolCmd::Rm { name } => {
            let r = ctx.delete(&format!("/pools/{}", seg(&name))).await?;
            if ctx.json() {
                print_json(&r);
            } else {
                println!("pool {name} deleted");
            }
        }
    }
    Ok(())
}
