//! `vine up` as a user runs it: a real process with agents on test-driver
//! hosts. The manager's REST API is read with curl (a third-party client),
//! agents are driven through the Virtual Node Interface, and the state
//! survives a restart.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vine_coordinator::vni::{AgentConn, RequestedState, VmState, VmTemplate};
use vine_wbem::client::{ClientConfig, TlsVerify};

struct Up {
    child: Child,
    api: String,
    password: String,
    agents: Vec<(String, String)>,
}

impl Drop for Up {
    // A failing test must not leave vine up running (it holds the test's
    // stderr open, and its ports).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `vine up` and reads its announcement lines.
fn start(dir: &Path) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vine"))
        .args(["up", "--hosts", "2", "--vms-per-host", "2"])
        .args([
            "--http",
            "127.0.0.1:0",
            "--https",
            "off",
            "--api",
            "127.0.0.1:0",
        ])
        .arg("--state-dir")
        .arg(dir)
        .env("VINE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vine runs");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let (mut api, mut password, mut agents) = (String::new(), String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let line = line.trim_end();
        if let Some(a) = line.strip_prefix("api: ") {
            api = a.to_string();
        } else if let Some(p) = line.strip_prefix("user: admin  password: ") {
            password = p.to_string();
        } else if let Some(rest) = line.strip_prefix("agent ") {
            let (name, url) = rest.split_once(": ").unwrap();
            agents.push((name.to_string(), url.to_string()));
            if agents.len() == 2 {
                break;
            }
        }
    }
    // Keep reading what vine up prints later, as a terminal would.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    assert!(
        !api.is_empty() && !password.is_empty(),
        "vine up announced itself"
    );
    Up {
        child,
        api,
        password,
        agents,
    }
}

fn stop(mut up: Up) {
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(up.child.id() as i32, libc::SIGTERM);
    }
    let status = up.child.wait().unwrap();
    assert!(
        status.success(),
        "vine up exits cleanly on SIGTERM: {status}"
    );
}

fn curl(up: &Up, path: &str) -> serde_json::Value {
    let out = Command::new("curl")
        .args(["-sSk", "--fail-with-body", "-u"])
        .arg(format!("admin:{}", up.password))
        .arg(format!("{}{path}", up.api))
        .output()
        .expect("curl is installed by deploy/setup.sh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn vm_names(up: &Up) -> Vec<String> {
    let mut v: Vec<String> = curl(up, "/vms")
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
    let hosts = curl(&up, "/hosts");
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
    stop(up);

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
    let vm = curl(&up, "/vms/web-1");
    assert_eq!(vm["host"], "host-1");
    assert_eq!(vm["vcpus"], 1);
    assert_eq!(vm["memory_mib"], 768);
    assert_eq!(vm["state"], "Paused");
    stop(up);
}
