//! Helpers of `manager_jobs_e2e.rs` and `manager_crash_e2e.rs`: real
//! `vine agent --test-host` and `vine manager` processes (killed when
//! dropped), the manager's REST API through `ApiClient`, and each agent
//! read directly through the Virtual Node Interface to check what the
//! manager says.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vine_console::{ApiClient, ApiError};
use vine_coordinator::vni::{AgentConn, VmView};
use vine_wbem::client::{ClientConfig, TlsVerify};

/// The one password of these tests: the agents' and the manager's admin.
pub const PASSWORD: &str = "e2e-admin-pw";

/// A child process, killed (SIGKILL) and reaped when dropped.
pub struct Proc {
    pub child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// `kill -9`, and wait until it is gone.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Reads the child's stdout until a line starts with `prefix`; returns the
/// rest of that line, and keeps draining stdout afterwards.
fn announced(child: &mut Child, prefix: &str, what: &str) -> String {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let found = loop {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            break None;
        }
        if let Some(rest) = line.trim_end().strip_prefix(prefix) {
            break Some(rest.to_string());
        }
    };
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    found.unwrap_or_else(|| panic!("{what} exited before announcing `{prefix}`"))
}

/// An agent as the tests start it.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub name: String,
    pub port: u16,
    /// More `vine agent` flags.
    pub extra: Vec<String>,
}

impl AgentSpec {
    pub fn new(name: &str) -> Self {
        AgentSpec {
            name: name.into(),
            port: free_port(),
            extra: Vec::new(),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Writes the password file agents log in to their peers with.
fn password_file(dir: &Path) -> PathBuf {
    let f = dir.join("peer-password");
    std::fs::write(&f, PASSWORD).unwrap();
    f
}

/// Starts `vine agent` for `a` on a test-driver host kept in `dir`
/// (created with 8 CPUs and 16 GiB on first start), with each of `peers`
/// as a migration peer by its agent URL.
pub fn start_agent(dir: &Path, a: &AgentSpec, peers: &[&AgentSpec]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vine"));
    cmd.arg("agent")
        .arg("--test-host")
        .arg(dir.join(format!("{}.xml", a.name)))
        .args(["--http", &format!("127.0.0.1:{}", a.port), "--https", "off"])
        .arg("--state-dir")
        .arg(dir.join(format!("agent-{}", a.name)))
        .args(["--host-name", &a.name])
        .args(&a.extra);
    if !peers.is_empty() {
        for p in peers {
            cmd.args(["--peer", &format!("{}={}", p.name, p.url())]);
        }
        cmd.args(["--peer-user", "admin", "--peer-password-file"])
            .arg(password_file(dir));
    }
    let mut child = cmd
        .env("VINE_ADMIN_PASSWORD", PASSWORD)
        .env("VINE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vine runs");
    let url = announced(&mut child, "wbem: ", &format!("agent {}", a.name));
    assert_eq!(url, a.url());
    Proc { child }
}

/// A running `vine manager`.
pub struct Manager {
    pub proc: Proc,
    pub api: ApiClient,
    pub url: String,
}

/// Starts `vine manager` on the state in `dir` for `agents`; with `pause`,
/// every job step that acted waits that long before its outcome is stored
/// (`VINE_TEST_STEP_PAUSE_MS`, a test-only knob).
pub fn start_manager(dir: &Path, agents: &[&AgentSpec], pause: Option<Duration>) -> Manager {
    start_manager_with(dir, agents, pause, &[])
}

/// [`start_manager`] with more `vine manager` flags.
pub fn start_manager_with(
    dir: &Path,
    agents: &[&AgentSpec],
    pause: Option<Duration>,
    extra: &[&str],
) -> Manager {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vine"));
    cmd.arg("manager")
        .args([
            "--http",
            "127.0.0.1:0",
            "--https",
            "off",
            "--api",
            "127.0.0.1:0",
        ])
        .arg("--state-dir")
        .arg(dir.join("manager"))
        .args(extra);
    for a in agents {
        cmd.args(["--agent", &format!("{}={}", a.name, a.url())]);
    }
    if let Some(p) = pause {
        cmd.env("VINE_TEST_STEP_PAUSE_MS", p.as_millis().to_string());
    }
    let mut child = cmd
        .env("VINE_ADMIN_PASSWORD", PASSWORD)
        .env("VINE_AGENT_PASSWORD", PASSWORD)
        .env("VINE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vine runs");
    let url = announced(&mut child, "api: ", "the manager");
    let api = ApiClient::new(&url, "admin", PASSWORD, TlsVerify::Insecure).unwrap();
    Manager {
        proc: Proc { child },
        api,
        url,
    }
}

/// The Virtual Node Interface to an agent, to check what it really has.
pub fn vni(a: &AgentSpec) -> AgentConn {
    AgentConn::new(&ClientConfig {
        url: a.url(),
        user: "admin".into(),
        password: PASSWORD.into(),
        tls: TlsVerify::Insecure,
        timeout: Duration::from_secs(30),
    })
    .unwrap()
}

/// The VMs an agent has, by name.
pub async fn agent_vms(a: &AgentSpec) -> Vec<VmView> {
    let mut v = vni(a).vms().await.unwrap();
    v.sort_by(|x, y| x.name.cmp(&y.name));
    v
}

pub async fn agent_vm(a: &AgentSpec, vm: &str) -> Option<VmView> {
    agent_vms(a).await.into_iter().find(|v| v.name == vm)
}

/// The job id of a 202 answer.
pub fn job_of(answer: Result<Value, ApiError>, what: &str) -> String {
    let v = answer.unwrap_or_else(|e| panic!("{what}: {e}"));
    let id = v["job"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no job in {v}"))
        .to_string();
    assert_eq!(v["href"], format!("/api/v1/jobs/{id}"), "{what}");
    id
}

/// POSTs a change; the job id.
pub async fn post_job(api: &ApiClient, path: &str, body: Value) -> String {
    job_of(api.post(path, &body).await, &format!("POST {path}"))
}

/// The problem a refused request got: (status, type, detail).
pub fn refused(answer: Result<Value, ApiError>) -> (u16, String, String) {
    match answer {
        Err(ApiError::Status {
            status,
            kind,
            detail,
        }) => (status, kind, detail),
        other => panic!("should have been refused: {other:?}"),
    }
}

/// Follows a job with long polls until it is final; returns it and every
/// progress value seen on the way.
pub async fn follow(api: &ApiClient, id: &str, within: Duration) -> (Value, Vec<u64>) {
    let deadline = Instant::now() + within;
    let mut rev = 0u64;
    let mut seen = Vec::new();
    loop {
        let job: Value = api
            .get(&format!("/jobs/{id}?wait={rev}&timeout=5"))
            .await
            .unwrap_or_else(|e| panic!("GET job {id}: {e}"));
        seen.push(job["progress"].as_u64().unwrap());
        let state = job["state"].as_str().unwrap().to_string();
        if ["succeeded", "failed", "cancelled"].contains(&state.as_str()) {
            return (job, seen);
        }
        assert!(
            Instant::now() < deadline,
            "job {id} not final within {within:?}: {job:#}"
        );
        rev = job["revision"].as_u64().unwrap();
    }
}

/// Follows a job that must succeed; returns its result.
pub async fn succeeds(api: &ApiClient, id: &str) -> Value {
    let (job, _) = follow(api, id, Duration::from_secs(30)).await;
    assert_eq!(job["state"], "succeeded", "{job:#}");
    job["result"].clone()
}

/// Polls (plain GETs) until `f` holds for the job; returns it.
pub async fn until_job(
    api: &ApiClient,
    id: &str,
    within: Duration,
    f: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let job: Value = api.get(&format!("/jobs/{id}")).await.unwrap();
        if f(&job) {
            return job;
        }
        assert!(
            Instant::now() < deadline,
            "job {id} never got there: {job:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A VM template body.
pub fn create_body(
    name: &str,
    vcpus: u32,
    memory_mib: u64,
    host: Option<&str>,
    start: bool,
) -> Value {
    let mut b = json!({"template": {"name": name, "vcpus": vcpus, "memory_mib": memory_mib}, "start": start});
    if let Some(h) = host {
        b["host"] = json!(h);
    }
    b
}

/// The manager's VMs, as (name, host).
pub async fn inventory(api: &ApiClient) -> Vec<(String, String)> {
    let vms: Vec<Value> = api.get("/vms").await.unwrap();
    let mut v: Vec<(String, String)> = vms
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["host"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// What the agents have, as (name, host), to compare with [`inventory`].
pub async fn reality(agents: &[&AgentSpec]) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for a in agents {
        for vm in agent_vms(a).await {
            v.push((vm.name, a.name.clone()));
        }
    }
    v.sort();
    v
}
