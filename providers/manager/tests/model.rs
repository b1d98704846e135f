//! The manager's root/vine model over real CIM-XML: two agents on libvirt
//! test-driver hosts, a manager resynced from them, and a client that reads
//! the data centre, follows references to the agents and drives virtual
//! servers and jobs through the CIM methods.

mod support;

use std::collections::HashSet;

use vine_cim::{CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_providers_manager::{paths, VINE_NS};
use vine_providers_virt::VIRT_NS;
use vine_wbem::client::{AssocArgs, EnumArgs};
use vine_wbem::interop::INTEROP_NS;

use support::*;

const DC: &str = "dc-test";

async fn two_hosts(run_jobs: bool) -> Manager {
    let a = agent("host-a", 2).await;
    let b = agent("host-b", 1).await;
    manager(DC, vec![a, b], run_jobs).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_centre_hosts_pools_and_vms_on_their_agents() {
    let m = two_hosts(false).await;

    let dcs = m.enumerate(paths::DATACENTER).await;
    assert_eq!(dcs.len(), 1);
    let dc = &dcs[0];
    assert_eq!(dc.get_str("Name"), Some(DC));
    assert_eq!(uint(dc, "Hosts"), 2);
    assert_eq!(uint(dc, "HostsUp"), 2);
    assert_eq!(uint(dc, "VirtualMachines"), 3);

    let hosts = m.enumerate(paths::HOST).await;
    assert_eq!(hosts.len(), 2);
    let a = hosts
        .iter()
        .find(|h| h.get_str("Name") == Some("host-a"))
        .expect("host-a is a VINE_Host");
    assert_eq!(a.get_str("AgentURL"), Some(m.agent("host-a").url.as_str()));
    assert_eq!(a.get_str("ClassPrefix"), Some(PREFIX));
    assert_eq!(uint(a, "NumberOfProcessors"), 8);
    assert_eq!(uint(a, "MemoryMiB"), 16 * 1024);
    assert_eq!(uint(a, "VirtualMachines"), 2);
    assert_eq!(uint(a, "HealthState"), 5);

    // The VMs of host-a are references to its agent's KVM_ComputerSystem,
    // and the agent answers for each of them.
    let host_a = paths::host("host-a");
    let vms = m.associator_names(&host_a, "VINE_HostedVirtualNode").await;
    assert_eq!(vms.len(), 2, "{vms:#?}");
    let agent_a = m.agent("host-a");
    let authority = agent_a.url.trim_start_matches("http://");
    for vm in &vms {
        assert_eq!(vm.class_name.as_str(), "KVM_ComputerSystem");
        assert_eq!(vm.host.as_deref(), Some(authority));
        assert_eq!(vm.namespace.as_deref(), Some(VIRT_NS));
        let on_agent = agent_a
            .client
            .get_instance(VIRT_NS, vm, &EnumArgs::default())
            .await
            .unwrap_or_else(|e| panic!("the agent does not know {vm}: {e}"));
        assert_eq!(on_agent.get("EnabledState"), Some(&CimValue::Uint16(2)));
    }

    // Associators (instances) from a host: the local ends come back, the
    // VMs on the agent are left to AssociatorNames instead of failing.
    let near = m
        .client
        .associators(
            VINE_NS,
            &host_a,
            &AssocArgs::default(),
            &EnumArgs::default(),
        )
        .await
        .unwrap();
    let classes: HashSet<String> = near
        .iter()
        .map(|i| i.class_name.as_str().to_string())
        .collect();
    assert!(classes.contains(paths::DATACENTER), "{classes:?}");
    assert!(classes.contains(paths::POOL), "{classes:?}");

    // Pools: the data centre is the sum of its hosts, each host its own.
    let pools = m.enumerate(paths::POOL).await;
    let pool = |id: &str| {
        pools
            .iter()
            .find(|p| p.get_str("InstanceID") == Some(id))
            .unwrap_or_else(|| panic!("no pool {id} in {pools:#?}"))
    };
    assert_eq!(uint(pool("datacenter/Processor"), "Capacity"), 16);
    assert_eq!(uint(pool("datacenter/Memory"), "Capacity"), 32 * 1024);
    assert_eq!(uint(pool("datacenter/Processor"), "Reserved"), 3);
    assert_eq!(uint(pool("host/host-b/Memory"), "Capacity"), 16 * 1024);
    assert_eq!(uint(pool("host/host-b/Memory"), "ResourceType"), 4);
    let hosting = m
        .associator_names(
            &vine_providers_manager::pools::pool_path(
                "host/host-b",
                vine_providers_manager::pools::Resource::Memory,
            ),
            "VINE_HostedResourcePool",
        )
        .await;
    assert_eq!(hosting, vec![paths::host("host-b")]);

    // The profiles lead to their central instances.
    let conforming = m
        .client
        .associator_names(
            INTEROP_NS,
            &CimInstanceName::new("CIM_RegisteredProfile").with_key(
                "InstanceID",
                vine_providers_manager::install::PROFILE_DATA_CENTER,
            ),
            &AssocArgs {
                assoc_class: Some("CIM_ElementConformsToProfile".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(
        conforming
            .iter()
            .any(|p| p.same_object(&paths::datacenter(DC))),
        "{conforming:#?}"
    );
}

fn create_params(name: &str, nodes: u32) -> Vec<CimParamValue> {
    vec![
        CimParamValue::new("Name", name),
        CimParamValue::new("Nodes", nodes),
        CimParamValue::new("VCPUs", 1u32),
        CimParamValue::new("MemoryMiB", 128u64),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_right_cim_errors_and_store_nothing() {
    let m = two_hosts(false).await;
    let svc = m.service(DC);

    let mut bad_nodes = create_params("web", 0);
    let e = m
        .call(&svc, "CreateVirtualServer", bad_nodes.clone())
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::InvalidParameter, "{e}");
    assert!(e.to_string().contains("at least 1 node"), "{e}");

    let e = m
        .call(&svc, "CreateVirtualServer", create_params("9lives", 1))
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::InvalidParameter, "{e}");

    bad_nodes = create_params("web", 1);
    bad_nodes.push(CimParamValue::new("PoolID", "no-such-pool"));
    let e = m
        .call(&svc, "CreateVirtualServer", bad_nodes)
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound, "{e}");

    let mut missing = create_params("web", 1);
    missing.retain(|p| !p.name.matches("VCPUs"));
    let e = m
        .call(&svc, "CreateVirtualServer", missing)
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::InvalidParameter, "{e}");

    let e = m
        .call(
            &svc,
            "ScaleVirtualServer",
            vec![
                CimParamValue::new("VirtualServer", paths::virtual_server("ghost")),
                CimParamValue::new("Nodes", 2u32),
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound, "{e}");

    let other_service = paths::service("another-dc");
    let e = m
        .call(
            &other_service,
            "CreateVirtualServer",
            create_params("web", 1),
        )
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound, "{e}");

    assert!(m.enumerate(paths::VIRTUAL_SERVER).await.is_empty());
    assert!(m.enumerate(paths::JOB).await.is_empty());

    // A taken name: the first create is stored (its job stays queued, the
    // engine is not running here), the second is refused.
    let r = m
        .call(&svc, "CreateVirtualServer", create_params("web", 1))
        .await
        .unwrap();
    assert_eq!(rc(&r), 4096);
    let e = m
        .call(&svc, "CreateVirtualServer", create_params("web", 1))
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::AlreadyExists, "{e}");

    // Terminate a queued job: it is cancelled at once (0), and asking
    // again is an invalid transition (4097).
    let job = out_ref(&r, "Job");
    let j = m.get(&job).await.unwrap();
    assert_eq!(j.get("JobState"), Some(&CimValue::Uint16(2)));
    let stop = vec![CimParamValue::new("RequestedState", 4u16)];
    assert_eq!(
        rc(&m
            .call(&job, "RequestStateChange", stop.clone())
            .await
            .unwrap()),
        0
    );
    let j = m.get(&job).await.unwrap();
    assert_eq!(j.get("JobState"), Some(&CimValue::Uint16(8)));
    assert_eq!(
        rc(&m.call(&job, "RequestStateChange", stop).await.unwrap()),
        4097
    );
    let suspend = vec![CimParamValue::new("RequestedState", 3u16)];
    assert_eq!(
        rc(&m.call(&job, "RequestStateChange", suspend).await.unwrap()),
        1
    );

    let e = m
        .get(&paths::job("job-0000000000000-00000000"))
        .await
        .unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_virtual_server_is_created_scaled_and_deleted_through_cim() {
    let m = two_hosts(true).await;
    let svc = m.service(DC);

    let r = m
        .call(&svc, "CreateVirtualServer", create_params("web", 2))
        .await
        .unwrap();
    assert_eq!(rc(&r), 4096, "{r:?}");
    let vs = out_ref(&r, "VirtualServer");
    assert!(vs.same_object(&paths::virtual_server("web")));
    let job = out_ref(&r, "Job");
    let done = m.wait_job(&job).await;
    assert_eq!(
        done.get("JobState"),
        Some(&CimValue::Uint16(7)),
        "vs.create did not complete: {done:#?}"
    );
    assert_eq!(uint(&done, "PercentComplete"), 100);
    assert_eq!(done.get_str("Name"), Some("vs.create"));
    assert_eq!(done.get_str("Owner"), Some(USER));

    let web = m.get(&vs).await.unwrap();
    assert_eq!(uint(&web, "DesiredNodes"), 2);
    assert_eq!(uint(&web, "ActualNodes"), 2);
    assert_eq!(uint(&web, "NodeVCPUs"), 1);
    assert!(
        web.get_str("FrontEnd").is_some_and(|f| f.contains(':')),
        "{web:#?}"
    );

    // Its nodes are VMs on the agents, one per host (anti-affinity), and
    // each agent answers for its node.
    let nodes = m.associator_names(&vs, "VINE_VirtualNode").await;
    assert_eq!(nodes.len(), 2, "{nodes:#?}");
    let mut on_hosts = HashSet::new();
    for n in &nodes {
        let agent = m
            .agents
            .iter()
            .find(|a| Some(a.url.trim_start_matches("http://")) == n.host.as_deref())
            .unwrap_or_else(|| panic!("{n} is on no agent"));
        on_hosts.insert(agent.name.clone());
        agent
            .client
            .get_instance(VIRT_NS, n, &EnumArgs::default())
            .await
            .unwrap_or_else(|e| panic!("{} does not know node {n}: {e}", agent.name));
    }
    assert_eq!(on_hosts.len(), 2);

    // The job is tied to the virtual server and owned by the service.
    let affected = m.associator_names(&job, "VINE_AffectedJobElement").await;
    assert!(affected.iter().any(|a| a.same_object(&vs)), "{affected:#?}");
    let owner = m.associator_names(&job, "VINE_OwningJobElement").await;
    assert!(owner.iter().any(|o| o.same_object(&svc)), "{owner:#?}");

    // Scale down to one node.
    let r = m
        .call(
            &svc,
            "ScaleVirtualServer",
            vec![
                CimParamValue::new("VirtualServer", vs.clone()),
                CimParamValue::new("Nodes", 1u32),
            ],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 4096);
    let done = m.wait_job(&out_ref(&r, "Job")).await;
    assert_eq!(
        done.get("JobState"),
        Some(&CimValue::Uint16(7)),
        "{done:#?}"
    );
    let web = m.get(&vs).await.unwrap();
    assert_eq!(uint(&web, "ActualNodes"), 1);
    assert_eq!(m.associator_names(&vs, "VINE_VirtualNode").await.len(), 1);

    // Delete: the virtual server goes, and so do its nodes on the agents.
    let r = m
        .call(
            &svc,
            "DeleteVirtualServer",
            vec![CimParamValue::new("VirtualServer", vs.clone())],
        )
        .await
        .unwrap();
    assert_eq!(rc(&r), 4096);
    let done = m.wait_job(&out_ref(&r, "Job")).await;
    assert_eq!(
        done.get("JobState"),
        Some(&CimValue::Uint16(7)),
        "{done:#?}"
    );
    let e = m.get(&vs).await.unwrap_err();
    assert_eq!(status(&e), CimStatus::NotFound);
    for a in &m.agents {
        let names: Vec<String> = a
            .client
            .enumerate_instances(VIRT_NS, "KVM_ComputerSystem", &EnumArgs::default())
            .await
            .unwrap()
            .iter()
            .filter_map(|i| i.get_str("Name").map(str::to_string))
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with("web-")),
            "{} still has {names:?}",
            a.name
        );
    }

    // Every job stays visible, finished, with its times.
    let jobs = m.enumerate(paths::JOB).await;
    assert_eq!(jobs.len(), 3, "{jobs:#?}");
    for j in &jobs {
        assert_eq!(j.get("JobState"), Some(&CimValue::Uint16(7)));
        assert!(j.get("TimeSubmitted").is_some() && j.get("StartTime").is_some());
    }
    // A finished job cannot be terminated.
    let stop = vec![CimParamValue::new("RequestedState", 4u16)];
    assert_eq!(
        rc(&m.call(&job, "RequestStateChange", stop).await.unwrap()),
        4097
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_says_why_in_errordescription_and_get_errors() {
    let m = two_hosts(true).await;
    // A job whose VM does not exist fails in its first step.
    let id = m
        .coordinator
        .submit(
            "vm.power",
            &serde_json::json!({"vm": "ghost", "action": "start"}),
            Some("tester"),
            None,
        )
        .unwrap();
    let job = paths::job(id.as_str());
    let done = m.wait_job(&job).await;
    assert_eq!(
        done.get("JobState"),
        Some(&CimValue::Uint16(10)),
        "{done:#?}"
    );
    assert_eq!(uint(&done, "ErrorCode"), 1);
    let why = done
        .get_str("ErrorDescription")
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("ghost"), "{why}");
    assert_eq!(done.get_str("ElementName"), Some("vm.power ghost"));

    let r = m.call(&job, "GetErrors", vec![]).await.unwrap();
    assert_eq!(rc(&r), 0);
    let errors = match r.out_params.iter().find(|p| p.name.matches("Errors")) {
        Some(p) => p.value.clone(),
        None => panic!("no Errors in {r:?}"),
    };
    let Some(CimValue::Array(errors)) = errors else {
        panic!("Errors is not an array: {errors:?}");
    };
    assert_eq!(errors.len(), 1);
    let e = match &errors[0] {
        CimValue::Instance(i) => i.as_ref().clone(),
        CimValue::String(s) => panic!("Errors came back as text: {s}"),
        other => panic!("Errors holds {other:?}"),
    };
    assert_eq!(e.class_name.as_str(), "CIM_Error");
    assert_eq!(e.get_str("Message"), Some(why.as_str()));
    assert_eq!(uint(&e, "CIMStatusCode"), 1);
}
