//! `vine up` as a user runs it: a real process with agents on test-driver
//! hosts. The manager's REST API is read with curl (a third-party client),
//! agents are driven through the Virtual Node Interface, and the state
//! survives a restart.

mod up_support;

use std::time::Duration;

use up_support::{vine_up, Up};
use vine_coordinator::vni::{AgentConn, RequestedState, VmState, VmTemplate};
use vine_wbem::client::{ClientConfig, TlsVerify};

/// Starts `vine up` with 2 hosts of 2 VMs.
fn start(dir: &std::path::Path) -> Up {
    vine_up(dir, 2, 2, &[])
}

fn vm_names(up: &Up) -> Vec<String> {
    let mut v: Vec<String> = up
        .get("/vms")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vine_up_serves_the_pool_and_keeps_it_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let up = start(dir.path());
    let hosts = up.get("/hosts");
    let hosts = hosts.as_array().unwrap();
    assert_eq!(hosts.len(), 2);
    assert!(
        hosts
            .iter()
            .all(|h| h["health"] == "Up" && h["prefix"] == "KVM"),
        "{hosts:?}"
    );
    assert_eq!(
        vm_names(&up),
        ["host-1-vm1", "host-1-vm2", "host-2-vm1", "host-2-vm2"]
    );

    // Through the Virtual Node Interface, as the manager acts on hosts.
    let (_, url) = &up.agents[0];
    let agent = AgentConn::new(&ClientConfig {
        url: url.clone(),
        user: "admin".into(),
        password: up.password.clone(),
        tls: TlsVerify::Insecure,
        timeout: Duration::from_secs(30),
    })
    .unwrap();
    let host = agent.host().await.unwrap();
    assert_eq!(
        (host.name.as_str(), host.prefix.as_str()),
        ("host-1", "KVM")
    );
    agent
        .define_vm(&VmTemplate {
            name: "web-1".into(),
            vcpus: 2,
            memory_mib: 1024,
            disks: vec![],
            nics: vec![],
        })
        .await
        .unwrap();
    agent
        .request_state("web-1", RequestedState::Start)
        .await
        .unwrap();
    // Virtualizing down: shrink the running VM within what it was given.
    agent.resize("web-1", Some(1), Some(768)).await.unwrap();
    // Growing past its maximum is refused with a reason.
    let err = agent.resize("web-1", Some(3), None).await.unwrap_err();
    assert!(err.to_string().contains("at most 2"), "{err}");
    let vm = agent
        .vms()
        .await
        .unwrap()
        .into_iter()
        .find(|v| v.name == "web-1")
        .expect("the new VM is listed");
    assert_eq!(vm.state, VmState::Running);
    assert_eq!((vm.vcpus, vm.memory_mib), (Some(1), Some(768)));
    let err = agent
        .request_state("no-such-vm", RequestedState::Start)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no-such-vm"), "{err}");
    agent
        .request_state("web-1", RequestedState::Pause)
        .await
        .unwrap();
    up.stop();

    // Restarted on the same state directory: same hosts, the new VM is
    // still there, paused, with its new size.
    let up = start(dir.path());
    assert_eq!(
        vm_names(&up),
        [
            "host-1-vm1",
            "host-1-vm2",
            "host-2-vm1",
            "host-2-vm2",
            "web-1"
        ]
    );
    let vm = up.get("/vms/web-1");
    assert_eq!(vm["host"], "host-1");
    assert_eq!(vm["vcpus"], 1);
    assert_eq!(vm["memory_mib"], 768);
    assert_eq!(vm["state"], "Paused");
    up.stop();
}
