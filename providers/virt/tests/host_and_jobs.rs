//! The host's own resources (DSP1052: processors, memory, operating
//! system and their associations and profiles), job control (DSP1103:
//! OwningJobElement, AffectedJobElement, ConcreteJob.RequestStateChange,
//! job indications) and RASD indications, through CIM against libvirt's
//! test driver.

mod vm_support;

use std::time::Duration;

use vine_cim::{CimDateTime, CimInstance, CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_cimxml::MethodTarget;
use vine_hypervisor::Hypervisor;
use vine_providers_virt::jobs::{JobControl, JobSpec};
use vine_providers_virt::paths::instance_id_path;
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

/// The job path in a method's `Job` OUT parameter.
fn job_of(r: &vine_cimxml::MethodResponse) -> CimInstanceName {
    match out(r, "Job") {
        CimValue::Reference(j) => (**j).clone(),
        other => panic!("Job is {other:?}"),
    }
}

async fn job_rsc(a: &Agent, job: &CimInstanceName, params: Vec<CimParamValue>) -> u32 {
    let r = a
        .client
        .invoke_method(
            MethodTarget::Instance(job.clone()),
            "RequestStateChange",
            params,
        )
        .await
        .unwrap_or_else(|e| panic!("RequestStateChange on {job}: {e}"));
    rc(&r)
}

async fn job_state(a: &Agent, job: &CimInstanceName) -> u64 {
    u64_of(&a.get(job).await.unwrap(), "JobState")
}

/// Polls until the job's JobState is `want`.
async fn wait_job_state(a: &Agent, job: &CimInstanceName, want: u64) {
    let mut last = 0;
    for _ in 0..200 {
        last = job_state(a, job).await;
        if last == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{job} is in JobState {last}, not {want}");
}

fn requested(state: u16) -> Vec<CimParamValue> {
    vec![CimParamValue::new("RequestedState", state)]
}

/// Published indications of class `base` whose SourceInstance has
/// `key` = `value`.
fn published(a: &Agent, base: &str, key: &str, value: &str) -> Vec<CimInstance> {
    let class = a.class(base);
    a.published
        .lock()
        .unwrap()
        .iter()
        .filter(|i| i.class_name.matches(&class))
        .filter(|i| match i.get("SourceInstance") {
            Some(CimValue::Instance(s)) => s.get_str(key) == Some(value),
            _ => false,
        })
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_have_owners_and_answer_state_change_requests() {
    let h = host("jobs-a");
    let a = agent(h.hv.clone(), "KVM", "jobs-a").await;
    define_small(&a, "vm1").await;
    assert_eq!(rc(&a.request_state("vm1", 2, vec![]).await.unwrap()), 0);

    // An orderly shutdown runs as a job owned by the management service
    // and acting on the VM; its creation is announced.
    let r = a.request_state("vm1", 4, vec![]).await.unwrap();
    assert_eq!(rc(&r), 4096);
    let job = job_of(&r);
    wait_job_state(&a, &job, 7).await;
    assert_eq!(
        a.associators(&job, "OwningJobElement", None).await,
        vec![a.vsms()]
    );
    assert!(a
        .associators(&a.vsms(), "OwningJobElement", None)
        .await
        .contains(&job));
    assert_eq!(
        a.associators(&job, "AffectedJobElement", None).await,
        vec![a.ctx.system_path("vm1")]
    );
    let id = job.key_str("InstanceID").unwrap().to_string();
    assert_eq!(
        published(&a, "ConcreteJobCreatedIndication", "InstanceID", &id).len(),
        1
    );

    // A finished job takes no requests; bad values and time limits are
    // refused with their own codes; an unknown job is not found.
    assert_eq!(job_rsc(&a, &job, requested(4)).await, 4097);
    assert_eq!(job_rsc(&a, &job, requested(7)).await, 5);
    let mut timed = requested(4);
    timed.push(CimParamValue::new(
        "TimeoutPeriod",
        CimDateTime::interval(Duration::from_secs(5)),
    ));
    assert_eq!(job_rsc(&a, &job, timed).await, 4098);
    let ghost = vine_providers_virt::jobs::job_path(&a.ctx, "KVM:Job:0-0");
    let err = a
        .client
        .invoke_method(
            MethodTarget::Instance(ghost),
            "RequestStateChange",
            requested(4),
        )
        .await
        .unwrap_err();
    assert_eq!(err.cim_status(), Some(CimStatus::NotFound), "{err}");

    // A job that stops at checkpoints: Start is no transition, Suspend is
    // not supported, Kill is not offered; Terminate stops it (8).
    let owner = a.vsms();
    let spec = JobSpec::new("wait for a while", owner.clone()).control(JobControl {
        terminate: true,
        kill: false,
    });
    let waiting = a.ctx.jobs.spawn(&a.ctx, spec, |h| async move {
        loop {
            h.checkpoint()?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert_eq!(job_state(&a, &waiting).await, 4);
    assert_eq!(job_rsc(&a, &waiting, requested(2)).await, 4097);
    assert_eq!(job_rsc(&a, &waiting, requested(3)).await, 1);
    assert_eq!(job_rsc(&a, &waiting, requested(5)).await, 1);
    assert_eq!(job_rsc(&a, &waiting, requested(4)).await, 4096);
    wait_job_state(&a, &waiting, 8).await;
    assert_eq!(
        a.get(&waiting).await.unwrap().get_str("JobStatus"),
        Some("Terminated at a client's request")
    );

    // Killable work that never reaches a checkpoint is dropped at once
    // (9); a job that offers neither answers 1 to both.
    let spec = JobSpec::new("sleep", owner.clone()).control(JobControl {
        terminate: false,
        kill: true,
    });
    let sleeper = a.ctx.jobs.spawn(&a.ctx, spec, |_| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    });
    assert_eq!(job_rsc(&a, &sleeper, requested(4)).await, 1);
    assert_eq!(job_rsc(&a, &sleeper, requested(5)).await, 0);
    assert_eq!(job_state(&a, &sleeper).await, 9);
    let stubborn = a.ctx.jobs.spawn(
        &a.ctx,
        JobSpec::new("stubborn", owner.clone()),
        |_| async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(())
        },
    );
    assert_eq!(job_rsc(&a, &stubborn, requested(4)).await, 1);
    assert_eq!(job_rsc(&a, &stubborn, requested(5)).await, 1);
    wait_job_state(&a, &stubborn, 7).await;

    // GetErrors: the failure as an embedded CIM_Error; none for a job
    // that completed.
    let failing = a
        .ctx
        .jobs
        .spawn(&a.ctx, JobSpec::new("fail", owner), |_| async move {
            Err(vine_cim::CimError::invalid_parameter("disk vdz is missing"))
        });
    wait_job_state(&a, &failing, 10).await;
    let r = a
        .client
        .invoke_method(MethodTarget::Instance(failing.clone()), "GetErrors", vec![])
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let CimValue::Array(errors) = out(&r, "Errors") else {
        panic!("Errors is not an array")
    };
    assert_eq!(errors.len(), 1);
    let e = match &errors[0] {
        CimValue::Instance(i) => (**i).clone(),
        CimValue::String(s) => panic!("a string, not an instance: {s}"),
        other => panic!("{other:?}"),
    };
    assert_eq!(e.get_str("Message"), Some("disk vdz is missing"));
    assert_eq!(e.get("CIMStatusCode"), Some(&CimValue::Uint32(4)));
    let r = a
        .client
        .invoke_method(MethodTarget::Instance(job.clone()), "GetErrors", vec![])
        .await
        .unwrap();
    assert_eq!(out(&r, "Errors"), &CimValue::Array(vec![]));

    // Deleting a finished job announces it.
    a.client
        .delete_instance(vine_providers_virt::VIRT_NS, &job)
        .await
        .unwrap();
    assert_eq!(
        published(&a, "ConcreteJobDeletedIndication", "InstanceID", &id).len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_changed_and_removed_resources_are_announced() {
    let h = host("rasd-ind");
    let a = agent(h.hv.clone(), "KVM", "rasd-ind").await;
    define_small(&a, "vm2").await;
    let disk = h.pool.join("vm2-data.img").display().to_string();
    let r = a
        .vsms_call(
            "AddResourceSettings",
            vec![
                CimParamValue::new(
                    "AffectedConfiguration",
                    CimValue::Reference(Box::new(a.ctx.vssd_path("vm2"))),
                ),
                CimParamValue::new(
                    "ResourceSettings",
                    CimValue::Array(vec![disk_rasd("KVM", "vdb", &disk).into()]),
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let created = published(
        &a,
        "ResourceAllocationSettingDataCreatedIndication",
        "InstanceID",
        "vm2/vdb",
    );
    assert_eq!(created.len(), 1);
    let CimValue::Instance(src) = created[0].get("SourceInstance").unwrap() else {
        unreachable!()
    };
    assert_eq!(src.get_str("Address"), Some(disk.as_str()));
    assert!(created[0]
        .get_str("SourceInstanceModelPath")
        .is_some_and(|p| p.contains("KVM_DiskResourceAllocationSettingData")));

    let r = a
        .vsms_call(
            "ModifyResourceSettings",
            vec![CimParamValue::new(
                "ResourceSettings",
                CimValue::Array(vec![CimInstance::new(
                    "KVM_MemResourceAllocationSettingData",
                )
                .with("InstanceID", "vm2/mem")
                .with("VirtualQuantity", 384u64)
                .with("AllocationUnits", "byte*2^20")
                .into()]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let modified = published(
        &a,
        "ResourceAllocationSettingDataModifiedIndication",
        "InstanceID",
        "vm2/mem",
    );
    assert_eq!(modified.len(), 1);
    let (CimValue::Instance(now), Some(CimValue::Instance(before))) = (
        modified[0].get("SourceInstance").unwrap(),
        modified[0].get("PreviousInstance"),
    ) else {
        panic!("{:?}", modified[0])
    };
    assert_eq!(u64_of(before, "VirtualQuantity"), 256 * 1024);
    assert_eq!(u64_of(now, "VirtualQuantity"), 384 * 1024);

    let added = instance_id_path("KVM_DiskResourceAllocationSettingData", "vm2/vdb");
    let r = a
        .vsms_call(
            "RemoveResourceSettings",
            vec![CimParamValue::new(
                "ResourceSettings",
                CimValue::Array(vec![CimValue::Reference(Box::new(added))]),
            )],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 0);
    let deleted = published(
        &a,
        "ResourceAllocationSettingDataDeletedIndication",
        "InstanceID",
        "vm2/vdb",
    );
    assert_eq!(deleted.len(), 1);
}
