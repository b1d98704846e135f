//! `vine vm …`: virtual machines — list, create, power, resize, migrate,
//! delete. Changes are jobs; the command waits for them unless told not to.

use serde_json::{json, Map, Value};

use super::conn::{print_json, seg, ConnArgs, Result, EXIT_CODES};
use super::job::{follow, submit, WaitArgs};
use super::table::{cell, print_object, Table};

/// Virtual machines: list, create, power, resize, migrate, delete
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct VmArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: VmCmd,
}

#[derive(Debug, clap::Subcommand)]
enum VmCmd {
    /// List VMs (of one host with --host)
    Ls {
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
    },
    /// Show one VM
    Show { name: String },
    /// Define a VM (on the least-loaded host that fits, or --host) and start it
    Create {
        /// The new VM's name (unique in the data centre)
        name: String,
        /// Virtual CPUs
        #[arg(long, value_name = "N")]
        vcpus: u32,
        /// Memory in MiB
        #[arg(long, value_name = "MIB")]
        memory: u64,
        /// Place it on this host
        #[arg(long, value_name = "HOST")]
        host: Option<String>,
        /// Draw it from this service pool
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
        /// Define it but leave it stopped
        #[arg(long)]
        no_start: bool,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Start (power on) a VM
    Start(Power),
    /// Shut a VM down gracefully (--force: power it off at once)
    Stop {
        #[command(flatten)]
        p: Power,
        #[arg(long)]
        force: bool,
    },
    /// Pause a running VM
    Pause(Power),
    /// Resume a paused VM
    Resume(Power),
    /// Reboot a VM gracefully (--force: reset it)
    Reboot {
        #[command(flatten)]
        p: Power,
        #[arg(long)]
        force: bool,
    },
    /// Change a VM's vCPUs, memory and/or CPU shares, limit and reservation
    #[command(group(clap::ArgGroup::new("size").required(true).multiple(true).args(["vcpus", "memory", "cpu_shares", "cpu_limit", "cpu_reservation"])))]
    Resize {
        name: String,
        /// Virtual CPUs (at most what the VM was defined with)
        #[arg(long, value_name = "N")]
        vcpus: Option<u32>,
        /// Memory in MiB
        #[arg(long, value_name = "MIB")]
        memory: Option<u64>,
        /// CPU weight against the other VMs on the host (1024 is the usual default)
        #[arg(long, value_name = "WEIGHT", value_parser = clap::value_parser!(u32).range(2..=262_144))]
        cpu_shares: Option<u32>,
        /// The most CPU time each vCPU may use, percent of one host core (100 = no cap)
        #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u32).range(1..=100))]
        cpu_limit: Option<u32>,
        /// CPU time guaranteed to each vCPU, percent of one host core (0 = none); the host refuses it when full
        #[arg(long, value_name = "PCT", value_parser = clap::value_parser!(u32).range(0..=100))]
        cpu_reservation: Option<u32>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Live-migrate a VM (to --to HOST, or where placement chooses)
    Migrate {
        name: String,
        #[arg(long, value_name = "HOST")]
        to: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete a VM and its definition
    Rm {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

/// A VM name and --no-wait, for the power commands.
#[derive(Debug, clap::Args)]
struct Power {
    name: String,
    #[command(flatten)]
    wait: WaitArgs,
}

/// The VMs in `vms` as a table.
pub fn vm_table(vms: &Value) -> Table {
    let mut t = Table::new(&["NAME", "HOST", "STATE", "VCPUS", "MEMORY_MIB"]);
    for v in vms.as_array().map(Vec::as_slice).unwrap_or_default() {
        t.row(vec![
            cell(&v["name"]),
            cell(&v["host"]),
            cell(&v["state"]),
            cell(&v["vcpus"]),
            cell(&v["memory_mib"]),
        ]);
    }
    t
}

pub async fn run(args: VmArgs) -> Result<()> {
    let ctx = args.conn.connect()?;
    let power = |p: &Power, action: &str| {
        (
            format!("/vms/{}/power", seg(&p.name)),
            json!({ "action": action }),
            p.wait.clone(),
        )
    };
    let (path, body, wait) = match args.cmd {
        VmCmd::Ls { host } => {
            let path = match host {
                Some(h) => format!("/hosts/{}/vms", seg(&h)),
                None => "/vms".into(),
            };
            let vms = ctx.get(&path).await?;
            if ctx.json() {
                print_json(&vms);
            } else {
                vm_table(&vms).print();
            }
            return Ok(());
        }
        VmCmd::Show { name } => {
            let vm = ctx.get(&format!("/vms/{}", seg(&name))).await?;
            if ctx.json() {
                print_json(&vm);
            } else {
                print_object(&vm);
            }
            return Ok(());
        }
        VmCmd::Create {
            name,
            vcpus,
            memory,
            host,
            pool,
            no_start,
            wait,
        } => {
            let mut body = json!({
                "template": {"name": name, "vcpus": vcpus, "memory_mib": memory,
                    "disks": [], "nics": []},
                "start": !no_start,
            });
            if let Some(h) = host {
                body["host"] = h.into();
            }
            if let Some(p) = pool {
                body["pool"] = p.into();
            }
            ("/vms".to_string(), body, wait)
        }
        VmCmd::Start(p) => power(&p, "start"),
        VmCmd::Stop { p, force } => power(&p, if force { "stop" } else { "shutdown" }),
        VmCmd::Pause(p) => power(&p, "pause"),
        VmCmd::Resume(p) => power(&p, "resume"),
        VmCmd::Reboot { p, force } => power(&p, if force { "reset" } else { "reboot" }),
        VmCmd::Resize {
            name,
            vcpus,
            memory,
            cpu_shares,
            cpu_limit,
            cpu_reservation,
            wait,
        } => {
            let mut body = Map::new();
            if let Some(v) = vcpus {
                body.insert("vcpus".into(), v.into());
            }
            if let Some(m) = memory {
                body.insert("memory_mib".into(), m.into());
            }
            for (key, v) in [
                ("cpu_shares", cpu_shares),
                ("cpu_limit_pct", cpu_limit),
                ("cpu_reservation_pct", cpu_reservation),
            ] {
                if let Some(v) = v {
                    body.insert(key.into(), v.into());
                }
            }
            (
                format!("/vms/{}/resize", seg(&name)),
                Value::Object(body),
                wait,
            )
        }
        VmCmd::Migrate { name, to, wait } => {
            let body = match to {
                Some(h) => json!({ "to": h }),
                None => json!({}),
            };
            (format!("/vms/{}/migrate", seg(&name)), body, wait)
        }
        VmCmd::Rm { name, wait } => {
            let answer = ctx.delete(&format!("/vms/{}", seg(&name))).await?;
            return follow(&ctx, &wait, answer).await;
        }
    };
    submit(&ctx, &wait, &path, body).await
}
