//! `vine user add|passwd|rm|ls`: manage the users file of a state
//! directory (the same users and roles for WBEM, REST and console).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use vine_wbem::auth::{self, Role, UserStore};

/// `vine user …`
#[derive(Debug, clap::Args)]
pub struct UserArgs {
    /// State directory holding users.toml [default: ~/.local/share/vine]
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: UserCmd,
}

#[derive(Debug, clap::Subcommand)]
enum UserCmd {
    /// Add a user; the password is read from --password-stdin or prompted
    Add {
        name: String,
        /// reader (read operations only) or admin (everything)
        #[arg(long, default_value = "reader")]
        role: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's password
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user
    Rm { name: String },
    /// List users and roles
    Ls,
}

fn read_password(from_stdin: bool) -> Result<String> {
    let stdin = std::io::stdin();
    if !from_stdin && stdin.is_terminal() {
        eprint!("password: ");
        std::io::stderr().flush().ok();
    } else if !from_stdin {
        bail!("no terminal to prompt on: pass --password-stdin and pipe the password in");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the password")?;
    let pw = line.trim_end_matches(['\r', '\n']).to_string();
    if pw.len() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(pw)
}

fn parse_role(s: &str) -> Result<Role> {
    match s.to_ascii_lowercase().as_str() {
        "reader" => Ok(Role::Reader),
        "admin" => Ok(Role::Admin),
        _ => bail!("unknown role `{s}`: use reader or admin"),
    }
}

/// Runs a `vine user` command.
pub fn run(args: UserArgs) -> Result<()> {
    let dir = args
        .state_dir
        .or_else(crate::config::default_state_dir)
        .context("no state directory: pass --state-dir")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let store = UserStore::open(auth::users_path(&dir)).context("opening the users file")?;
    match args.cmd {
        UserCmd::Add {
            name,
            role,
            password_stdin,
        } => {
            let role = parse_role(&role)?;
            let pw = read_password(password_stdin)?;
            store.add(&name, role, &pw)?;
            println!("added {name} ({role})");
        }
        UserCmd::Passwd {
            name,
            password_stdin,
        } => {
            let pw = read_password(password_stdin)?;
            store.set_password(&name, &pw)?;
            println!("password of {name} changed");
        }
        UserCmd::Rm { name } => {
            store.remove(&name)?;
            println!("removed {name}");
        }
        UserCmd::Ls => {
            for (name, role) in store.list() {
                println!("{name}\t{role}");
            }
        }
    }
    Ok(())
}
