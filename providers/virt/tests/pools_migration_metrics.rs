//! Pools, child pools, allocation capabilities, migration and metrics of
//! an agent over libvirt test-driver hosts, through CIM-XML on a real
//! socket, checked against the hypervisor directly.

/// Test hosts and the in-process agent.
mod resources_support;

use std::time::Duration;

use resources_support::*;
use vine_cim::{CimInstance, CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_cimxml::MethodTarget;
use vine_hypervisor::{DomainSpec, HvError, Hypervisor};
use vine_providers_virt::capabilities;
use vine_providers_virt::monitor::{Element, Metric};
use vine_providers_virt::pools;
use vine_providers_virt::VIRT_NS;
use vine_wbem::client::{AssocArgs, EnumArgs};
use vine_wbem::interop::INTEROP_NS;

const SECOND: Duration = Duration::from_secs(1);

fn pool(a: &Agent, kind: &str, id: &str) -> CimInstanceName {
    vine_providers_virt::paths::instance_id_path(&a.class(kind), id)
}

async fn call(
    a: &Agent,
    target: CimInstanceName,
    method: &str,
    params: Vec<CimParamValue>,
) -> Result<vine_cimxml::MethodResponse, vine_wbem::client::ClientError> {
    a.client
        .invoke_method(MethodTarget::Instance(target), method, params)
        .await
}

fn rc(r: &vine_cimxml::MethodResponse) -> u32 {
    match r.return_value {
        Some(CimValue::Uint32(n)) => n,
        ref other => panic!("return value {other:?}"),
    }
}

fn out<'a>(r: &'a vine_cimxml::MethodResponse, name: &str) -> &'a CimValue {
    r.out_params
        .iter()
        .find(|p| p.name.matches(name))
        .and_then(|p| p.value.as_ref())
        .unwrap_or_else(|| panic!("no OUT parameter {name} in {r:?}"))
}

async fn assoc_names(a: &Agent, from: &CimInstanceName, assoc: &str) -> Vec<CimInstanceName> {
    a.client
        .associator_names(
            VIRT_NS,
            from,
            &AssocArgs {
                assoc_class: Some(a.class(assoc)),
                ..Default::default()
            },
        )
        .await
        .unwrap_or_else(|e| panic!("AssociatorNames {assoc}: {e}"))
}

fn ids(paths: &[CimInstanceName], key: &str) -> Vec<String> {
    let mut v: Vec<String> = paths
        .iter()
        .filter_map(|p| p.key_str(key).map(str::to_string))
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pools_report_host_capacity_and_guest_claims() {
    let h = host("pa", 16, 16 * 1024, 3);
    // One guest stopped: it keeps its claim.
    h.hv.define(&DomainSpec::new("idle", 2, 256)).unwrap();
    let a = agent(h.hv.clone(), "pa", &[], SECOND * 60).await;
    let info = h.hv.host_info().unwrap();
    let doms = h.hv.domains().unwrap();
    let caps = h.hv.capabilities().unwrap();

    let procs = a.enumerate("ProcessorPool").await;
    let p0 = by(&procs, "InstanceID", "ProcessorPool/0");
    assert_eq!(u64_of(p0, "Capacity"), Some(u64::from(info.cpus)));
    assert_eq!(info.cpus, 16);
    let vcpus: u64 = doms.iter().map(|d| u64::from(d.vcpus)).sum();
    assert_eq!(vcpus, 5, "3 sample VMs with 1 vCPU and one with 2");
    assert_eq!(u64_of(p0, "Reserved"), Some(vcpus));
    assert_eq!(u16_of(p0, "ResourceType"), Some(3));
    assert_eq!(p0.get("Primordial"), Some(&CimValue::Boolean(true)));

    let mems = a.enumerate("MemoryPool").await;
    let m0 = by(&mems, "InstanceID", "MemoryPool/0");
    assert_eq!(u64_of(m0, "Capacity"), Some(info.memory_kib));
    let kib: u64 = doms.iter().map(|d| d.memory_kib).sum();
    assert_eq!(u64_of(m0, "Reserved"), Some(kib));
    assert_eq!(m0.get_str("AllocationUnits"), Some("byte*2^10"));
    assert_eq!(u16_of(m0, "ResourceType"), Some(4));

    let disks = a.enumerate("DiskPool").await;
    assert!(!caps.storage_pools.is_empty());
    for sp in &caps.storage_pools {
        let d = by(&disks, "InstanceID", &format!("DiskPool/{}", sp.name));
        assert_eq!(u64_of(d, "Capacity"), Some(sp.capacity_bytes >> 20));
        assert_eq!(u64_of(d, "Reserved"), Some(sp.allocation_bytes >> 20));
        assert_eq!(d.get_str("Path"), sp.path.as_deref());
        assert_eq!(u16_of(d, "ResourceType"), Some(17));
    }
    by(&disks, "InstanceID", "DiskPool/0");

    let nets = a.enumerate("NetworkPool").await;
    let default = by(&nets, "InstanceID", "NetworkPool/default");
    assert_eq!(
        u64_of(default, "Reserved"),
        Some(3),
        "one NIC per sample VM"
    );
    assert_eq!(u16_of(default, "ResourceType"), Some(10));

    // Host → every pool.
    let hosted = assoc_names(&a, &a.ctx.host_path(), "HostedResourcePool").await;
    assert_eq!(
        hosted.len(),
        procs.len() + mems.len() + disks.len() + nets.len()
    );

    // Pool → each guest's RASD, and → its devices.
    let rasds = assoc_names(
        &a,
        &pool(&a, "ProcessorPool", "ProcessorPool/0"),
        "ResourceAllocationFromPool",
    )
    .await;
    let mut want: Vec<String> = doms.iter().map(|d| format!("{}/proc", d.name)).collect();
    want.sort();
    assert_eq!(ids(&rasds, "InstanceID"), want);
    let devs = assoc_names(
        &a,
        &pool(&a, "MemoryPool", "MemoryPool/0"),
        "ElementAllocatedFromPool",
    )
    .await;
    let mut want: Vec<String> = doms.iter().map(|d| format!("{}/mem", d.name)).collect();
    want.sort();
    assert_eq!(ids(&devs, "DeviceID"), want);
    let disk_rasds = assoc_names(
        &a,
        &pool(&a, "DiskPool", "DiskPool/default"),
        "ResourceAllocationFromPool",
    )
    .await;
    assert_eq!(
        ids(&disk_rasds, "InstanceID"),
        vec!["pa-vm1/vda", "pa-vm2/vda", "pa-vm3/vda"]
    );
    // From the guest's side: its device and RASD lead back to the pools.
    let mem_dev = a.ctx.device_path("Memory", "pa-vm1", "mem");
    let back = assoc_names(&a, &mem_dev, "ElementAllocatedFromPool").await;
    assert_eq!(ids(&back, "InstanceID"), vec!["MemoryPool/0"]);
    let disk_rasd = vine_providers_virt::paths::instance_id_path(
        &a.class("DiskResourceAllocationSettingData"),
        "pa-vm2/vda",
    );
    let back = assoc_names(&a, &disk_rasd, "ResourceAllocationFromPool").await;
    assert_eq!(ids(&back, "InstanceID"), vec!["DiskPool/default"]);
    let none = assoc_names(&a, &a.ctx.system_path("pa-vm1"), "ElementAllocatedFromPool").await;
    assert!(none.is_empty(), "{none:?}");
    // A storage pool hangs under the primordial disk pool.
    let under = assoc_names(
        &a,
        &pool(&a, "DiskPool", "DiskPool/0"),
        "ElementAllocatedFromPool",
    )
    .await;
    assert!(ids(&under, "InstanceID").contains(&"DiskPool/default".to_string()));
}

fn proc_rasd(a: &Agent, n: u64) -> CimValue {
    CimValue::Array(vec![CimValue::Instance(Box::new(
        CimInstance::new(a.class("ProcResourceAllocationSettingData"))
            .with("ResourceType", 3u16)
            .with("Reservation", n),
    ))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_pools_carve_refuse_overcommit_and_delete() {
    let h = host("pc", 8, 8 * 1024, 2);
    let a = agent(h.hv.clone(), "pc", &[], SECOND * 60).await;
    let rpcs = a
        .ctx
        .service_path("ResourcePoolConfigurationService", "RPCS");
    let parent_ref = CimValue::Array(vec![CimValue::Reference(Box::new(pool(
        &a,
        "ProcessorPool",
        "ProcessorPool/0",
    )))]);

    let r = call(
        &a,
        rpcs.clone(),
        "CreateChildResourcePool",
        vec![
            CimParamValue::new("ElementName", "web"),
            CimParamValue::new("Settings", proc_rasd(&a, 4)),
            CimParamValue::new("ParentPool", parent_ref.clone()),
        ],
    )
    .await
    .unwrap();
    assert_eq!(rc(&r), 0);
    let CimValue::Reference(web) = out(&r, "Pool") else {
        panic!("Pool is not a reference");
    };
    assert_eq!(web.key_str("InstanceID"), Some("ProcessorPool/web"));

    let procs = a.enumerate("ProcessorPool").await;
    let child = by(&procs, "InstanceID", "ProcessorPool/web");
    assert_eq!(child.get("Primordial"), Some(&CimValue::Boolean(false)));
    assert_eq!(u64_of(child, "Capacity"), Some(4));
    assert_eq!(u64_of(child, "Reserved"), Some(0));
    // The parent holds the two guests' vCPUs plus the child's four.
    assert_eq!(
        u64_of(by(&procs, "InstanceID", "ProcessorPool/0"), "Reserved"),
        Some(2 + 4)
    );
    let under = assoc_names(
        &a,
        &pool(&a, "ProcessorPool", "ProcessorPool/0"),
        "ElementAllocatedFromPool",
    )
    .await;
    assert!(ids(&under, "InstanceID").contains(&"ProcessorPool/web".to_string()));
    let hosted = assoc_names(&a, &a.ctx.host_path(), "HostedResourcePool").await;
    assert!(ids(&hosted, "InstanceID").contains(&"ProcessorPool/web".to_string()));

    // 8 CPUs, 6 reserved: 3 more do not fit.
    let err = call(
        &a,
        rpcs.clone(),
        "CreateChildResourcePool",
        vec![
            CimParamValue::new("ElementName", "big"),
            CimParamValue::new("Settings", proc_rasd(&a, 3)),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::Failed), "{err}");
    assert!(
        err.to_string()
            .contains("insufficient resources in ProcessorPool/0"),
        "{err}"
    );
    assert!(err.to_string().contains("2 free"), "{err}");
    // Same name twice.
    let err = call(
        &a,
        rpcs.clone(),
        "CreateChildResourcePool",
        vec![
            CimParamValue::new("ElementName", "web"),
            CimParamValue::new("Settings", proc_rasd(&a, 1)),
        ],
    )
    .await
    .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::AlreadyExists), "{err}");

    // A memory child pool in MiB.
    let mem = CimValue::Array(vec![CimValue::Instance(Box::new(
        CimInstance::new(a.class("MemResourceAllocationSettingData"))
            .with("ResourceType", 4u16)
            .with("VirtualQuantity", 1024u64)
            .with("AllocationUnits", "byte*2^20"),
    ))]);
    let r = call(
        &a,
        rpcs.clone(),
        "CreateChildResourcePool",
        vec![
            CimParamValue::new("ElementName", "db"),
            CimParamValue::new("Settings", mem),
        ],
    )
    .await
    .unwrap();
    assert_eq!(rc(&r), 0);
    let mems = a.enumerate("MemoryPool").await;
    assert_eq!(
        u64_of(by(&mems, "InstanceID", "MemoryPool/db"), "Capacity"),
        Some(1 << 20)
    );

    // DefineSystem draws from the child pools its RASDs name.
    let vsms = a
        .ctx
        .service_path("VirtualSystemManagementService", "Management Service");
    let p = a.ctx.prefix.clone();
    let define = |vcpus: u64, proc_pool: &str| {
        let rasds = vec![
            CimInstance::new(format!("{p}_ProcResourceAllocationSettingData"))
                .with("ResourceType", 3u16)
                .with("VirtualQuantity", vcpus)
                .with("PoolID", proc_pool),
            CimInstance::new(format!("{p}_MemResourceAllocationSettingData"))
                .with("ResourceType", 4u16)
                .with("VirtualQuantity", 256u64)
                .with("AllocationUnits", "byte*2^20")
                .with("PoolID", "MemoryPool/db"),
        ];
        vec![
            CimParamValue::new(
                "SystemSettings",
                CimInstance::new(format!("{p}_VirtualSystemSettingData"))
                    .with("VirtualSystemIdentifier", "pooled")
                    .with("ElementName", "pooled"),
            ),
            CimParamValue::new(
                "ResourceSettings",
                CimValue::Array(rasds.into_iter().map(CimValue::from).collect()),
            ),
        ]
    };
    // web has 4 vCPUs: 5 are refused, saying so.
    let err = call(
        &a,
        vsms.clone(),
        "DefineSystem",
        define(5, "ProcessorPool/web"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::Failed), "{err}");
    assert!(
        err.to_string()
            .contains("insufficient resources in ProcessorPool/web"),
        "{err}"
    );
    assert!(matches!(h.hv.domain("pooled"), Err(HvError::NoDomain(_))));
    // A PoolID of the wrong kind or of no pool is the client's mistake.
    let err = call(&a, vsms.clone(), "DefineSystem", define(1, "MemoryPool/db"))
        .await
        .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::InvalidParameter), "{err}");
    let err = call(
        &a,
        vsms.clone(),
        "DefineSystem",
        define(1, "ProcessorPool/nope"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::InvalidParameter), "{err}");
    // 2 fit; the guest's RASDs name the child pools and the pools count it.
    let r = call(
        &a,
        vsms.clone(),
        "DefineSystem",
        define(2, "ProcessorPool/web"),
    )
    .await
    .unwrap();
    assert_eq!(rc(&r), 0);
    let rasd_of = |base: &str, devid: &str| {
        vine_providers_virt::paths::instance_id_path(&a.class(base), &format!("pooled/{devid}"))
    };
    let got = a
        .client
        .get_instance(
            VIRT_NS,
            &rasd_of("ProcResourceAllocationSettingData", "proc"),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(got.get_str("PoolID"), Some("ProcessorPool/web"));
    let got = a
        .client
        .get_instance(
            VIRT_NS,
            &rasd_of("MemResourceAllocationSettingData", "mem"),
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(got.get_str("PoolID"), Some("MemoryPool/db"));
    let procs = a.enumerate("ProcessorPool").await;
    assert_eq!(
        u64_of(by(&procs, "InstanceID", "ProcessorPool/web"), "Reserved"),
        Some(2)
    );
    // A child pool's capabilities are linked by ElementCapabilities.
    let caps_of_web = assoc_names(&a, web, "ElementCapabilities").await;
    assert_eq!(ids(&caps_of_web, "InstanceID"), vec!["ProcessorPool/web"]);
    // DestroySystem gives the vCPUs back to the child pool.
    let r = call(
        &a,
        vsms,
        "DestroySystem",
        vec![CimParamValue::new(
            "AffectedSystem",
            CimValue::Reference(Box::new(a.ctx.system_path("pooled"))),
        )],
    )
    .await
    .unwrap();
    assert_eq!(rc(&r), 0);
    assert_eq!(
        a.ctx.pools.member_of("pooled", pools::PoolKind::Processor),
        None
    );
    let procs = a.enumerate("ProcessorPool").await;
    assert_eq!(
        u64_of(by(&procs, "InstanceID", "ProcessorPool/web"), "Reserved"),
        Some(0)
    );

    // Admission against the child pool (what DefineSystem calls).
    let e = pools::admit(&a.ctx, "ProcessorPool/web", 5, 0)
        .await
        .unwrap_err();
    assert_eq!(e.status, CimStatus::Failed);
    pools::admit(&a.ctx, "ProcessorPool/web", 4, 0)
        .await
        .unwrap();
    pools::admit(&a.ctx, "ProcessorPool/0", 8, 0).await.unwrap();
    assert_eq!(
        pools::admit(&a.ctx, "ProcessorPool/nope", 1, 0)
            .await
            .unwrap_err()
            .status,
        CimStatus::InvalidParameter
    );
    h.hv.define(&DomainSpec::new("inweb", 3, 256)).unwrap();
    pools::assign(&a.ctx, "inweb", "ProcessorPool/web");
    assert_eq!(
        pools::pool_of(&a.ctx, "inweb", pools::PoolKind::Processor),
        "ProcessorPool/web"
    );
    let procs = a.enumerate("ProcessorPool").await;
    assert_eq!(
        u64_of(by(&procs, "InstanceID", "ProcessorPool/web"), "Reserved"),
        Some(3)
    );
    let e = pools::admit(&a.ctx, "ProcessorPool/web", 2, 0)
        .await
        .unwrap_err();
    assert!(e.description.contains("1 free"), "{e}");
    let rasds = assoc_names(&a, web, "ResourceAllocationFromPool").await;
    assert_eq!(ids(&rasds, "InstanceID"), vec!["inweb/proc"]);

    // In use: refused; once the guest is gone, deleted.
    let delete =
        |p: CimInstanceName| vec![CimParamValue::new("Pool", CimValue::Reference(Box::new(p)))];
    let err = call(
        &a,
        rpcs.clone(),
        "DeleteResourcePool",
        delete((**web).clone()),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("guest inweb"), "{err}");
    h.hv.undefine("inweb").unwrap();
    pools::release(&a.ctx, "inweb");
    let r = call(
        &a,
        rpcs.clone(),
        "DeleteResourcePool",
        delete((**web).clone()),
    )
    .await
    .unwrap();
    assert_eq!(rc(&r), 0);
    let procs = a.enumerate("ProcessorPool").await;
    assert!(procs
        .iter()
        .all(|p| p.get_str("InstanceID") != Some("ProcessorPool/web")));
    let err = call(
        &a,
        rpcs.clone(),
        "DeleteResourcePool",
        delete(pool(&a, "MemoryPool", "MemoryPool/0")),
    )
    .await
    .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::InvalidParameter), "{err}");
    let err = call(&a, rpcs, "DeleteResourcePool", delete((**web).clone()))
        .await
        .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::NotFound), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allocation_capabilities_and_templates() {
    let h = host("ac", 4, 4096, 1);
    let a = agent(h.hv.clone(), "ac", &[], SECOND * 60).await;
    let caps = h.hv.capabilities().unwrap();
    let info = h.hv.host_info().unwrap();

    let all = a.enumerate("AllocationCapabilities").await;
    let n_pools = a.enumerate("ProcessorPool").await.len()
        + a.enumerate("MemoryPool").await.len()
        + a.enumerate("DiskPool").await.len()
        + a.enumerate("NetworkPool").await.len();
    assert_eq!(all.len(), n_pools);
    let pc = by(&all, "InstanceID", "ProcessorPool/0");
    assert_eq!(u16_of(pc, "ResourceType"), Some(3));

    // Capabilities → four templates with their roles.
    let caps_path = capabilities::caps_path(&a.ctx, "ProcessorPool/0");
    let links = a
        .client
        .references(
            VIRT_NS,
            &caps_path,
            &AssocArgs {
                assoc_class: Some(a.class("SettingsDefineCapabilities")),
                ..Default::default()
            },
            &EnumArgs::default(),
        )
        .await
        .unwrap();
    let mut roles: Vec<(String, u16, u16)> = links
        .iter()
        .map(|l| {
            let part = reference(l, "PartComponent");
            (
                part.key_str("InstanceID").unwrap().to_string(),
                u16_of(l, "ValueRole").unwrap(),
                u16_of(l, "ValueRange").unwrap(),
            )
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![
            ("ProcessorPool/0/Default".to_string(), 0, 0),
            ("ProcessorPool/0/Increment".to_string(), 3, 3),
            ("ProcessorPool/0/Maximum".to_string(), 3, 2),
            ("ProcessorPool/0/Minimum".to_string(), 3, 1),
        ]
    );

    // Associators over SettingsDefineCapabilities: the four templates, from
    // the RASD provider.
    let templates = a
        .client
        .associators(
            VIRT_NS,
            &caps_path,
            &AssocArgs {
                assoc_class: Some(a.class("SettingsDefineCapabilities")),
                ..Default::default()
            },
            &EnumArgs::default(),
        )
        .await
        .unwrap();
    assert_eq!(templates.len(), 4, "{templates:?}");
    assert!(templates.iter().all(|t| {
        t.get_str("PoolID") == Some("ProcessorPool/0") && u16_of(t, "ResourceType") == Some(3)
    }));
    let mut tids: Vec<&str> = templates
        .iter()
        .filter_map(|t| t.get_str("InstanceID"))
        .collect();
    tids.sort();
    assert_eq!(
        tids,
        [
            "ProcessorPool/0/Default",
            "ProcessorPool/0/Increment",
            "ProcessorPool/0/Maximum",
            "ProcessorPool/0/Minimum"
        ]
    );

    // The templates themselves, through the hook the RASD provider uses.
    let get = |pool_id: &str, base: &str, role: &str| {
        vine_providers_virt::paths::instance_id_path(&a.class(base), &format!("{pool_id}/{role}"))
    };
    let q = |i: &CimInstance| u64_of(i, "VirtualQuantity").unwrap();
    let t = |p: CimInstanceName| {
        let ctx = a.ctx.clone();
        async move {
            capabilities::template_rasd(&ctx, &p)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let max = t(get(
        "ProcessorPool/0",
        "ProcResourceAllocationSettingData",
        "Maximum",
    ))
    .await;
    assert_eq!(q(&max), u64::from(info.cpus.min(caps.max_vcpus)));
    assert_eq!(max.get_str("PoolID"), Some("ProcessorPool/0"));
    assert_eq!(
        q(&t(get(
            "ProcessorPool/0",
            "ProcResourceAllocationSettingData",
            "Minimum"
        ))
        .await),
        1
    );
    let mem_max = t(get(
        "MemoryPool/0",
        "MemResourceAllocationSettingData",
        "Maximum",
    ))
    .await;
    assert_eq!(q(&mem_max), info.memory_kib);
    assert_eq!(mem_max.get_str("AllocationUnits"), Some("byte*2^10"));
    let mem_def = t(get(
        "MemoryPool/0",
        "MemResourceAllocationSettingData",
        "Default",
    ))
    .await;
    assert_eq!(q(&mem_def), 512 * 1024);
    assert_eq!(
        q(&t(get(
            "MemoryPool/0",
            "MemResourceAllocationSettingData",
            "Increment"
        ))
        .await),
        1024
    );
    // Guests' RASDs are not templates; a template of the wrong class or of
    // no pool is not found.
    let guest = get("ac-vm1", "MemResourceAllocationSettingData", "x");
    let guest =
        vine_providers_virt::paths::instance_id_path(guest.class_name.as_str(), "ac-vm1/mem");
    assert!(capabilities::template_rasd(&a.ctx, &guest)
        .await
        .unwrap()
        .is_none());
    let wrong = get(
        "MemoryPool/0",
        "ProcResourceAllocationSettingData",
        "Default",
    );
    assert_eq!(
        capabilities::template_rasd(&a.ctx, &wrong)
            .await
            .unwrap_err()
            .status,
        CimStatus::NotFound
    );
    let gone = get(
        "MemoryPool/none",
        "MemResourceAllocationSettingData",
        "Default",
    );
    assert_eq!(
        capabilities::template_rasd(&a.ctx, &gone)
            .await
            .unwrap_err()
            .status,
        CimStatus::NotFound
    );
    assert_eq!(
        capabilities::template_rasds(&a.ctx, &a.class("NetResourceAllocationSettingData"))
            .await
            .unwrap()
            .len(),
        4 * (1 + caps.networks.len())
    );
}

async fn migrate(a: &Agent, dom: &str, dest: &str) -> (u32, Option<CimInstanceName>) {
    let r = call(
        a,
        a.ctx
            .service_path("VirtualSystemMigrationService", "MigrationService"),
        "MigrateVirtualSystemToHost",
        vec![
            CimParamValue::new(
                "ComputerSystem",
                CimValue::Reference(Box::new(a.ctx.system_path(dom))),
            ),
            CimParamValue::new("DestinationHost", dest),
        ],
    )
    .await
    .unwrap();
    let job = r
        .out_params
        .iter()
        .find(|p| p.name.matches("Job"))
        .and_then(|p| match &p.value {
            Some(CimValue::Reference(j)) => Some((**j).clone()),
            _ => None,
        });
    (rc(&r), job)
}

async fn check(a: &Agent, dom: &str, dest: &str) -> Result<bool, vine_wbem::client::ClientError> {
    let r = call(
        a,
        a.ctx
            .service_path("VirtualSystemMigrationService", "MigrationService"),
        "CheckVirtualSystemIsMigratableToHost",
        vec![
            CimParamValue::new(
                "ComputerSystem",
                CimValue::Reference(Box::new(a.ctx.system_path(dom))),
            ),
            CimParamValue::new("DestinationHost", dest),
        ],
    )
    .await?;
    assert_eq!(rc(&r), 0);
    Ok(matches!(out(&r, "IsMigratable"), CimValue::Boolean(true)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migration_between_test_hosts() {
    let src = host("ma", 8, 8 * 1024, 2);
    let dst = host("mb", 8, 8 * 1024, 1);
    let a = agent(src.hv.clone(), "ma", &[("mb", &dst.uri)], SECOND * 60).await;

    // By peer name and by URI.
    assert!(check(&a, "ma-vm1", "mb").await.unwrap());
    assert!(check(&a, "ma-vm1", &dst.uri).await.unwrap());
    let err = check(&a, "nosuch", "mb").await.unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::NotFound), "{err}");
    let err = check(&a, "ma-vm1", "unknown-host").await.unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::InvalidParameter), "{err}");
    assert!(err.to_string().contains("--peer"), "{err}");

    let (code, job) = migrate(&a, "ma-vm1", "mb").await;
    assert_eq!(code, 4096);
    let job = job.expect("a Job reference");
    let id = job.key_str("InstanceID").unwrap().to_string();
    let (state, error) = a.ctx.jobs.wait(&id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(state.code(), 7, "{error:?}");
    let inst = a
        .ctx
        .jobs
        .instances(&a.ctx)
        .into_iter()
        .find(|i| i.get_str("InstanceID") == Some(id.as_str()))
        .unwrap();
    assert_eq!(
        inst.get_str("Name"),
        Some(format!("Offline migration of ma-vm1 to {}", dst.uri).as_str())
    );
    assert!(matches!(src.hv.domain("ma-vm1"), Err(HvError::NoDomain(_))));
    let moved = dst.hv.domain("ma-vm1").unwrap();
    assert!(
        moved.state.is_active(),
        "restarted in its source state: {moved:?}"
    );
    // The source's pools no longer count it.
    let procs = a.enumerate("ProcessorPool").await;
    assert_eq!(
        u64_of(by(&procs, "InstanceID", "ProcessorPool/0"), "Reserved"),
        Some(1)
    );

    // A name clash on the destination: not migratable; the job fails with
    // the hypervisor's message and the VM stays.
    dst.hv.define(&DomainSpec::new("ma-vm2", 1, 256)).unwrap();
    assert!(!check(&a, "ma-vm2", "mb").await.unwrap());
    let (code, job) = migrate(&a, "ma-vm2", "mb").await;
    assert_eq!(code, 4096);
    let id = job.unwrap().key_str("InstanceID").unwrap().to_string();
    let (state, error) = a.ctx.jobs.wait(&id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(state.code(), 10);
    let error = error.expect("the job's error");
    assert!(error.description.contains("ma-vm2"), "{error}");
    assert!(src.hv.domain("ma-vm2").unwrap().state.is_active());

    let err = a
        .client
        .invoke_method(
            MethodTarget::Instance(
                a.ctx
                    .service_path("VirtualSystemMigrationService", "MigrationService"),
            ),
            "MigrateVirtualSystemToHost",
            vec![
                CimParamValue::new(
                    "ComputerSystem",
                    CimValue::Reference(Box::new(a.ctx.system_path("ghost"))),
                ),
                CimParamValue::new("DestinationHost", "mb"),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::NotFound), "{err}");

    // Service, capabilities and default settings.
    let msd = a.enumerate("VirtualSystemMigrationSettingData").await;
    assert_eq!(u16_of(&msd[0], "MigrationType"), Some(2));
    let mc = a.enumerate("VirtualSystemMigrationCapabilities").await;
    assert_eq!(mc[0].get_str("InstanceID"), Some("MigrationCapabilities"));
    assert_eq!(a.enumerate("VirtualSystemMigrationService").await.len(), 1);
}

fn parse(v: &CimInstance) -> f64 {
    v.get_str("MetricValue")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("MetricValue is not a number: {v:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_sample_and_keep_history() {
    let h = host("mt", 4, 4096, 2);
    let a = agent(h.hv.clone(), "mt", &[], SECOND).await;
    let vm = Element::Domain("mt-vm1".into());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while a.monitor.history(&vm).len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the monitor does not sample"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = a.monitor.history(&vm).len();

    let defs = a.enumerate("BaseMetricDefinition").await;
    assert_eq!(defs.len(), Metric::ALL.len());
    by(&defs, "Id", "KVM:CPUUtilization");

    let values = a.enumerate("BaseMetricValue").await;
    let stats = h.hv.domain_stats("mt-vm1").unwrap();
    let info = h.hv.domain("mt-vm1").unwrap();
    let of = |metric: &str| -> Vec<&CimInstance> {
        values
            .iter()
            .filter(|v| v.get_str("MeasuredElementName") == Some("mt-vm1"))
            .filter(|v| v.get_str("MetricDefinitionId") == Some(format!("KVM:{metric}").as_str()))
            .collect()
    };
    let mem = of("MemoryUsed");
    assert!(mem.len() >= 3);
    // The test driver has no balloon: a guest uses all its memory.
    assert_eq!(stats.memory_used_kib, info.memory_kib);
    assert!(mem.iter().all(|v| parse(v) as u64 == info.memory_kib));
    let cpu = of("CPUUtilization");
    assert!(cpu.len() >= 2, "every sample after the first has CPU %");
    for v in &cpu {
        let x = parse(v);
        assert!((0.0..=100.0 * f64::from(info.vcpus)).contains(&x), "{x}");
    }
    for m in [
        "DiskReadRate",
        "DiskWriteRate",
        "NetworkReceiveRate",
        "NetworkTransmitRate",
    ] {
        assert!(of(m).iter().all(|v| parse(v) >= 0.0), "{m}");
    }

    // Host metrics: CPU and memory.
    let host_mem: Vec<&CimInstance> = values
        .iter()
        .filter(|v| v.get_str("MeasuredElementName") == Some("mt"))
        .collect();
    assert!(!host_mem.is_empty());

    // Element → values, definition → values, element → definitions.
    let system = a.ctx.system_path("mt-vm1");
    let mine = assoc_names(&a, &system, "MetricForME").await;
    assert!(mine.len() >= mem.len() + cpu.len());
    assert!(mine
        .iter()
        .all(|p| p.key_str("InstanceID").unwrap().starts_with("vm:mt-vm1/")));
    let defs_of_vm = assoc_names(&a, &system, "MetricDefForME").await;
    assert_eq!(defs_of_vm.len(), Metric::ALL.len());
    let cpu_def = vine_providers_virt::metrics::definition_path(&a.ctx, Metric::CpuUtilization);
    let cpu_values = assoc_names(&a, &cpu_def, "MetricInstance").await;
    assert!(cpu_values.iter().all(|p| p
        .key_str("InstanceID")
        .unwrap()
        .contains("/CPUUtilization/")));
    assert!(cpu_values.len() >= cpu.len());
    // GetInstance straight to one value.
    let one = a
        .client
        .get_instance(VIRT_NS, &mine[0], &EnumArgs::default())
        .await
        .unwrap();
    assert!(one.get_str("MetricValue").is_some());

    // The history grows (up to its bound).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(a.monitor.history(&vm).len() > before);
    let latest = a.monitor.latest();
    assert!(latest
        .iter()
        .any(|(e, s)| *e == vm && s.value(Metric::MemoryUsed).is_some()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_profiles_are_registered() {
    let h = host("pr", 2, 2048, 0);
    let a = agent(h.hv.clone(), "pr", &[], SECOND * 60).await;
    let profiles = a
        .client
        .enumerate_instances(INTEROP_NS, "CIM_RegisteredProfile", &EnumArgs::default())
        .await
        .unwrap();
    for id in [
        "CIM:DSP1041-ResourceAllocation-1.1.0c",
        "CIM:DSP1043-AllocationCapabilities-1.0.0a",
        "CIM:DSP1045-MemoryResourceVirtualization-1.0.0",
        "CIM:DSP1059-GenericDeviceResourceVirtualization-1.0.0",
        "CIM:DSP1081-VirtualSystemMigration-0.8.1",
        "CIM:DSP1053-BaseMetrics-1.0.1",
    ] {
        by(&profiles, "InstanceID", id);
    }
    let migration = CimInstanceName::new("CIM_RegisteredProfile")
        .with_key("InstanceID", "CIM:DSP1081-VirtualSystemMigration-0.8.1")
        .with_namespace(INTEROP_NS);
    let central = a
        .client
        .associator_names(INTEROP_NS, &migration, &AssocArgs::default())
        .await
        .unwrap();
    assert!(
        central.iter().any(|c| c
            .class_name
            .matches(&a.class("VirtualSystemMigrationService"))),
        "{central:?}"
    );
}
