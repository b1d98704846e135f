//! HAProxy in master-worker mode as vine's load balancer: vine writes the
//! whole configuration, checks it with `haproxy -c`, and reloads through the
//! master CLI so that front ends that stay keep their connections
//! (`expose-fd listeners` hands the listening sockets to the new worker).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::sync::Mutex;

use super::lb::{validate, BackendState, Frontend, LbError, LoadBalancer, ServerStatus};

/// Proxy names are `vs_<virtual server>` so that vine's proxies are
/// recognisable in HAProxy's own output.
const PROXY_PREFIX: &str = "vs_";
/// How long a start or reload may take before it is reported as failed.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where HAProxy runs from.
#[derive(Clone, Debug)]
pub struct HaproxyConfig {
    /// The `haproxy` program; found on PATH or in /usr/sbin when `None`.
    pub binary: Option<PathBuf>,
    /// Directory for the generated configuration, pid file and sockets.
    pub dir: PathBuf,
}

/// A HAProxy master process owned by vine.
pub struct Haproxy {
    binary: PathBuf,
    dir: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Haproxy {
    /// Prepares (does not start) a balancer in `config.dir`. A master left
    /// running by a previous vine that was killed is stopped, so its ports
    /// are free.
    pub async fn new(config: HaproxyConfig) -> Result<Self, LbError> {
        let binary = match config.binary {
            Some(b) => b,
            None => find_binary().ok_or_else(|| LbError::Missing("haproxy".into()))?,
        };
        tokio::fs::create_dir_all(&config.dir)
            .await
            .map_err(|e| io_err(&config.dir, e))?;
        let h = Haproxy {
            binary,
            dir: config.dir,
            child: Mutex::new(None),
        };
        h.stop_stale().await;
        Ok(h)
    }

    fn cfg_path(&self) -> PathBuf {
        self.dir.join("haproxy.cfg")
    }
    fn pid_path(&self) -> PathBuf {
        self.dir.join("haproxy.pid")
    }
    fn admin_sock(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }
    fn master_sock(&self) -> PathBuf {
        self.dir.join("master.sock")
    }

    /// The configuration HAProxy would get for `frontends`.
    pub fn render(&self, frontends: &[Frontend]) -> String {
        render(&self.admin_sock(), frontends)
    }

    async fn check(&self, path: &Path) -> Result<(), LbError> {
        let out = Command::new(&self.binary)
            .arg("-c")
            .arg("-q")
            .arg("-f")
            .arg(path)
            .output()
            .await
            .map_err(|e| io_err(&self.binary, e))?;
        if out.status.success() {
            Ok(())
        } else {
            let mut msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if msg.is_empty() {
                msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
            Err(LbError::Rejected(msg))
        }
    }

    async fn start(&self, slot: &mut Option<Child>) -> Result<(), LbError> {
        let _ = tokio::fs::remove_file(self.admin_sock()).await;
        let _ = tokio::fs::remove_file(self.master_sock()).await;
        // HAProxy deliberately outlives a manager that crashes (kill -9):
        // the data plane keeps serving the virtual servers while the
        // control plane is down, and the next start replaces it (see
        // `stop_stale`). So no PR_SET_PDEATHSIG here; a clean stop ends it.
        let child = Command::new(&self.binary)
            .arg("-W")
            .arg("-S")
            .arg(self.master_sock())
            .arg("-p")
            .arg(self.pid_path())
            .arg("-f")
            .arg(self.cfg_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| io_err(&self.binary, e))?;
        *slot = Some(child);
        match self.wait_worker(None).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let detail = match slot.take() {
                    Some(mut c) => {
                        let _ = c.start_kill();
                        let mut err = String::new();
                        if let Some(mut s) = c.stderr.take() {
                            let _ = tokio::time::timeout(
                                Duration::from_secs(2),
                                s.read_to_string(&mut err),
                            )
                            .await;
                        }
                        err
                    }
                    None => String::new(),
                };
                Err(LbError::Runtime(format!(
                    "{e}; haproxy said: {}",
                    detail.trim()
                )))
            }
        }
    }

    /// Waits until a worker other than `old` answers on the admin socket;
    /// returns its pid.
    async fn wait_worker(&self, old: Option<u32>) -> Result<u32, LbError> {
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(info) = self.ask(&self.admin_sock(), "show info").await {
                if let Some(pid) = info_pid(&info) {
                    if Some(pid) != old {
                        return Ok(pid);
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(LbError::Runtime(format!(
                    "haproxy did not come up within {} s",
                    READY_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One command on a CLI socket; the whole answer.
    async fn ask(&self, sock: &Path, cmd: &str) -> Result<String, LbError> {
        let mut s = UnixStream::connect(sock)
            .await
            .map_err(|e| io_err(sock, e))?;
        s.write_all(format!("{cmd}\n").as_bytes())
            .await
            .map_err(|e| io_err(sock, e))?;
        let mut out = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut out))
            .await
            .map_err(|_| LbError::Runtime(format!("no answer to {cmd:?} on {}", sock.display())))?
            .map_err(|e| io_err(sock, e))?;
        Ok(out)
    }

    async fn stop_child(&self, slot: &mut Option<Child>) {
        if let Some(mut c) = slot.take() {
            if let Some(pid) = c.id() {
                terminate(pid);
            }
            if tokio::time::timeout(Duration::from_secs(5), c.wait())
                .await
                .is_err()
            {
                let _ = c.kill().await;
            }
        }
        let _ = tokio::fs::remove_file(self.pid_path()).await;
    }

    /// Stops a master recorded in the pid file by an earlier run, if it is
    /// still a haproxy process.
    async fn stop_stale(&self) {
        let Ok(text) = tokio::fs::read_to_string(self.pid_path()).await else {
            return;
        };
        let Some(pid) = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse::<u32>().ok())
        else {
            return;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "haproxy" {
            tracing::info!(pid, "stopping a haproxy left by an earlier run");
            terminate(pid);
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        let _ = tokio::fs::remove_file(self.pid_path()).await;
    }
}

#[async_trait]
impl LoadBalancer for Haproxy {
    async fn apply(&self, frontends: &[Frontend]) -> Result<(), LbError> {
        validate(frontends)?;
        let mut slot = self.child.lock().await;
        if frontends.is_empty() {
            // HAProxy refuses to run without a listener.
            self.stop_child(&mut slot).await;
            return Ok(());
        }
        let next = self.dir.join("haproxy.cfg.next");
        tokio::fs::write(&next, self.render(frontends))
            .await
            .map_err(|e| io_err(&next, e))?;
        self.check(&next).await?;
        tokio::fs::rename(&next, self.cfg_path())
            .await
            .map_err(|e| io_err(&self.cfg_path(), e))?;
        let running = match slot.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        };
        if !running {
            return self.start(&mut slot).await;
        }
        let old = self
            .ask(&self.admin_sock(), "show info")
            .await
            .ok()
            .and_then(|i| info_pid(&i));
        self.ask(&self.master_sock(), "reload").await?;
        self.wait_worker(old).await?;
        tracing::info!(frontends = frontends.len(), "haproxy reloaded");
        Ok(())
    }

    async fn status(&self) -> Result<Vec<ServerStatus>, LbError> {
        if self.child.lock().await.is_none() {
            return Ok(Vec::new());
        }
        let csv = self.ask(&self.admin_sock(), "show stat").await?;
        parse_stat(&csv)
    }

    async fn stop(&self) -> Result<(), LbError> {
        let mut slot = self.child.lock().await;
        self.stop_child(&mut slot).await;
        Ok(())
    }
}

fn find_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|d| d.join("haproxy"))
        .find(|p| p.is_file())
}

fn io_err(path: &Path, source: std::io::Error) -> LbError {
    LbError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn terminate(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        // SAFETY: kill(2) with a pid we started (or read from our own pid
        // file and checked is haproxy) and a valid signal number.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
    }
}

fn info_pid(info: &str) -> Option<u32> {
    info.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The HAProxy configuration for `frontends` (already validated).
fn render(admin_sock: &Path, frontends: &[Frontend]) -> String {
    let mut c = String::new();
    let _ = writeln!(c, "# Written by vine; changes here are overwritten.");
    let _ = writeln!(c, "global");
    let _ = writeln!(
        c,
        "    stats socket {} mode 600 level admin expose-fd listeners",
        admin_sock.display()
    );
    let _ = writeln!(c, "    hard-stop-after 30s");
    let _ = writeln!(c, "\ndefaults");
    let _ = writeln!(c, "    mode http");
    let _ = writeln!(c, "    timeout connect 2s");
    let _ = writeln!(c, "    timeout client 30s");
    let _ = writeln!(c, "    timeout server 30s");
    let _ = writeln!(c, "    timeout check 2s");
    for f in frontends {
        let name = format!("{PROXY_PREFIX}{}", f.name);
        let _ = writeln!(c, "\nfrontend {name}");
        let _ = writeln!(c, "    bind {}", f.bind);
        let _ = writeln!(c, "    default_backend {name}");
        let _ = writeln!(c, "\nbackend {name}");
        let _ = writeln!(c, "    balance roundrobin");
        let check = match &f.health {
            Some(h) => {
                let _ = writeln!(c, "    option httpchk GET {}", h.path);
                format!(
                    " check inter {} fall {} rise {}",
                    h.interval_ms, h.fall, h.rise
                )
            }
            None => String::new(),
        };
        for b in &f.backends {
            let _ = writeln!(
                c,
                "    server {} {} weight {}{check}",
                b.name, b.addr, b.weight
            );
        }
    }
    c
}

/// Node rows of `show stat` CSV.
fn parse_stat(csv: &str) -> Result<Vec<ServerStatus>, LbError> {
    let mut lines = csv.lines();
    let header = lines
        .next()
        .and_then(|h| h.strip_prefix("# "))
        .ok_or_else(|| LbError::Runtime("haproxy's stat output has no header".into()))?;
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| LbError::Runtime(format!("haproxy's stat output lacks column {name}")))
    };
    let (px, sv, st, stot) = (col("pxname")?, col("svname")?, col("status")?, col("stot")?);
    let mut out = Vec::new();
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        let (Some(p), Some(s), Some(status)) = (f.get(px), f.get(sv), f.get(st)) else {
            continue;
        };
        let Some(frontend) = p.strip_prefix(PROXY_PREFIX) else {
            continue;
        };
        if *s == "FRONTEND" || *s == "BACKEND" {
            continue;
        }
        let state = if status.starts_with("UP") {
            BackendState::Up
        } else if status.starts_with("DOWN") {
            BackendState::Down
        } else if status.starts_with("MAINT") || status.starts_with("DRAIN") {
            BackendState::Maintenance
        } else {
            BackendState::Unchecked
        };
        out.push(ServerStatus {
            frontend: frontend.to_string(),
            backend: s.to_string(),
            state,
            sessions: f.get(stot).and_then(|v| v.parse().ok()).unwrap_or(0),
        });
    }
    Ok(out)
}

/// [`parse_stat`] and the `show info` reader, for the fuzz targets in
/// `fuzz/`: both read what the HAProxy process answers.
#[doc(hidden)]
pub fn fuzz_parse_stat(csv: &str) -> (Result<Vec<ServerStatus>, LbError>, Option<u32>) {
    (parse_stat(csv), info_pid(csv))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Backend, HealthCheck};

    fn fe(name: &str, port: u16, nodes: &[(&str, u16)]) -> Frontend {
        Frontend {
            name: name.into(),
            bind: format!("127.0.0.1:{port}").parse().unwrap(),
            backends: nodes
                .iter()
                .map(|(n, p)| Backend {
                    name: (*n).into(),
                    addr: format!("127.0.0.1:{p}").parse().unwrap(),
                    weight: 1,
                })
                .collect(),
            health: Some(HealthCheck::default()),
        }
    }

    #[test]
    fn renders_one_proxy_pair_per_virtual_server() {
        let c = render(
            Path::new("/s/admin.sock"),
            &[fe("web", 8080, &[("n1", 9001), ("n2", 9002)])],
        );
        assert!(c.contains("frontend vs_web\n    bind 127.0.0.1:8080"));
        assert!(c.contains("server n2 127.0.0.1:9002 weight 1 check inter 2000 fall 2 rise 1"));
        assert!(c.contains("option httpchk GET /"));
    }

    #[test]
    fn refuses_names_that_would_inject_configuration() {
        let bad = fe("web\n    bind 0.0.0.0:1", 8080, &[]);
        let e = validate(&[bad]).unwrap_err().to_string();
        assert!(e.contains("must be 1-64 letters"), "{e}");
        let mut dup = fe("web", 8080, &[("n1", 9001), ("n1", 9002)]);
        assert!(validate(std::slice::from_ref(&dup)).is_err());
        dup.backends.pop();
        dup.health = Some(HealthCheck {
            path: "/ x".into(),
            ..Default::default()
        });
        assert!(validate(&[dup]).is_err());
        let a = fe("a", 8080, &[]);
        let b = fe("b", 8080, &[]);
        assert!(validate(&[a, b]).unwrap_err().to_string().contains("bind"));
    }

    #[test]
    fn parses_node_rows_of_show_stat() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight\n\
vs_web,FRONTEND,,,0,1,262,12,0,0,0,0,0,,,,,OPEN,\n\
vs_web,n1,0,0,0,1,,7,0,0,,0,,0,0,0,0,UP,1\n\
vs_web,n2,0,0,0,1,,5,0,0,,0,,0,0,0,0,DOWN 1/2,1\n\
vs_web,BACKEND,0,0,0,1,26,12,0,0,0,0,,0,0,0,0,UP,2\n\
stats,FRONTEND,,,0,1,262,0,0,0,0,0,0,,,,,OPEN,\n";
        let s = parse_stat(csv).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].backend, "n1");
        assert_eq!(s[0].state, BackendState::Up);
        assert_eq!(s[0].sessions, 7);
        assert_eq!(s[1].state, BackendState::Down);
    }
}
