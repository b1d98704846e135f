//! What a job holds is let go when the job ends without running again:
//! a `vm.create` cancelled while it waits to retry gives back the room
//! placement kept for it at once, and a job the recovery at start cannot
//! resume is named, with the reason, in the event log.
//!
//! The host's agent is a closed loopback port, so defining the VM fails
//! with a transient error and the job waits for its retry — no agent,
//! libvirt or HAProxy is needed to reach that state.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vine_coordinator::events::Severity;
use vine_coordinator::inventory::{HostHealth, HostRecord, Inventory};
use vine_coordinator::jobs::{Backoff, EngineConfig, JobState};
use vine_coordinator::ops::params::CreateVm;
use vine_coordinator::ops::{Coordinator, CoordinatorConfig};
use vine_coordinator::placement::Resources;
use vine_coordinator::vni::{HostCapacity, VmTemplate};
use vine_store::{names, Store};
use vine_wbem::client::{ClientConfig, TlsVerify};

/// A port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn coordinator(store: &Store) -> Arc<Coordinator> {
    let inv = Arc::new(
        Inventory::open(
            store,
            ClientConfig {
                url: String::new(),
                user: "admin".into(),
                password: "x".into(),
                tls: TlsVerify::Insecure,
                timeout: Duration::from_secs(2),
            },
        )
        .unwrap(),
    );
    Coordinator::open(
        store,
        inv,
        CoordinatorConfig {
            engine: EngineConfig {
                concurrency: 2,
                // Long enough that the job is still waiting when cancelled.
                backoff: Backoff {
                    initial: Duration::from_secs(600),
                    max: Duration::from_secs(600),
                    multiplier: 1.0,
                    jitter: 0.0,
                },
                max_attempts: 5,
            },
            ..Default::default()
        },
    )
    .unwrap()
}

fn store_with_host(dir: &std::path::Path) -> Store {
    let store = Store::open(dir).unwrap();
    let hosts = store.collection::<HostRecord>(names::HOSTS).unwrap();
    hosts
        .put(
            "a",
            &HostRecord {
                name: "a".into(),
                url: format!("http://127.0.0.1:{}", closed_port()),
                prefix: Some("KVM".into()),
                system_name: Some("a".into()),
                health: HostHealth::Up,
                last_seen: Some(1),
                last_error: None,
                capacity: Some(HostCapacity {
                    vcpus: 8,
                    memory_mib: 16_384,
                }),
                labels: Default::default(),
                maintenance: false,
                ..HostRecord::new("", "")
            },
        )
        .unwrap();
    store
}

fn allocated(c: &Coordinator) -> Resources {
    c.pools()
        .host_loads()
        .unwrap()
        .into_iter()
        .find(|l| l.name == "a")
        .unwrap()
        .allocated
}

fn create(name: &str) -> CreateVm {
    CreateVm {
        template: VmTemplate {
            name: name.into(),
            vcpus: 2,
            memory_mib: 1024,
            disks: Vec::new(),
            nics: Vec::new(),
        },
        host: None,
        pool: None,
        start: true,
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_create_waiting_to_retry_gives_its_room_back_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_host(dir.path());
    let c = coordinator(&store);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = {
        let c = c.clone();
        tokio::spawn(async move {
            c.run(async {
                let _ = stopped.await;
            })
            .await
        })
    };

    let id = c.create_vm(create("web-1"), None, None).unwrap();
    let c2 = c.clone();
    let id2 = id.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the create to wait for a retry", || {
            c2.job(&id2).unwrap().state == JobState::Retrying
        })
    })
    .await
    .unwrap();
    let job = c.job(&id).unwrap();
    assert_eq!(
        job.step, "define",
        "placed, then the agent refused: {job:?}"
    );
    // Placement holds the room while the job waits.
    assert_eq!(allocated(&c), Resources::new(2, 1024));

    let cancelled = c.cancel_job(&id).unwrap();
    assert_eq!(cancelled.state, JobState::Cancelled);
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || {
        wait_for("the held room to be released", || {
            allocated(&c2) == Resources::default()
        })
    })
    .await
    .unwrap();
    let _ = stop.send(());
    runner.await.unwrap();
}

#[test]
fn a_job_the_restart_cannot_resume_is_in_the_event_log_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_host(dir.path());
    let id = {
        let c = coordinator(&store);
        let id = c.create_vm(create("web-1"), None, None).unwrap();
        // As a crash leaves it: Running, its tries used up.
        let jobs = store.collection::<serde_json::Value>(names::JOBS).unwrap();
        let mut j = jobs.get(id.as_str()).unwrap().unwrap();
        j["state"] = "running".into();
        j["attempts"] = 4.into();
        jobs.put(id.as_str(), &j).unwrap();
        id
    };
    let c = coordinator(&store);
    assert_eq!(c.job(&id).unwrap().state, JobState::Failed);
    let events = c.events().recent(10).unwrap();
    let ev = events
        .iter()
        .find(|e| e.subject == id.as_str())
        .unwrap_or_else(|| panic!("no event for {id}: {events:?}"));
    assert_eq!(ev.severity, Severity::Error);
    assert_eq!(ev.kind, "job.failed");
    assert!(
        ev.message.contains("vm.create")
            && ev.message.contains("step start")
            && ev.message.contains("attempts exhausted"),
        "{}",
        ev.message
    );
}
