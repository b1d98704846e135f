//! The `vine` client commands as a user runs them, against a real
//! `vine up` (agents on test-driver hosts, the manager's API over HTTPS with
//! its self-signed certificate): tables and JSON, pools, jobs, and the exit
//! codes and messages of every kind of failure.

mod up_support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use up_support::{vine_up, Up};

/// Starts `vine up` with 2 hosts of 2 VMs.
fn start(dir: &Path) -> Up {
    vine_up(dir, 2, 2, &[])
}

/// What one `vine` run gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    fn json(self) -> Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// Asserts the exit code and that stderr says `what`.
    fn fails(self, code: i32, what: &str) -> String {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(what),
            "expected `{what}` in:\n{}",
            self.stderr
        );
        self.stderr
    }
}

/// Runs `vine ARGS` with a clean environment for the connection flags,
/// killed if it takes over a minute.
fn vine_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vine"));
    cmd.args(args)
        .env_remove("VINE_API")
        .env_remove("VINE_USER")
        .env_remove("VINE_PASSWORD")
        .env("VINE_LOG", "warn")
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("vine runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vine {args:?} did not finish within a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Up {
    /// `vine ARGS --api URL --state-dir DIR`: password and certificate
    /// from the state directory, as a user of `vine up` runs it.
    fn vine(&self, args: &[&str]) -> Run {
        let dir = self.dir.to_str().unwrap();
        let mut all = args.to_vec();
        all.extend(["--api", &self.api, "--state-dir", dir]);
        vine_env(&all, &[])
    }

    fn password(&self) -> String {
        std::fs::read_to_string(self.dir.join("admin-password"))
            .unwrap()
            .trim()
            .to_string()
    }
}

/// The first column of a table's rows (header skipped).
fn first_column(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn row<'a>(table: &'a str, name: &str) -> Vec<&'a str> {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no row {name} in\n{table}"))
        .split_whitespace()
        .collect()
}

#[test]
fn hosts_vms_and_pools_as_tables_and_json_with_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path());

    let t = up.vine(&["host", "ls"]).ok();
    assert!(t.starts_with("NAME"), "{t}");
    assert_eq!(first_column(&t), ["host-1", "host-2"]);
    // NAME HEALTH VCPUS MEMORY_MIB VMS URL
    assert_eq!(&row(&t, "host-1")[1..5], ["Up", "8", "16384", "2"]);
    let hosts = up.vine(&["host", "ls", "--output", "json"]).json();
    assert_eq!(hosts.as_array().unwrap().len(), 2);
    assert_eq!(hosts[0]["capacity"]["vcpus"], 8);
    let t = up.vine(&["host", "show", "host-2"]).ok();
    assert!(t.contains("health") && t.contains("host-2-vm1"), "{t}");
    // … MAINTENANCE POWER LABELS URL
    assert_eq!(row(&up.vine(&["host", "ls"]).ok(), "host-1")[6], "On");

    // Host power: vine up's agents have no power-off command, so powering
    // one off is refused saying which flag; a bad MAC says the form, a
    // good one is stored normalised.
    up.vine(&["host", "power", "host-2", "off"])
        .fails(2, "--power-off-command");
    up.vine(&["host", "power", "host-2", "on"])
        .fails(2, "not Off");
    up.vine(&["host", "mac", "host-2", "52:54:00"])
        .fails(2, "six hex pairs");
    let t = up
        .vine(&["host", "mac", "host-2", "52-54-00-AB-CD-EF"])
        .ok();
    assert!(t.contains("52:54:00:ab:cd:ef"), "{t}");

    let t = up.vine(&["vm", "ls"]).ok();
    assert_eq!(
        first_column(&t),
        ["host-1-vm1", "host-1-vm2", "host-2-vm1", "host-2-vm2"]
    );
    let t = up.vine(&["vm", "ls", "--host", "host-2"]).ok();
    assert_eq!(first_column(&t), ["host-2-vm1", "host-2-vm2"]);
    let vm = up.vine(&["vm", "show", "host-1-vm1", "-o", "json"]).json();
    assert_eq!(vm["host"], "host-1");

    // Unknown names: exit 2 with the manager's reason.
    up.vine(&["vm", "show", "ghost"])
        .fails(2, "no VM named ghost");
    up.vine(&["host", "show", "ghost"]).fails(2, "ghost");
    up.vine(&["vm", "ls", "--host", "ghost"]).fails(2, "ghost");

    // Pools: the data centre is 2 × (8 CPUs, 16 GiB); 4 VMs of the
    // test hosts already use some of it.
    let out = up
        .vine(&[
            "pool",
            "create",
            "web",
            "--reserve-vcpus",
            "4",
            "--reserve-memory",
            "4096",
            "--limit-vcpus",
            "8",
            "--limit-memory",
            "8192",
        ])
        .ok();
    assert!(
        out.contains("pool web created: reserved 4 vCPU, 4096 MiB, limit 8 vCPU, 8192 MiB"),
        "{out}"
    );
    let t = up.vine(&["pool", "ls"]).ok();
    assert_eq!(
        first_column(&t),
        ["datacenter", "host/host-1", "host/host-2", "web"]
    );
    // NAME KIND VMS VCPUS MEMORY_MIB RESERVED…
    assert_eq!(&row(&t, "web")[1..5], ["service", "0", "0/8", "0/8192"]);
    assert_eq!(row(&t, "datacenter")[3].split('/').nth(1), Some("64"));
    let p = up
        .vine(&["pool", "show", "host/host-1", "-o", "json"])
        .json();
    assert_eq!(p["kind"], "host");
    assert_eq!(p["capacity"]["memory_mib"], 16384);
    let t = up.vine(&["pool", "show", "web"]).ok();
    assert!(t.contains("reservation.memory_mib"), "{t}");

    up.vine(&["pool", "create", "huge", "--reserve-memory", "1000000"])
        .fails(2, "the data centre cannot take");
    up.vine(&["pool", "create", "web"])
        .fails(2, "already exists");
    up.vine(&["pool", "create", "a/b"])
        .fails(2, "letters, digits");
    up.vine(&[
        "pool",
        "create",
        "x",
        "--reserve-vcpus",
        "4",
        "--limit-vcpus",
        "2",
        "--limit-memory",
        "512",
    ])
    .fails(2, "larger than the limit");
    // clap refuses half a limit before anything is sent.
    up.vine(&["pool", "create", "x", "--limit-vcpus", "2"])
        .fails(2, "--limit-memory");
    up.vine(&["pool", "rm", "datacenter"])
        .fails(2, "only service pools");
    assert!(up
        .vine(&["pool", "rm", "web"])
        .ok()
        .contains("pool web deleted"));
    up.vine(&["pool", "rm", "web"])
        .fails(2, "no pool named web");
    up.vine(&["pool", "show", "web"])
        .fails(2, "no pool named web");

    // Credentials: wrong ones are exit 3 and say what to check; none at
    // all is a usage error that says where a password comes from.
    let wrong = dir.path().join("wrong-password");
    std::fs::write(&wrong, "nope\n").unwrap();
    up.vine(&["host", "ls", "--password-file", wrong.to_str().unwrap()])
        .fails(3, "refused the credentials of user admin");
    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().to_str().unwrap();
    vine_env(&["host", "ls", "--api", &up.api, "--state-dir", e], &[])
        .fails(2, "no password for user admin");
    // The password from the environment works, and a reader can read but
    // not change.
    let pw = up.password();
    let cert = up.dir.join("manager/tls/cert.pem");
    let cert = cert.to_str().unwrap();
    let env = [
        ("VINE_PASSWORD", pw.as_str()),
        ("VINE_API", up.api.as_str()),
    ];
    let t = vine_env(&["host", "ls", "--state-dir", e, "--ca", cert], &env).ok();
    assert_eq!(first_column(&t), ["host-1", "host-2"]);

    // TLS: without the manager's certificate (no state directory to take
    // it from) verification fails, and the message says what to pass.
    let err = vine_env(&["host", "ls", "--state-dir", e], &env).fails(3, "--insecure");
    assert!(err.contains("--ca FILE"), "{err}");
    vine_env(&["host", "ls", "--state-dir", e, "--insecure"], &env).ok();
    vine_env(&["host", "ls", "--ca", "/no/such.pem"], &env).fails(2, "no such file");

    // Nobody listening: exit 3.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = vine_env(
        &[
            "host",
            "ls",
            "--api",
            &format!("https://127.0.0.1:{port}"),
            "--insecure",
        ],
        &env,
    )
    .fails(3, "cannot reach the manager");
    assert!(err.contains("--api"), "{err}");

    // Exit codes are documented.
    let help = vine_env(&["vm", "--help"], &[]).ok();
    assert!(
        help.contains("Exit codes:") && help.contains("130"),
        "{help}"
    );
}

/// `vine job ls` lists `id`.
fn job_listed(up: &Up, id: &str) -> bool {
    first_column(&up.vine(&["job", "ls"]).ok())
        .iter()
        .any(|j| j == id)
}

#[test]
fn vms_are_created_driven_and_deleted_through_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path());

    // Waits for the job, showing its progress on stderr (plain lines, one
    // per change: not a terminal); the VM is where it was asked to be,
    // running.
    let r = up.vine(&[
        "vm", "create", "web-1", "--vcpus", "2", "--memory", "512", "--host", "host-2",
    ]);
    let progress = r.stderr.clone();
    let out = r.ok();
    assert!(out.contains("(vm.create) succeeded"), "{out}");
    assert!(
        progress
            .lines()
            .last()
            .unwrap()
            .contains(": succeeded 100%"),
        "{progress}"
    );
    assert!(!progress.contains('\r'), "no bar redrawn off a terminal");
    let vm = up.vine(&["vm", "show", "web-1", "-o", "json"]).json();
    assert_eq!(
        (vm["host"].as_str(), vm["state"].as_str()),
        (Some("host-2"), Some("Running"))
    );
    assert_eq!(vm["vcpus"], 2);

    // --no-wait prints the job id; `job watch` follows it to the end.
    let id = up
        .vine(&[
            "vm",
            "create",
            "web-2",
            "--vcpus",
            "1",
            "--memory",
            "256",
            "--no-start",
            "--no-wait",
        ])
        .ok()
        .trim()
        .to_string();
    assert!(!id.is_empty() && !id.contains(' '), "a job id: {id}");
    let out = up.vine(&["job", "watch", &id]).ok();
    assert!(out.contains("succeeded"), "{out}");
    let job = up.vine(&["job", "show", &id, "-o", "json"]).json();
    assert_eq!(job["state"], "succeeded");
    assert_eq!(job["progress"], 100);
    assert!(job_listed(&up, &id));
    let vm = up.vine(&["vm", "show", "web-2", "-o", "json"]).json();
    assert_eq!(vm["state"], "Stopped");

    up.vine(&["vm", "start", "web-2"]).ok();
    up.vine(&["vm", "pause", "web-2"]).ok();
    let vm = up.vine(&["vm", "show", "web-2", "-o", "json"]).json();
    assert_eq!(vm["state"], "Paused");
    up.vine(&["vm", "resume", "web-2"]).ok();
    up.vine(&["vm", "reboot", "web-2"]).ok();
    up.vine(&["vm", "reboot", "web-2", "--force"]).ok();
    let vm = up.vine(&["vm", "show", "web-2", "-o", "json"]).json();
    assert_eq!(vm["state"], "Running");
    up.vine(&["vm", "stop", "web-2"]).ok();
    let vm = up.vine(&["vm", "show", "web-2", "-o", "json"]).json();
    assert_eq!(vm["state"], "Stopped");
    up.vine(&["vm", "start", "web-2"]).ok();
    up.vine(&["vm", "stop", "web-2", "--force"]).ok();
    let vm = up.vine(&["vm", "show", "web-2", "-o", "json"]).json();
    assert_eq!(vm["state"], "Stopped");
    // A finished job cannot be cancelled any more; the command says so.
    let out = up.vine(&["job", "cancel", &id]).ok();
    assert!(out.contains("had already ended: succeeded"), "{out}");
    let t = up.vine(&["job", "show", &id]).ok();
    assert!(
        t.contains("created_at") && t.contains(" 20"),
        "times shown as dates: {t}"
    );

    up.vine(&["vm", "resize", "web-1", "--vcpus", "1", "--memory", "384"])
        .ok();
    let vm = up.vine(&["vm", "show", "web-1", "-o", "json"]).json();
    assert_eq!(
        (vm["vcpus"].as_u64(), vm["memory_mib"].as_u64()),
        (Some(1), Some(384))
    );
    up.vine(&["vm", "resize", "web-1"]).fails(2, "--vcpus");
    // Past what the VM was defined with: the agent refuses, the job fails,
    // exit 1 with the agent's reason.
    let err = up
        .vine(&["vm", "resize", "host-1-vm1", "--vcpus", "4"])
        .fails(1, "failed");
    assert!(err.contains("at most 1"), "{err}");

    up.vine(&["vm", "migrate", "web-1", "--to", "host-1"]).ok();
    let vm = up.vine(&["vm", "show", "web-1", "-o", "json"]).json();
    assert_eq!(vm["host"], "host-1");

    // Pools: a VM drawn from a pool keeps it; over the limit is refused.
    up.vine(&[
        "pool",
        "create",
        "db",
        "--limit-vcpus",
        "2",
        "--limit-memory",
        "1024",
    ])
    .ok();
    up.vine(&[
        "vm", "create", "db-1", "--vcpus", "2", "--memory", "512", "--pool", "db",
    ])
    .ok();
    up.vine(&[
        "vm", "create", "db-2", "--vcpus", "1", "--memory", "256", "--pool", "db",
    ])
    .fails(2, "would exceed its limit");
    up.vine(&["pool", "rm", "db"]).fails(2, "db-1");
    up.vine(&["vm", "rm", "db-1"]).ok();
    up.vine(&["pool", "rm", "db"]).ok();

    // Too big for the data centre: refused before any job runs.
    up.vine(&["vm", "create", "huge", "--vcpus", "1", "--memory", "999999"])
        .fails(2, "the data centre cannot take 1 vCPU, 999999 MiB");
    up.vine(&["vm", "create", "web-1", "--vcpus", "1", "--memory", "256"])
        .fails(2, "already exists");

    up.vine(&["vm", "rm", "web-2"]).ok();
    up.vine(&["vm", "show", "web-2"]).fails(2, "web-2");
    up.vine(&["vm", "start", "web-2"]).fails(2, "web-2");

    // Draining a host empties it.
    up.vine(&["host", "drain", "host-1"]).ok();
    let t = up.vine(&["vm", "ls", "--host", "host-1"]).ok();
    assert!(first_column(&t).is_empty(), "{t}");
    let active = up.vine(&["job", "ls", "--active", "-o", "json"]).json();
    assert_eq!(active, Value::Array(vec![]), "no job left running");
}

#[test]
fn virtual_servers_are_created_scaled_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path());
    up.vine(&[
        "vs", "create", "shop", "--nodes", "2", "--vcpus", "1", "--memory", "256",
    ])
    .ok();
    let t = up.vine(&["vs", "ls"]).ok();
    // NAME NODES VCPUS MEMORY_MIB …
    assert_eq!(&row(&t, "shop")[1..4], ["2/2", "1", "256"]);
    let vs = up.vine(&["vs", "show", "shop", "-o", "json"]).json();
    let hosts: std::collections::HashSet<&str> = vs["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts.len(), 2, "nodes spread over both hosts: {vs}");
    // Nodes of one server keep apart: a third has no host of its own.
    up.vine(&["vs", "scale", "shop", "--nodes", "3"])
        .fails(2, "anti-affinity");
    up.vine(&["vs", "scale", "shop", "--nodes", "1"]).ok();
    let t = up.vine(&["vs", "ls"]).ok();
    assert_eq!(row(&t, "shop")[1], "1/1");
    up.vine(&["vs", "rm", "shop"]).ok();
    up.vine(&["vs", "show", "shop"]).fails(2, "shop");
    up.vine(&["vs", "scale", "nope", "--nodes", "1"])
        .fails(2, "nope");
}

#[test]
fn policies_are_applied_listed_and_rolled_back() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let default = std::fs::read_to_string(repo.join("deploy/policies/default.toml")).unwrap();
    let write = |name: &str, text: &str| {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        f.to_str().unwrap().to_string()
    };
    let v1 = write("v1.toml", &default);
    let v2 = write(
        "v2.toml",
        &default.replacen("upper = 0.95", "upper = 0.9", 1),
    );
    let t = up.vine(&["policy", "apply", &v1]).ok();
    assert_eq!(&row(&t, "default")[1..3], ["1", "admin"]);
    up.vine(&["policy", "apply", &v2]).ok();

    // A contradictory file: exit 2, every problem at file:line:col, and
    // the active version stays 2.
    let bad = write(
        "bad.toml",
        &default.replacen("lower = 0.6", "lower = 0.99", 1),
    );
    let err = up.vine(&["policy", "apply", &bad]).fails(2, "bad.toml:");
    assert!(err.contains("lower"), "{err}");
    let active = up.vine(&["policy", "ls", "-o", "json"]).json();
    assert_eq!(active[0]["version"], 2, "{active}");

    let rolled = up
        .vine(&["policy", "rollback", "default", "1", "-o", "json"])
        .json();
    assert_eq!(rolled["version"], 3);
    assert_eq!(rolled["text"].as_str().unwrap(), default);
    let history = up.vine(&["policy", "history", "default"]).ok();
    assert_eq!(first_column(&history).len(), 3, "{history}");
    up.vine(&["policy", "rollback", "default", "9"])
        .fails(2, "no version 9");
    up.vine(&["policy", "history", "nope"])
        .fails(2, "no policy named nope");
}
