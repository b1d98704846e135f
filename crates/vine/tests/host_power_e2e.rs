//! Powering hosts off and on: real `vine manager` and `vine agent`
//! processes on test-driver hosts.
//!
//! The "machine" here is the agent process: its `--power-off-command`
//! writes what it was asked and kills the agent, as `systemctl poweroff`
//! would take the agent down with the host. Waking it is Wake-on-LAN: the
//! test listens where the manager sends magic packets (`--wol-address`),
//! checks the packet is for the host's MAC, and "presses the power button"
//! by starting the agent again.

mod jobs_support;

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use jobs_support::{
    create_body, follow, post_job, refused, start_agent, start_manager_with, succeeds, AgentSpec,
};
use serde_json::{json, Value};
use vine_console::ApiClient;

const MAC: &str = "52:54:00:aa:bb:01";

async fn host(api: &ApiClient, name: &str) -> Value {
    api.get(&format!("/hosts/{name}")).await.unwrap()
}

/// Polls host `name` until `f` holds for it.
async fn until_host(api: &ApiClient, name: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = host(api, name).await;
        if f(&h) {
            return h;
        }
        assert!(Instant::now() < deadline, "{what}: {h:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The magic packet for `mac`: six 0xFF, then the MAC sixteen times.
fn magic(mac: &str) -> Vec<u8> {
    let bytes: Vec<u8> = mac
        .split(':')
        .map(|p| u8::from_str_radix(p, 16).unwrap())
        .collect();
    let mut p = vec![0xff; 6];
    for _ in 0..16 {
        p.extend_from_slice(&bytes);
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosts_power_off_through_their_agent_and_wake_by_wake_on_lan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("p1-powered-off");
    let wol = UdpSocket::bind("127.0.0.1:0").unwrap();
    wol.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let wol_addr = wol.local_addr().unwrap().to_string();

    let mut p1 = AgentSpec::new("p1");
    p1.extra = vec![
        "--power-off-command".into(),
        format!(
            "echo \"$VINE_HOST $VINE_POWER_STATE\" > {}; kill $VINE_AGENT_PID",
            marker.display()
        ),
    ];
    let p2 = AgentSpec::new("p2");
    let agent1 = start_agent(d, &p1, &[]);
    let _agent2 = start_agent(d, &p2, &[]);
    let m = start_manager_with(
        d,
        &[&p1, &p2],
        None,
        &[
            "--wol-address",
            &wol_addr,
            "--power-timeout",
            "30",
            "--policy-interval",
            "0",
            "--haproxy",
            "off",
        ],
    );
    let api = &m.api;

    // The first resync asks each agent whether it can power off.
    until_host(api, "p1", "p1 can power off", |h| {
        h["can_power_off"] == true
    })
    .await;
    until_host(api, "p2", "p2 cannot", |h| h["can_power_off"] == false).await;

    // p2 has no --power-off-command: refused before any job, saying so.
    let (status, _, detail) = refused(api.post("/hosts/p2/power", &json!({"state": "off"})).await);
    assert_eq!(status, 400, "{detail}");
    assert!(detail.contains("--power-off-command"), "{detail}");

    // A VM runs on p1: refused, naming it and what to do.
    let id = post_job(api, "/vms", create_body("busy", 1, 256, Some("p1"), true)).await;
    succeeds(api, &id).await;
    let (status, _, detail) = refused(api.post("/hosts/p1/power", &json!({"state": "off"})).await);
    assert_eq!(status, 409, "{detail}");
    assert!(
        detail.contains("busy") && detail.contains("vine host drain p1"),
        "{detail}"
    );
    let id = post_job(api, "/vms/busy/power", json!({"action": "stop"})).await;
    succeeds(api, &id).await;

    // Off: the agent accepts, runs its command and goes silent; the host
    // is Off, not Unreachable.
    let id = post_job(api, "/hosts/p1/power", json!({"state": "off"})).await;
    let (job, _) = follow(api, &id, Duration::from_secs(40)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(job["result"]["power"], "off");
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "p1 12");
    let mut agent1 = agent1;
    let exited = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        agent1.child.try_wait().unwrap().is_some()
    });
    assert!(exited, "the power-off command took the agent down");
    let h = host(api, "p1").await;
    assert_eq!(h["power"], "Off", "{h:#}");
    assert_ne!(h["health"], "Unreachable", "{h:#}");
    // Nothing is placed on an Off host.
    let id = post_job(api, "/vms", create_body("new", 1, 256, None, true)).await;
    assert_eq!(succeeds(api, &id).await["host"], "p2");
    let (status, _, detail) = refused(api.post("/hosts/p1/power", &json!({"state": "off"})).await);
    assert_eq!(status, 409, "{detail}");

    // On: without a MAC (and no --power-on-command) there is no way to
    // wake it; with one, the manager sends the magic packet.
    let (status, _, detail) = refused(api.post("/hosts/p1/power", &json!({"state": "on"})).await);
    assert_eq!(status, 400, "{detail}");
    assert!(
        detail.contains("MAC") && detail.contains("--power-on-command"),
        "{detail}"
    );
    let (status, _, detail) = refused(
        api.patch("/hosts/p1", &json!({"mac": "52:54:00:aa:bb"}))
            .await,
    );
    assert_eq!(status, 400, "{detail}");
    assert!(detail.contains("six hex pairs"), "{detail}");
    let h: Value = api
        .patch("/hosts/p1", &json!({"mac": "52-54-00-AA-BB-01"}))
        .await
        .unwrap();
    assert_eq!(h["mac"], MAC);

    let id = post_job(api, "/hosts/p1/power", json!({"state": "on"})).await;
    let mut buf = [0u8; 512];
    let (n, _) = wol.recv_from(&mut buf).expect("a magic packet arrives");
    assert_eq!(&buf[..n], &magic(MAC)[..]);
    let h = host(api, "p1").await;
    assert_eq!(h["power"], "Starting", "{h:#}");
    // The machine boots: its agent comes back.
    let _agent1 = start_agent(d, &p1, &[]);
    let (job, _) = follow(api, &id, Duration::from_secs(40)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    let h = host(api, "p1").await;
    assert_eq!(
        (h["power"].as_str(), h["health"].as_str()),
        (Some("On"), Some("Up")),
        "{h:#}"
    );
    // And it takes VMs again.
    let id = post_job(api, "/vms", create_body("back", 1, 256, Some("p1"), true)).await;
    assert_eq!(succeeds(api, &id).await["host"], "p1");
}

/// A policy that consolidates quiet hosts and powers the emptied one off,
/// reacting within a round or two (rounds every second).
const POLICY: &str = r#"
name = "power"
description = "consolidate and power off, quickly, for a live test"

[scope]
kind = "datacenter"

[thresholds.cpu]
upper = 0.9
lower = 0.3

[thresholds.memory]
upper = 0.95
lower = 0.0

[observation]
window = 4
k = 1
n = 1

[prediction]
predictor = "last-value"
horizon = 1
backtest = 2
safety_margin = 0.0

[migration]
max_concurrent = 1
max_per_round = 1
vm_cooldown_rounds = 2
host_cooldown_rounds = 2
hysteresis = 0.05
destination = "least-loaded"
vm_choice = "fewest-moves"

[power]
consolidate = true
power_off_idle = true
spare_hosts = 0
"#;

fn set_load(path: &std::path::Path, load: Value) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, load.to_string()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The host of each VM, as the manager has it.
async fn placement(api: &ApiClient) -> Vec<(String, String)> {
    jobs_support::inventory(api).await
}

/// The policy engine powers a host off on the live data centre once
/// consolidation has emptied it, and wakes it (Wake-on-LAN) when the
/// remaining host runs hot — every step a job owned by the policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_policy_engine_empties_a_quiet_host_powers_it_off_and_wakes_it_for_a_hotspot() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let load = d.join("load.json");
    set_load(&load, json!({"v1": 0.05, "v2": 0.05}));
    let wol = UdpSocket::bind("127.0.0.1:0").unwrap();
    wol.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let wol_addr = wol.local_addr().unwrap().to_string();

    let mut specs = [AgentSpec::new("p1"), AgentSpec::new("p2")];
    for s in &mut specs {
        s.extra = vec![
            "--synthetic-load".into(),
            load.display().to_string(),
            "--monitor-interval".into(),
            "0.5".into(),
            "--power-off-command".into(),
            format!(
                "echo off > {}/{}-off; kill $VINE_AGENT_PID",
                d.display(),
                s.name
            ),
        ];
    }
    let [p1, p2] = &specs;
    let mut agents = [
        Some(start_agent(d, p1, &[p2])),
        Some(start_agent(d, p2, &[p1])),
    ];
    let m = start_manager_with(
        d,
        &[p1, p2],
        None,
        &[
            "--wol-address",
            &wol_addr,
            "--power-timeout",
            "30",
            "--policy-interval",
            "1",
            "--haproxy",
            "off",
        ],
    );
    let api = &m.api;
    for (s, mac) in [(p1, "52:54:00:00:00:01"), (p2, "52:54:00:00:00:02")] {
        let _: Value = api
            .patch(&format!("/hosts/{}", s.name), &json!({ "mac": mac }))
            .await
            .unwrap();
        until_host(api, &s.name, "power-off known", |h| {
            h["can_power_off"] == true
        })
        .await;
    }
    for (vm, h) in [("v1", "p1"), ("v2", "p2")] {
        let id = post_job(api, "/vms", create_body(vm, 4, 256, Some(h), true)).await;
        succeeds(api, &id).await;
    }
    let v = api
        .post(
            "/policies",
            &json!({"text": POLICY, "origin": "power.toml"}),
        )
        .await
        .unwrap();
    assert_eq!(v["version"], 1, "{v}");

    // Both hosts are quiet: one VM moves, and the host it left goes off.
    let deadline = Instant::now() + Duration::from_secs(60);
    let off = loop {
        let hosts: Vec<Value> = api.get("/hosts").await.unwrap();
        if let Some(h) = hosts.iter().find(|h| h["power"] == "Off") {
            break h["name"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no host went off: {hosts:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (on, off_idx) = if off == "p1" { ("p2", 0) } else { ("p1", 1) };
    assert_eq!(
        std::fs::read_to_string(d.join(format!("{off}-off")))
            .unwrap()
            .trim(),
        "off"
    );
    assert_eq!(
        placement(api).await,
        [
            ("v1".to_string(), on.to_string()),
            ("v2".to_string(), on.to_string())
        ]
    );
    let jobs: Vec<Value> = api.get("/jobs?kind=host.power").await.unwrap();
    assert!(
        jobs.iter().any(|j| j["owner"] == "policy:power"
            && j["params"]["host"] == off.as_str()
            && j["params"]["state"] == "off"
            && j["state"] == "succeeded"),
        "{jobs:#?}"
    );
    agents[off_idx].take();

    // The remaining host runs hot and nothing running has room: the
    // engine wakes the host it powered off (a magic packet for its MAC),
    // and once its agent is back a VM moves there.
    set_load(&load, json!({"v1": 1.0, "v2": 1.0}));
    let mut buf = [0u8; 512];
    let (n, _) = wol.recv_from(&mut buf).expect("the engine wakes the host");
    let mac = if off == "p1" {
        "52:54:00:00:00:01"
    } else {
        "52:54:00:00:00:02"
    };
    assert_eq!(&buf[..n], &magic(mac)[..]);
    agents[off_idx] = Some(start_agent(d, &specs[off_idx], &[&specs[1 - off_idx]]));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = placement(api).await;
        let h = host(api, &off).await;
        if h["power"] == "On" && p.iter().any(|(_, host)| *host == off) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing moved to the woken host: {p:?} {h:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let jobs: Vec<Value> = api.get("/jobs?kind=host.power").await.unwrap();
    assert!(
        jobs.iter().any(|j| j["owner"] == "policy:power"
            && j["params"]["state"] == "on"
            && j["state"] == "succeeded"),
        "{jobs:#?}"
    );
}
