//! Job engine throughput: N jobs of S no-op steps each, every transition
//! flushed to the store.
//!
//! `cargo run --release -p vine-coordinator --example job_throughput -- [jobs] [steps] [concurrency]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use vine_coordinator::jobs::{
    EngineConfig, JobContext, JobEngine, JobFilter, JobHandler, JobRecord, JobState, StepOutcome,
    FIRST_STEP,
};
use vine_store::Store;

struct NoOp {
    steps: u32,
}

#[async_trait]
impl JobHandler for NoOp {
    fn kind(&self) -> &str {
        "noop"
    }
    async fn step(&self, _: &JobContext, job: &JobRecord) -> StepOutcome {
        let n: u32 = if job.step == FIRST_STEP {
            1
        } else {
            job.step.parse().unwrap_or(1)
        };
        if n < self.steps {
            StepOutcome::next((n + 1).to_string(), (n * 100 / self.steps) as u8)
        } else {
            StepOutcome::Done(json!(null))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let (jobs, steps, concurrency) = (arg(1, 500), arg(2, 3) as u32, arg(3, 8));
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let config = EngineConfig {
        concurrency,
        ..EngineConfig::default()
    };
    let engine = JobEngine::new(&store, vec![Arc::new(NoOp { steps })], config)?;

    let t = Instant::now();
    for i in 0..jobs {
        engine.submit("noop", json!({ "i": i }), None)?;
    }
    let submit = t.elapsed();

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
    let t = Instant::now();
    let done = JobFilter {
        state: Some(JobState::Succeeded),
        ..JobFilter::default()
    };
    while engine.list(&done)?.len() < jobs {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let run = t.elapsed();
    let _ = stop.send(());
    runner.await?;

    let t = Instant::now();
    let all = engine.list(&JobFilter::default())?;
    let list = t.elapsed();
    // submit + (Running + steps-1 advances + Succeeded) writes per job
    let writes = jobs * (2 + steps as usize);
    println!("{jobs} jobs x {steps} steps, concurrency {concurrency}");
    println!(
        "submit: {:.0} jobs/s ({:.2} ms each)",
        jobs as f64 / submit.as_secs_f64(),
        submit.as_secs_f64() * 1000.0 / jobs as f64
    );
    println!(
        "run to Succeeded: {:.0} jobs/s, {:.0} flushed job writes/s",
        jobs as f64 / run.as_secs_f64(),
        writes as f64 / run.as_secs_f64()
    );
    println!(
        "list {} jobs: {:.1} ms",
        all.len(),
        list.as_secs_f64() * 1000.0
    );
    Ok(())
}
