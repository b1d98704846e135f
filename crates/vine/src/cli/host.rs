//! `vine host …`: the hosts the manager knows.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Value};

use super::conn::{print_json, seg, CliError, ConnArgs, Ctx, Result, EXIT_CODES};
use super::job::{submit, WaitArgs};
use super::table::{cell, print_object, Table};
use super::vm::vm_table;

/// Hosts: list, show, drain, maintenance, labels, power, Wake-on-LAN MAC
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
    /// Live-migrate every VM off a host (a job); the host goes into
    /// maintenance first and stays there
    Drain {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Put a host in maintenance (nothing new is placed or moved there) or
    /// take it out
    Maintenance {
        name: String,
        #[arg(value_enum)]
        state: OnOff,
    },
    /// Set labels (KEY=VALUE …) on a host, keeping its others; --clear
    /// drops the others first (alone, it removes every label)
    Label {
        name: String,
        /// KEY=VALUE pairs
        labels: Vec<String>,
        /// Replace every label instead of adding to them
        #[arg(long)]
        clear: bool,
    },
    /// Power a host off (a job: its agent runs its --power-off-command; no
    /// VM may run there) or on (Wake-on-LAN or the manager's
    /// --power-on-command, then wait for its agent)
    Power {
        name: String,
        #[arg(value_enum)]
        state: OnOff,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Set the MAC a host is woken by (its agent sends one when it joins);
    /// `none` clears it
    Mac { name: String, mac: String },
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum OnOff {
    On,
    Off,
}

/// `KEY=VALUE` arguments as a map; a malformed one is a usage error that
/// shows the form.
fn parse_labels(args: &[String]) -> Result<BTreeMap<String, String>> {
    args.iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(CliError::Usage(format!(
                "label `{a}` is not KEY=VALUE (for example rack=a)"
            ))),
        })
        .collect()
}

/// Labels as `k=v,k2=v2` for a table cell.
fn labels_cell(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
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
    let mut t = Table::new(&[
        "NAME",
        "HEALTH",
        "VCPUS",
        "MEMORY_MIB",
        "VMS",
        "MAINTENANCE",
        "POWER",
        "LABELS",
        "URL",
    ]);
    for h in hosts.as_array().map(Vec::as_slice).unwrap_or_default() {
        let name = h["name"].as_str().unwrap_or_default();
        t.row(vec![
            name.to_string(),
            cell(&h["health"]),
            cell(&h["capacity"]["vcpus"]),
            cell(&h["capacity"]["memory_mib"]),
            count.get(name).copied().unwrap_or(0).to_string(),
            if h["maintenance"].as_bool() == Some(true) {
                "on".into()
            } else {
                "off".into()
            },
            cell(&h["power"]),
            match labels_cell(&h["labels"]) {
                l if l.is_empty() => "-".into(),
                l => l,
            },
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
        HostCmd::Maintenance { name, state } => {
            let on = matches!(state, OnOff::On);
            let h = ctx
                .patch(
                    &format!("/hosts/{}", seg(&name)),
                    &json!({"maintenance": on}),
                )
                .await?;
            if ctx.json() {
                print_json(&h);
            } else if on {
                println!("host {name} is in maintenance: nothing new is placed or moved there");
            } else {
                println!("host {name} is out of maintenance");
            }
            Ok(())
        }
        HostCmd::Label {
            name,
            labels,
            clear,
        } => {
            let given = parse_labels(&labels)?;
            if given.is_empty() && !clear {
                return Err(CliError::Usage(
                    "give KEY=VALUE labels to set, or --clear to remove every label".into(),
                ));
            }
            let path = format!("/hosts/{}", seg(&name));
            let mut all: BTreeMap<String, String> = if clear {
                BTreeMap::new()
            } else {
                let h = ctx.get(&path).await?;
                serde_json::from_value(h["labels"].clone()).unwrap_or_default()
            };
            all.extend(given);
            let h = ctx.patch(&path, &json!({ "labels": all })).await?;
            if ctx.json() {
                print_json(&h);
            } else {
                println!("host {name} labels: {}", labels_cell(&h["labels"]));
            }
            Ok(())
        }
        HostCmd::Power { name, state, wait } => {
            let state = match state {
                OnOff::On => "on",
                OnOff::Off => "off",
            };
            submit(
                &ctx,
                &wait,
                &format!("/hosts/{}/power", seg(&name)),
                json!({ "state": state }),
            )
            .await
        }
        HostCmd::Mac { name, mac } => {
            let mac = if mac == "none" { String::new() } else { mac };
            let h = ctx
                .patch(&format!("/hosts/{}", seg(&name)), &json!({ "mac": mac }))
                .await?;
            if ctx.json() {
                print_json(&h);
            } else {
                println!("host {name} is woken by MAC {}", cell(&h["mac"]));
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
