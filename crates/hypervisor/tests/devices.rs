//! Resizing, hot-plug, snapshots and statistics on a test-driver host.

mod common;

use vine_hypervisor::*;

fn disk(source: String, target: &str) -> DiskSpec {
    DiskSpec {
        source: Some(source),
        target: target.into(),
        bus: DiskBus::Virtio,
        device: DiskDevice::Disk,
        format: Some("raw".into()),
        readonly: false,
        capacity_bytes: None,
    }
}

fn grown(h: &common::Host, name: &str) {
    let mut s = DomainSpec::new(name, 1, 512);
    s.max_vcpus = 4;
    s.max_memory_kib = 2048 * 1024;
    h.hv.define(&s).unwrap();
}

#[test]
fn vcpus_and_memory_change_live_and_in_the_definition() {
    let h = common::host("host-resize", 0);
    let hv = &h.hv;
    grown(&h, "r");

    // Shut off: Live is refused, Both means the definition.
    let e = hv.set_vcpus("r", 2, Scope::Live).unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidState { state, .. } if state == "shut off"),
        "{e}"
    );
    hv.set_vcpus("r", 2, Scope::Both).unwrap();
    hv.set_memory("r", 1024 * 1024, Scope::Config).unwrap();
    let s = hv.domain_spec("r").unwrap();
    assert_eq!((s.vcpus, s.memory_kib), (2, 1024 * 1024));

    hv.start("r").unwrap();
    hv.set_vcpus("r", 3, Scope::Live).unwrap();
    hv.set_memory("r", 768 * 1024, Scope::Live).unwrap();
    let live = hv.domain("r").unwrap();
    assert_eq!((live.vcpus, live.memory_kib), (3, 768 * 1024));
    // The definition kept its values.
    let s = hv.domain_spec("r").unwrap();
    assert_eq!((s.vcpus, s.memory_kib), (2, 1024 * 1024));

    hv.set_vcpus("r", 4, Scope::Both).unwrap();
    assert_eq!(hv.domain("r").unwrap().vcpus, 4);
    assert_eq!(hv.domain_spec("r").unwrap().vcpus, 4);

    let e = hv.set_vcpus("r", 5, Scope::Both).unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidSpec(m) if m.contains("at most 4")),
        "{e}"
    );
    let e = hv.set_memory("r", 4096 * 1024, Scope::Live).unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidSpec(m) if m.contains("at most")),
        "{e}"
    );
    let e = hv.set_vcpus("r", 0, Scope::Live).unwrap_err();
    assert!(matches!(e, HvError::InvalidSpec(_)), "{e}");
}

#[test]
fn disks_and_nics_attach_and_detach() {
    let h = common::host("host-plug", 0);
    let hv = &h.hv;
    grown(&h, "p");

    hv.attach_disk("p", &disk(h.pool_path("data.img"), "vdb"), Scope::Config)
        .unwrap();
    let s = hv.domain_spec("p").unwrap();
    assert_eq!(s.disks.len(), 1);
    assert_eq!(s.disks[0].target, "vdb");

    let e = hv
        .attach_disk("p", &disk(h.pool_path("other.img"), "vdb"), Scope::Config)
        .unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidSpec(m) if m.contains("vdb")),
        "{e}"
    );
    let e = hv
        .attach_disk("p", &disk("/tmp/evil.img".into(), "vdc"), Scope::Config)
        .unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidSpec(m) if m.contains("outside")),
        "{e}"
    );

    let nic = hv
        .attach_nic(
            "p",
            &NicSpec {
                mac: None,
                source: NicSource::Network("default".into()),
                model: Some("virtio".into()),
            },
            Scope::Config,
        )
        .unwrap();
    let mac = nic.mac.clone().expect("libvirt chose a MAC");
    assert_eq!(hv.domain_spec("p").unwrap().nics, vec![nic]);

    hv.detach_nic("p", &mac, Scope::Config).unwrap();
    assert!(hv.domain_spec("p").unwrap().nics.is_empty());
    let e = hv.detach_nic("p", &mac, Scope::Config).unwrap_err();
    assert!(matches!(e, HvError::NotFound(_)), "{e}");

    hv.detach_disk("p", "vdb", Scope::Config).unwrap();
    assert!(hv.domain_spec("p").unwrap().disks.is_empty());
    let e = hv.detach_disk("p", "vdb", Scope::Config).unwrap_err();
    assert!(matches!(e, HvError::NotFound(_)), "{e}");

    // Hot-plug into the running domain.
    hv.start("p").unwrap();
    hv.attach_disk("p", &disk(h.pool_path("hot.img"), "vdc"), Scope::Both)
        .unwrap();
    let nic = hv
        .attach_nic(
            "p",
            &NicSpec {
                mac: Some("52:54:00:aa:bb:cc".into()),
                source: NicSource::Network("default".into()),
                model: None,
            },
            Scope::Both,
        )
        .unwrap();
    assert_eq!(nic.mac.as_deref(), Some("52:54:00:aa:bb:cc"));
    let live = vine_hypervisor::libvirt::xml_parse::parse(&hv.domain_xml("p").unwrap()).unwrap();
    assert_eq!((live.disks.len(), live.nics.len()), (1, 1));
    let s = hv.domain_spec("p").unwrap();
    assert_eq!((s.disks.len(), s.nics.len()), (1, 1));
    hv.detach_disk("p", "vdc", Scope::Both).unwrap();
    hv.detach_nic("p", "52:54:00:AA:BB:CC", Scope::Both)
        .unwrap();
    let s = hv.domain_spec("p").unwrap();
    assert!(s.disks.is_empty() && s.nics.is_empty());
    assert_eq!(hv.domain("p").unwrap().state, DomainState::Running);
}

#[test]
fn snapshots_are_created_listed_reverted_and_deleted() {
    let h = common::host("host-snap", 1);
    let hv = &h.hv;
    let vm = "host-snap-vm1";
    let a = hv.snapshot_create(vm, "before-upgrade").unwrap();
    assert_eq!(a.name, "before-upgrade");
    assert_eq!(a.state, "running");
    assert!(a.created > 0);

    hv.destroy(vm).unwrap();
    let b = hv.snapshot_create(vm, "stopped").unwrap();
    assert_eq!(b.state, "shutoff");
    let names: Vec<_> = hv
        .snapshots(vm)
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names.len(), 2);
    assert!(
        names.contains(&"before-upgrade".to_string()) && names.contains(&"stopped".to_string())
    );

    let e = hv.snapshot_create(vm, "stopped").unwrap_err();
    assert!(matches!(e, HvError::InvalidSpec(_)), "{e}");

    hv.snapshot_revert(vm, "before-upgrade").unwrap();
    assert_eq!(
        hv.domain(vm).unwrap().state,
        DomainState::Running,
        "reverting restores the running state"
    );

    hv.snapshot_delete(vm, "stopped").unwrap();
    assert_eq!(hv.snapshots(vm).unwrap().len(), 1);
    let e = hv.snapshot_revert(vm, "stopped").unwrap_err();
    assert!(
        matches!(&e, HvError::NotFound(m) if m.contains("stopped")),
        "{e}"
    );
    let e = hv.snapshot_delete(vm, "nope").unwrap_err();
    assert!(matches!(e, HvError::NotFound(_)), "{e}");
}

#[test]
fn stats_count_cpu_and_memory_and_read_zero_for_what_the_driver_lacks() {
    let h = common::host("host-stats", 1);
    let hv = &h.hv;
    let vm = "host-stats-vm1";
    let s = hv.domain_stats(vm).unwrap();
    assert_eq!(s.vcpus, 1);
    assert_eq!(s.memory_kib, 512 * 1024);
    assert!(s.memory_used_kib <= s.memory_kib);
    assert!(s.cpu_time_ns > 0, "{s:?}");

    hv.destroy(vm).unwrap();
    let s = hv.domain_stats(vm).unwrap();
    assert_eq!((s.disk_read_bytes, s.net_rx_bytes), (0, 0));

    let host = hv.host_stats().unwrap();
    assert_eq!(host.memory_total_kib, 16 * 1024 * 1024);
    assert_eq!(host.memory_free_kib, 16 * 1024 * 1024, "nothing runs now");
    assert!(host.cpu_user_ns > 0 || host.cpu_idle_ns > 0, "{host:?}");

    assert_eq!(
        hv.domain_stats("nope").unwrap_err(),
        HvError::NoDomain("nope".into())
    );
}

#[test]
fn cpu_shares_the_test_driver_cannot_keep_are_refused_not_faked() {
    let h = common::host("host-shares", 0);
    let hv = &h.hv;
    grown(&h, "w");
    hv.start("w").unwrap();
    // The test driver's `fair` scheduler takes a weight and keeps its
    // own: vine must say so, never report the change as made.
    for scope in [Scope::Live, Scope::Both, Scope::Config] {
        let e = hv.set_cpu_shares("w", 2048, scope).unwrap_err();
        assert!(
            matches!(&e, HvError::Unsupported { driver, what } if driver == "test" && what.contains("CPU shares")),
            "{scope:?}: {e}"
        );
    }
    let e = hv.set_cpu_shares("w", 0, Scope::Live).unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidSpec(m) if m.contains("at least 1")),
        "{e}"
    );
    let e = hv.set_cpu_shares("nope", 100, Scope::Live).unwrap_err();
    assert!(matches!(&e, HvError::NoDomain(_)), "{e}");
}

#[test]
fn a_cpu_limit_the_test_driver_cannot_keep_is_refused_not_faked() {
    let h = common::host("host-limit", 0);
    let hv = &h.hv;
    grown(&h, "w");
    hv.start("w").unwrap();
    // The test driver's `fair` scheduler has no vcpu_quota at all.
    for scope in [Scope::Live, Scope::Both, Scope::Config] {
        let e = hv.set_cpu_limit("w", 50, scope).unwrap_err();
        assert!(
            matches!(&e, HvError::Unsupported { driver, what } if driver == "test" && what.contains("CPU limit")),
            "{scope:?}: {e}"
        );
    }
    // No cap is what a scheduler without a quota has already.
    hv.set_cpu_limit("w", 100, Scope::Both).unwrap();
    assert_eq!(hv.cpu_time("w").unwrap().limit_pct, None);
    for bad in [0, 101] {
        let e = hv.set_cpu_limit("w", bad, Scope::Live).unwrap_err();
        assert!(
            matches!(&e, HvError::InvalidSpec(m) if m.contains("1 to 100")),
            "{e}"
        );
    }
    let e = hv.set_cpu_limit("nope", 50, Scope::Live).unwrap_err();
    assert!(matches!(&e, HvError::NoDomain(_)), "{e}");
}

#[test]
fn a_cpu_reservation_is_kept_with_the_domain_and_saved_with_the_host() {
    let h = common::host("host-reserve", 0);
    let hv = &h.hv;
    grown(&h, "r");
    assert_eq!(hv.cpu_time("r").unwrap(), CpuTime::default());
    // Shut off: the definition.
    hv.set_cpu_reservation("r", 40, Scope::Both).unwrap();
    assert_eq!(hv.cpu_time("r").unwrap().reservation_pct, Some(40));
    // It comes up with the domain, then changes live and in the definition.
    hv.start("r").unwrap();
    assert_eq!(hv.cpu_time("r").unwrap().reservation_pct, Some(40));
    for s in [Scope::Config, Scope::Live] {
        hv.set_cpu_reservation("r", 25, s).unwrap();
    }
    assert_eq!(hv.cpu_time("r").unwrap().reservation_pct, Some(25));
    assert!(hv.domain_xml("r").unwrap().contains(CPU_METADATA_NS));
    let e = hv.set_cpu_reservation("r", 101, Scope::Live).unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidSpec(m) if m.contains("0 to 100")),
        "{e}"
    );
    assert_eq!(hv.cpu_time("r").unwrap().reservation_pct, Some(25));

    // A host file written back and read again still has it.
    let file = h.dir.path().join("saved.xml");
    hv.save_test_host(&file).unwrap();
    let again = LibvirtHypervisor::open(&testhost::host_uri(&file)).unwrap();
    assert_eq!(again.cpu_time("r").unwrap().reservation_pct, Some(25));
    let e = hv.set_cpu_reservation("nope", 10, Scope::Live).unwrap_err();
    assert!(matches!(&e, HvError::NoDomain(_)), "{e}");
}
