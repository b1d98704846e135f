//! The host's own resources (DSP1052: processors, memory, operating
//! system and their associations and profiles), job control (DSP1103:
//! OwningJobElement, AffectedJobElement, ConcreteJob.RequestStateChange,
//! job indications) and RASD indications, through CIM against libvirt's
//! test driver.

mod vm_support;

use vine_cim::{CimInstance, CimInstanceName, CimValue};
use vine_hypervisor::Hypervisor;
use vine_wbem::client::{AssocArgs, EnumArgs};
use vine_wbem::interop::INTEROP_NS;
use vm_support::*;

fn u_of(i: &CimInstance, p: &str) -> u64 {
    u64_of(i, p)
}

async fn define_small(a: &Agent, name: &str) {
    let p = a.ctx.prefix.clone();
    let r = a
        .vsms_call(
            "DefineSystem",
            define_params(
                vssd(&p, name),
                vec![proc_rasd(&p, 1, 2), mem_rasd(&p, 256, 512), net_rasd(&p)],
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("DefineSystem {name}: {e}"));
    assert_eq!(rc(&r), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_processors_memory_and_operating_system() {
    let h = host("hr-a");
    let a = agent(h.hv.clone(), "KVM", "hr-a").await;
    define_small(&a, "guest").await;
    let info = h.hv.host_info().unwrap();

    // One processor per socket the test host has (1 socket, 8 cores).
    let cpus = a.enumerate("HostProcessor").await;
    assert_eq!(cpus.len(), info.sockets.max(1) as usize, "{cpus:#?}");
    let cpu = &cpus[0];
    assert_eq!(cpu.get_str("DeviceID"), Some("CPU0"));
    assert_eq!(cpu.get_str("SystemName"), Some("hr-a"));
    assert_eq!(
        cpu.get_str("SystemCreationClassName"),
        Some("KVM_HostSystem")
    );
    assert_eq!(u_of(cpu, "NumberOfEnabledCores"), 8);
    assert_eq!(u_of(cpu, "CurrentClockSpeed"), u64::from(info.mhz));
    assert_eq!(u_of(cpu, "EnabledState"), 2);

    // 16 GiB as 4 KiB blocks.
    let mem = a.enumerate("HostMemory").await;
    assert_eq!(mem.len(), 1);
    assert_eq!(
        u_of(&mem[0], "NumberOfBlocks") * u_of(&mem[0], "BlockSize"),
        16 * 1024 * 1024 * 1024
    );

    // The OS the test host runs on is this machine's.
    let os = a.enumerate("OperatingSystem").await;
    assert_eq!(os.len(), 1, "{os:#?}");
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(os[0].get_str("Version"), Some(release.trim()));
    assert_eq!(u_of(&os[0], "OSType"), 36, "LINUX");
    assert_eq!(os[0].get_str("CSName"), Some("hr-a"));
    assert_eq!(
        u_of(&os[0], "TotalVisibleMemorySize"),
        16 * 1024 * 1024,
        "KiB of the test host"
    );
    assert!(os[0].get("LastBootUpTime").is_some());

    // SystemDevice from the host: its processors and memory, no VM's.
    let host_path = a.ctx.host_path();
    let mut devices: Vec<String> = a
        .associators(&host_path, "SystemDevice", None)
        .await
        .iter()
        .map(|p| p.class_name.to_string())
        .collect();
    devices.sort();
    assert_eq!(devices, vec!["KVM_HostMemory", "KVM_HostProcessor"]);
    // And back; a VM's devices do not include the host's.
    let cpu_path = cpu.path.clone().unwrap();
    assert_eq!(
        a.associators(&cpu_path, "SystemDevice", None).await,
        vec![host_path.clone()]
    );
    let vm_devices = a
        .associators(&a.ctx.system_path("guest"), "SystemDevice", None)
        .await;
    assert!(!vm_devices.is_empty());
    assert!(vm_devices
        .iter()
        .all(|d| !d.class_name.as_str().contains("Host")));

    // InstalledOS and RunningOS, both ways.
    let os_path = os[0].path.clone().unwrap();
    for assoc in ["InstalledOS", "RunningOS"] {
        assert_eq!(
            a.associators(&host_path, assoc, None).await,
            vec![os_path.clone()],
            "{assoc} from the host"
        );
        assert_eq!(
            a.associators(&os_path, assoc, None).await,
            vec![host_path.clone()],
            "{assoc} from the OS"
        );
    }
    let installed = a
        .client
        .references(
            vine_providers_virt::VIRT_NS,
            &host_path,
            &AssocArgs {
                result_class: Some(a.class("InstalledOS")),
                ..Default::default()
            },
            &EnumArgs::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        installed[0].get("PrimaryOS"),
        Some(&CimValue::Boolean(true))
    );

    // DSP1052 and its processor and memory component profiles.
    let profiles = a
        .client
        .enumerate_instances(INTEROP_NS, "CIM_RegisteredProfile", &EnumArgs::default())
        .await
        .unwrap();
    let names: Vec<&str> = profiles
        .iter()
        .filter_map(|p| p.get_str("RegisteredName"))
        .collect();
    for n in ["Computer System", "CPU", "System Memory"] {
        assert!(names.contains(&n), "{n} not registered: {names:?}");
    }
    let cpu_profile = CimInstanceName::new("CIM_RegisteredProfile")
        .with_key("InstanceID", "CIM:DSP1022-CPU-1.0.1")
        .with_namespace(INTEROP_NS);
    let central = a
        .client
        .associator_names(INTEROP_NS, &cpu_profile, &AssocArgs::default())
        .await
        .unwrap();
    assert!(
        central
            .iter()
            .any(|c| c.class_name.matches("KVM_HostProcessor")),
        "{central:?}"
    );
}
