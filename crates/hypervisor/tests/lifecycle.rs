//! Domains on a real libvirt test-driver host: define, list, power
//! operations, and what they refuse.

mod common;

use vine_hypervisor::testhost::write_host_file;
use vine_hypervisor::*;

#[test]
fn a_generated_host_reports_its_cpus_memory_pool_and_sample_vms() {
    let h = common::host("host-a", 3);
    let info = h.hv.host_info().unwrap();
    assert_eq!(info.hostname, "host-a");
    assert_eq!(info.cpus, 8);
    assert_eq!(info.memory_kib, 16 * 1024 * 1024);
    assert_eq!(info.hypervisor_type, "Test");
    assert_eq!(info.free_memory_kib, 16 * 1024 * 1024 - 3 * 512 * 1024);
    assert_eq!(info.uuid, h.hv.host_info().unwrap().uuid, "stable uuid");

    let caps = h.hv.capabilities().unwrap();
    assert_eq!(caps.max_vcpus, 8);
    assert!(caps.guest_types.iter().any(|g| g.os_type == "hvm"));
    assert_eq!(caps.networks.len(), 1);
    assert_eq!(caps.networks[0].name, "default");
    assert_eq!(
        caps.storage_pools[0].path.as_deref(),
        Some(h.spec.pool_dir.to_str().unwrap())
    );

    let doms = h.hv.domains().unwrap();
    let names: Vec<_> = doms.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["host-a-vm1", "host-a-vm2", "host-a-vm3"]);
    assert!(doms
        .iter()
        .all(|d| d.state == DomainState::Running && d.persistent));

    let spec = h.hv.domain_spec("host-a-vm1").unwrap();
    assert_eq!(spec.disks.len(), 1);
    assert_eq!(spec.nics[0].source, NicSource::Network("default".into()));
}

#[test]
fn opening_the_same_test_uri_twice_gives_the_same_host() {
    let h = common::host("host-same", 0);
    let again = LibvirtHypervisor::open(&h.uri).unwrap();
    again
        .define(&DomainSpec::new("seen-by-both", 1, 256))
        .unwrap();
    assert!(h.hv.domain("seen-by-both").is_ok());
    assert!(std::sync::Arc::ptr_eq(&h.hv, &again));
}

#[test]
fn define_start_suspend_resume_shutdown_destroy_undefine() {
    let h = common::host("host-life", 0);
    let hv = &h.hv;
    let mut spec = DomainSpec::new("web", 2, 1024);
    spec.max_vcpus = 4;
    spec.max_memory_kib = 2048 * 1024;
    spec.description = Some("front end <nginx> & friends".into());
    spec.disks.push(DiskSpec {
        source: Some(h.pool_path("web.img")),
        target: "vda".into(),
        bus: DiskBus::Virtio,
        device: DiskDevice::Disk,
        format: Some("raw".into()),
        readonly: false,
        capacity_bytes: None,
    });
    let info = hv.define(&spec).unwrap();
    assert_eq!(info.state, DomainState::Shutoff);
    assert_eq!((info.vcpus, info.max_vcpus), (2, 4));
    assert_eq!(info.memory_kib, 1024 * 1024);
    assert_eq!(info.id, None);

    let back = hv.domain_spec("web").unwrap();
    assert_eq!(back.description, spec.description);
    assert_eq!(back.disks, spec.disks);
    assert_eq!((back.vcpus, back.max_vcpus), (2, 4));

    hv.start("web").unwrap();
    let running = hv.domain("web").unwrap();
    assert_eq!(running.state, DomainState::Running);
    assert!(running.id.is_some());

    let e = hv.start("web").unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidState { state, .. } if state == "running"),
        "{e}"
    );

    hv.suspend("web").unwrap();
    assert_eq!(hv.domain("web").unwrap().state, DomainState::Paused);
    let e = hv.suspend("web").unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidState { state, .. } if state == "paused"),
        "{e}"
    );
    hv.resume("web").unwrap();
    assert_eq!(hv.domain("web").unwrap().state, DomainState::Running);

    hv.reboot("web").unwrap();
    hv.reset("web").unwrap();
    assert_eq!(hv.domain("web").unwrap().state, DomainState::Running);

    let e = hv.undefine("web").unwrap_err();
    assert!(matches!(e, HvError::InvalidState { .. }), "{e}");

    hv.shutdown("web").unwrap();
    assert_eq!(hv.domain("web").unwrap().state, DomainState::Shutoff);
    let e = hv.shutdown("web").unwrap_err();
    assert!(
        matches!(&e, HvError::InvalidState { state, .. } if state == "shut off"),
        "{e}"
    );

    hv.start("web").unwrap();
    hv.destroy("web").unwrap();
    assert_eq!(hv.domain("web").unwrap().state, DomainState::Shutoff);
    let e = hv.resume("web").unwrap_err();
    assert!(matches!(e, HvError::InvalidState { .. }), "{e}");

    hv.undefine("web").unwrap();
    assert_eq!(
        hv.domain("web").unwrap_err(),
        HvError::NoDomain("web".into())
    );
    assert_eq!(
        hv.start("web").unwrap_err(),
        HvError::NoDomain("web".into())
    );
}

#[test]
fn define_refuses_specs_that_do_not_fit_and_says_what_to_change() {
    let h = common::host("host-refuse", 1);
    let hv = &h.hv;
    let refuse = |spec: &DomainSpec| match hv.define(spec) {
        Err(HvError::InvalidSpec(m)) => m,
        other => panic!("expected InvalidSpec, got {other:?}"),
    };

    let m = refuse(&DomainSpec::new("zero", 0, 512));
    assert!(m.contains("at least 1 vCPU"), "{m}");

    let m = refuse(&DomainSpec::new("wide", 64, 512));
    assert!(m.contains("at most 8"), "{m}");

    let mut s = DomainSpec::new("maxlow", 4, 512);
    s.max_vcpus = 2;
    assert!(refuse(&s).contains("raise max_vcpus"));

    let m = refuse(&DomainSpec::new("nomem", 1, 0));
    assert!(m.contains("memory is 0"), "{m}");

    let m = refuse(&DomainSpec::new("huge", 1, 64 * 1024));
    assert!(m.contains("this host has 16777216 KiB"), "{m}");

    let mut s = DomainSpec::new("maxmem", 1, 1024);
    s.max_memory_kib = 512 * 1024;
    assert!(refuse(&s).contains("raise max_memory"));

    let mut s = DomainSpec::new("outside", 1, 512);
    s.disks.push(DiskSpec {
        source: Some("/etc/shadow".into()),
        target: "vda".into(),
        bus: DiskBus::Virtio,
        device: DiskDevice::Disk,
        format: None,
        readonly: false,
        capacity_bytes: None,
    });
    let m = refuse(&s);
    assert!(
        m.contains("/etc/shadow") && m.contains(h.spec.pool_dir.to_str().unwrap()),
        "{m}"
    );

    let mut s = DomainSpec::new("nonet", 1, 512);
    s.nics.push(NicSpec {
        mac: None,
        source: NicSource::Network("nowhere".into()),
        model: None,
    });
    let m = refuse(&s);
    assert!(m.contains("nowhere") && m.contains("default"), "{m}");

    let mut s = DomainSpec::new("box", 1, 512);
    s.os = OsKind::Container {
        init: "/sbin/init".into(),
    };
    assert!(refuse(&s).contains("cannot run exe guests"));

    let m = refuse(&DomainSpec::new("", 1, 512));
    assert!(m.contains("empty"), "{m}");

    assert_eq!(
        hv.define(&DomainSpec::new("host-refuse-vm1", 1, 512))
            .unwrap_err(),
        HvError::DomainExists("host-refuse-vm1".into())
    );
    // Nothing of the refused specs was defined.
    assert_eq!(hv.domains().unwrap().len(), 1);
}

#[test]
fn hostile_names_survive_the_trip_through_libvirt() {
    let h = common::host("host-names", 0);
    let name = "a<b>&'\"c ]]> d";
    h.hv.define(&DomainSpec::new(name, 1, 256)).unwrap();
    assert_eq!(h.hv.domain(name).unwrap().name, name);
    assert_eq!(h.hv.domain_spec(name).unwrap().name, name);
}

#[test]
fn a_saved_host_file_brings_back_domains_and_their_states() {
    let h = common::host("host-save", 2);
    h.hv.define(&DomainSpec::new("stopped", 1, 256)).unwrap();
    h.hv.define(&DomainSpec::new("paused", 1, 256)).unwrap();
    h.hv.start("paused").unwrap();
    h.hv.suspend("paused").unwrap();
    h.hv.destroy("host-save-vm2").unwrap();

    let file = h.dir.path().join("saved.xml");
    h.hv.save_test_host(&file).unwrap();
    // A new URI (another file) is a fresh parse of what was written.
    let again = LibvirtHypervisor::open(&testhost::host_uri(&file)).unwrap();
    let states: Vec<_> = again
        .domains()
        .unwrap()
        .into_iter()
        .map(|d| (d.name, d.state))
        .collect();
    assert_eq!(
        states,
        [
            ("host-save-vm1".to_string(), DomainState::Running),
            ("host-save-vm2".to_string(), DomainState::Shutoff),
            ("paused".to_string(), DomainState::Paused),
            ("stopped".to_string(), DomainState::Shutoff),
        ]
    );
    assert_eq!(again.host_info().unwrap().hostname, "host-save");
    assert_eq!(
        again.capabilities().unwrap().storage_pools,
        h.hv.capabilities().unwrap().storage_pools
    );
    assert_eq!(
        again.domain_spec("host-save-vm1").unwrap(),
        h.hv.domain_spec("host-save-vm1").unwrap()
    );
    // And the format is the one write_host_file produces.
    let _ = write_host_file;
}
