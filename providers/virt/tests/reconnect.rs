//! libvirt going away under a running agent, for real: the agent talks to
//! a private libvirtd (libvirt's test driver behind it, reached as
//! `test+unix:///default?socket=…`), the daemon is killed, the agent
//! answers CIM_ERR_FAILED saying libvirt is gone, the daemon is started
//! again, and the same agent serves again — reconnected by itself, domain
//! events included — without a restart.
//!
//! The daemon runs unprivileged (session mode, its own runtime, config and
//! socket directories), so it cannot clash with a system libvirtd. Where
//! libvirtd cannot start, the test says why and skips.

mod vm_support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vine_cim::{CimStatus, CimValue};
use vine_hypervisor::{Hypervisor, LibvirtHypervisor};
use vine_wbem::client::{ClientError, EnumArgs};
use vm_support::*;

/// A private libvirtd, killed when dropped.
struct Daemon {
    child: Option<Child>,
    dir: PathBuf,
    as_nobody: bool,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Daemon {
    fn socket(&self) -> PathBuf {
        self.dir.join("sock").join("libvirt-sock")
    }

    fn uri(&self) -> String {
        format!("test+unix:///default?socket={}", self.socket().display())
    }

    /// Starts libvirtd and waits for its socket; `Err` says why it cannot.
    fn start(&mut self) -> Result<(), String> {
        let _ = std::fs::remove_file(self.socket());
        let d = |sub: &str| self.dir.join(sub);
        let mut cmd = if self.as_nobody {
            // root: drop to nobody so the daemon runs in session mode.
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "libvirtd",
            ]);
            c
        } else {
            Command::new("libvirtd")
        };
        cmd.arg("-f")
            .arg(d("libvirtd.conf"))
            .env("HOME", &self.dir)
            .env("XDG_RUNTIME_DIR", d("run"))
            .env("XDG_CONFIG_HOME", d("config"))
            .env("XDG_CACHE_HOME", d("cache"))
            .env("XDG_DATA_HOME", d("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd
            .spawn()
            .map_err(|e| format!("libvirtd cannot start ({e}); ./deploy/setup.sh installs it"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    return Err(format!("libvirtd exited at start ({status})"));
                }
            }
            if self.socket().exists() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("libvirtd started but made no socket within 20 s".into())
    }

    /// Pulls the plug: SIGKILL, no goodbye to clients.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A daemon in a fresh directory, up; `Err` when this host cannot run one.
fn daemon() -> Result<(tempfile::TempDir, Daemon), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = tmp.path().to_path_buf();
    for sub in ["sock", "run", "config", "cache", "data"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
    }
    std::fs::write(
        dir.join("libvirtd.conf"),
        format!(
            "unix_sock_dir = \"{}\"\nauth_unix_rw = \"none\"\nauth_unix_ro = \"none\"\n",
            dir.join("sock").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let as_nobody = is_root();
    if as_nobody {
        chown_nobody(&dir)?;
    }
    let mut d = Daemon {
        child: None,
        dir,
        as_nobody,
    };
    d.start()?;
    Ok((tmp, d))
}

fn chown_nobody(dir: &Path) -> Result<(), String> {
    let ok = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(dir)
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("cannot hand {} to nobody", dir.display()))
    }
}

/// Opens `uri`, retrying while the daemon settles.
fn open(uri: &str) -> std::sync::Arc<LibvirtHypervisor> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match LibvirtHypervisor::open(uri) {
            Ok(hv) => return hv,
            Err(e) if Instant::now() > deadline => panic!("{uri}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

async fn system_names(a: &Agent) -> Result<Vec<String>, ClientError> {
    Ok(a.client
        .enumerate_instances(
            vine_providers_virt::VIRT_NS,
            &a.class("ComputerSystem"),
            &EnumArgs::default(),
        )
        .await?
        .iter()
        .filter_map(|s| s.get_str("Name").map(str::to_string))
        .collect())
}

async fn define(a: &Agent, name: &str) -> Result<u32, ClientError> {
    let r = a
        .vsms_call(
            "DefineSystem",
            define_params(
                vssd("KVM", name),
                vec![proc_rasd("KVM", 1, 1), mem_rasd("KVM", 128, 128)],
            ),
        )
        .await?;
    Ok(rc(&r))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_rides_out_a_libvirtd_restart() {
    let (_tmp, mut daemon) = match daemon() {
        Ok(d) => d,
        Err(reason) => {
            eprintln!("SKIP libvirtd restart: {reason}");
            return;
        }
    };
    let uri = daemon.uri();
    let hv = open(&uri);
    let a = agent(hv.clone(), "KVM", "reconnect").await;
    assert!(system_names(&a)
        .await
        .unwrap()
        .contains(&"test".to_string()));
    assert_eq!(define(&a, "before").await.unwrap(), 0);

    // The daemon dies: requests fail with a CIM error that names libvirt,
    // and the agent itself keeps answering.
    daemon.kill();
    let deadline = Instant::now() + Duration::from_secs(30);
    let err = loop {
        match system_names(&a).await {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Ok(names) => panic!("still answering from a dead libvirtd: {names:?}"),
        }
    };
    eprintln!("while libvirtd is down: {err}");
    assert_eq!(err.cim_status(), Some(CimStatus::Failed), "{err}");
    assert!(err.to_string().contains("libvirt"), "{err}");
    assert!(!hv.is_alive());
    let e = define(&a, "during").await.unwrap_err();
    assert_eq!(e.cim_status(), Some(CimStatus::Failed), "{e}");
    assert!(e.to_string().contains("libvirt connection lost"), "{e}");
    let h = a
        .client
        .enumerate_instances(
            vine_providers_virt::VIRT_NS,
            &a.class("VirtualSystemManagementCapabilities"),
            &EnumArgs::default(),
        )
        .await
        .expect("what needs no libvirt still answers");
    assert_eq!(h.len(), 1);

    // Back: the same agent serves again without a restart.
    daemon.start().expect("libvirtd starts again");
    let deadline = Instant::now() + Duration::from_secs(60);
    let names = loop {
        match system_names(&a).await {
            Ok(n) => break n,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => panic!("the agent did not reconnect within 60 s: {e}"),
        }
    };
    // A new daemon holds a fresh test host.
    assert!(names.contains(&"test".to_string()), "{names:?}");
    assert!(hv.is_alive());
    assert_eq!(define(&a, "after").await.unwrap(), 0);
    // Domain events flow on the new connection too.
    let created = a
        .wait_indications("ComputerSystemCreatedIndication", "after", 1)
        .await;
    match created[0].get("SourceInstance") {
        Some(CimValue::Instance(i)) => assert_eq!(i.get_str("Name"), Some("after")),
        other => panic!("{other:?}"),
    }
}
