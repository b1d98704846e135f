//! DSP1081 beyond MigrateVirtualSystemToHost: the ...ToSystem methods
//! (destination by reference, NewComputerSystem back), processor and
//! memory changes with NewResourceSettingData, and migration to a peer
//! vine agent through its CIM interface (two agents, each on its own
//! test-driver host, on one shared storage directory).

mod resources_support;

use std::time::Duration;

use resources_support::*;
use vine_cim::{CimInstance, CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_cimxml::{MethodResponse, MethodTarget};
use vine_hypervisor::{DomainSpec, DomainState, HvError, Hypervisor};
use vine_wbem::client::ClientError;

fn service(a: &Agent) -> CimInstanceName {
    a.ctx
        .service_path("VirtualSystemMigrationService", "MigrationService")
}

fn system_ref(a: &Agent, dom: &str) -> CimParamValue {
    CimParamValue::new(
        "ComputerSystem",
        CimValue::Reference(Box::new(a.ctx.system_path(dom))),
    )
}

/// `KVM_HostSystem.Name=<name>`, as a client names a destination host.
fn host_ref(name: &str) -> CimParamValue {
    CimParamValue::new(
        "DestinationSystem",
        CimValue::Reference(Box::new(
            CimInstanceName::new("KVM_HostSystem")
                .with_key("CreationClassName", "KVM_HostSystem")
                .with_key("Name", name)
                .with_namespace("root/virt"),
        )),
    )
}

async fn call(
    a: &Agent,
    method: &str,
    params: Vec<CimParamValue>,
) -> Result<MethodResponse, ClientError> {
    a.client
        .invoke_method(MethodTarget::Instance(service(a)), method, params)
        .await
}

fn rc(r: &MethodResponse) -> u32 {
    match r.return_value {
        Some(CimValue::Uint32(n)) => n,
        ref other => panic!("return value {other:?}"),
    }
}

fn out<'a>(r: &'a MethodResponse, name: &str) -> &'a CimValue {
    r.out_params
        .iter()
        .find(|p| p.name.matches(name))
        .and_then(|p| p.value.as_ref())
        .unwrap_or_else(|| panic!("no OUT {name} in {r:?}"))
}

fn out_ref(r: &MethodResponse, name: &str) -> CimInstanceName {
    match out(r, name) {
        CimValue::Reference(p) => (**p).clone(),
        other => panic!("{name} is {other:?}"),
    }
}

/// Waits for the job of `r` and returns its final state code and error.
async fn finish(a: &Agent, r: &MethodResponse) -> (u16, Option<String>) {
    assert_eq!(rc(r), 4096);
    let job = out_ref(r, "Job");
    let id = job.key_str("InstanceID").unwrap().to_string();
    let (state, err) = a
        .ctx
        .jobs
        .wait(&id, Duration::from_secs(30))
        .await
        .expect("the job exists");
    (state.code(), err.map(|e| e.description))
}

async fn is_migratable(a: &Agent, method: &str, params: Vec<CimParamValue>) -> bool {
    let r = call(a, method, params).await.unwrap();
    assert_eq!(rc(&r), 0);
    matches!(out(&r, "IsMigratable"), CimValue::Boolean(true))
}

fn mem_rasd(mib: u64) -> CimValue {
    CimValue::Array(vec![CimInstance::new(
        "KVM_MemResourceAllocationSettingData",
    )
    .with("InstanceID", "x/mem")
    .with("VirtualQuantity", mib)
    .with("AllocationUnits", "byte*2^20")
    .into()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_system_with_new_resources() {
    let src = host("sa", 8, 8 * 1024, 2);
    let dst = host("sb", 8, 8 * 1024, 0);
    let a = agent(
        src.hv.clone(),
        "sa",
        &[("sb", &dst.uri)],
        Duration::from_secs(60),
    )
    .await;

    assert!(
        is_migratable(
            &a,
            "CheckVirtualSystemIsMigratableToSystem",
            vec![system_ref(&a, "sa-vm1"), host_ref("sb")]
        )
        .await
    );
    // Above the VM's own limit: bad input, not a "no".
    let e = call(
        &a,
        "CheckVirtualSystemIsMigratableToSystem",
        vec![
            system_ref(&a, "sa-vm1"),
            host_ref("sb"),
            CimParamValue::new("NewResourceSettingData", mem_rasd(64 * 1024)),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.cim_status(), Some(CimStatus::InvalidParameter), "{e}");

    let r = call(
        &a,
        "MigrateVirtualSystemToSystem",
        vec![
            system_ref(&a, "sa-vm1"),
            host_ref("sb"),
            CimParamValue::new("NewResourceSettingData", mem_rasd(384)),
        ],
    )
    .await
    .unwrap();
    let new = out_ref(&r, "NewComputerSystem");
    assert_eq!(new.key_str("Name"), Some("sa-vm1"));
    assert_eq!(new.host.as_deref(), Some("sb"));
    assert_eq!(finish(&a, &r).await, (7, None));
    assert!(matches!(src.hv.domain("sa-vm1"), Err(HvError::NoDomain(_))));
    let moved = dst.hv.domain("sa-vm1").unwrap();
    assert!(moved.state.is_active(), "{moved:?}");
    assert_eq!(moved.memory_kib, 384 * 1024, "resized live");
    assert_eq!(
        dst.hv.domain_spec("sa-vm1").unwrap().memory_kib,
        384 * 1024,
        "and in the definition"
    );

    // Above the VM's limit (512 MiB): refused before any job starts.
    let e = call(
        &a,
        "MigrateVirtualSystemToSystem",
        vec![
            system_ref(&a, "sa-vm2"),
            host_ref("sb"),
            CimParamValue::new("NewResourceSettingData", mem_rasd(768)),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.cim_status(), Some(CimStatus::InvalidParameter), "{e}");
    assert!(e.to_string().contains("limit"), "{e}");

    // Destinations that are no destination, and settings that cannot
    // travel.
    for (name, status) in [
        ("sa", CimStatus::InvalidParameter),
        ("nowhere", CimStatus::InvalidParameter),
    ] {
        let e = call(
            &a,
            "MigrateVirtualSystemToSystem",
            vec![system_ref(&a, "sa-vm2"), host_ref(name)],
        )
        .await
        .unwrap_err();
        assert_eq!(e.cim_status(), Some(status), "{name}: {e}");
    }
    let e = call(
        &a,
        "MigrateVirtualSystemToSystem",
        vec![system_ref(&a, "sa-vm2"), host_ref("nowhere")],
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("--peer nowhere="), "{e}");
    let e = call(
        &a,
        "MigrateVirtualSystemToHost",
        vec![
            system_ref(&a, "sa-vm2"),
            CimParamValue::new("DestinationHost", "sb"),
            CimParamValue::new(
                "NewSystemSettingData",
                CimInstance::new("KVM_VirtualSystemSettingData")
                    .with("VirtualSystemIdentifier", "renamed"),
            ),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.cim_status(), Some(CimStatus::NotSupported), "{e}");
    let e = call(
        &a,
        "MigrateVirtualSystemToHost",
        vec![
            system_ref(&a, "sa-vm2"),
            CimParamValue::new("DestinationHost", "sb"),
            CimParamValue::new(
                "NewResourceSettingData",
                CimValue::Array(vec![CimInstance::new(
                    "KVM_DiskResourceAllocationSettingData",
                )
                .with("VirtualDevice", "vdz")
                .into()]),
            ),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(e.cim_status(), Some(CimStatus::NotSupported), "{e}");
    assert!(src.hv.domain("sa-vm2").unwrap().state.is_active());

    let caps = a.enumerate("VirtualSystemMigrationCapabilities").await;
    assert_eq!(
        caps[0].get("SynchronousMethodsSupported"),
        Some(&CimValue::from(vec![4u16, 5]))
    );
    assert_eq!(
        caps[0].get("AsynchronousMethodsSupported"),
        Some(&CimValue::from(vec![2u16, 3]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_to_a_peer_agent_through_cim() {
    let src = host("pa", 8, 8 * 1024, 2);
    let dst = host_sharing("pb", 8, 8 * 1024, 0, src.spec.pool_dir.clone());
    let b = agent(dst.hv.clone(), "pb", &[], Duration::from_secs(60)).await;
    let a = agent(
        src.hv.clone(),
        "pa",
        &[("pb", &b.url)],
        Duration::from_secs(60),
    )
    .await;
    let before = src.hv.domain_spec("pa-vm1").unwrap();
    let uuid = src.hv.domain("pa-vm1").unwrap().uuid;
    src.hv.suspend("pa-vm2").unwrap();

    // By peer name (ToHost) and by the peer's host system (ToSystem).
    assert!(
        is_migratable(
            &a,
            "CheckVirtualSystemIsMigratableToHost",
            vec![
                system_ref(&a, "pa-vm1"),
                CimParamValue::new("DestinationHost", "pb")
            ]
        )
        .await
    );
    let r = call(
        &a,
        "MigrateVirtualSystemToHost",
        vec![
            system_ref(&a, "pa-vm1"),
            CimParamValue::new("DestinationHost", "pb"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(finish(&a, &r).await, (7, None));
    assert!(matches!(src.hv.domain("pa-vm1"), Err(HvError::NoDomain(_))));
    let moved = dst.hv.domain("pa-vm1").unwrap();
    assert_eq!(moved.state, DomainState::Running);
    assert_eq!(moved.uuid, uuid, "the VM keeps its identity");
    let after = dst.hv.domain_spec("pa-vm1").unwrap();
    assert_eq!(after.disks, before.disks);
    assert_eq!(after.nics, before.nics, "same MAC, same network");
    assert_eq!(after.memory_kib, before.memory_kib);

    let r = call(
        &a,
        "MigrateVirtualSystemToSystem",
        vec![system_ref(&a, "pa-vm2"), host_ref("pb")],
    )
    .await
    .unwrap();
    let new = out_ref(&r, "NewComputerSystem");
    assert_eq!(
        new.host.as_deref(),
        b.url.strip_prefix("http://"),
        "the peer agent's address"
    );
    assert_eq!(finish(&a, &r).await, (7, None));
    assert_eq!(dst.hv.domain("pa-vm2").unwrap().state, DomainState::Paused);
    // The peer agent serves both now.
    let names: Vec<String> = b
        .enumerate("ComputerSystem")
        .await
        .iter()
        .filter_map(|s| s.get_str("Name").map(str::to_string))
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(a.enumerate("ComputerSystem").await.is_empty());

    // A name clash on the peer: not migratable; the job fails saying so
    // and the VM stays here.
    src.hv.define(&DomainSpec::new("dup", 1, 256)).unwrap();
    dst.hv.define(&DomainSpec::new("dup", 1, 256)).unwrap();
    let dup = vec![
        system_ref(&a, "dup"),
        CimParamValue::new("DestinationHost", "pb"),
    ];
    assert!(!is_migratable(&a, "CheckVirtualSystemIsMigratableToHost", dup.clone()).await);
    let r = call(&a, "MigrateVirtualSystemToHost", dup).await.unwrap();
    let (state, err) = finish(&a, &r).await;
    assert_eq!(state, 10);
    assert!(err.unwrap().contains("already exists"));
    assert!(src.hv.domain("dup").is_ok());
}
