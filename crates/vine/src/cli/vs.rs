//! `vine vs …`: virtual servers — one service's nodes on several hosts
//! behind one front end.

use serde_json::{json, Value};

use super::conn::{print_json, seg, ConnArgs, Result, EXIT_CODES};
use super::job::{follow, submit, WaitArgs};
use super::table::{cell, print_object, Table};

/// Virtual servers: list, show, create, scale, delete
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct VsArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: VsCmd,
}

#[derive(Debug, clap::Subcommand)]
enum VsCmd {
    /// List virtual servers with their node counts
    Ls,
    /// Show one virtual server and its nodes
    Show { name: String },
    /// Create a virtual server of N nodes, each a VM of the given size
    Create {
        name: String,
        #[arg(long, value_name = "N")]
        nodes: u32,
        /// vCPUs of each node
        #[arg(long, value_name = "N")]
        vcpus: u32,
        /// Memory (MiB) of each node
        #[arg(long, value_name = "MIB")]
        memory: u64,
        /// The front end's address, e.g. 127.0.0.1:8080
        #[arg(long, value_name = "ADDR")]
        bind: Option<String>,
        /// The port the nodes serve on
        #[arg(long, value_name = "PORT")]
        node_port: Option<u16>,
        /// Draw the nodes from this service pool
        #[arg(long, value_name = "POOL")]
        pool: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Grow or shrink a virtual server to N nodes
    Scale {
        name: String,
        #[arg(long, value_name = "N")]
        nodes: u32,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Delete a virtual server and its nodes
    Rm {
        name: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

fn vs_table(list: &Value) -> Table {
    let mut t = Table::new(&["NAME", "NODES", "VCPUS", "MEMORY_MIB", "BIND", "POOL"]);
    for v in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        let have = v["nodes"].as_array().map(Vec::len);
        t.row(vec![
            cell(&v["name"]),
            format!(
                "{}/{}",
                have.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
                cell(&v["desired"])
            ),
            cell(&v["template"]["vcpus"]),
            cell(&v["template"]["memory_mib"]),
            // The API reports the address the front end really has.
            match &v["front_end"]["address"] {
                Value::Null => cell(&v["bind"]),
                a => cell(a),
            },
            cell(&v["pool"]),
        ]);
    }
    t
}

pub async fn run(args: VsArgs) -> Result<()> {
    let ctx = args.conn.connect()?;
    match args.cmd {
        VsCmd::Ls => {
            let list = ctx.get("/vs").await?;
            if ctx.json() {
                print_json(&list);
            } else {
                vs_table(&list).print();
            }
            Ok(())
        }
        VsCmd::Show { name } => {
            let v = ctx.get(&format!("/vs/{}", seg(&name))).await?;
            if ctx.json() {
                print_json(&v);
            } else {
                print_object(&v);
            }
            Ok(())
        }
        VsCmd::Create {
            name,
            nodes,
            vcpus,
            memory,
            bind,
            node_port,
            pool,
            wait,
        } => {
            let mut body = json!({
                "name": name,
                "template": {"name": name, "vcpus": vcpus, "memory_mib": memory,
                    "disks": [], "nics": []},
                "nodes": nodes,
            });
            if let Some(b) = bind {
                body["bind"] = b.into();
            }
            if let Some(p) = node_port {
                body["node_port"] = p.into();
            }
            if let Some(p) = pool {
                body["pool"] = p.into();
            }
            submit(&ctx, &wait, "/vs", body).await
        }
        VsCmd::Scale { name, nodes, wait } => {
            submit(
                &ctx,
                &wait,
                &format!("/vs/{}/scale", seg(&name)),
                json!({ "nodes": nodes }),
            )
            .await
        }
        VsCmd::Rm { name, wait } => {
            let answer = ctx.delete(&format!("/vs/{}", seg(&name))).await?;
            follow(&ctx, &wait, answer).await
        }
    }
}
