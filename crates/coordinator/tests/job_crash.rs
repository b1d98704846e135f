//! A real crash: a child process runs a job whose steps have external
//! effects (lines appended to a log file), is killed with SIGKILL in the
//! middle of a step, and is started again. The job must finish with every
//! effect applied exactly once — or, for a handler that cannot check its
//! effects, fail with the step it was in.
//!
//! The child is this test binary re-run with `--exact crash_child` and the
//! environment below; it talks to the parent through stdout lines.

use std::fs::{self, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::json;
use vine_coordinator::jobs::{
    EngineConfig, JobContext, JobEngine, JobHandler, JobRecord, JobState, StepOutcome, FIRST_STEP,
};
use vine_store::{names, Store};

const DIR_ENV: &str = "VINE_JOB_CRASH_DIR";
const RESUMABLE_ENV: &str = "VINE_JOB_CRASH_RESUMABLE";
const STALL_ENV: &str = "VINE_JOB_CRASH_STALL_AT";
const KIND: &str = "crash.effects";
const STEPS: u32 = 4;

/// Each step appends "<job> effect <n>" to the log unless it is already
/// there: the check-reality-first contract of `JobHandler`.
struct Effects {
    log: PathBuf,
    resumable: bool,
    /// The step after whose effect the child stalls, so the parent can kill it there.
    stall_at: Option<u32>,
}

impl Effects {
    fn apply(&self, job: &JobRecord, n: u32) -> std::io::Result<()> {
        let line = format!("{} effect {n}", job.id);
        let done = fs::read_to_string(&self.log)
            .map(|text| text.lines().any(|l| l == line))
            .unwrap_or(false);
        if done {
            println!("SKIP {n}");
            return Ok(());
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        writeln!(f, "{line}")?;
        f.sync_all()?;
        println!("EFFECT {n}");
        Ok(())
    }
}

#[async_trait]
impl JobHandler for Effects {
    fn kind(&self) -> &str {
        KIND
    }
    fn resumable(&self) -> bool {
        self.resumable
    }
    async fn step(&self, _: &JobContext, job: &JobRecord) -> StepOutcome {
        let n = if job.step == FIRST_STEP {
            1
        } else {
            match job.step.trim_start_matches('s').parse::<u32>() {
                Ok(n) => n,
                Err(_) => return StepOutcome::Fail(format!("unknown step {}", job.step)),
            }
        };
        if let Err(e) = self.apply(job, n) {
            return StepOutcome::Retry(format!("effect log: {e}"));
        }
        if self.stall_at == Some(n) {
            // The effect is applied, the step's completion not yet stored:
            // the worst moment to die.
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        if n < STEPS {
            StepOutcome::next(format!("s{}", n + 1), (n * 100 / STEPS) as u8)
        } else {
            StepOutcome::Done(json!({ "effects": STEPS }))
        }
    }
}

/// The child half: a "manager" that submits the job (idempotently, so a
/// restart finds the same job) and runs the engine until the job is final.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let resumable = std::env::var(RESUMABLE_ENV)
        .map(|v| v == "1")
        .unwrap_or(true);
    let stall_at = std::env::var(STALL_ENV).ok().and_then(|v| v.parse().ok());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let store = Store::open(dir.join("store")).unwrap();
        let handler = Arc::new(Effects {
            log: dir.join("effects.log"),
            resumable,
            stall_at,
        });
        let engine = JobEngine::new(&store, vec![handler], EngineConfig::default()).unwrap();
        let id = engine
            .submit(KIND, json!({ "steps": STEPS }), Some("crash-test".into()))
            .unwrap();
        println!("JOB {id}");
        let mut rx = engine.watch(&id).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runner = {
            let engine = engine.clone();
            tokio::spawn(async move {
                engine
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
            })
        };
        let finished = tokio::time::timeout(Duration::from_secs(60), async {
            while !rx.borrow().state.is_terminal() {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        })
        .await;
        let job = engine.get(&id).unwrap();
        let _ = stop.send(());
        runner.await.unwrap();
        match finished {
            Ok(()) => println!("FINAL {:?} {}", job.state, job.error.unwrap_or_default()),
            Err(_) => println!("TIMEOUT {:?}", job.state),
        }
    });
}

fn spawn_child(dir: &Path, resumable: bool, stall_at: Option<u32>) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args([
        "--exact",
        "crash_child",
        "--nocapture",
        "--test-threads",
        "1",
    ])
    .env(DIR_ENV, dir)
    .env(RESUMABLE_ENV, if resumable { "1" } else { "0" })
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(n) = stall_at {
        cmd.env(STALL_ENV, n.to_string());
    }
    cmd.spawn().unwrap()
}

/// Start a child, wait for `EFFECT <n>`, and SIGKILL it.
fn run_and_kill_after_effect(dir: &Path, resumable: bool, n: u32) -> Vec<String> {
    let mut child = spawn_child(dir, resumable, Some(n));
    let stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line == format!("EFFECT {n}") {
            child.kill().unwrap(); // SIGKILL
            break;
        }
    }
    let status = child.wait().unwrap();
    assert!(
        seen.last() == Some(&format!("EFFECT {n}")),
        "child ended before the kill point ({status}): {seen:?}"
    );
    assert!(
        !status.success(),
        "the child was killed, not finished: {status}"
    );
    seen
}

/// Start a child and let it finish.
fn run_to_end(dir: &Path, resumable: bool) -> Vec<String> {
    let out = spawn_child(dir, resumable, None)
        .wait_with_output()
        .unwrap();
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert!(out.status.success(), "child failed: {lines:?}");
    lines
}

fn effect_counts(dir: &Path) -> Vec<usize> {
    let text = fs::read_to_string(dir.join("effects.log")).unwrap_or_default();
    (1..=STEPS)
        .map(|n| {
            text.lines()
                .filter(|l| l.ends_with(&format!(" effect {n}")))
                .count()
        })
        .collect()
}

fn stored_job(dir: &Path) -> JobRecord {
    let store = Store::open(dir.join("store")).unwrap();
    let jobs = store
        .collection::<JobRecord>(names::JOBS)
        .unwrap()
        .list()
        .unwrap();
    assert_eq!(jobs.len(), 1, "exactly one job: {jobs:?}");
    jobs.into_iter().next().unwrap().1
}

#[test]
fn kill_9_mid_step_then_restart_applies_each_effect_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = run_and_kill_after_effect(dir.path(), true, 2);
    assert!(first.contains(&"EFFECT 1".to_string()), "{first:?}");
    assert_eq!(effect_counts(dir.path()), vec![1, 1, 0, 0]);
    let job = stored_job(dir.path());
    assert_eq!(
        (job.state, job.step.as_str()),
        (JobState::Running, "s2"),
        "as the crash left it"
    );

    let second = run_to_end(dir.path(), true);
    let job_line = |lines: &[String]| lines.iter().find(|l| l.starts_with("JOB ")).cloned();
    assert_eq!(
        job_line(&first),
        job_line(&second),
        "the restart found the same job"
    );
    assert!(
        second.contains(&"SKIP 2".to_string()),
        "step 2 re-ran and found its effect: {second:?}"
    );
    assert!(
        !second.iter().any(|l| l == "EFFECT 1" || l == "SKIP 1"),
        "step 1 was complete: {second:?}"
    );
    assert!(
        second.contains(&"FINAL Succeeded ".to_string()),
        "{second:?}"
    );
    assert_eq!(
        effect_counts(dir.path()),
        vec![1, 1, 1, 1],
        "each effect exactly once"
    );

    let job = stored_job(dir.path());
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.result, Some(json!({ "effects": STEPS })));
    assert!(
        job.history
            .iter()
            .any(|e| e.note == "manager restarted during step s2; resuming at that step"),
        "{:?}",
        job.history
    );
}

#[test]
fn kill_9_mid_step_of_a_non_resumable_job_fails_it_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    run_and_kill_after_effect(dir.path(), false, 2);
    let second = run_to_end(dir.path(), false);
    let final_line = second
        .iter()
        .find(|l| l.starts_with("FINAL "))
        .cloned()
        .unwrap_or_default();
    assert!(
        final_line.starts_with(
            "FINAL Failed manager restarted during step s2; kind \"crash.effects\" is not resumable"
        ),
        "{second:?}"
    );
    assert!(
        !second
            .iter()
            .any(|l| l.starts_with("EFFECT") || l.starts_with("SKIP")),
        "{second:?}"
    );
    assert_eq!(
        effect_counts(dir.path()),
        vec![1, 1, 0, 0],
        "nothing redone, nothing lost"
    );
    let job = stored_job(dir.path());
    assert_eq!((job.state, job.step.as_str()), (JobState::Failed, "s2"));
}
