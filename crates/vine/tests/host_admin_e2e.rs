//! Host administration end to end, against a real `vine up` (two agents on
//! libvirt test-driver hosts, the manager's REST API over real sockets)
//! driven by the real `vine` CLI and curl: a drain leaves its host in
//! maintenance so new VMs go elsewhere until it is taken out; labels set
//! from the CLI show in `vine host ls`; bad PATCH requests are refused
//! with a problem body.

mod up_support;

use std::process::{Command, Stdio};

use serde_json::{json, Value};
use up_support::{vine_up, Up};

/// `vine ARGS` against `up` as admin; (exit code, stdout, stderr).
fn vine(up: &Up, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vine"))
        .args(args)
        .args(["--api", &up.api, "--user", "admin", "--insecure"])
        .env("VINE_PASSWORD", &up.password)
        .env("VINE_LOG", "warn")
        .env_remove("VINE_API")
        .stdin(Stdio::null())
        .output()
        .expect("vine runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vine ARGS` that must succeed; its stdout.
fn ok(up: &Up, args: &[&str]) -> String {
    let (code, out, err) = vine(up, args);
    assert_eq!(code, 0, "vine {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// Creates VM `name` (1 vCPU, 256 MiB) and waits; the host it landed on.
fn create(up: &Up, name: &str) -> String {
    ok(
        up,
        &["vm", "create", name, "--vcpus", "1", "--memory", "256"],
    );
    let vm: Value = serde_json::from_str(&ok(up, &["vm", "show", name, "-o", "json"])).unwrap();
    vm["host"].as_str().unwrap().to_string()
}

fn host(up: &Up, name: &str) -> Value {
    up.get(&format!("/hosts/{name}"))
}

#[test]
fn a_drained_host_stays_in_maintenance_until_opened_and_labels_show_in_host_ls() {
    let dir = tempfile::tempdir().unwrap();
    let up = vine_up(dir.path(), 2, 1, &[]);

    // The drain puts host-1 in maintenance and leaves it there.
    assert_eq!(host(&up, "host-1")["maintenance"], false);
    ok(&up, &["host", "drain", "host-1"]);
    assert_eq!(host(&up, "host-1")["maintenance"], true);
    assert_eq!(up.get("/hosts/host-1/vms"), json!([]));

    // host-1 is empty and host-2 holds both VMs: placement would pick
    // host-1 — but not while it is in maintenance.
    for i in 1..=3 {
        assert_eq!(create(&up, &format!("new-{i}")), "host-2", "new-{i}");
    }
    assert_eq!(up.get("/hosts/host-1/vms"), json!([]));
    // Asked for by name, it is refused with the reason and the way out.
    let (status, body) = up.rest(
        "POST",
        "/vms",
        Some(json!({"template": {"name": "pinned", "vcpus": 1, "memory_mib": 256}, "host": "host-1"})),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("maintenance"),
        "{body}"
    );
    // A migration onto it is refused before a job is made.
    let (status, body) = up.rest("POST", "/vms/new-1/migrate", Some(json!({"to": "host-1"})));
    assert_eq!(status, 422, "{body}");

    let t = ok(&up, &["host", "ls"]);
    let row: Vec<&str> = t
        .lines()
        .find(|l| l.starts_with("host-1 "))
        .unwrap()
        .split_whitespace()
        .collect();
    // NAME HEALTH VCPUS MEMORY_MIB VMS MAINTENANCE POWER LABELS URL
    assert_eq!(&row[4..8], ["0", "on", "On", "-"], "{t}");

    // Out of maintenance, it takes new VMs again (it is the emptiest).
    let out = ok(&up, &["host", "maintenance", "host-1", "off"]);
    assert!(out.contains("out of maintenance"), "{out}");
    assert_eq!(host(&up, "host-1")["maintenance"], false);
    assert_eq!(create(&up, "after"), "host-1");

    // Labels: set, added to, shown in ls (JSON and table), cleared.
    ok(&up, &["host", "label", "host-2", "rack=a", "gpu=yes"]);
    ok(&up, &["host", "label", "host-2", "rack=b"]);
    let hosts: Value = serde_json::from_str(&ok(&up, &["host", "ls", "-o", "json"])).unwrap();
    let h2 = hosts
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "host-2")
        .unwrap();
    assert_eq!(h2["labels"], json!({"gpu": "yes", "rack": "b"}));
    assert_eq!(h2["maintenance"], false);
    let t = ok(&up, &["host", "ls"]);
    assert!(t.contains("gpu=yes,rack=b"), "{t}");
    ok(&up, &["host", "label", "host-2", "--clear", "zone=1"]);
    assert_eq!(host(&up, "host-2")["labels"], json!({"zone": "1"}));
    let (code, _, err) = vine(&up, &["host", "label", "host-2", "oops"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("KEY=VALUE"), "{err}");

    // The API refuses what it cannot do, changing nothing.
    let (status, body) = up.rest("PATCH", "/hosts/ghost", Some(json!({"maintenance": true})));
    assert_eq!(status, 404, "{body}");
    for bad in [
        json!({}),
        json!({"maintenance": "yes"}),
        json!({"maintenace": true}),
        json!({"labels": {"bad key": "x"}}),
    ] {
        let (status, body) = up.rest("PATCH", "/hosts/host-2", Some(bad.clone()));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["detail"].is_string(), "{body}");
    }
    assert_eq!(host(&up, "host-2")["labels"], json!({"zone": "1"}));
    let (status, body) = up.rest(
        "PATCH",
        "/hosts/host-2",
        Some(json!({"maintenance": true, "labels": {}})),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["maintenance"], &body["labels"]),
        (&json!(true), &json!({}))
    );
    up.stop();
}
