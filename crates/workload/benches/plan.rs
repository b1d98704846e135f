//! Planning-time benchmark (plain binary, no harness):
//! `cargo bench -p vine-workload`.
//!
//! 1. The 800-host PlanetLab experiment (if the trace tarball is found):
//!    mean and worst planning time per round for `default` and `lr-mmt`.
//! 2. Synthetic 10,000 hosts / 100,000 VMs: one engine round after a
//!    warm-up round (profiles exist, as in steady state), single thread.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use vine_workload::{run_sim, synth, Engine, Policy, SimOptions};

fn trace_day() -> Option<std::path::PathBuf> {
    if let Ok(d) = std::env::var("VINE_TRACE_DAY") {
        return Some(d.into());
    }
    let tgz =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/planetlab-5days.tar.gz");
    if !tgz.is_file() {
        return None;
    }
    let dest = std::env::temp_dir().join(format!("vine-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dest).ok()?;
    let ok = Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&dest)
        .arg("planetlab/20110303")
        .status()
        .ok()?
        .success();
    ok.then(|| dest.join("planetlab/20110303"))
}

fn main() {
    match trace_day() {
        Some(day) => {
            for policy in ["default", "lr-mmt"] {
                match run_sim(&SimOptions::new(&day, policy)) {
                    Ok(r) => println!(
                        "planetlab 800 hosts {:>12}: plan {:.3} ms mean, {:.3} ms max over {} rounds",
                        r.policy,
                        r.plan_ms_mean,
                        r.plan_ms_max,
                        r.rounds.len()
                    ),
                    Err(e) => println!("planetlab {policy}: {e}"),
                }
            }
        }
        None => println!("planetlab: SKIP (no trace tarball; set VINE_TRACE_DAY=DIR)"),
    }

    for (hosts, vms) in [(1_000, 10_000), (10_000, 100_000)] {
        let mut engine = Engine::new(Policy::builtin_default());
        let warm = synth::snapshot(hosts, vms, 0, 300.0);
        let t0 = Instant::now();
        let first = engine.plan(&warm);
        let cold_ms = t0.elapsed().as_secs_f64() * 1e3;
        let mut times = Vec::new();
        let mut commands = 0;
        for r in 1..=3 {
            let snap = synth::snapshot(hosts, vms, r, 300.0 * (r as f64 + 1.0));
            let t = Instant::now();
            let plan = engine.plan(&snap);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            commands = plan.commands.len();
        }
        times.sort_by(f64::total_cmp);
        println!(
            "synthetic {hosts} hosts / {vms} VMs: first round {cold_ms:.1} ms ({} commands), steady round median {:.1} ms, max {:.1} ms ({commands} commands)",
            first.commands.len(),
            times[1],
            times[2]
        );
    }
}
