//! `vine up` as a user runs it, for the end-to-end tests: a real process
//! (in its own process group, killed with everything it started when the
//! test ends, passing or not), its announcement lines read from stdout,
//! and the manager's REST API read with curl (a third-party client) or
//! `ApiClient`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use vine_console::ApiClient;
use vine_wbem::client::TlsVerify;

/// A child process group killed when dropped: a failing test must leave
/// no vine up, chromedriver or chromium behind.
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SAFETY: signalling the process group of our own child.
        unsafe {
            libc::kill(-(self.0.id() as i32), libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

/// Spawns `cmd` as the leader of a new process group.
pub fn spawn_group(cmd: &mut Command) -> Guard {
    Guard(cmd.process_group(0).spawn().expect("starts"))
}

/// A free loopback port (free when asked; tests bind it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `vine up` and what it announced.
pub struct Up {
    child: Option<Guard>,
    pub dir: PathBuf,
    /// `console: URL` (ends in `/`).
    pub console: String,
    /// `api: URL` (ends in `/api/v1`).
    pub api: String,
    /// `wbem: URL` (http).
    pub wbem: String,
    /// The admin password it printed.
    pub password: String,
    /// `agent NAME: URL`, in order.
    pub agents: Vec<(String, String)>,
}

impl Drop for Up {
    // The haproxy a manager starts is in its own session; a failing test
    // must not leave it running either.
    fn drop(&mut self) {
        if self.child.take().is_some() {
            kill_pid_file(&self.dir.join("haproxy/haproxy.pid"));
        }
    }
}

fn kill_pid_file(file: &Path) {
    if let Ok(t) = std::fs::read_to_string(file) {
        if let Ok(pid) = t.trim().parse::<i32>() {
            // SAFETY: signalling the haproxy our own vine up started.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// Starts `vine up --hosts N --vms-per-host M` on loopback ports (WBEM
/// http only, API on a free port) in `dir`, with `extra` flags, and waits
/// for its announcement (the last line is the last agent's URL).
pub fn vine_up(dir: &Path, hosts: usize, vms_per_host: usize, extra: &[&str]) -> Up {
    let mut guard = spawn_group(
        Command::new(env!("CARGO_BIN_EXE_vine"))
            .args(["up", "--hosts", &hosts.to_string()])
            .args(["--vms-per-host", &vms_per_host.to_string()])
            .args(["--http", "127.0.0.1:0", "--https", "off"])
            .args(["--api", "127.0.0.1:0"])
            .args(extra)
            .arg("--state-dir")
            .arg(dir)
            .env("VINE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let mut out = BufReader::new(guard.0.stdout.take().unwrap());
    let mut up = Up {
        child: None,
        dir: dir.to_path_buf(),
        console: String::new(),
        api: String::new(),
        wbem: String::new(),
        password: String::new(),
        agents: Vec::new(),
    };
    let mut line = String::new();
    while up.agents.len() < hosts {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let l = line.trim_end();
        if let Some(u) = l.strip_prefix("console: ") {
            up.console = u.to_string();
        } else if let Some(u) = l.strip_prefix("api: ") {
            up.api = u.to_string();
        } else if let Some(u) = l.strip_prefix("wbem: ") {
            up.wbem = u.to_string();
        } else if let Some(p) = l.strip_prefix("user: admin  password: ") {
            up.password = p.to_string();
        } else if let Some(rest) = l.strip_prefix("agent ") {
            let (name, url) = rest.split_once(": ").expect("agent NAME: URL");
            up.agents.push((name.to_string(), url.to_string()));
        }
    }
    // Keep reading what vine up prints later, as a terminal would.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    up.child = Some(guard);
    assert!(
        !up.api.is_empty() && !up.password.is_empty() && up.agents.len() == hosts,
        "vine up announced itself (api {:?}, {} agents)",
        up.api,
        up.agents.len()
    );
    up
}

impl Up {
    /// Stops it as Ctrl-C would and checks it exits cleanly.
    pub fn stop(mut self) {
        let mut g = self.child.take().expect("running");
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(g.0.id() as i32, libc::SIGTERM);
        }
        let status = g.0.wait().unwrap();
        assert!(
            status.success(),
            "vine up exits cleanly on SIGTERM: {status}"
        );
    }

    /// Kills it as a crash would (SIGKILL to vine alone): what it started
    /// outside its own process (haproxy) keeps running, for the next start
    /// to find.
    pub fn crash(mut self) {
        if let Some(mut g) = self.child.take() {
            let _ = g.0.kill();
            let _ = g.0.wait();
            // Not the group kill of the guard's drop: that would take the
            // survivors with it.
            std::mem::forget(g);
        }
    }

    /// The REST API as admin, through our own client.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.api, "admin", &self.password, TlsVerify::Insecure).unwrap()
    }

    /// The REST API with curl, as admin: (status, body; Null when the body
    /// is not JSON).
    pub fn rest(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut c = Command::new("curl");
        c.args(["-sk", "-o", "-", "-w", "\n%{http_code}", "-X", method, "-u"])
            .arg(format!("admin:{}", self.password));
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data"])
                .arg(b.to_string());
        }
        let out = c
            .arg(format!("{}{path}", self.api))
            .output()
            .expect("curl is installed by deploy/setup.sh");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (
            code.trim().parse().unwrap_or(0),
            serde_json::from_str(body).unwrap_or(Value::Null),
        )
    }

    /// GET with curl that must succeed; the JSON body.
    pub fn get(&self, path: &str) -> Value {
        let (status, body) = self.rest("GET", path, None);
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// `vine user add NAME --role ROLE` on the manager's users file; the
    /// running manager sees it at the next login.
    pub fn add_user(&self, name: &str, role: &str, password: &str) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_vine"))
            .args(["user", "add", name, "--role", role, "--password-stdin"])
            .arg("--state-dir")
            .arg(self.dir.join("manager"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        writeln!(c.stdin.take().unwrap(), "{password}").unwrap();
        assert!(c.wait().unwrap().success());
    }
}
