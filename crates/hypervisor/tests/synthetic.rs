//! The synthetic-load decorator over a real test-driver host: CPU counters
//! advance at the rate the load file says, follow rewrites of the file, and
//! stay put for idle, paused and unnamed VMs.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vine_hypervisor::synthetic::{parse_loads, LoadFileError, SyntheticLoad};
use vine_hypervisor::Hypervisor;

/// CPU rate of `vm` over `wait`, in busy vCPUs per vCPU (0..1).
fn rate(hv: &dyn Hypervisor, vm: &str, wait: Duration) -> f64 {
    let a = hv.domain_stats(vm).unwrap();
    let t = Instant::now();
    std::thread::sleep(wait);
    let b = hv.domain_stats(vm).unwrap();
    let secs = t.elapsed().as_secs_f64();
    (b.cpu_time_ns - a.cpu_time_ns) as f64 / 1e9 / secs / f64::from(b.vcpus)
}

fn write(path: &Path, text: &str) {
    // Through a rename, as an editor or a test would, so no reader sees
    // half a file.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn cpu_follows_the_load_file() {
    let h = common::host("syn", 3);
    let load = h.dir.path().join("load.json");
    write(&load, r#"{"syn-vm1": 0.5}"#);
    let inner: Arc<dyn Hypervisor> = h.hv.clone();
    let hv = SyntheticLoad::wrap(inner, &load).unwrap();
    let wait = Duration::from_millis(300);

    let r1 = rate(hv.as_ref(), "syn-vm1", wait);
    assert!((r1 - 0.5).abs() < 0.05, "vm1 at 0.5, measured {r1}");
    assert_eq!(rate(hv.as_ref(), "syn-vm2", wait), 0.0, "unnamed VMs idle");

    // Host: busy over busy + idle is the VMs' share of its 8 CPUs.
    let a = hv.host_stats().unwrap();
    std::thread::sleep(wait);
    let b = hv.host_stats().unwrap();
    let busy = (b.cpu_user_ns - a.cpu_user_ns) as f64;
    let idle = (b.cpu_idle_ns - a.cpu_idle_ns) as f64;
    let host = busy / (busy + idle);
    assert!(
        (host - 0.5 / 8.0).abs() < 0.02,
        "host at 1/16, measured {host}"
    );
    assert!(b.memory_total_kib > 0, "memory passes through");

    // A rewrite takes effect on the next reading.
    write(&load, r#"{"syn-vm1": 1.0, "syn-vm2": 0.2}"#);
    let r1 = rate(hv.as_ref(), "syn-vm1", wait);
    let r2 = rate(hv.as_ref(), "syn-vm2", wait);
    assert!((r1 - 1.0).abs() < 0.05, "vm1 at 1.0, measured {r1}");
    assert!((r2 - 0.2).abs() < 0.05, "vm2 at 0.2, measured {r2}");

    // A broken rewrite keeps the last good loads.
    write(&load, r#"{"syn-vm1": "#);
    let r1 = rate(hv.as_ref(), "syn-vm1", wait);
    assert!(
        (r1 - 1.0).abs() < 0.05,
        "last good load kept, measured {r1}"
    );

    // A paused VM does not run, whatever the file says.
    hv.suspend("syn-vm1").unwrap();
    assert_eq!(rate(hv.as_ref(), "syn-vm1", wait), 0.0);
    hv.resume("syn-vm1").unwrap();

    // No file: every VM idle.
    std::fs::remove_file(&load).unwrap();
    assert_eq!(rate(hv.as_ref(), "syn-vm2", wait), 0.0);
}

#[test]
fn bad_load_files_are_refused_with_what_to_write() {
    let p = Path::new("load.json");
    assert_eq!(
        parse_loads(r#"{"a": 0.9, "b": 0}"#, p).unwrap().get("a"),
        Some(&0.9)
    );
    for (text, says) in [
        (r#"{"a": 1.5}"#, "from 0 to 1"),
        (r#"{"a": "hot"}"#, "not a number"),
        (r#"[0.5]"#, "JSON object"),
    ] {
        let e = parse_loads(text, p).unwrap_err();
        assert!(matches!(e, LoadFileError::Parse { .. }));
        assert!(e.to_string().contains(says), "{text}: {e}");
    }
    // At start an unparsable file is an error, not a silent idle host.
    let h = common::host("syn-bad", 0);
    let load = h.dir.path().join("load.json");
    std::fs::write(&load, "{").unwrap();
    let inner: Arc<dyn Hypervisor> = h.hv.clone();
    let e = SyntheticLoad::wrap(inner.clone(), &load)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("load.json"), "{e}");
    // A missing one is fine: it may be written later.
    assert!(SyntheticLoad::wrap(inner, &h.dir.path().join("none.json")).is_ok());
}
