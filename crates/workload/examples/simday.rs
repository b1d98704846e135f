fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut o = vine_workload::SimOptions::new(&args[1], &args[2]);
    if args.get(3).map(|s| s.as_str()) == Some("blocks") {
        o.vm_types = vine_workload::sim::VmTypeAssignment::Blocks;
    }
    let r = vine_workload::run_sim(&o).unwrap();
    println!("{} {} E={:.2} SLATAH={:.2}% PDM={:.3}% SLAV={:.5}% mig={} hosts_on={:.1} lb={:.1} plan={:.2}ms unplaced={}", r.day, r.policy, r.energy_kwh, r.slatah*100.0, r.pdm*100.0, r.slav*100.0, r.migrations, r.hosts_on_mean, r.lower_bound_mean, r.plan_ms_mean, r.vms_unplaced);
}
