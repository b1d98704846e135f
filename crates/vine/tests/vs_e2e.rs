//! Virtual servers end to end: `vine up` (a real process) with four
//! test-driver hosts and a real HAProxy, driven through the REST API. Each
//! node's "service" is a tiny HTTP responder in this test that answers with
//! the node's name; the test publishes their addresses in the manager's
//! node-address file, as a guest would.

mod up_support;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use vine_console::ApiClient;
use vine_coordinator::ops::vs::AddrFile;

/// `vine up` and our client to its API.
struct Up {
    up: up_support::Up,
    api: ApiClient,
}

/// Starts `vine up` with `hosts` empty hosts.
fn start(dir: &Path, hosts: usize, extra: &[&str]) -> Up {
    let up = up_support::vine_up(dir, hosts, 0, extra);
    Up {
        api: up.client(),
        up,
    }
}

/// Kills vine up as a crash would: its haproxy is left for the next
/// start (the manager must stop an orphaned one).
fn crash(up: Up) {
    up.up.crash();
}

fn stop(up: Up) {
    up.up.stop();
}

/// A node's service: answers every request with `name`.
async fn responder(name: String) -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let name = name.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

/// The node that answered one request through the front end.
async fn get(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("front end accepts");
    s.write_all(b"GET / HTTP/1.1\r\nHost: vs\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    out.rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}

async fn spread(addr: &str, n: usize) -> HashMap<String, usize> {
    let mut hits = HashMap::new();
    for _ in 0..n {
        *hits.entry(get(addr).await).or_insert(0) += 1;
    }
    hits
}

async fn vs(up: &Up, name: &str) -> Value {
    up.api.get(&format!("/vs/{name}")).await.unwrap()
}

/// Polls `GET /vs/{name}` until `ok` holds (or panics with the last view).
async fn wait_vs(up: &Up, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let v = vs(up, name).await;
        if ok(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never happened; last view {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Done with its job, `n` nodes all ready, up and behind the front end.
fn settled(n: usize) -> impl Fn(&Value) -> bool {
    move |v| {
        let nodes = v["nodes"].as_array().unwrap();
        v["job"].is_null()
            && nodes.len() == n
            && nodes
                .iter()
                .all(|x| x["state"] == "ready" && x["health"] == "up")
    }
}

fn nodes(v: &Value) -> Vec<(String, String)> {
    v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["vm"].as_str().unwrap().into(),
                n["host"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn assert_distinct_hosts(v: &Value) {
    let n = nodes(v);
    let hosts: BTreeSet<&String> = n.iter().map(|(_, h)| h).collect();
    assert_eq!(
        hosts.len(),
        n.len(),
        "anti-affinity: one node per host: {n:?}"
    );
}

async fn vm_names(up: &Up) -> BTreeSet<String> {
    let vms: Value = up.api.get("/vms").await.unwrap();
    vms.as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

fn status(e: vine_console::ApiError) -> u16 {
    e.status().unwrap_or_else(|| panic!("no HTTP status: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_server_balances_scales_repairs_and_goes() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path(), 4, &[]);
    let addrs = AddrFile::new(dir.path().join("manager").join("node-addrs"));
    // Each node that may be made gets a service, published under its name.
    let mut services = HashMap::new();
    for i in 1..=8 {
        let name = format!("web-{i}");
        let (a, task) = responder(name.clone()).await;
        addrs.publish(&name, &a.to_string()).unwrap();
        services.insert(name, task);
    }
    let template = json!({"vcpus": 1, "memory_mib": 256});
    let check = json!({"path": "/", "interval_ms": 200, "fall": 2, "rise": 1});

    // Requests the manager refuses before any job exists.
    let bad = |name: &str, nodes: u32| json!({"name": name, "template": template, "nodes": nodes, "health": check});
    let e = up.api.post("/vs", &bad("web site", 2)).await.unwrap_err();
    assert_eq!(status(e), 400);
    let e = up.api.post("/vs", &bad("web", 0)).await.unwrap_err();
    assert_eq!(status(e), 400);
    let e = up.api.post("/vs", &bad("web", 5)).await.unwrap_err();
    assert_eq!(status(e), 422, "5 nodes on 4 hosts breaks anti-affinity");
    assert!(e_detail(up.api.post("/vs", &bad("web", 5)).await).contains("anti-affinity"));

    // Two nodes behind one address; requests reach both, in turn.
    let t0 = Instant::now();
    let r = up.api.post("/vs", &bad("web", 2)).await.unwrap();
    assert!(r["job"].as_str().unwrap().starts_with("job-"), "{r}");
    let e = up.api.post("/vs", &bad("web", 2)).await.unwrap_err();
    assert_eq!(status(e), 409, "the name is taken");
    let v = wait_vs(&up, "web", "2 nodes up", settled(2)).await;
    let created = t0.elapsed();
    assert_distinct_hosts(&v);
    assert_eq!(v["front_end"]["state"], "serving");
    let fe = v["front_end"]["address"].as_str().unwrap().to_string();
    let hits = spread(&fe, 20).await;
    assert_eq!(hits.get("web-1"), Some(&10), "{hits:?}");
    assert_eq!(hits.get("web-2"), Some(&10), "{hits:?}");
    let e = up.api.get::<Value>("/vs/nope").await.unwrap_err();
    assert_eq!(status(e), 404);

    // 2 → 4: new nodes on the two unused hosts, all behind the front end.
    let t1 = Instant::now();
    up.api
        .post("/vs/web/scale", &json!({"nodes": 4}))
        .await
        .unwrap();
    let v = wait_vs(&up, "web", "4 nodes up", settled(4)).await;
    let scaled = t1.elapsed();
    assert_distinct_hosts(&v);
    let hits = spread(&fe, 40).await;
    let want: BTreeSet<String> = (1..=4).map(|i| format!("web-{i}")).collect();
    assert_eq!(
        hits.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "{hits:?}"
    );
    assert!(hits.values().all(|&n| n == 10), "{hits:?}");
    let e = up
        .api
        .post("/vs/web/scale", &json!({"nodes": 5}))
        .await
        .unwrap_err();
    assert_eq!(status(e), 422);

    // 4 → 1: the newest leave the front end and are destroyed.
    up.api
        .post("/vs/web/scale", &json!({"nodes": 1}))
        .await
        .unwrap();
    let v = wait_vs(&up, "web", "1 node left", settled(1)).await;
    assert_eq!(nodes(&v)[0].0, "web-1", "the oldest node stays");
    let hits = spread(&fe, 10).await;
    assert_eq!(hits.get("web-1"), Some(&10), "{hits:?}");
    let vms = vm_names(&up).await;
    assert!(
        vms.contains("web-1") && !vms.contains("web-2") && !vms.contains("web-4"),
        "{vms:?}"
    );

    // Back to 2, then the new node's service dies: the balancer reports
    // it down and the health loop has it replaced on another host.
    up.api
        .post("/vs/web/scale", &json!({"nodes": 2}))
        .await
        .unwrap();
    let v = wait_vs(&up, "web", "2 nodes again", settled(2)).await;
    assert_distinct_hosts(&v);
    let (victim, victim_host) = nodes(&v)[1].clone();
    assert_eq!(victim, "web-5", "node names are never reused");
    let hits = spread(&fe, 10).await;
    assert_eq!(hits.get("web-5"), Some(&5), "{hits:?}");
    // It serves for a while (the health loop, once a second, sees it up),
    // then dies.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    services.remove(&victim).unwrap().abort();
    let t2 = Instant::now();
    let v = wait_vs(&up, "web", "the dead node replaced", |v| {
        settled(2)(v) && !nodes(v).iter().any(|(n, _)| *n == victim)
    })
    .await;
    let repaired = t2.elapsed();
    assert_distinct_hosts(&v);
    let replacement = nodes(&v)[1].clone();
    assert_eq!(replacement.0, "web-6");
    assert_ne!(replacement.1, victim_host, "the replacement went elsewhere");
    let repair = &v["repairs"][0];
    assert_eq!(repair["node"], victim.as_str());
    assert_eq!(repair["reason"], "failed its health checks", "{repair}");
    let hits = spread(&fe, 20).await;
    assert_eq!(hits.get("web-1"), Some(&10), "{hits:?}");
    assert_eq!(hits.get("web-6"), Some(&10), "{hits:?}");
    assert!(
        !vm_names(&up).await.contains(&victim),
        "the failed VM was destroyed"
    );

    // A restart keeps the virtual server: the front end comes back on the
    // same address with the same nodes.
    stop(up);
    assert!(
        TcpStream::connect(&fe).await.is_err(),
        "haproxy stopped with vine up"
    );
    let up = start(dir.path(), 4, &[]);
    let v = wait_vs(&up, "web", "front end back after restart", settled(2)).await;
    assert_eq!(v["front_end"]["address"], fe.as_str());
    let hits = spread(&fe, 4).await;
    assert_eq!(hits.len(), 2, "{hits:?}");

    // Delete: the address stops answering, the VMs go, the record goes.
    up.api.delete("/vs/web").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match up.api.get::<Value>("/vs/web").await {
            Err(e) if e.status() == Some(404) => break,
            _ => {}
        }
        assert!(Instant::now() < deadline, "web never went away");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = TcpStream::connect(&fe).await;
    assert!(refused.is_err(), "the front end is gone");
    let vms = vm_names(&up).await;
    assert!(!vms.iter().any(|v| v.starts_with("web-")), "{vms:?}");
    stop(up);
    eprintln!(
        "figures: create 2 nodes {created:?}; scale 2->4 {scaled:?}; node death to replacement serving {repaired:?}"
    );
}

fn e_detail(r: Result<Value, vine_console::ApiError>) -> String {
    match r {
        Err(vine_console::ApiError::Status { detail, .. }) => detail,
        other => panic!("expected an error status, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_haproxy_nodes_run_and_the_status_says_there_is_no_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path(), 2, &["--haproxy", "off"]);
    let addrs = AddrFile::new(dir.path().join("manager").join("node-addrs"));
    let (a, _task) = responder("db-1".into()).await;
    addrs.publish("db-1", &a.to_string()).unwrap();
    up.api
        .post(
            "/vs",
            &json!({"name": "db", "template": {"vcpus": 1, "memory_mib": 128}, "nodes": 2}),
        )
        .await
        .unwrap();
    let v = wait_vs(&up, "db", "2 nodes running", |v| {
        v["job"].is_null()
            && v["nodes"].as_array().unwrap().len() == 2
            && v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["state"] == "ready")
    })
    .await;
    assert_eq!(v["front_end"]["state"], "none");
    assert!(
        v["front_end"]["detail"]
            .as_str()
            .unwrap()
            .contains("haproxy"),
        "{v}"
    );
    let health: Vec<&str> = v["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["health"].as_str().unwrap())
        .collect();
    // db-2 published no address.
    assert_eq!(health, ["no_front_end", "no_address"]);
    let vms = vm_names(&up).await;
    assert!(vms.contains("db-1") && vms.contains("db-2"), "{vms:?}");
    assert!(!dir.path().join("haproxy").join("haproxy.pid").exists());
    stop(up);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manager_killed_mid_scale_finishes_it_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path(), 4, &[]);
    let addrs = AddrFile::new(dir.path().join("manager").join("node-addrs"));
    let mut services = Vec::new();
    for i in 1..=6 {
        let name = format!("app-{i}");
        let (a, task) = responder(name.clone()).await;
        addrs.publish(&name, &a.to_string()).unwrap();
        services.push(task);
    }
    let check = json!({"path": "/", "interval_ms": 200, "fall": 2, "rise": 1});
    up.api
        .post("/vs", &json!({"name": "app", "template": {"vcpus": 1, "memory_mib": 128}, "nodes": 1, "health": check}))
        .await
        .unwrap();
    let v = wait_vs(&up, "app", "1 node up", settled(1)).await;
    let fe = v["front_end"]["address"].as_str().unwrap().to_string();

    // Kill the manager once the scale has made some nodes, not all.
    up.api
        .post("/vs/app/scale", &json!({"nodes": 4}))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = vs(&up, "app").await;
        let n = v["nodes"].as_array().unwrap().len();
        if n >= 2 {
            assert!(!v["job"].is_null(), "killed mid-job: {v:#}");
            assert!(!settled(4)(&v), "killed before the scale finished: {v:#}");
            break;
        }
        assert!(Instant::now() < deadline, "the scale never started: {v:#}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    crash(up);
    // The orphaned haproxy still holds the front end.
    assert_eq!(get(&fe).await, "app-1");

    // The next manager replaces that haproxy and finishes the job. The
    // test driver writes its hosts back only at a clean stop, so the VMs
    // made before the crash are gone, as after a host power loss: the job
    // re-defines the node it was creating, and the health loop has the
    // lost ready nodes replaced. In the end: four nodes, each VM once, on
    // four hosts.
    let up = start(dir.path(), 4, &[]);
    let deadline = Instant::now() + Duration::from_secs(40);
    let v = loop {
        let v = vs(&up, "app").await;
        let names: BTreeSet<String> = nodes(&v).into_iter().map(|(n, _)| n).collect();
        let vms: BTreeSet<String> = vm_names(&up)
            .await
            .into_iter()
            .filter(|n| n.starts_with("app-"))
            .collect();
        if settled(4)(&v) && names == vms {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "never healed after the restart: VMs {vms:?}, view {v:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_distinct_hosts(&v);
    for r in v["repairs"].as_array().unwrap() {
        assert!(r["reason"].as_str().unwrap().contains("gone"), "{r}");
    }
    let hits = spread(&fe, 40).await;
    assert_eq!(hits.len(), 4, "{hits:?}");
    assert!(hits.values().all(|&n| n == 10), "{hits:?}");
    stop(up);
}
