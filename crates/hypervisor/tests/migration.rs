//! Offline migration between two test-driver hosts of one process.

mod common;

use vine_hypervisor::*;

#[test]
fn a_running_domain_moves_and_keeps_running() {
    let a = common::host("mig-a1", 2);
    let b = common::host("mig-b1", 0);
    let vm = "mig-a1-vm1";
    let before = a.hv.domain_spec(vm).unwrap();
    assert_eq!(
        a.hv.check_migratable(vm, &b.uri).unwrap(),
        MigrationMode::Offline
    );

    assert_eq!(a.hv.migrate(vm, &b.uri).unwrap(), MigrationMode::Offline);

    assert_eq!(a.hv.domain(vm).unwrap_err(), HvError::NoDomain(vm.into()));
    let moved = b.hv.domain(vm).unwrap();
    assert_eq!(moved.state, DomainState::Running);
    assert_eq!(Some(moved.uuid), before.uuid);
    assert_eq!(b.hv.domain_spec(vm).unwrap(), before);
    // Seen directly through libvirt: the registry's connection is the
    // one the destination agent uses.
    let direct = LibvirtHypervisor::open(&b.uri).unwrap();
    assert_eq!(direct.domain(vm).unwrap().state, DomainState::Running);
    assert_eq!(a.hv.domains().unwrap().len(), 1);
}

#[test]
fn paused_and_shut_off_domains_arrive_in_the_same_state() {
    let a = common::host("mig-a2", 2);
    let b = common::host("mig-b2", 0);
    a.hv.suspend("mig-a2-vm1").unwrap();
    a.hv.destroy("mig-a2-vm2").unwrap();
    a.hv.migrate("mig-a2-vm1", &b.uri).unwrap();
    a.hv.migrate("mig-a2-vm2", &b.uri).unwrap();
    assert_eq!(
        b.hv.domain("mig-a2-vm1").unwrap().state,
        DomainState::Paused
    );
    assert_eq!(
        b.hv.domain("mig-a2-vm2").unwrap().state,
        DomainState::Shutoff
    );
    assert!(a.hv.domains().unwrap().is_empty());
    // And back again.
    b.hv.migrate("mig-a2-vm1", &a.uri).unwrap();
    assert_eq!(
        a.hv.domain("mig-a2-vm1").unwrap().state,
        DomainState::Paused
    );
}

#[test]
fn a_destination_not_yet_open_is_opened_through_the_registry() {
    let a = common::host("mig-a3", 1);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mig-b3.xml");
    testhost::write_host_file(
        &file,
        &testhost::TestHostSpec::new("mig-b3", 4, 8192, dir.path().join("pool")),
    )
    .unwrap();
    let uri = testhost::host_uri(&file);
    assert!(LibvirtHypervisor::open_test_host(&uri).is_none());
    a.hv.migrate("mig-a3-vm1", &uri).unwrap();
    let b = LibvirtHypervisor::open_test_host(&uri).expect("opened by the migration");
    assert_eq!(b.domain("mig-a3-vm1").unwrap().state, DomainState::Running);
}

#[test]
fn a_name_clash_on_the_target_leaves_the_domain_on_the_source() {
    let a = common::host("mig-a4", 1);
    let b = common::host("mig-b4", 0);
    b.hv.define(&DomainSpec::new("mig-a4-vm1", 1, 256)).unwrap();
    let e = a.hv.migrate("mig-a4-vm1", &b.uri).unwrap_err();
    assert!(
        matches!(&e, HvError::Migration(m) if m.contains("already exists")),
        "{e}"
    );
    assert_eq!(
        a.hv.domain("mig-a4-vm1").unwrap().state,
        DomainState::Running
    );
    assert_eq!(
        b.hv.domain("mig-a4-vm1").unwrap().state,
        DomainState::Shutoff
    );
}

#[test]
fn check_migratable_says_why_not() {
    let a = common::host("mig-a5", 1);
    let small = common::host_with("mig-small", 0, |mut s| {
        s.cpus = 1;
        s.memory_mib = 256;
        s
    });
    let vm = "mig-a5-vm1";
    let why = |dest: &str| match a.hv.check_migratable(vm, dest) {
        Err(HvError::Migration(m)) => m,
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(why(&small.uri).contains("KiB free"));
    a.hv.set_vcpus(vm, 1, Scope::Config).unwrap();
    let mut wide = DomainSpec::new("wide", 2, 128);
    wide.max_vcpus = 2;
    a.hv.define(&wide).unwrap();
    a.hv.start("wide").unwrap();
    assert!(a
        .hv
        .check_migratable("wide", &small.uri)
        .unwrap_err()
        .to_string()
        .contains("only 1 CPUs"));
    assert!(why("qemu:///system").contains("cannot move to a qemu host"));
    assert!(why(&a.uri).contains("already on"));
    assert!(why("nonsense").contains("not a libvirt URI"));
    assert_eq!(
        a.hv.check_migratable("ghost", &small.uri).unwrap_err(),
        HvError::NoDomain("ghost".into())
    );
    // A shut-off domain needs no free memory on the target.
    a.hv.destroy(vm).unwrap();
    assert_eq!(
        a.hv.check_migratable(vm, &small.uri).unwrap(),
        MigrationMode::Offline
    );
}

#[test]
fn migration_events_come_from_both_hosts() {
    let a = common::host("mig-a6", 1);
    let b = common::host("mig-b6", 0);
    let mut ra = a.hv.subscribe();
    let mut rb = b.hv.subscribe();
    a.hv.migrate("mig-a6-vm1", &b.uri).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let kinds = |rx: &mut tokio::sync::broadcast::Receiver<DomainEvent>| {
        std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| e.kind)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&mut ra),
        [DomainEventKind::Stopped, DomainEventKind::Undefined]
    );
    assert_eq!(
        kinds(&mut rb),
        [DomainEventKind::Defined, DomainEventKind::Started]
    );
}
