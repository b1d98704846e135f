//! `vine policy apply|ls|history|rollback`: the manager's stored policies,
//! and `vine policy explain --live` (the manager runs a policy once on its
//! data centre, nothing sent). Check, schema and the offline explain work
//! on files and need no manager; they are in `sim_cmd.rs`.

use std::path::PathBuf;

use serde_json::{json, Value};

use super::conn::{print_json, seg, CliError, ConnArgs, Result, EXIT_CODES};
use super::table::{cell, Table};

/// The manager-side `vine policy` commands, flattened into `vine policy`.
#[derive(Debug, clap::Subcommand)]
pub enum PolicyStoreCmd {
    /// Store FILE on the manager as the next version of the policy it
    /// names (checked first; a bad file changes nothing and every problem
    /// is printed)
    #[command(after_help = EXIT_CODES)]
    Apply {
        file: PathBuf,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// The active version of every policy stored on the manager
    #[command(after_help = EXIT_CODES)]
    Ls {
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Every version of a stored policy, oldest first
    #[command(after_help = EXIT_CODES)]
    History {
        name: String,
        #[command(flatten)]
        conn: ConnArgs,
    },
    /// Make an old version active again (stored as a new version)
    #[command(after_help = EXIT_CODES)]
    Rollback {
        name: String,
        version: u32,
        #[command(flatten)]
        conn: ConnArgs,
    },
}

fn versions_table(list: &Value) -> Table {
    let mut t = Table::new(&["NAME", "VERSION", "APPLIED_BY", "NOTE"]);
    for v in list.as_array().map(Vec::as_slice).unwrap_or_default() {
        t.row(vec![
            cell(&v["name"]),
            cell(&v["version"]),
            cell(&v["applied_by"]),
            cell(&v["note"]),
        ]);
    }
    t
}

pub async fn run(cmd: PolicyStoreCmd) -> Result<()> {
    let ctx = match &cmd {
        PolicyStoreCmd::Apply { conn, .. }
        | PolicyStoreCmd::Ls { conn }
        | PolicyStoreCmd::History { conn, .. }
        | PolicyStoreCmd::Rollback { conn, .. } => conn.connect()?,
    };
    let show = |v: &Value| {
        if ctx.json() {
            print_json(v);
        } else {
            versions_table(&Value::Array(vec![v.clone()])).print();
        }
    };
    match cmd {
        PolicyStoreCmd::Apply { file, .. } => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                CliError::Usage(format!("cannot read policy file {}: {e}", file.display()))
            })?;
            let origin = file.display().to_string();
            let v = ctx
                .post("/policies", &json!({"text": text, "origin": origin}))
                .await?;
            show(&v);
        }
        PolicyStoreCmd::Ls { .. } => {
            let list = ctx.get("/policies").await?;
            if ctx.json() {
                print_json(&list);
            } else {
                versions_table(&list).print();
            }
        }
        PolicyStoreCmd::History { name, .. } => {
            let list = ctx
                .get(&format!("/policies/{}/versions", seg(&name)))
                .await?;
            if ctx.json() {
                print_json(&list);
            } else {
                versions_table(&list).print();
            }
        }
        PolicyStoreCmd::Rollback { name, version, .. } => {
            let v = ctx
                .post(
                    &format!("/policies/{}/rollback", seg(&name)),
                    &json!({ "version": version }),
                )
                .await?;
            show(&v);
        }
    }
    Ok(())
}

/// The list of names in `v[key]`, space-separated.
fn names(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// `vine policy explain FILE --live [--stored [--version N]]`.
pub async fn explain_live(e: crate::sim_cmd::ExplainArgs) -> Result<()> {
    let ctx = e.conn.connect()?;
    let body = if e.stored {
        match e.version {
            Some(v) => json!({"name": e.file, "version": v}),
            None => json!({"name": e.file}),
        }
    } else {
        let path = PathBuf::from(&e.file);
        let text = std::fs::read_to_string(&path).map_err(|err| {
            CliError::Usage(format!(
                "cannot read policy file {}: {err} (give --stored to explain a policy stored on the manager)",
                path.display()
            ))
        })?;
        json!({"text": text, "origin": path.display().to_string()})
    };
    let r = ctx.post("/policies/explain", &body).await?;
    if e.json || ctx.json() {
        print_json(&r);
        return Ok(());
    }
    let version = match r["version"].as_u64() {
        Some(0) | None => "file".to_string(),
        Some(v) => format!("version {v}"),
    };
    println!(
        "policy {} ({version}) on the live data centre: {} hosts ({} reporting), {} VMs",
        r["policy"],
        cell(&r["hosts"]),
        cell(&r["hosts_reporting"]),
        cell(&r["vms"]),
    );
    for label in ["held", "hot", "cold", "unresolved"] {
        let list = names(&r, label);
        if !list.is_empty() {
            println!("{label} ({}): {}", list.len(), list.join(" "));
        }
    }
    for n in names(&r, "notes") {
        println!("note: {n}");
    }
    for w in names(&r, "warnings") {
        println!("warning: {w}");
    }
    let cmds = r["commands"].as_array().cloned().unwrap_or_default();
    if cmds.is_empty() {
        println!("no commands: nothing to do");
        return Ok(());
    }
    println!("{} command(s), nothing sent:", cmds.len());
    for c in &cmds {
        let deps = c["depends_on"]
            .as_array()
            .filter(|d| !d.is_empty())
            .map(|d| format!(" (after {})", Value::Array(d.clone())))
            .unwrap_or_default();
        println!(
            "  #{:<3} {}{deps}\n        because {}",
            cell(&c["id"]),
            cell(&c["what"]),
            cell(&c["reason"])
        );
        if c["outcome"] == "skipped" {
            println!("        would be skipped: {}", cell(&c["error"]));
        }
    }
    Ok(())
}
