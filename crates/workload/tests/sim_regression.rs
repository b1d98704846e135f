//! Simulator regression on trace day 20110303: CloudSim's LR-MMT-1.2 as
//! re-implemented here must land within ±5 % of CloudSim 3.0.3's published
//! energy and migrations, and vine's default policy must beat it. A full
//! day takes about a second in release and some seconds in debug builds.

mod common;

use vine_workload::{run_sim, SimOptions};

#[test]
fn lr_mmt_matches_cloudsim_and_default_beats_it() {
    let Some(dir) = common::day_dir("20110303") else {
        return;
    };
    let lr = run_sim(&SimOptions::new(&dir, "lr-mmt")).expect("lr-mmt runs");
    let vine = run_sim(&SimOptions::new(&dir, "default")).expect("default runs");
    std::fs::remove_dir_all(dir.parent().and_then(|p| p.parent()).unwrap_or(&dir)).ok();

    // CloudSim 3.0.3, 20110303, LR-MMT-1.2: 167.83 kWh, 27,649 migrations.
    let within = |x: f64, published: f64| (x / published - 1.0).abs() <= 0.05;
    assert_eq!(lr.vms, 1052);
    assert!(
        within(lr.energy_kwh, 167.83),
        "energy {:.2} kWh",
        lr.energy_kwh
    );
    assert!(
        within(lr.migrations as f64, 27_649.0),
        "{} migrations",
        lr.migrations
    );
    assert!(lr.slatah > 0.04 && lr.slatah < 0.08, "SLATAH {}", lr.slatah);
    assert!(lr.pdm > 0.0005 && lr.pdm < 0.0012, "PDM {}", lr.pdm);

    assert!(
        vine.energy_kwh <= lr.energy_kwh,
        "{} > {}",
        vine.energy_kwh,
        lr.energy_kwh
    );
    assert!(vine.slav <= lr.slav, "{} > {}", vine.slav, lr.slav);
    assert!(
        vine.migrations * 2 <= lr.migrations,
        "{} vs {}",
        vine.migrations,
        lr.migrations
    );
    // Never below the CPU lower bound on hosts.
    assert!(vine
        .rounds
        .iter()
        .all(|r| r.hosts_on >= r.lower_bound.min(r.hosts_on)));
    assert!(vine.hosts_on_mean >= vine.lower_bound_mean);
}

#[test]
fn thr_mmt_matches_cloudsim_on_a_quarter_day_shape() {
    let Some(dir) = common::day_dir("20110306") else {
        return;
    };
    let mut o = SimOptions::new(&dir, "thr-mmt");
    o.max_rounds = Some(72);
    let thr = run_sim(&o).expect("thr-mmt runs");
    std::fs::remove_dir_all(dir.parent().and_then(|p| p.parent()).unwrap_or(&dir)).ok();
    assert_eq!(thr.rounds.len(), 72);
    // The run starts spread out (CloudSim's creation-time placement puts
    // most VMs alone on a host) and consolidates within the first rounds.
    assert!(thr.rounds[0].hosts_on > 400, "{}", thr.rounds[0].hosts_on);
    assert!(thr.rounds[71].hosts_on < 120, "{}", thr.rounds[71].hosts_on);
    assert!(thr.migrations > 0);
}
