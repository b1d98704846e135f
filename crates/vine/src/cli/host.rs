//! `vine host …`: the hosts the manager knows.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::conn::{print_json, seg, ConnArgs, Ctx, Result, EXIT_CODES};
use super::job::{submit, WaitArgs};
use super::table::{cell, print_object, Table};
use super::vm::vm_table;

/// Hosts: list, show, drain
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct HostArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: HostCmd,
}

#[derive(Debug, clap::Subcommand)]
enum HostCmd {
    /// List hosts with their health, capacity and VM count
    Ls,
    /// Show one host and its VMs
    Show { name: String },
    /// Live-migrate every VM off a host (a job)
    Drain {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

async fn ls(ctx: &Ctx) -> Result<()> {
    let hosts = ctx.get("/hosts").await?;
    if ctx.json() {
        print_json(&hosts);
        return Ok(());
    }
    let vms = ctx.get("/vms").await?;
    let mut count: HashMap<&str, usize> = HashMap::new();
    for v in vms.as_array().map(Vec::as_slice).unwrap_or_default() {
        *count
            .entry(v["host"].as_str().unwrap_or_default())
            .or_default() += 1;
    }
    let mut t = Table::new(&["NAME", "HEALTH", "VCPUS", "MEMORY_MIB", "VMS", "URL"]);
    for h in hosts.as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = h["name"].as_str().unwrap_or_default();
        t.row(vec![
            name.to_string(),
            cell(&h["health"]),
            cell(&h["capacity"]["vcpus"]),
            cell(&h["capacity"]["memory_mib"]),
            count.get(name).copied().unwrap_or(0).to_string(),
            cell(&h["url"]),
        ]);
    }
    t.print();
    Ok(())
}

pub async fn run(args: HostArgs) -> Result<()> {
    let ctx = args.conn.connect()?;
    match args.cmd {
        HostCmd::Ls => ls(&ctx).await,
        HostCmd::Show { name } => {
            let h = ctx.get(&format!("/hosts/{}", seg(&name))).await?;
            if ctx.json() {
                print_json(&h);
                return Ok(());
            }
            let vms: Value = ctx.get(&format!("/hosts/{}/vms", seg(&name))).await?;
            print_object(&h);
            println!("\nvms:");
            for line in vm_table(&vms).render().lines() {
                println!("  {line}");
            }
            Ok(())
        }
        HostCmd::Drain { name, wait } => {
            submit(
                &ctx,
                &wait,
                &format!("/hosts/{}/drain", seg(&name)),
                json!({}),
            )
            .await
        }
    }
}
