//! End to end against real QEMU through libvirtd: a tiny guest (no disk,
//! firmware only) is defined, started, seen running, given CPU shares
//! (virsh schedinfo reads them back, live and in the definition), a CPU
//! limit (virsh schedinfo's vcpu_quota) and a CPU reservation (virsh
//! metadata), and removed.
//! Starts its own libvirtd when `qemu:///system` is not reachable; where
//! that cannot work (not root, no libvirtd installed) it says why and
//! skips — ./deploy/setup.sh installs what it needs.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vine_hypervisor::*;

const URI: &str = "qemu:///system";
const SOCKET: &str = "/var/run/libvirt/libvirt-sock";

/// The daemons (libvirtd, virtlogd) this test started, stopped when
/// dropped.
struct Daemon(Vec<Child>);

impl Drop for Daemon {
    fn drop(&mut self) {
        for c in self.0.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn connect() -> Result<(Daemon, Arc<LibvirtHypervisor>), String> {
    if let Ok(hv) = LibvirtHypervisor::open(URI) {
        return Ok((Daemon(Vec::new()), hv));
    }
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !is_root {
        return Err(format!(
            "{URI} is not reachable and only root can start libvirtd here"
        ));
    }
    // libvirtd hands guest logs to virtlogd; without it no guest starts.
    let logd = Command::new("virtlogd")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("virtlogd cannot start ({e}); run ./deploy/setup.sh"))?;
    let child = Command::new("libvirtd")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            format!("{URI} is not reachable and libvirtd cannot start ({e}); run ./deploy/setup.sh")
        });
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            drop(Daemon(vec![logd]));
            return Err(e);
        }
    };
    let daemon = Daemon(vec![logd, child]);
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

/// The domain's `cpu_shares` as `virsh schedinfo` shows them.
fn virsh_shares(name: &str, scope: &str) -> Option<String> {
    virsh_sched(name, scope, "cpu_shares")
}

/// One of the domain's scheduler parameters as `virsh schedinfo` shows it.
fn virsh_sched(name: &str, scope: &str, field: &str) -> Option<String> {
    let out = Command::new("virsh")
        .args(["-c", URI, "schedinfo", scope, name])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == field).then(|| v.trim().to_string())
    })
}

/// vine's CPU element in the domain's metadata as `virsh metadata` shows it.
fn virsh_metadata(name: &str, scope: &str) -> String {
    let out = Command::new("virsh")
        .args(["-c", URI, "metadata", name, CPU_METADATA_NS, scope])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_tiny_qemu_guest_starts_and_reports_running() {
    let (_daemon, hv) = match connect() {
        Ok(c) => c,
        Err(reason) => {
            eprintln!("SKIP qemu end-to-end: {reason}");
            return;
        }
    };
    let info = hv.host_info().unwrap();
    assert_eq!(info.hypervisor_type, "QEMU");
    assert!(info.cpus >= 1 && info.memory_kib > 0, "{info:?}");
    let caps = hv.capabilities().unwrap();
    assert!(
        caps.guest_types.iter().any(|g| g.os_type == "hvm"),
        "{caps:?}"
    );

    let name = format!("vine-e2e-{}", std::process::id());
    let mut spec = DomainSpec::new(&name, 1, 64);
    spec.os = OsKind::Hvm {
        boot: vec![BootDevice::Network],
    };
    let defined = hv.define(&spec).unwrap();
    assert_eq!(defined.state, DomainState::Shutoff);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // Shut off: shares go to the definition only.
        hv.set_cpu_shares(&name, 512, Scope::Both).unwrap();
        assert_eq!(virsh_shares(&name, "--config").as_deref(), Some("512"));
        // A CPU limit of half a core per vCPU and a reservation of 30 %.
        hv.set_cpu_limit(&name, 50, Scope::Both).unwrap();
        assert_eq!(
            virsh_sched(&name, "--config", "vcpu_quota").as_deref(),
            Some("50000")
        );
        assert_eq!(
            virsh_sched(&name, "--config", "vcpu_period").as_deref(),
            Some("100000")
        );
        hv.set_cpu_reservation(&name, 30, Scope::Both).unwrap();
        let md = virsh_metadata(&name, "--config");
        assert!(md.contains("reservation=\"30\""), "{md}");
        let mut rx = hv.subscribe();
        hv.start(&name).unwrap();
        let running = hv.domain(&name).unwrap();
        assert_eq!(running.state, DomainState::Running);
        assert_eq!(running.memory_kib, 64 * 1024);
        let deadline = Instant::now() + Duration::from_secs(10);
        let started = loop {
            match rx.try_recv() {
                Ok(ev) if ev.domain == name && ev.kind == DomainEventKind::Started => break true,
                Ok(_) => {}
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(_) => break false,
            }
        };
        assert!(started, "libvirtd sent no started event");
        assert!(hv.domain_stats(&name).unwrap().cpu_time_ns > 0);
        hv.suspend(&name).unwrap();
        assert_eq!(hv.domain(&name).unwrap().state, DomainState::Paused);
        hv.resume(&name).unwrap();
        // The definition's shares came up with the guest; now both, read
        // back by virsh, live and in the definition.
        assert_eq!(virsh_shares(&name, "--live").as_deref(), Some("512"));
        hv.set_cpu_shares(&name, 2048, Scope::Both).unwrap();
        for scope in ["--live", "--config"] {
            assert_eq!(
                virsh_shares(&name, scope).as_deref(),
                Some("2048"),
                "{scope}"
            );
        }
        let e = hv.set_cpu_shares(&name, 0, Scope::Live).unwrap_err();
        assert!(matches!(e, HvError::InvalidSpec(_)), "{e}");
        // The limit and reservation came up with the guest; then a new
        // limit live and in the definition, and back to no cap.
        assert_eq!(
            virsh_sched(&name, "--live", "vcpu_quota").as_deref(),
            Some("50000")
        );
        let md = virsh_metadata(&name, "--live");
        assert!(md.contains("reservation=\"30\""), "{md}");
        hv.set_cpu_limit(&name, 25, Scope::Both).unwrap();
        for scope in ["--live", "--config"] {
            assert_eq!(
                virsh_sched(&name, scope, "vcpu_quota").as_deref(),
                Some("25000"),
                "{scope}"
            );
        }
        assert_eq!(
            hv.cpu_time(&name).unwrap(),
            CpuTime {
                limit_pct: Some(25),
                reservation_pct: Some(30)
            }
        );
        hv.set_cpu_limit(&name, 100, Scope::Both).unwrap();
        assert_eq!(hv.cpu_time(&name).unwrap().limit_pct.unwrap_or(100), 100);
        let q = virsh_sched(&name, "--live", "vcpu_quota").unwrap_or_default();
        assert!(
            q.starts_with('-') || q.parse::<u64>().is_ok_and(|q| q > 10_000_000),
            "live vcpu_quota after no cap: {q}"
        );
    }));
    let _ = hv.destroy(&name);
    hv.undefine(&name).unwrap();
    assert_eq!(
        hv.domain(&name).unwrap_err(),
        HvError::NoDomain(name.clone())
    );
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
