//! Jobs across failures, with real processes: the manager killed with
//! SIGKILL in the middle of a create and of a migration, then restarted on
//! the same state directory; an agent killed in the middle of a job, once
//! coming back and once not.
//!
//! To land the kill at the worst moment — the step has acted on the agent,
//! the record of it is not stored yet — the manager runs with
//! `VINE_TEST_STEP_PAUSE_MS` (a test-only knob: each step that acted waits
//! that long before its outcome is stored).

mod jobs_support;

use std::time::Duration;

use serde_json::{json, Value};
use vine_coordinator::vni::VmState;

use jobs_support::*;

const PAUSE: Duration = Duration::from_millis(1500);

fn history(job: &Value) -> String {
    job["history"].to_string()
}

/// How many of the agents have a VM named `vm`.
async fn copies(agents: &[&AgentSpec], vm: &str) -> usize {
    let mut n = 0;
    for a in agents {
        n += usize::from(agent_vm(a, vm).await.is_some());
    }
    n
}

/// Waits (at most the pause) until `vm` is on each of `on` and on none of
/// `off`, as the agents report.
async fn on_agents(on: &[&AgentSpec], off: &[&AgentSpec], vm: &str) {
    let deadline = std::time::Instant::now() + PAUSE;
    loop {
        let mut there = true;
        for a in on {
            there &= agent_vm(a, vm).await.is_some();
        }
        for a in off {
            there &= agent_vm(a, vm).await.is_none();
        }
        if there {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{vm} did not reach the agents within the step's pause"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_survive_a_manager_kill_and_an_agent_loss() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        AgentSpec::new("a"),
        AgentSpec::new("b"),
        AgentSpec::new("c"),
    );
    let _pa = start_agent(dir.path(), &a, &[&b]);
    let _pb = start_agent(dir.path(), &b, &[&a]);
    let pc = start_agent(dir.path(), &c, &[]);
    let all = [&a, &b, &c];

    // 1. kill -9 while `define` waits to store that it defined the VM.
    let m = start_manager(dir.path(), &all, Some(PAUSE));
    let id = post_job(
        &m.api,
        "/vms",
        create_body("crash-1", 1, 512, Some("a"), true),
    )
    .await;
    until_job(&m.api, &id, Duration::from_secs(10), |j| {
        j["step"] == "define" && j["state"] == "running"
    })
    .await;
    // Killed as soon as the agent has the VM: the step has acted and its
    // outcome waits on the pause.
    on_agents(&[&a], &[], "crash-1").await;
    m.proc.kill9();
    let m = start_manager(dir.path(), &all, Some(PAUSE));
    let (job, _) = follow(&m.api, &id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    let h = history(&job);
    assert!(h.contains("manager restarted during step define"), "{h}");
    assert!(h.contains("already defined on a"), "{h}");
    assert_eq!(copies(&all, "crash-1").await, 1, "defined once");
    let v = agent_vm(&a, "crash-1").await.unwrap();
    assert_eq!(v.state, VmState::Running);
    assert_eq!(inventory(&m.api).await, reality(&all).await);

    // 2. kill -9 while `migrate` waits to store that it started the move.
    let id = post_job(&m.api, "/vms/crash-1/migrate", json!({"to": "b"})).await;
    until_job(&m.api, &id, Duration::from_secs(10), |j| {
        j["step"] == "migrate" && j["state"] == "running"
    })
    .await;
    on_agents(&[&b], &[&a], "crash-1").await;
    m.proc.kill9();
    let m = start_manager(dir.path(), &all, Some(PAUSE));
    let (job, _) = follow(&m.api, &id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    let h = history(&job);
    assert!(h.contains("manager restarted during step migrate"), "{h}");
    // The re-run looked before acting: no second move was started.
    assert!(h.contains("is on host b already"), "{h}");
    assert_eq!(
        job["result"],
        json!({"vm": "crash-1", "from": "a", "to": "b"})
    );
    assert_eq!(copies(&all, "crash-1").await, 1, "moved once, never copied");
    assert_eq!(
        agent_vm(&b, "crash-1").await.unwrap().state,
        VmState::Running
    );
    assert_eq!(inventory(&m.api).await, reality(&all).await);

    // 2b. Cancelled between define and start: it stops there, and the
    // room placement held for it is released (the host pool counts the
    // VM once, from the inventory).
    let id = post_job(
        &m.api,
        "/vms",
        create_body("cancel-1", 2, 1024, Some("a"), true),
    )
    .await;
    until_job(&m.api, &id, Duration::from_secs(10), |j| {
        j["step"] == "define" && j["state"] == "running"
    })
    .await;
    let j = m
        .api
        .post(&format!("/jobs/{id}/cancel"), &json!({}))
        .await
        .unwrap();
    assert_eq!(j["cancel_requested"], true, "{j:#}");
    let (job, _) = follow(&m.api, &id, Duration::from_secs(10)).await;
    assert_eq!(job["state"], "cancelled", "{job:#}");
    assert_eq!(
        agent_vm(&a, "cancel-1").await.unwrap().state,
        VmState::Stopped
    );
    let pool: Value = m.api.get("/pools/host/a").await.unwrap();
    let on_a: Vec<Value> = m.api.get("/hosts/a/vms").await.unwrap();
    let mem: u64 = on_a.iter().map(|v| v["memory_mib"].as_u64().unwrap()).sum();
    assert_eq!(pool["allocated"]["memory_mib"], mem, "{pool:#} {on_a:#?}");

    // 3. Agent c killed while a create on it is between placement and
    // define: the define is retried, and succeeds once c is back.
    let id = post_job(
        &m.api,
        "/vms",
        create_body("lost-1", 1, 256, Some("c"), true),
    )
    .await;
    until_job(&m.api, &id, Duration::from_secs(10), |j| {
        j["step"] == "start" && j["state"] == "running"
    })
    .await;
    pc.kill9();
    let job = until_job(&m.api, &id, Duration::from_secs(10), |j| {
        j["state"] == "retrying"
    })
    .await;
    let err = job["error"].as_str().unwrap();
    assert!(
        err.contains("host c") && err.contains(&c.url()) && err.contains("cannot connect"),
        "{err}"
    );
    let pc = start_agent(dir.path(), &c, &[]);
    let (job, _) = follow(&m.api, &id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert!(history(&job).contains("retry in"), "{job:#}");
    assert_eq!(copies(&all, "lost-1").await, 1);
    assert_eq!(
        agent_vm(&c, "lost-1").await.unwrap().state,
        VmState::Running
    );

    // 4. Agent c gone for good: a job on its VM retries, then fails
    // saying which agent does not answer.
    pc.kill9();
    let id = post_job(&m.api, "/vms/lost-1/power", json!({"action": "stop"})).await;
    let (job, _) = follow(&m.api, &id, Duration::from_secs(40)).await;
    assert_eq!(job["state"], "failed", "{job:#}");
    let err = job["error"].as_str().unwrap();
    assert!(
        err.contains("5 times") && err.contains("host c") && err.contains(&c.url()),
        "{err}"
    );
    let events: Vec<Value> = m.api.get("/events?limit=1000").await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "job.failed" && e["subject"] == "lost-1"),
        "{events:#?}"
    );
}
