//! The job engine on a real store: steps, retries, cancel, idempotency,
//! concurrency, recovery of interrupted jobs, shutdown.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use tokio::sync::oneshot;
use vine_coordinator::jobs::{
    Backoff, EngineConfig, JobContext, JobEngine, JobError, JobFilter, JobHandler, JobId,
    JobRecord, JobState, NewJob, StepOutcome, FIRST_STEP,
};
use vine_store::{names, Store};

/// Answers each call with the next scripted outcome and records the calls.
struct Scripted {
    kind: &'static str,
    resumable: bool,
    outcomes: Mutex<VecDeque<StepOutcome>>,
    calls: Mutex<Vec<(String, u32, Instant)>>,
}

impl Scripted {
    fn new(kind: &'static str, outcomes: Vec<StepOutcome>) -> Arc<Scripted> {
        Arc::new(Scripted {
            kind,
            resumable: true,
            outcomes: Mutex::new(outcomes.into()),
            calls: Mutex::new(Vec::new()),
        })
    }
    fn calls(&self) -> Vec<(String, u32)> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|(s, a, _)| (s.clone(), *a))
            .collect()
    }
}

#[async_trait]
impl JobHandler for Scripted {
    fn kind(&self) -> &str {
        self.kind
    }
    fn resumable(&self) -> bool {
        self.resumable
    }
    async fn step(&self, ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        self.calls
            .lock()
            .unwrap()
            .push((job.step.clone(), ctx.attempt(), Instant::now()));
        let next = self.outcomes.lock().unwrap().pop_front();
        match next {
            Some(o) => o,
            None => StepOutcome::Fail("script ran out".into()),
        }
    }
}

fn fast_config() -> EngineConfig {
    EngineConfig {
        concurrency: 4,
        backoff: Backoff {
            initial: Duration::from_millis(40),
            max: Duration::from_millis(100),
            multiplier: 2.0,
            jitter: 0.0,
        },
        max_attempts: 3,
    }
}

struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap();
    }
}

fn start(engine: &JobEngine) -> Running {
    let (stop, rx) = oneshot::channel::<()>();
    let e = engine.clone();
    let task = tokio::spawn(async move {
        e.run(async {
            let _ = rx.await;
        })
        .await
    });
    Running {
        stop: Some(stop),
        task,
    }
}

async fn wait_final(engine: &JobEngine, id: &JobId) -> JobRecord {
    let mut rx = engine.watch(id).unwrap();
    let deadline = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(deadline);
    loop {
        if rx.borrow().state.is_terminal() {
            return rx.borrow().clone();
        }
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return engine.get(id).unwrap(); },
            _ = &mut deadline => panic!("job {id} not final: {:?}", engine.get(id).unwrap()),
        }
    }
}

fn handlers(hs: &[Arc<dyn JobHandler>]) -> Vec<Arc<dyn JobHandler>> {
    hs.to_vec()
}

fn one<H: JobHandler>(h: &Arc<H>) -> Vec<Arc<dyn JobHandler>> {
    vec![h.clone()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_in_order_and_progress_is_watched() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new(
        "vm.create",
        vec![
            StepOutcome::Continue {
                step: "define".into(),
                progress: 30,
                note: "placed on host-a".into(),
            },
            StepOutcome::next("start", 70),
            StepOutcome::Done(json!({"vm": "web-1"})),
        ],
    );
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let id = engine
        .submit("vm.create", json!({"name": "web-1"}), None)
        .unwrap();
    let mut rx = engine.watch(&id).unwrap();
    assert_eq!(rx.borrow().state, JobState::Queued);
    let run = start(&engine);
    let mut seen = Vec::new();
    while rx.changed().await.is_ok() {
        let j = rx.borrow().clone();
        seen.push((j.state, j.step.clone(), j.progress));
    }
    let job = engine.get(&id).unwrap();
    run.stop().await;
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(job.result, Some(json!({"vm": "web-1"})));
    assert_eq!(job.progress, 100);
    assert_eq!(
        job.note.as_deref(),
        None,
        "note of the last Continue had none"
    );
    assert_eq!(
        h.calls(),
        vec![
            (FIRST_STEP.into(), 1),
            ("define".into(), 1),
            ("start".into(), 1)
        ]
    );
    // Watchers may coalesce updates, but the final state always arrives.
    assert_eq!(
        seen.last().unwrap(),
        &(JobState::Succeeded, "start".into(), 100)
    );
    assert!(
        seen.windows(2).all(|w| w[0].2 <= w[1].2),
        "progress went back: {seen:?}"
    );
    let notes: Vec<_> = job.history.iter().map(|h| h.note.as_str()).collect();
    assert!(notes.contains(&"placed on host-a"), "{notes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new(
        "vm.migrate",
        vec![
            StepOutcome::Retry("agent timed out".into()),
            StepOutcome::Retry("agent timed out".into()),
            StepOutcome::Done(json!(null)),
        ],
    );
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let run = start(&engine);
    let id = engine.submit("vm.migrate", json!({}), None).unwrap();
    let job = wait_final(&engine, &id).await;
    run.stop().await;
    assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    assert_eq!(job.error, None);
    assert_eq!(
        h.calls(),
        vec![
            (FIRST_STEP.into(), 1),
            (FIRST_STEP.into(), 2),
            (FIRST_STEP.into(), 3)
        ]
    );
    let times: Vec<Instant> = h.calls.lock().unwrap().iter().map(|c| c.2).collect();
    // Back-off 40 ms then 80 ms (no jitter in this config).
    assert!(
        times[1] - times[0] >= Duration::from_millis(40),
        "{:?}",
        times[1] - times[0]
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(80),
        "{:?}",
        times[2] - times[1]
    );
    assert!(job.history.iter().any(|e| e.state == JobState::Retrying));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_max_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new(
        "vm.migrate",
        vec![StepOutcome::Retry("agent down".into()); 5],
    );
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let run = start(&engine);
    let id = engine.submit("vm.migrate", json!({}), None).unwrap();
    let job = wait_final(&engine, &id).await;
    run.stop().await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempts, 3);
    assert_eq!(h.calls().len(), 3);
    assert_eq!(
        job.error.as_deref(),
        Some("step start failed 3 times, giving up: agent down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failure_and_panics_fail_the_job() {
    struct Panics;
    #[async_trait]
    impl JobHandler for Panics {
        fn kind(&self) -> &str {
            "panics"
        }
        async fn step(&self, _: &JobContext, _: &JobRecord) -> StepOutcome {
            panic!("handler bug")
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new(
        "vs.scale",
        vec![
            StepOutcome::next("place", 10),
            StepOutcome::Fail("no host fits 64 GiB".into()),
        ],
    );
    let engine = JobEngine::new(
        &store,
        handlers(&[h.clone(), Arc::new(Panics)]),
        fast_config(),
    )
    .unwrap();
    let run = start(&engine);
    let a = engine.submit("vs.scale", json!({}), None).unwrap();
    let b = engine.submit("panics", json!({}), None).unwrap();
    let (a, b) = (wait_final(&engine, &a).await, wait_final(&engine, &b).await);
    run.stop().await;
    assert_eq!(a.state, JobState::Failed);
    assert_eq!(a.error.as_deref(), Some("no host fits 64 GiB"));
    assert_eq!(a.step, "place");
    assert_eq!(b.state, JobState::Failed);
    assert_eq!(b.error.as_deref(), Some("handler panicked in step start"));
    assert_eq!(
        b.history.last().unwrap().note,
        "step start failed: handler panicked in step start"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_a_queued_job_is_immediate() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new("vm.create", vec![StepOutcome::Done(json!(1))]);
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let id = engine.submit("vm.create", json!({}), None).unwrap();
    let job = engine.cancel(&id).unwrap();
    assert_eq!(job.state, JobState::Cancelled);
    assert!(job.cancel_requested);
    // Running the engine afterwards does not run it; cancelling again is a no-op.
    let run = start(&engine);
    tokio::time::sleep(Duration::from_millis(50)).await;
    run.stop().await;
    assert!(h.calls().is_empty());
    assert_eq!(engine.cancel(&id).unwrap().state, JobState::Cancelled);
    let missing = engine.cancel(&JobId::from("job-nope")).unwrap_err();
    assert!(matches!(missing, JobError::NotFound { .. }), "{missing}");
}

/// Waits inside its first step until cancel is requested, then continues.
struct WaitsForCancel {
    entered: tokio::sync::Notify,
    saw_cancel: AtomicUsize,
    later_steps: AtomicUsize,
}

#[async_trait]
impl JobHandler for WaitsForCancel {
    fn kind(&self) -> &str {
        "drain"
    }
    async fn step(&self, ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        if job.step != FIRST_STEP {
            self.later_steps.fetch_add(1, Ordering::SeqCst);
            return StepOutcome::Done(json!(null));
        }
        self.entered.notify_one();
        for _ in 0..1000 {
            if ctx.cancel_requested() {
                self.saw_cancel.fetch_add(1, Ordering::SeqCst);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        StepOutcome::Continue {
            step: "migrate-next".into(),
            progress: 40,
            note: "moved 2 of 5 VMs".into(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_of_a_running_job_stops_it_between_steps() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Arc::new(WaitsForCancel {
        entered: tokio::sync::Notify::new(),
        saw_cancel: AtomicUsize::new(0),
        later_steps: AtomicUsize::new(0),
    });
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let run = start(&engine);
    let id = engine.submit("drain", json!({"host": "a"}), None).unwrap();
    h.entered.notified().await;
    let during = engine.cancel(&id).unwrap();
    assert_eq!(during.state, JobState::Running);
    assert!(during.cancel_requested);
    let job = wait_final(&engine, &id).await;
    run.stop().await;
    assert_eq!(job.state, JobState::Cancelled);
    assert_eq!(
        h.saw_cancel.load(Ordering::SeqCst),
        1,
        "ctx.cancel_requested() was seen"
    );
    assert_eq!(h.later_steps.load(Ordering::SeqCst), 0);
    // What the step finished is recorded before the cancel takes effect.
    assert_eq!((job.step.as_str(), job.progress), ("migrate-next", 40));
    assert_eq!(
        job.history.last().unwrap().note,
        "cancelled before step migrate-next"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_returns_the_existing_job() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new("vm.create", vec![StepOutcome::Done(json!(1))]);
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let key = Some("create web-1 req 42".to_string());
    let a = engine
        .submit("vm.create", json!({"name": "web-1"}), key.clone())
        .unwrap();
    let b = engine
        .submit("vm.create", json!({"name": "web-1"}), key.clone())
        .unwrap();
    assert_eq!(a, b);
    let conflict = engine
        .submit("vm.create", json!({"name": "web-2"}), key.clone())
        .unwrap_err();
    assert!(
        matches!(conflict, JobError::IdempotencyConflict { ref existing, .. } if *existing == a),
        "{conflict}"
    );
    // Without a key every submit is a new job.
    let c = engine
        .submit("vm.create", json!({"name": "web-1"}), None)
        .unwrap();
    assert_ne!(a, c);
    assert_eq!(engine.list(&JobFilter::default()).unwrap().len(), 2);

    // Concurrent submits with one key: one job.
    let ids: Vec<JobId> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    engine
                        .submit("vm.create", json!({"n": 3}), Some("k3".into()))
                        .unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
    assert_eq!(engine.list(&JobFilter::default()).unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_reserved_before_a_crash_is_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // A crash between reserving the key and writing the job leaves this.
    store
        .collection::<String>(names::JOB_KEYS)
        .unwrap()
        .put("k", &"job-0000000000001-00000000".to_string())
        .unwrap();
    let h = Scripted::new("vm.create", vec![]);
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let id = engine
        .submit("vm.create", json!({}), Some("k".into()))
        .unwrap();
    assert_eq!(id.as_str(), "job-0000000000001-00000000");
    assert_eq!(engine.get(&id).unwrap().state, JobState::Queued);
    assert_eq!(
        engine
            .submit("vm.create", json!({}), Some("k".into()))
            .unwrap(),
        id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kinds_and_duplicate_handlers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new("a", vec![]);
    let dup = JobEngine::new(&store, handlers(&[h.clone(), h.clone()]), fast_config());
    assert!(matches!(dup, Err(JobError::DuplicateHandler { .. })));
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let err = engine.submit("b", json!({}), None).unwrap_err();
    assert_eq!(err.to_string(), "no job handler for kind \"b\"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_job_records_owner_and_attempt_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Scripted::new("vm.create", vec![]);
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let id = engine
        .submit_job(NewJob {
            kind: "vm.create".into(),
            params: json!({"name": "db-1"}),
            owner: Some("alice".into()),
            max_attempts: Some(9),
            ..NewJob::default()
        })
        .unwrap();
    engine.submit("vm.create", json!({}), None).unwrap();
    let mine = engine
        .list(&JobFilter {
            owner: Some("alice".into()),
            ..JobFilter::default()
        })
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((&mine[0].id, mine[0].max_attempts), (&id, 9));
}

/// Sleeps in each step and tracks how many run at once.
struct Sleeper {
    now: AtomicUsize,
    max: AtomicUsize,
}

#[async_trait]
impl JobHandler for Sleeper {
    fn kind(&self) -> &str {
        "sleep"
    }
    async fn step(&self, _: &JobContext, _: &JobRecord) -> StepOutcome {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(40)).await;
        self.now.fetch_sub(1, Ordering::SeqCst);
        StepOutcome::Done(json!(null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_limit_holds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Arc::new(Sleeper {
        now: AtomicUsize::new(0),
        max: AtomicUsize::new(0),
    });
    let config = EngineConfig {
        concurrency: 2,
        ..fast_config()
    };
    let engine = JobEngine::new(&store, one(&h), config).unwrap();
    let ids: Vec<_> = (0..6)
        .map(|_| engine.submit("sleep", json!({}), None).unwrap())
        .collect();
    let run = start(&engine);
    for id in &ids {
        assert_eq!(wait_final(&engine, id).await.state, JobState::Succeeded);
    }
    run.stop().await;
    assert_eq!(h.max.load(Ordering::SeqCst), 2);
    let done = engine
        .list(&JobFilter {
            state: Some(JobState::Succeeded),
            kind: Some("sleep".into()),
            ..JobFilter::default()
        })
        .unwrap();
    assert_eq!(done.len(), 6);
}

/// Leave a stored job as a crash mid-step would: `Running` at `step`.
fn as_if_interrupted(store: &Store, id: &JobId, step: &str, attempts: u32) {
    let jobs = store.collection::<JobRecord>(names::JOBS).unwrap();
    let mut job = jobs.get(id.as_str()).unwrap().unwrap();
    job.state = JobState::Running;
    job.step = step.into();
    job.attempts = attempts;
    jobs.put(id.as_str(), &job).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_jobs_resume_or_fail_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let resumable = Scripted::new("vm.create", vec![StepOutcome::Done(json!("resumed"))]);
    let once = Arc::new(Scripted {
        kind: "power.cycle",
        resumable: false,
        outcomes: Mutex::new(VecDeque::new()),
        calls: Mutex::new(Vec::new()),
    });
    let hs = handlers(&[resumable.clone(), once.clone()]);
    let (a, b, c, d, gone) = {
        let engine = JobEngine::new(&store, hs.clone(), fast_config()).unwrap();
        let a = engine.submit("vm.create", json!({"n": 1}), None).unwrap();
        let b = engine.submit("power.cycle", json!({}), None).unwrap();
        let c = engine.submit("vm.create", json!({"n": 2}), None).unwrap();
        let d = engine.submit("vm.create", json!({"n": 3}), None).unwrap();
        let gone = engine.submit("power.cycle", json!({"n": 4}), None).unwrap();
        engine.cancel(&d).unwrap();
        (a, b, c, d, gone)
    };
    as_if_interrupted(&store, &a, "define", 0);
    as_if_interrupted(&store, &b, "off", 0);
    as_if_interrupted(&store, &c, "define", 2); // third interruption of max 3
    as_if_interrupted(&store, &gone, "off", 0);
    // d was cancelled while queued: it stays cancelled.

    // `gone` is checked further down, with an engine that lacks its handler.
    let engine = JobEngine::new(&store, hs, fast_config()).unwrap();
    let b_job = engine.get(&b).unwrap();
    assert_eq!(b_job.state, JobState::Failed);
    let err = b_job.error.unwrap();
    assert!(
        err.starts_with("manager restarted during step off; kind \"power.cycle\" is not resumable"),
        "{err}"
    );
    let c_job = engine.get(&c).unwrap();
    assert_eq!(c_job.state, JobState::Failed);
    assert_eq!(
        c_job.error.as_deref(),
        Some("manager restarted during step define; attempts exhausted (3 of 3)")
    );
    assert_eq!(engine.get(&d).unwrap().state, JobState::Cancelled);
    assert_eq!(engine.get(&a).unwrap().state, JobState::Queued);

    let run = start(&engine);
    let a_job = wait_final(&engine, &a).await;
    run.stop().await;
    assert_eq!(a_job.state, JobState::Succeeded);
    assert_eq!(
        resumable.calls(),
        vec![("define".into(), 2)],
        "re-ran the stored step as try 2"
    );
    assert!(once.calls().is_empty());
    assert!(a_job
        .history
        .iter()
        .any(|e| e.note == "manager restarted during step define; resuming at that step"));
    drop(engine);

    // A restart that lost the handler for a kind fails its interrupted job.
    as_if_interrupted(&store, &gone, "off", 0);
    let engine = JobEngine::new(&store, one(&resumable), fast_config()).unwrap();
    assert_eq!(
        engine.get(&gone).unwrap().error.as_deref(),
        Some("manager restarted during step off; no handler for kind \"power.cycle\"")
    );
}

/// Two steps; the first is slow enough to stop the engine during it.
struct TwoSteps {
    entered: tokio::sync::Notify,
    calls: Mutex<Vec<String>>,
}

#[async_trait]
impl JobHandler for TwoSteps {
    fn kind(&self) -> &str {
        "two"
    }
    async fn step(&self, _: &JobContext, job: &JobRecord) -> StepOutcome {
        self.calls.lock().unwrap().push(job.step.clone());
        if job.step == FIRST_STEP {
            self.entered.notify_one();
            tokio::time::sleep(Duration::from_millis(100)).await;
            StepOutcome::next("second", 50)
        } else {
            StepOutcome::Done(json!("both"))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_pauses_between_steps_and_a_new_engine_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = Arc::new(TwoSteps {
        entered: tokio::sync::Notify::new(),
        calls: Mutex::new(Vec::new()),
    });
    let id = {
        let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
        let run = start(&engine);
        let id = engine.submit("two", json!({}), None).unwrap();
        h.entered.notified().await;
        // run() returns only after the running step has finished.
        run.stop().await;
        let job = engine.get(&id).unwrap();
        assert_eq!(
            (job.state, job.step.as_str(), job.progress),
            (JobState::Queued, "second", 50)
        );
        assert_eq!(
            job.history.last().unwrap().note,
            "paused before step second by manager shutdown"
        );
        id
    };
    let engine = JobEngine::new(&store, one(&h), fast_config()).unwrap();
    let run = start(&engine);
    let job = wait_final(&engine, &id).await;
    run.stop().await;
    assert_eq!(job.state, JobState::Succeeded);
    assert_eq!(
        *h.calls.lock().unwrap(),
        vec![FIRST_STEP.to_string(), "second".into()]
    );
    // A clean pause is not an attempt.
    assert_eq!(job.attempts, 0);
}
