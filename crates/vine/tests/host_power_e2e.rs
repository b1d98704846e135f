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
