//! VM and host jobs end to end, as a user drives them: three real
//! `vine agent --test-host` processes and one `vine manager`, everything
//! through the manager's REST API (`ApiClient`), every outcome checked on
//! the agents themselves through the Virtual Node Interface.
//!
//! Agents a and b are each other's migration peers (by agent URL); c has
//! no peers, so a move to c is refused by the source agent — which is how
//! the test sees placement fall back to the next host, and a move to c
//! fail with the agent's reason.

mod jobs_support;

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use vine_coordinator::vni::VmState;

use jobs_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_and_host_jobs_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        AgentSpec::new("a"),
        AgentSpec::new("b"),
        AgentSpec::new("c"),
    );
    let _pa = start_agent(dir.path(), &a, &[&b]);
    let _pb = start_agent(dir.path(), &b, &[&a]);
    let _pc = start_agent(dir.path(), &c, &[]);
    let m = start_manager(dir.path(), &[&a, &b, &c], None);
    let api = &m.api;

    let hosts: Vec<Value> = api.get("/hosts").await.unwrap();
    assert_eq!(hosts.len(), 3);
    assert!(hosts.iter().all(|h| h["health"] == "Up"), "{hosts:#?}");

    // Create on a named host, started.
    let id = post_job(api, "/vms", create_body("web-1", 2, 1024, Some("a"), true)).await;
    let r = succeeds(api, &id).await;
    assert_eq!(
        (r["vm"].as_str(), r["host"].as_str()),
        (Some("web-1"), Some("a"))
    );
    let v = agent_vm(&a, "web-1").await.expect("web-1 is defined on a");
    assert_eq!(
        (v.state, v.vcpus, v.memory_mib),
        (VmState::Running, Some(2), Some(1024))
    );
    let inv: Value = api.get("/vms/web-1").await.unwrap();
    assert_eq!(
        (inv["host"].as_str(), inv["state"].as_str()),
        (Some("a"), Some("Running"))
    );

    // Placed by the pools: the least-loaded hosts are b and c (empty);
    // ties go by name.
    let id = post_job(api, "/vms", create_body("web-2", 1, 512, None, true)).await;
    assert_eq!(succeeds(api, &id).await["host"], "b");
    assert!(agent_vm(&b, "web-2").await.is_some());

    // Power actions, each checked on the agent.
    for (action, want) in [
        ("pause", VmState::Paused),
        ("resume", VmState::Running),
        ("stop", VmState::Stopped),
        ("start", VmState::Running),
        ("reboot", VmState::Running),
    ] {
        let id = post_job(api, "/vms/web-1/power", json!({ "action": action })).await;
        let r = succeeds(api, &id).await;
        assert_eq!(
            agent_vm(&a, "web-1").await.unwrap().state,
            want,
            "{action}: {r}"
        );
    }
    // Asking for what the VM already is succeeds without a change.
    let id = post_job(api, "/vms/web-1/power", json!({"action": "start"})).await;
    succeeds(api, &id).await;
    let job: Value = api.get(&format!("/jobs/{id}")).await.unwrap();
    assert!(
        job["history"].to_string().contains("already running"),
        "{job:#}"
    );
    // Pausing a stopped VM is refused before any job, saying what to do.
    let id = post_job(api, "/vms/web-2/power", json!({"action": "stop"})).await;
    succeeds(api, &id).await;
    let (status, _, detail) = refused(
        api.post("/vms/web-2/power", &json!({"action": "pause"}))
            .await,
    );
    assert_eq!(status, 409, "{detail}");
    assert!(
        detail.contains("stopped") && detail.contains("start"),
        "{detail}"
    );

    // Virtualizing down within the host.
    let id = post_job(
        api,
        "/vms/web-1/resize",
        json!({"vcpus": 1, "memory_mib": 512}),
    )
    .await;
    let r = succeeds(api, &id).await;
    assert_eq!(
        (r["vcpus"].as_u64(), r["memory_mib"].as_u64()),
        (Some(1), Some(512))
    );
    let v = agent_vm(&a, "web-1").await.unwrap();
    assert_eq!((v.vcpus, v.memory_mib), (Some(1), Some(512)));
    // More than the host has is refused with the room it has.
    let (status, kind, detail) = refused(
        api.post("/vms/web-1/resize", &json!({"memory_mib": 40000}))
            .await,
    );
    assert_eq!((status, kind.as_str()), (422, "no-room"), "{detail}");
    assert!(
        detail.contains("host a") && detail.contains("free"),
        "{detail}"
    );

    // Migrate to a named host: on b now, gone from a, and the inventory
    // says so.
    let id = post_job(api, "/vms/web-1/migrate", json!({"to": "b"})).await;
    let (job, progress) = follow(api, &id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
    assert_eq!(
        job["result"],
        json!({"vm": "web-1", "from": "a", "to": "b"})
    );
    assert!(agent_vm(&a, "web-1").await.is_none(), "web-1 left a");
    let v = agent_vm(&b, "web-1").await.expect("web-1 is on b");
    assert_eq!((v.state, v.vcpus), (VmState::Running, Some(1)));
    let inv: Value = api.get("/vms/web-1").await.unwrap();
    assert_eq!(inv["host"], "b");

    // A move the source agent refuses fails with the agent's reason.
    let id = post_job(api, "/vms/web-1/migrate", json!({"to": "c"})).await;
    let (job, _) = follow(api, &id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "failed", "{job:#}");
    let err = job["error"].as_str().unwrap();
    assert!(err.contains("web-1") && err.contains("host c"), "{err}");
    assert!(agent_vm(&b, "web-1").await.is_some(), "web-1 stayed on b");

    // Delete: gone from the agent and the inventory.
    let id = post_job(api, "/vms/web-2/power", json!({"action": "start"})).await;
    succeeds(api, &id).await;
    let id = job_of(api.delete("/vms/web-2").await, "DELETE web-2");
    succeeds(api, &id).await;
    assert!(agent_vm(&b, "web-2").await.is_none());
    let (status, _, _) = refused(api.get::<Value>("/vms/web-2").await);
    assert_eq!(status, 404);

    // Drain b: web-1 (running) and web-3 (stopped) go elsewhere. With
    // keep-a on a, c is the emptiest host, but b's agent cannot move VMs
    // there: placement falls back to a for both.
    let id = post_job(api, "/vms", create_body("web-3", 1, 256, Some("b"), false)).await;
    assert_eq!(succeeds(api, &id).await["state"], "stopped");
    let id = post_job(api, "/vms", create_body("keep-a", 1, 256, Some("a"), false)).await;
    succeeds(api, &id).await;
    let id = post_job(api, "/hosts/b/drain", json!({})).await;
    let (job, progress) = follow(api, &id, Duration::from_secs(40)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(
        job["result"]["moved"],
        json!([{"vm": "web-1", "to": "a"}, {"vm": "web-3", "to": "a"}])
    );
    assert!(
        progress.iter().any(|&p| p > 0 && p < 100),
        "progress per VM: {progress:?}"
    );
    assert!(agent_vms(&b).await.is_empty(), "b is empty");
    assert!(agent_vms(&c).await.is_empty(), "nothing went to c");
    assert_eq!(agent_vm(&a, "web-1").await.unwrap().state, VmState::Running);
    assert_eq!(agent_vm(&a, "web-3").await.unwrap().state, VmState::Stopped);
    // The drain left b in maintenance: nothing new lands there until an
    // administrator opens it again.
    let hb: Value = api.get("/hosts/b").await.unwrap();
    assert_eq!(hb["maintenance"], true, "{hb:#}");
    let (s, _, detail) = refused(
        api.post("/vms", &create_body("on-b", 1, 256, Some("b"), false))
            .await,
    );
    assert!(s == 422 && detail.contains("maintenance"), "{s} {detail}");
    let hb = api
        .patch("/hosts/b", &json!({"maintenance": false}))
        .await
        .unwrap();
    assert_eq!(hb["maintenance"], false, "{hb:#}");

    // A drain whose VMs fit nowhere else is refused, naming the VM: with
    // big-b filling b, big-c (16000 MiB) has nowhere to go (a has 15360
    // MiB free).
    for (vm, host) in [("big-b", "b"), ("big-c", "c")] {
        let id = post_job(api, "/vms", create_body(vm, 1, 16000, Some(host), false)).await;
        succeeds(api, &id).await;
    }
    let (s, kind, detail) = refused(api.post("/hosts/c/drain", &json!({})).await);
    assert_eq!((s, kind.as_str()), (422, "no-room"), "{detail}");
    assert!(
        detail.contains("VM big-c") && detail.contains("16000 MiB"),
        "{detail}"
    );
    assert_eq!(inventory(api).await, reality(&[&a, &b, &c]).await);

    bad_input(api, &m.url).await;
    openapi_describes(api, &m.url, &id).await;
    idempotent_create(api, &m.url, &[&a, &b, &c]).await;

    // Jobs: filters, and cancelling a finished job changes nothing.
    let done: Vec<Value> = api
        .get("/jobs?kind=vm.create&state=succeeded")
        .await
        .unwrap();
    assert_eq!(done.len(), 8);
    let failed: Vec<Value> = api.get("/jobs?state=failed").await.unwrap();
    assert_eq!(failed.len(), 1);
    let active: Vec<Value> = api.get("/jobs?active=true").await.unwrap();
    assert!(active.is_empty(), "{active:#?}");
    let (status, _, detail) = refused(api.get::<Value>("/jobs?state=sleeping").await);
    assert_eq!(status, 400, "{detail}");
    let j = api
        .post(&format!("/jobs/{id}/cancel"), &json!({}))
        .await
        .unwrap();
    assert_eq!(j["state"], "succeeded");

    // Events: every job that ended said so.
    let events: Vec<Value> = api.get("/events?limit=1000").await.unwrap();
    let count = |k: &str| events.iter().filter(|e| e["kind"] == k).count();
    assert_eq!(count("job.failed"), 1, "{events:#?}");
    assert!(count("job.succeeded") >= 12, "{events:#?}");
    let drained = events
        .iter()
        .find(|e| e["subject"] == "b" && e["kind"] == "job.succeeded")
        .expect("the drain of b has an event");
    assert!(drained["message"].as_str().unwrap().contains("host.drain"));
    let first = events[0]["id"].as_str().unwrap();
    let after: Vec<Value> = api
        .get(&format!("/events?since={first}&limit=2"))
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0]["id"], events[1]["id"]);
}

/// Bad requests: each refused before any job, with a problem body that
/// says what is wrong.
async fn bad_input(api: &vine_console::ApiClient, url: &str) {
    let (s, kind, detail) = refused(
        api.post("/vms/nope/power", &json!({"action": "start"}))
            .await,
    );
    assert_eq!((s, kind.as_str()), (404, "not-found"));
    assert!(detail.contains("no VM named nope"), "{detail}");
    let (s, _, detail) = refused(api.post("/vms/web-1/migrate", &json!({"to": "zz"})).await);
    assert_eq!(s, 404, "{detail}");
    assert!(detail.contains("zz"), "{detail}");
    let (s, _, _) = refused(api.post("/hosts/zz/drain", &json!({})).await);
    assert_eq!(s, 404);

    let (s, kind, detail) = refused(
        api.post("/vms", &create_body("web-1", 1, 256, None, true))
            .await,
    );
    assert_eq!((s, kind.as_str()), (409, "conflict"));
    assert!(detail.contains("already exists on host a"), "{detail}");

    let (s, kind, detail) = refused(
        api.post("/vms", &create_body("huge", 2, 999_999, None, true))
            .await,
    );
    assert_eq!((s, kind.as_str()), (422, "no-room"), "{detail}");
    assert!(
        detail.contains("999999 MiB") && detail.contains("free"),
        "{detail}"
    );
    let (s, _, detail) = refused(api.post("/vms/web-1/migrate", &json!({"to": "a"})).await);
    assert_eq!(s, 400, "{detail}");
    assert!(detail.contains("already"), "{detail}");

    for (body, what) in [
        (json!({"template": {"name": "x", "vcpus": 1}}), "memory_mib"),
        (
            json!({"template": {"name": "x", "vcpus": 1, "memory_mib": 1}, "strat": false}),
            "strat",
        ),
        (
            json!({"template": {"name": "a/b", "vcpus": 1, "memory_mib": 1}}),
            "not allowed",
        ),
        (
            json!({"template": {"name": "x", "vcpus": 0, "memory_mib": 1}}),
            "at least 1 vCPU",
        ),
    ] {
        let (s, _, detail) = refused(api.post("/vms", &body).await);
        assert_eq!(s, 400, "{body}: {detail}");
        assert!(detail.contains(what), "{body}: {detail}");
    }
    let (s, _, detail) = refused(
        api.post("/vms/web-1/power", &json!({"action": "explode"}))
            .await,
    );
    assert_eq!(s, 400);
    assert!(detail.contains("start, shutdown"), "{detail}");
    let (s, _, detail) = refused(api.post("/vms/web-1/resize", &json!({})).await);
    assert_eq!(s, 400);
    assert!(detail.contains("vcpus"), "{detail}");

    // Not JSON at all, from a third-party client: 400 with a problem body.
    let out = Command::new("curl")
        .args(["-sSk", "-X", "POST", "-H", "Content-Type: application/json"])
        .args([
            "--data",
            "{not json",
            "-w",
            "\n%{http_code} %{content_type}",
            "-u",
        ])
        .arg(format!("admin:{PASSWORD}"))
        .arg(format!("{url}/vms"))
        .output()
        .expect("curl is installed by deploy/setup.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, tail) = text.rsplit_once('\n').unwrap();
    assert_eq!(tail, "400 application/problem+json", "{text}");
    let p: Value = serde_json::from_str(body).unwrap();
    assert_eq!(p["status"], 400);
    assert!(p["detail"].as_str().unwrap().contains("not valid"), "{p}");
}

/// The OpenAPI document has the job routes, and real answers carry what
/// its schemas require.
async fn openapi_describes(api: &vine_console::ApiClient, url: &str, job: &str) {
    let base = url.trim_end_matches("/api/v1");
    let out = Command::new("curl")
        .args(["-sSk", "--fail-with-body"])
        .arg(format!("{base}/api/openapi.json"))
        .output()
        .expect("curl runs");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths = &doc["paths"];
    for (path, method) in [
        ("/api/v1/vms", "post"),
        ("/api/v1/vms/{name}", "delete"),
        ("/api/v1/vms/{name}/power", "post"),
        ("/api/v1/vms/{name}/resize", "post"),
        ("/api/v1/vms/{name}/migrate", "post"),
        ("/api/v1/hosts/{name}/drain", "post"),
        ("/api/v1/jobs", "get"),
        ("/api/v1/jobs/{name}", "get"),
        ("/api/v1/jobs/{name}/cancel", "post"),
        ("/api/v1/events", "get"),
    ] {
        assert!(
            paths[path][method].is_object(),
            "{method} {path} is described"
        );
    }
    let required = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["required"]
            .as_array()
            .unwrap_or_else(|| panic!("schema {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let j: Value = api.get(&format!("/jobs/{job}")).await.unwrap();
    let events: Vec<Value> = api.get("/events?limit=1").await.unwrap();
    let answered = api
        .post("/vms", &create_body("spec-check", 1, 64, None, false))
        .await
        .unwrap();
    for (schema, v) in [
        ("Job", &j),
        ("Event", &events[0]),
        ("JobAccepted", &answered),
    ] {
        for field in required(schema) {
            assert!(v.get(&field).is_some(), "{schema} needs {field}: {v}");
        }
    }
    succeeds(api, answered["job"].as_str().unwrap()).await;
}

/// POST with an `Idempotency-Key` header, through curl: (status, body).
fn post_with_key(url: &str, path: &str, key: &str, body: &Value) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sSk", "-X", "POST", "-H", "Content-Type: application/json"])
        .args(["-H", &format!("Idempotency-Key: {key}")])
        .args(["--data", &body.to_string(), "-w", "\n%{http_code}", "-u"])
        .arg(format!("admin:{PASSWORD}"))
        .arg(format!("{url}{path}"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), serde_json::from_str(body).unwrap())
}

/// A create sent again with its key answers with the first job, even
/// once the VM exists; the key with another request is a conflict.
async fn idempotent_create(api: &vine_console::ApiClient, url: &str, agents: &[&AgentSpec]) {
    let body = create_body("idem-1", 1, 64, None, false);
    let (s1, first) = post_with_key(url, "/vms", "create-idem-1", &body);
    let (s2, again) = post_with_key(url, "/vms", "create-idem-1", &body);
    assert_eq!((s1, s2), (202, 202), "{first} {again}");
    assert_eq!(first["job"], again["job"]);
    succeeds(api, first["job"].as_str().unwrap()).await;
    let (s3, late) = post_with_key(url, "/vms", "create-idem-1", &body);
    assert_eq!((s3, &late["job"]), (202, &first["job"]));
    let other = create_body("idem-2", 1, 64, None, false);
    let (s4, p) = post_with_key(url, "/vms", "create-idem-1", &other);
    assert_eq!(s4, 409, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("create-idem-1"),
        "{p}"
    );
    let mut n = 0;
    for a in agents {
        n += agent_vms(a)
            .await
            .iter()
            .filter(|v| v.name == "idem-1")
            .count();
    }
    assert_eq!(n, 1, "created once");
}
