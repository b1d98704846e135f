//! `cargo bench -p vine-store`: flushed puts/s, gets/s, list of 20k records.
//! Prints figures; no harness. Sizes via env: VINE_BENCH_PUTS, VINE_BENCH_RECORDS.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use vine_store::{names, Store};

/// Roughly the size of a VM inventory record (~300 bytes of JSON).
#[derive(Serialize, Deserialize, Clone)]
struct VmRecord {
    name: String,
    host: String,
    state: String,
    vcpus: u32,
    memory_mib: u64,
    disks: Vec<String>,
    networks: Vec<String>,
    labels: Vec<(String, String)>,
}

fn vm(i: usize) -> VmRecord {
    VmRecord {
        name: format!("vm-{i:06}"),
        host: format!("host-{:04}", i % 1000),
        state: "running".into(),
        vcpus: 2,
        memory_mib: 4096,
        disks: vec![format!("/var/lib/vine/images/vm-{i:06}.qcow2")],
        networks: vec!["default".into()],
        labels: vec![("service".into(), format!("svc-{}", i % 50))],
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rate(n: usize, secs: f64) -> String {
    format!("{:>10.0}/s", n as f64 / secs)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // cargo bench passes --bench; a plain `cargo test` run of benches passes nothing useful.
    let puts = env_usize("VINE_BENCH_PUTS", 2_000);
    let records = env_usize("VINE_BENCH_RECORDS", 20_000);
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path())?;
    let vms = store.collection::<VmRecord>(names::VMS)?;

    let t = Instant::now();
    for i in 0..puts {
        vms.put(&format!("vm-{i:06}"), &vm(i))?;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "put (flushed, one at a time)  {puts:>6} records  {}  {:.3} ms/put",
        rate(puts, s),
        s * 1000.0 / puts as f64
    );

    let batch: Vec<(String, VmRecord)> = (0..records)
        .map(|i| (format!("vm-{i:06}"), vm(i)))
        .collect();
    let t = Instant::now();
    for chunk in batch.chunks(1000) {
        vms.put_batch(chunk.iter().map(|(id, v)| (id.as_str(), v)))?;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "put_batch (1000 per flush)    {records:>6} records  {}",
        rate(records, s)
    );

    let t = Instant::now();
    let mut found = 0usize;
    for i in 0..records {
        if vms.get(&format!("vm-{i:06}"))?.is_some() {
            found += 1;
        }
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "get (decoded)                 {found:>6} records  {}",
        rate(records, s)
    );

    let t = Instant::now();
    let all = vms.list()?;
    let s = t.elapsed().as_secs_f64();
    println!(
        "list (decoded)                {:>6} records  {:>8.1} ms",
        all.len(),
        s * 1000.0
    );

    let t = Instant::now();
    for i in 0..200 {
        vms.update(&format!("vm-{i:06}"), |v: Option<VmRecord>| {
            Ok::<_, vine_store::StoreError>(v.map(|mut v| {
                v.vcpus += 1;
                v
            }))
        })?;
    }
    let s = t.elapsed().as_secs_f64();
    println!(
        "update (CAS + flush)          {:>6} records  {}",
        200,
        rate(200, s)
    );
    println!(
        "size on disk: {:.1} MiB",
        store.size_on_disk()? as f64 / 1048576.0
    );
    Ok(())
}
