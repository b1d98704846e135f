//! The life of a VM through CIM only, against libvirt's test driver: every
//! step is checked through CIM and directly through the hypervisor the
//! agent drives (same process, same test connection).

mod vm_support;

use std::time::Duration;

use vine_cim::{CimParamValue, CimStatus, CimValue};
use vine_hypervisor::{DomainState, HvError, Hypervisor};
use vm_support::*;

/// Defines `name` with 2 vCPUs (up to 4), 512 MiB (up to 1 GiB), a disk in
/// the host's pool and a NIC on `default`.
async fn define_web(a: &Agent, h: &Host, name: &str) {
    let p = a.ctx.prefix.clone();
    let disk = h.pool.join(format!("{name}.img")).display().to_string();
    let r = a
        .vsms_call(
            "DefineSystem",
            define_params(
                vssd(&p, name),
                vec![
                    proc_rasd(&p, 2, 4),
                    mem_rasd(&p, 512, 1024),
                    disk_rasd(&p, "vda", &disk),
                    net_rasd(&p),
                ],
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("DefineSystem {name}: {e}"));
    assert_eq!(rc(&r), 0);
    match out(&r, "ResultingSystem") {
        CimValue::Reference(sys) => assert_eq!(sys.key_str("Name"), Some(name)),
        other => panic!("ResultingSystem is {other:?}"),
    }
}

fn state(h: &Host, name: &str) -> DomainState {
    h.hv.domain(name).unwrap().state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_life_of_a_vm_through_cim() {
    let h = host("life-a");
    let a = agent(h.hv.clone(), "KVM", "life-a").await;

    // Define: the domain exists, off, with what the RASDs asked for.
    define_web(&a, &h, "web").await;
    let info = h.hv.domain("web").unwrap();
    assert_eq!(info.state, DomainState::Shutoff);
    assert_eq!((info.vcpus, info.memory_kib), (2, 512 * 1024));
    let spec = h.hv.domain_spec("web").unwrap();
    assert_eq!(spec.disks.len(), 1);
    assert_eq!(spec.nics.len(), 1);
    let mac = spec.nics[0].mac.clone().unwrap();

    // It shows in enumerations...
    let systems = a.enumerate("ComputerSystem").await;
    let web = systems
        .iter()
        .find(|s| s.get_str("Name") == Some("web"))
        .expect("web in KVM_ComputerSystem");
    assert_eq!(u64_of(web, "EnabledState"), 3);
    let rasds = a.enumerate("ResourceAllocationSettingData").await;
    let ids: Vec<&str> = rasds
        .iter()
        .filter_map(|r| r.get_str("InstanceID"))
        .collect();
    for want in ["web/proc", "web/mem", "web/vda", &format!("web/{mac}")] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    let mem = rasds
        .iter()
        .find(|r| r.get_str("InstanceID") == Some("web/mem"))
        .unwrap();
    assert_eq!(u64_of(mem, "VirtualQuantity"), 512 * 1024);
    assert_eq!(mem.get_str("AllocationUnits"), Some("byte*2^10"));
    assert_eq!(mem.get_str("PoolID"), Some("MemoryPool/0"));
    let disk = rasds
        .iter()
        .find(|r| r.get_str("InstanceID") == Some("web/vda"))
        .unwrap();
    assert_eq!(
        disk.get_str("PoolID").map(|p| p.starts_with("DiskPool/")),
        Some(true)
    );
    assert!(
        disk.get_str("ElementName").is_some(),
        "RASDs carry ElementName"
    );

    // ...and in associations.
    let sys = a.ctx.system_path("web");
    let devices = a.associators(&sys, "SystemDevice", None).await;
    let count = |base: &str| {
        devices
            .iter()
            .filter(|d| d.class_name.matches(&a.class(base)))
            .count()
    };
    assert_eq!(
        (
            count("Processor"),
            count("Memory"),
            count("LogicalDisk"),
            count("NetworkPort")
        ),
        (2, 1, 1, 1),
        "{devices:#?}"
    );
    let parts = a
        .associators(
            &a.ctx.vssd_path("web"),
            "VirtualSystemSettingDataComponent",
            None,
        )
        .await;
    assert_eq!(parts.len(), 4, "{parts:#?}");
    let hosts = a.associators(&sys, "HostedDependency", None).await;
    assert_eq!(hosts, vec![a.ctx.host_path()]);
    let from_host = a
        .associators(
            &a.ctx.host_path(),
            "HostedDependency",
            Some("ComputerSystem"),
        )
        .await;
    assert!(from_host.contains(&sys), "{from_host:#?}");
    let vssd_of = a.associators(&sys, "SettingsDefineState", None).await;
    assert_eq!(vssd_of, vec![a.ctx.vssd_path("web")]);
    let services = a
        .associators(&a.ctx.host_path(), "HostedService", None)
        .await;
    assert!(services.contains(&a.vsms()), "{services:#?}");
    let created = a
        .wait_indications("ComputerSystemCreatedIndication", "web", 1)
        .await;
    assert!(created[0].get_str("SourceInstanceModelPath").is_some());

    // Start, pause, resume: CIM and libvirt agree after each.
    for (req, want_cim, want_hv) in [
        (2u16, 2u64, DomainState::Running),
        (9, 9, DomainState::Paused),
        (2, 2, DomainState::Running),
    ] {
        let r = a.request_state("web", req, vec![]).await.unwrap();
        assert_eq!(rc(&r), 0, "RequestStateChange {req}");
        assert_eq!(state(&h, "web"), want_hv, "after {req}");
        let cs = a.get(&sys).await.unwrap();
        assert_eq!(u64_of(&cs, "EnabledState"), want_cim, "after {req}");
        assert_eq!(u64_of(&cs, "RequestedState"), u64::from(req));
    }
    // Started, Suspended, Resumed: one Modified indication each, with the
    // state before and after.
    let modified = a
        .wait_indications("ComputerSystemModifiedIndication", "web", 3)
        .await;
    let states: Vec<(u64, u64)> = modified
        .iter()
        .map(
            |i| match (i.get("PreviousInstance"), i.get("SourceInstance")) {
                (Some(CimValue::Instance(p)), Some(CimValue::Instance(s))) => {
                    (u64_of(p, "EnabledState"), u64_of(s, "EnabledState"))
                }
                other => panic!("not embedded instances: {other:?}"),
            },
        )
        .collect();
    assert_eq!(&states[..3], &[(3, 2), (2, 9), (9, 2)], "{states:?}");

    // Modify memory and vCPUs of the running VM (partial RASDs).
    let r = a
        .vsms_call(
            "ModifyResourceSettings",
            vec![CimParamValue::new(
                "ResourceSettings",
                CimValue::Array(vec![
                    CimValue::from(
                        vine_cim::CimInstance::new("KVM_MemResourceAllocationSettingData")
                            .with("InstanceID", "web/mem")
                            .with("VirtualQuantity", 768u64)
                            .with("AllocationUnits", "byte*2^20"),
                    ),
                    CimValue::from(
                        vine_cim::CimInstance::new("KVM_ProcResourceAllocationSettingData")
                            .with("InstanceID", "web/proc")
                            .with("VirtualQuantity", 3u64),
                    ),
                ]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let info = h.hv.domain("web").unwrap();
    assert_eq!((info.vcpus, info.memory_kib), (3, 768 * 1024));
    let spec = h.hv.domain_spec("web").unwrap();
    assert_eq!(
        (spec.vcpus, spec.memory_kib),
        (3, 768 * 1024),
        "persistent too"
    );
    let procs = a.associators(&sys, "SystemDevice", Some("Processor")).await;
    assert_eq!(procs.len(), 3);

    // Weight (CPU shares) goes to the hypervisor's scheduler; the test
    // driver cannot keep it, so the answer is NOT_SUPPORTED saying why,
    // and the vCPUs asked for with it are left as they were.
    let proc_rasd = |props: &[(&str, u64)]| {
        let mut r = vine_cim::CimInstance::new("KVM_ProcResourceAllocationSettingData")
            .with("InstanceID", "web/proc");
        for (k, v) in props {
            r = r.with(*k, *v);
        }
        vec![CimParamValue::new(
            "ResourceSettings",
            CimValue::Array(vec![CimValue::from(r)]),
        )]
    };
    for props in [
        &[("Weight", 2048)][..],
        &[("VirtualQuantity", 2), ("Weight", 2048)][..],
    ] {
        let e = a
            .vsms_call("ModifyResourceSettings", proc_rasd(props))
            .await
            .unwrap_err();
        assert_eq!(
            e.cim_status(),
            Some(CimStatus::NotSupported),
            "{props:?}: {e}"
        );
        assert!(
            e.to_string()
                .contains("not supported by the test driver: CPU shares"),
            "{e}"
        );
    }
    assert_eq!(h.hv.domain("web").unwrap().vcpus, 3, "nothing changed");
    for (props, status, says) in [
        (
            &[("Weight", 0)][..],
            CimStatus::InvalidParameter,
            "Weight is 0",
        ),
        (
            &[("Reservation", 1)][..],
            CimStatus::NotSupported,
            "Reservation",
        ),
        (
            &[][..],
            CimStatus::InvalidParameter,
            "none of VirtualQuantity",
        ),
    ] {
        let e = a
            .vsms_call("ModifyResourceSettings", proc_rasd(props))
            .await
            .unwrap_err();
        assert_eq!(e.cim_status(), Some(status), "{props:?}: {e}");
        assert!(e.to_string().contains(says), "{e}");
    }

    // Add a disk, then remove it.
    let vdb = h.pool.join("web-data.img").display().to_string();
    let r = a
        .vsms_call(
            "AddResourceSettings",
            vec![
                CimParamValue::new("AffectedConfiguration", a.ctx.vssd_path("web")),
                CimParamValue::new(
                    "ResourceSettings",
                    CimValue::Array(vec![CimValue::from(disk_rasd("KVM", "vdb", &vdb))]),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let added = match out(&r, "ResultingResourceSettings") {
        CimValue::Array(v) => match &v[0] {
            CimValue::Reference(p) => (**p).clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    assert_eq!(added.key_str("InstanceID"), Some("web/vdb"));
    assert!(h
        .hv
        .domain_spec("web")
        .unwrap()
        .disks
        .iter()
        .any(|d| d.target == "vdb"));
    assert!(a.get(&added).await.is_ok());
    let r = a
        .vsms_call(
            "RemoveResourceSettings",
            vec![CimParamValue::new(
                "ResourceSettings",
                CimValue::Array(vec![CimValue::from(added.clone())]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    assert!(!h
        .hv
        .domain_spec("web")
        .unwrap()
        .disks
        .iter()
        .any(|d| d.target == "vdb"));
    assert_eq!(
        a.get(&added).await.unwrap_err().cim_status(),
        Some(CimStatus::NotFound)
    );

    // Migration to another host is the migration service's (see
    // tests/pools_migration_metrics.rs); here the VM stays on this host.

    // Destroy: stopped, undefined, gone from CIM, Deleted published.
    let r = a
        .vsms_call(
            "DestroySystem",
            vec![CimParamValue::new("AffectedSystem", sys.clone())],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    assert!(matches!(h.hv.domain("web"), Err(HvError::NoDomain(_))));
    assert_eq!(
        a.get(&sys).await.unwrap_err().cim_status(),
        Some(CimStatus::NotFound)
    );
    a.wait_indications("ComputerSystemDeletedIndication", "web", 1)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orderly_shutdown_runs_as_a_job() {
    let h = host("life-job");
    let a = agent(h.hv.clone(), "KVM", "life-job").await;
    define_web(&a, &h, "db").await;
    assert_eq!(rc(&a.request_state("db", 2, vec![]).await.unwrap()), 0);
    let r = a.request_state("db", 4, vec![]).await.unwrap();
    assert_eq!(rc(&r), 4096);
    let job = match out(&r, "Job") {
        CimValue::Reference(j) => (**j).clone(),
        other => panic!("{other:?}"),
    };
    let mut last = 0;
    for _ in 0..200 {
        let j = a.get(&job).await.unwrap();
        last = u64_of(&j, "JobState");
        if last == 7 || last == 10 {
            assert_eq!(u64_of(&j, "PercentComplete"), 100);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(last, 7, "the shutdown job completes");
    assert_eq!(state(&h, "db"), DomainState::Shutoff);
    let affected = a.associators(&job, "AffectedJobElement", None).await;
    assert_eq!(affected, vec![a.ctx.system_path("db")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_answers_with_clear_errors() {
    let h = host("life-bad");
    let a = agent(h.hv.clone(), "KVM", "life-bad").await;
    let in_pool = h.pool.join("x.img").display().to_string();
    let cim_err = |r: Result<_, vine_wbem::client::ClientError>| match r {
        Err(vine_wbem::client::ClientError::Cim(e)) => e,
        Err(e) => panic!("not a CIM error: {e}"),
        Ok(r) => panic!("accepted: {r:?}"),
    };

    // Unknown VM.
    let e = cim_err(a.request_state("ghost", 2, vec![]).await);
    assert_eq!(e.status, CimStatus::NotFound, "{e}");
    let e = cim_err(
        a.vsms_call(
            "DestroySystem",
            vec![CimParamValue::new(
                "AffectedSystem",
                a.ctx.system_path("ghost"),
            )],
        )
        .await,
    );
    assert_eq!(e.status, CimStatus::NotFound, "{e}");

    // Bad RASDs: negative memory, zero memory, too many vCPUs, a disk
    // outside the storage pools.
    let cases = [
        (
            vec![
                proc_rasd("KVM", 1, 1),
                mem_rasd("KVM", 1, 1).with("VirtualQuantity", CimValue::Sint64(-512)),
            ],
            "negative",
        ),
        (
            vec![proc_rasd("KVM", 1, 1), mem_rasd("KVM", 0, 0)],
            "too small",
        ),
        (
            vec![proc_rasd("KVM", 4096, 4096), mem_rasd("KVM", 512, 512)],
            "vCPUs",
        ),
        (
            vec![
                proc_rasd("KVM", 1, 1),
                mem_rasd("KVM", 512, 512),
                disk_rasd("KVM", "vda", "/etc/shadow"),
            ],
            "storage pools",
        ),
    ];
    for (rasds, says) in cases {
        let e = cim_err(
            a.vsms_call("DefineSystem", define_params(vssd("KVM", "bad"), rasds))
                .await,
        );
        assert_eq!(e.status, CimStatus::InvalidParameter, "{e}");
        assert!(
            e.description.contains(says),
            "`{says}` not in: {}",
            e.description
        );
    }
    // Missing parameter; embedded text that is not an instance.
    let e = cim_err(a.vsms_call("DefineSystem", vec![]).await);
    assert_eq!(e.status, CimStatus::InvalidParameter, "{e}");
    let e = cim_err(
        a.vsms_call(
            "DefineSystem",
            vec![
                CimParamValue::new("SystemSettings", "not an instance"),
                CimParamValue::new("ResourceSettings", vec!["<nope/>"]),
            ],
        )
        .await,
    );
    assert_eq!(e.status, CimStatus::InvalidParameter, "{e}");
    assert!(matches!(h.hv.domain("bad"), Err(HvError::NoDomain(_))));

    // Embedded instances sent as plain CIM-XML strings are understood.
    let text = |class: &str, props: &[(&str, &str, &str)]| {
        let mut s = format!("<INSTANCE CLASSNAME=\"{class}\">");
        for (n, t, v) in props {
            s.push_str(&format!(
                "<PROPERTY NAME=\"{n}\" TYPE=\"{t}\"><VALUE>{v}</VALUE></PROPERTY>"
            ));
        }
        s + "</INSTANCE>"
    };
    let r = a
        .vsms_call(
            "DefineSystem",
            vec![
                CimParamValue::new(
                    "SystemSettings",
                    text(
                        "KVM_VirtualSystemSettingData",
                        &[("VirtualSystemIdentifier", "string", "txt")],
                    ),
                ),
                CimParamValue::new(
                    "ResourceSettings",
                    vec![
                        text(
                            "KVM_ProcResourceAllocationSettingData",
                            &[("VirtualQuantity", "uint64", "1")],
                        ),
                        text(
                            "KVM_MemResourceAllocationSettingData",
                            &[
                                ("VirtualQuantity", "uint64", "256"),
                                ("AllocationUnits", "string", "MegaBytes"),
                            ],
                        ),
                        text(
                            "KVM_DiskResourceAllocationSettingData",
                            &[
                                ("VirtualDevice", "string", "vda"),
                                ("Address", "string", &in_pool),
                            ],
                        ),
                    ],
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    assert_eq!(h.hv.domain("txt").unwrap().memory_kib, 256 * 1024);

    // State requests: pause a stopped VM, TimeoutPeriod, unsupported and
    // invalid values.
    let code = |r: Result<vine_cimxml::MethodResponse, _>| rc(&r.unwrap());
    assert_eq!(code(a.request_state("txt", 9, vec![]).await), 4097);
    assert_eq!(code(a.request_state("txt", 10, vec![]).await), 4097);
    assert_eq!(code(a.request_state("txt", 6, vec![]).await), 1);
    assert_eq!(code(a.request_state("txt", 12, vec![]).await), 5);
    let timeout = CimParamValue::new(
        "TimeoutPeriod",
        vine_cim::CimDateTime::interval(Duration::from_secs(30)),
    );
    assert_eq!(code(a.request_state("txt", 2, vec![timeout]).await), 4098);
    assert_eq!(state(&h, "txt"), DomainState::Shutoff);

    // Concurrent conflicting requests: while one operation holds the VM,
    // another state change answers 4099 Busy and a reconfiguration a CIM
    // error; once it is released, the request goes through.
    let held = a.ctx.locks.try_lock("txt").expect("lock free");
    assert_eq!(code(a.request_state("txt", 2, vec![]).await), 4099);
    let e = cim_err(
        a.vsms_call(
            "DestroySystem",
            vec![CimParamValue::new(
                "AffectedSystem",
                a.ctx.system_path("txt"),
            )],
        )
        .await,
    );
    assert!(e.description.contains("busy"), "{e}");
    drop(held);
    assert_eq!(code(a.request_state("txt", 2, vec![]).await), 0);
    assert_eq!(state(&h, "txt"), DomainState::Running);

    // Two real requests racing: exactly one of each pair wins or both
    // finish; none fails with anything but Busy.
    let (r1, r2) = tokio::join!(
        a.request_state("txt", 9, vec![]),
        a.request_state("txt", 3, vec![])
    );
    for r in [code(r1), code(r2)] {
        assert!(matches!(r, 0 | 4097 | 4099), "rc {r}");
    }

    // The agent is still up.
    assert!(!a.enumerate("HostSystem").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xen_class_set_on_the_test_driver() {
    let h = host("life-xen");
    let a = agent(h.hv.clone(), "Xen", "life-xen").await;
    let disk = h.pool.join("hvm.img").display().to_string();
    let r = a
        .vsms_call(
            "DefineSystem",
            define_params(
                vssd("Xen", "hvm").with("IsFullVirt", true),
                vec![
                    proc_rasd("Xen", 1, 2),
                    mem_rasd("Xen", 256, 256),
                    disk_rasd("Xen", "xvda", &disk),
                    net_rasd("Xen"),
                ],
            ),
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let systems = a.enumerate("ComputerSystem").await;
    assert!(systems
        .iter()
        .all(|s| s.class_name.matches("Xen_ComputerSystem")));
    assert!(systems.iter().any(|s| s.get_str("Name") == Some("hvm")));
    let vssd = a.get(&a.ctx.vssd_path("hvm")).await.unwrap();
    assert_eq!(vssd.get_str("InstanceID"), Some("Xen:hvm"));
    assert_eq!(vssd.get_str("VirtualSystemType"), Some("Xen"));
    let sys = a.ctx.system_path("hvm");
    let devices = a.associators(&sys, "SystemDevice", None).await;
    assert!(devices
        .iter()
        .all(|d| d.class_name.as_str().starts_with("Xen_")));
    assert_eq!(devices.len(), 4, "{devices:#?}");
    assert_eq!(a.enumerate("HostSystem").await.len(), 1);
    assert_eq!(rc(&a.request_state("hvm", 2, vec![]).await.unwrap()), 0);
    assert_eq!(state(&h, "hvm"), DomainState::Running);
    assert_eq!(
        a.associators(&sys, "ElementCapabilities", None).await,
        vec![vine_providers_virt::paths::instance_id_path(
            "Xen_EnabledLogicalElementCapabilities",
            "hvm"
        )]
    );
}
