//! CPU shares carried out for real: a `vine agent` on `qemu:///system`
//! and a `vine manager` over it; `POST /api/v1/vms/{name}/resize` with
//! `cpu_shares` runs a `vm.resize` job, which reaches the agent as the
//! processor RASD's Weight, which libvirt sets as the guest's
//! `cpu_shares` — `virsh schedinfo` reads them back. Then a CPU limit
//! and reservation the same way (`cpu_limit_pct`, `cpu_reservation_pct`:
//! the RASD's CPULimit and CPUReservation), read back as the guest's
//! `vcpu_quota` and vine's element in its `<metadata>`.
//!
//! Starts its own libvirtd when `qemu:///system` is not reachable; where
//! that cannot work (not root, no libvirtd installed) it says why and
//! skips — ./deploy/setup.sh installs what it needs. (libvirt's test
//! driver cannot keep CPU shares: `policy_live_e2e` checks that it says
//! so.)

mod jobs_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jobs_support::*;
use serde_json::{json, Value};
use vine_coordinator::vni::VmTemplate;
use vine_hypervisor::{Hypervisor, LibvirtHypervisor};

const URI: &str = "qemu:///system";
const SOCKET: &str = "/var/run/libvirt/libvirt-sock";

/// The daemons this test started, stopped when dropped.
struct Daemon(Vec<Child>);

impl Drop for Daemon {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `qemu:///system`, starting libvirtd (and virtlogd) when it is not up.
fn connect() -> Result<(Daemon, Arc<LibvirtHypervisor>), String> {
    if let Ok(hv) = LibvirtHypervisor::open(URI) {
        return Ok((Daemon(Vec::new()), hv));
    }
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!(
            "{URI} is not reachable and only root can start libvirtd here"
        ));
    }
    let spawn = |bin: &str| {
        Command::new(bin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{bin} cannot start ({e}); run ./deploy/setup.sh"))
    };
    let mut daemon = Daemon(vec![spawn("virtlogd")?]);
    daemon.0.push(spawn("libvirtd")?);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if Path::new(SOCKET).exists() {
            if let Ok(hv) = LibvirtHypervisor::open(URI) {
                return Ok((daemon, hv));
            }
        }
        if Instant::now() > deadline {
            return Err("libvirtd started but qemu:///system did not answer within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Removes the test's guest however the test ends.
struct Guest<'a>(&'a dyn Hypervisor, String);

impl Drop for Guest<'_> {
    fn drop(&mut self) {
        let _ = self.0.destroy(&self.1);
        let _ = self.0.undefine(&self.1);
    }
}

/// The guest's `cpu_shares` in its definition, as `virsh` shows them.
fn virsh_shares(name: &str) -> Option<String> {
    virsh_sched(name, "cpu_shares")
}

/// One scheduler parameter of the guest's definition, as `virsh` shows it.
fn virsh_sched(name: &str, field: &str) -> Option<String> {
    let out = Command::new("virsh")
        .args(["-c", URI, "schedinfo", "--config", name])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == field).then(|| v.trim().to_string())
    })
}

/// vine's element in the guest's definition's metadata, as `virsh` shows it.
fn virsh_metadata(name: &str) -> String {
    let out = Command::new("virsh")
        .args(["-c", URI, "metadata", name])
        .arg(vine_hypervisor::CPU_METADATA_NS)
        .arg("--config")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_shares_reach_a_qemu_guest_through_the_manager() {
    let (_daemon, hv) = match connect() {
        Ok(c) => c,
        Err(reason) => {
            eprintln!("SKIP CPU shares on qemu: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let q = AgentSpec::new("q");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vine"))
        .arg("agent")
        .args(["--libvirt-uri", URI, "--host-name", "q"])
        .args(["--http", &format!("127.0.0.1:{}", q.port), "--https", "off"])
        .arg("--state-dir")
        .arg(dir.path().join("agent-q"))
        .env("VINE_ADMIN_PASSWORD", PASSWORD)
        .env("VINE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vine runs");
    let agent = vni(&q);
    let t = Instant::now();
    while agent.host().await.is_err() {
        if let Ok(Some(s)) = child.try_wait() {
            panic!("the qemu agent exited: {s}");
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "agent not up in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _agent = Proc { child };

    let name = format!("vine-shares-{}", std::process::id());
    agent
        .define_vm(&VmTemplate {
            name: name.clone(),
            vcpus: 1,
            memory_mib: 64,
            disks: vec![],
            nics: vec![],
        })
        .await
        .unwrap();
    let _guest = Guest(hv.as_ref(), name.clone());
    let m = start_manager(dir.path(), &[&q], None);

    // The manager learns of the guest, then resizes only its shares.
    let t = Instant::now();
    loop {
        let vms: Value = m.api.get("/vms").await.unwrap();
        if vms
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == name.as_str())
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{name} not listed: {vms:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let id = post_job(
        &m.api,
        &format!("/vms/{name}/resize"),
        json!({"cpu_shares": 1536}),
    )
    .await;
    succeeds(&m.api, &id).await;
    assert_eq!(virsh_shares(&name).as_deref(), Some("1536"));

    // Out of libvirt's range: refused before any job, nothing changed.
    let (status, _, detail) = refused(
        m.api
            .post(&format!("/vms/{name}/resize"), &json!({"cpu_shares": 1}))
            .await,
    );
    assert_eq!(status, 400, "{detail}");
    assert!(detail.contains("cpu_shares 1 is out of range"), "{detail}");
    assert_eq!(virsh_shares(&name).as_deref(), Some("1536"));

    // A CPU limit (40 % of a core per vCPU: a 40 ms quota per 100 ms) and
    // a reservation (20 %, admitted by the agent, kept in the metadata).
    let id = post_job(
        &m.api,
        &format!("/vms/{name}/resize"),
        json!({"cpu_limit_pct": 40, "cpu_reservation_pct": 20}),
    )
    .await;
    succeeds(&m.api, &id).await;
    assert_eq!(virsh_sched(&name, "vcpu_quota").as_deref(), Some("40000"));
    assert_eq!(virsh_sched(&name, "vcpu_period").as_deref(), Some("100000"));
    let md = virsh_metadata(&name);
    assert!(md.contains("reservation=\"20\""), "{md}");
    assert_eq!(virsh_shares(&name).as_deref(), Some("1536"), "shares kept");
    let (status, _, detail) = refused(
        m.api
            .post(
                &format!("/vms/{name}/resize"),
                &json!({"cpu_limit_pct": 101}),
            )
            .await,
    );
    assert_eq!(status, 400, "{detail}");
    assert!(
        detail.contains("cpu_limit_pct 101 is out of range: give 1 to 100"),
        "{detail}"
    );
    assert_eq!(virsh_sched(&name, "vcpu_quota").as_deref(), Some("40000"));
}
