//! `vine job …`, and waiting for the job a command submitted: long-polls
//! `GET /jobs/{id}?wait=<revision>` and shows progress on stderr — a bar
//! redrawn in place on a terminal, one line per change otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::conn::{print_json, seg, CliError, ConnArgs, Ctx, Result, EXIT_CODES};
use super::table::{cell, print_object, utc_millis, Table};

/// Jobs: the durable record of every long operation
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct JobArgs {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    cmd: JobCmd,
}

#[derive(Debug, clap::Subcommand)]
enum JobCmd {
    /// List jobs, newest state first as the manager orders them
    Ls {
        /// Only jobs not finished yet
        #[arg(long)]
        active: bool,
        /// Only jobs in this state (queued, running, retrying, succeeded, failed, cancelled)
        #[arg(long)]
        state: Option<String>,
        /// Only jobs of this kind (e.g. vm.create)
        #[arg(long)]
        kind: Option<String>,
    },
    /// Show one job
    Show { id: String },
    /// Follow a job until it ends; exit 1 if it fails or is cancelled
    Watch { id: String },
    /// Ask a job to stop (it stops between steps)
    Cancel { id: String },
}

/// `--no-wait`, for commands that submit a job.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArgs {
    /// Print the job id and return instead of waiting for the job
    #[arg(long)]
    pub no_wait: bool,
}

fn is_final(state: &str) -> bool {
    matches!(state, "succeeded" | "failed" | "cancelled")
}

/// What the user sees while a job runs.
struct Progress {
    tty: bool,
    last: String,
    drawn: bool,
}

impl Progress {
    fn new() -> Self {
        Progress {
            tty: std::io::stderr().is_terminal(),
            last: String::new(),
            drawn: false,
        }
    }

    fn update(&mut self, job: &Value) {
        let id = cell(&job["id"]);
        let state = cell(&job["state"]);
        let pct = job["progress"].as_u64().unwrap_or(0).min(100);
        let mut what = cell(&job["step"]);
        if let Some(n) = job["note"].as_str() {
            what = format!("{what}: {n}");
        }
        if state == "retrying" {
            if let Some(e) = job["error"].as_str() {
                what = format!("{what} (retrying after: {e})");
            }
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let filled = (pct as usize) / 5;
            let mut line = format!(
                "{id} [{}{}] {pct:>3}% {state} {what}",
                "#".repeat(filled),
                "-".repeat(20 - filled)
            );
            // Keep it on one line of a usual terminal.
            if line.chars().count() > 110 {
                line = line.chars().take(107).collect::<String>() + "...";
            }
            let _ = write!(err, "\r\x1b[K{line}");
            let _ = err.flush();
            self.drawn = true;
        } else {
            let line = format!("job {id}: {state} {pct}% {what}");
            if line != self.last {
                let _ = writeln!(err, "{line}");
                self.last = line;
            }
        }
    }

    fn finish(&mut self) {
        if self.tty && self.drawn {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}

/// Follows job `id` to its end and returns its final record.
pub async fn wait(ctx: &Ctx, id: &str) -> Result<Value> {
    let mut progress = Progress::new();
    let follow = async {
        let mut revision: Option<u64> = None;
        loop {
            let path = match revision {
                Some(r) => format!("/jobs/{}?wait={r}", seg(id)),
                None => format!("/jobs/{}", seg(id)),
            };
            let asked = Instant::now();
            let job = ctx.get(&path).await?;
            progress.update(&job);
            if is_final(job["state"].as_str().unwrap_or_default()) {
                return Ok(job);
            }
            let now = job["revision"].as_u64();
            // A server that answers at once with nothing new (no long
            // poll) must not be hammered.
            if now == revision && asked.elapsed() < Duration::from_millis(250) {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            revision = now.or(revision);
        }
    };
    let r = tokio::select! {
        r = follow => r,
        _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted(format!(
            "stopped waiting; job {id} goes on (`vine job watch {id}` follows it, \
             `vine job cancel {id}` stops it)"
        ))),
    };
    progress.finish();
    r
}

/// Reports a finished job: its result on success, an error (exit 1)
/// otherwise.
pub fn report(ctx: &Ctx, job: &Value) -> Result<()> {
    let id = cell(&job["id"]);
    let kind = cell(&job["kind"]);
    match job["state"].as_str().unwrap_or_default() {
        "succeeded" => {
            if ctx.json() {
                print_json(job);
            } else {
                match job["note"].as_str() {
                    Some(n) => println!("job {id} ({kind}) succeeded: {n}"),
                    None => println!("job {id} ({kind}) succeeded"),
                }
                if let Some(r) = job.get("result").filter(|r| r.is_object()) {
                    print_object(r);
                }
            }
            Ok(())
        }
        "cancelled" => Err(CliError::Failed(format!(
            "job {id} ({kind}) was cancelled{}",
            job["note"]
                .as_str()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default()
        ))),
        state => Err(CliError::Failed(format!(
            "job {id} ({kind}) {state}: {}",
            job["error"].as_str().unwrap_or("no reason given")
        ))),
    }
}

/// What a command does with the manager's answer to a request that may
/// have started a job: wait for it (or print its id), or print the answer.
pub async fn follow(ctx: &Ctx, wait_args: &WaitArgs, answer: Value) -> Result<()> {
    let Some(id) = answer["job"].as_str().map(str::to_string) else {
        if ctx.json() {
            print_json(&answer);
        } else if !answer.is_null() {
            print_object(&answer);
        }
        return Ok(());
    };
    if wait_args.no_wait {
        if ctx.json() {
            print_json(&answer);
        } else {
            println!("{id}");
        }
        return Ok(());
    }
    let job = wait(ctx, &id).await?;
    report(ctx, &job)
}

/// POSTs `body` to `path` and follows the job it starts.
pub async fn submit(ctx: &Ctx, wait_args: &WaitArgs, path: &str, body: Value) -> Result<()> {
    let answer = ctx.post(path, &body).await?;
    follow(ctx, wait_args, answer).await
}

/// A job record with its millisecond timestamps as UTC times.
fn readable_times(mut job: Value) -> Value {
    fn fix(v: &mut Value) {
        if let Some(ms) = v.as_u64() {
            *v = Value::String(utc_millis(ms));
        }
    }
    for k in ["created_at", "updated_at", "next_attempt_at"] {
        if let Some(v) = job.get_mut(k) {
            fix(v);
        }
    }
    if let Some(h) = job.get_mut("history").and_then(Value::as_array_mut) {
        for e in h {
            if let Some(v) = e.get_mut("at") {
                fix(v);
            }
        }
    }
    job
}

pub async fn run(args: JobArgs) -> Result<()> {
    let ctx = args.conn.connect()?;
    match args.cmd {
        JobCmd::Ls {
            active,
            state,
            kind,
        } => {
            let mut q = Vec::new();
            if active {
                q.push("active=true".to_string());
            }
            if let Some(s) = state {
                q.push(format!("state={}", seg(&s)));
            }
            if let Some(k) = kind {
                q.push(format!("kind={}", seg(&k)));
            }
            let path = if q.is_empty() {
                "/jobs".to_string()
            } else {
                format!("/jobs?{}", q.join("&"))
            };
            let jobs = ctx.get(&path).await?;
            if ctx.json() {
                print_json(&jobs);
                return Ok(());
            }
            let mut t = Table::new(&["ID", "KIND", "STATE", "PROGRESS", "STEP", "NOTE"]);
            for j in jobs.as_array().map(Vec::as_slice).unwrap_or_default() {
                t.row(vec![
                    cell(&j["id"]),
                    cell(&j["kind"]),
                    cell(&j["state"]),
                    format!("{}%", j["progress"].as_u64().unwrap_or(0)),
                    cell(&j["step"]),
                    cell(
                        j.get("error")
                            .filter(|e| !e.is_null())
                            .unwrap_or(&j["note"]),
                    ),
                ]);
            }
            t.print();
        }
        JobCmd::Show { id } => {
            let job = ctx.get(&format!("/jobs/{}", seg(&id))).await?;
            if ctx.json() {
                print_json(&job);
            } else {
                print_object(&readable_times(job));
            }
        }
        JobCmd::Watch { id } => {
            let job = wait(&ctx, &id).await?;
            report(&ctx, &job)?;
        }
        JobCmd::Cancel { id } => {
            let job = ctx
                .post(&format!("/jobs/{}/cancel", seg(&id)), &json!({}))
                .await?;
            if ctx.json() {
                print_json(&job);
            } else {
                let state = cell(&job["state"]);
                if is_final(&state) {
                    println!("job {id} had already ended: {state}");
                } else {
                    println!(
                        "job {id}: cancel requested; it stops after its current step ({state} now)"
                    );
                }
            }
        }
    }
    Ok(())
}
