//! Agents join a manager by themselves, and indications keep the manager's
//! inventory fresh: real `vine manager` and `vine agent` processes on
//! test-driver hosts, talking REST and CIM-XML over loopback.
//!
//! The manager starts with no `--agent` and a 600 s resync, so every host
//! it knows came from a registration, and every VM change it sees within
//! seconds came through an indication.

mod jobs_support;
mod up_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jobs_support::{free_port, inventory, vni, AgentSpec, Proc, PASSWORD};
use serde_json::Value;
use vine_console::ApiClient;
use vine_coordinator::vni::{AgentConn, VmTemplate};
use vine_wbem::client::{ClientConfig, EnumArgs, TlsVerify};

/// A manager with self-registration, and where its token and certificate are.
struct Joinable {
    _proc: Proc,
    api: ApiClient,
    api_url: String,
    wbem: String,
    token_file: PathBuf,
    ca_file: PathBuf,
    join_line: String,
}

/// Reads stdout lines until every prefix was seen; keeps draining after.
fn lines_with(child: &mut std::process::Child, prefixes: &[&str]) -> Vec<String> {
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut found: Vec<Option<String>> = vec![None; prefixes.len()];
    let mut line = String::new();
    while found.iter().any(Option::is_none) {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("the process exited before printing {prefixes:?}");
        }
        for (i, p) in prefixes.iter().enumerate() {
            if found[i].is_none() {
                if let Some(rest) = line.trim_end().strip_prefix(p) {
                    found[i] = Some(rest.to_string());
                }
            }
        }
    }
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    found.into_iter().flatten().collect()
}

fn start_manager(dir: &Path) -> Joinable {
    start_manager_on(dir, "127.0.0.1:0", None)
}

/// `vine manager` with its API on `api`; its join token from
/// `token_file`, else the one it generates.
fn start_manager_on(dir: &Path, api: &str, token_file: Option<&Path>) -> Joinable {
    let state = dir.join("manager");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vine"));
    cmd.arg("manager");
    if let Some(f) = token_file {
        cmd.arg("--join-token-file").arg(f);
    }
    let mut child = cmd
        .args(["--http", "127.0.0.1:0", "--https", "off", "--api", api])
        .args(["--resync-secs", "600", "--haproxy", "off"])
        // Nothing else that reads agents runs: what the manager learns
        // between registrations comes from indications.
        .args(["--policy-interval", "0", "--metrics-interval", "0"])
        .arg("--state-dir")
        .arg(&state)
        .env("VINE_ADMIN_PASSWORD", PASSWORD)
        .env("VINE_AGENT_PASSWORD", PASSWORD)
        .env("VINE_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vine runs");
    let got = lines_with(&mut child, &["api: ", "wbem: ", "join a host: "]);
    let api_url = got[0].trim_end_matches("/api/v1").to_string();
    let api = ApiClient::new(&api_url, "admin", PASSWORD, TlsVerify::Insecure).unwrap();
    Joinable {
        _proc: Proc { child },
        api,
        api_url,
        wbem: got[1].clone(),
        token_file: token_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| state.join("join-token")),
        ca_file: state.join("tls").join("cert.pem"),
        join_line: got[2].clone(),
    }
}

/// `vine agent` for `a` that joins `m` with the token in `token_file`.
fn agent_cmd(
    dir: &Path,
    a: &AgentSpec,
    m: &Joinable,
    token_file: &Path,
    labels: &[&str],
) -> Command {
    agent_cmd_for(dir, a, &m.api_url, Some(&m.ca_file), token_file, labels)
}

/// `vine agent` for `a` that joins the manager at `api_url`, checking its
/// certificate against `ca` (or not at all).
fn agent_cmd_for(
    dir: &Path,
    a: &AgentSpec,
    api_url: &str,
    ca: Option<&Path>,
    token_file: &Path,
    labels: &[&str],
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vine"));
    cmd.arg("agent")
        .arg("--test-host")
        .arg(dir.join(format!("{}.xml", a.name)))
        .args(["--http", &format!("127.0.0.1:{}", a.port), "--https", "off"])
        .arg("--state-dir")
        .arg(dir.join(format!("agent-{}", a.name)))
        .args(["--host-name", &a.name])
        .args(&a.extra)
        .args(["--manager", api_url])
        .arg("--join-token-file")
        .arg(token_file);
    match ca {
        Some(f) => cmd.arg("--manager-ca-file").arg(f),
        None => cmd.arg("--manager-insecure"),
    };
    for l in labels {
        cmd.args(["--label", l]);
    }
    cmd.env("VINE_ADMIN_PASSWORD", PASSWORD)
        .env("VINE_LOG", "warn");
    cmd
}

fn join(dir: &Path, a: &AgentSpec, m: &Joinable, labels: &[&str]) -> Proc {
    let mut child = agent_cmd(dir, a, m, &m.token_file, labels)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("vine runs");
    let url = lines_with(&mut child, &["wbem: "]).remove(0);
    assert_eq!(url, a.url());
    Proc { child }
}

/// Polls `f` every 50 ms until it gives `Some`; panics with `what` after `within`.
async fn until<T, F, Fut>(within: Duration, what: &str, mut f: F) -> (T, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let t = Instant::now();
    loop {
        if let Some(v) = f().await {
            return (v, t.elapsed());
        }
        assert!(t.elapsed() < within, "{what} within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn host(api: &ApiClient, name: &str) -> Option<Value> {
    let hosts: Vec<Value> = api.get("/hosts").await.ok()?;
    hosts.into_iter().find(|h| h["name"] == name)
}

async fn has_vm(api: &ApiClient, vm: &str, on: &str) -> bool {
    inventory(api)
        .await
        .contains(&(vm.to_string(), on.to_string()))
}

fn template(name: &str) -> VmTemplate {
    VmTemplate {
        name: name.into(),
        vcpus: 1,
        memory_mib: 256,
        disks: Vec::new(),
        nics: Vec::new(),
    }
}

/// An ExportIndication with a body that is not well-formed, sent as an
/// agent would (no credentials): the DSP0200 answer, not a 500.
fn post_broken_export(wbem: &str, query: &str) -> String {
    let addr = wbem.trim_start_matches("http://");
    let body = r#"<?xml version="1.0" encoding="utf-8"?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEEXPREQ></CIM>"#;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /cimom{query} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n\
         CIMExport: MethodRequest\r\nCIMExportMethod: ExportIndication\r\nCIMProtocolVersion: 1.0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_join_and_indications_keep_the_inventory_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let m = start_manager(d);
    assert!(
        m.join_line.contains("--join-token-file") && m.join_line.contains(&m.api_url),
        "the manager prints the join command: {}",
        m.join_line
    );
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(&m.token_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o600, "the generated join token is private");
    assert!(m.api.get::<Vec<Value>>("/hosts").await.unwrap().is_empty());

    // Two agents join with the token and their labels.
    let mut a = AgentSpec::new("join-a");
    a.extra = vec!["--wol-mac".into(), "52-54-00-0A-0B-0C".into()];
    let b = AgentSpec::new("join-b");
    let _pa = join(d, &a, &m, &["rack=r1", "gpu=yes"]);
    let pb = join(d, &b, &m, &["rack=r2"]);
    for (spec, rack) in [(&a, "r1"), (&b, "r2")] {
        let (h, took) = until(Duration::from_secs(15), "the agent joins", || async {
            host(&m.api, &spec.name)
                .await
                .filter(|h| h["health"] == "Up")
        })
        .await;
        assert_eq!(h["url"], spec.url());
        assert_eq!(h["labels"]["rack"], rack, "{h:#}");
        eprintln!("{} joined and is up after {took:?}", spec.name);
    }
    let ha = host(&m.api, &a.name).await.unwrap();
    assert_eq!(ha["labels"]["gpu"], "yes");
    // The MAC it is woken by came with the registration, as stored.
    assert_eq!(ha["mac"], "52:54:00:0a:0b:0c", "{ha:#}");

    // A wrong token: the agent stops and says why.
    let wrong = d.join("wrong-token");
    std::fs::write(&wrong, "not-the-token-at-all\n").unwrap();
    let c = AgentSpec::new("join-c");
    let mut child = agent_cmd(d, &c, &m, &wrong, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("an agent with a wrong token kept running");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let said = reader.join().unwrap();
    assert!(!status.success(), "a refused agent exits non-zero");
    assert!(
        said.contains("refused to register") && said.contains("wrong join token"),
        "the agent says why: {said}"
    );
    assert!(host(&m.api, &c.name).await.is_none());

    // A VM defined on an agent directly shows up in the manager: the
    // resync is 600 s away, so only an indication can have told it.
    let conn = vni(&a);
    conn.define_vm(&template("join-vm1")).await.unwrap();
    let (_, took) = until(
        Duration::from_secs(5),
        "the new VM reaches the manager",
        || async { has_vm(&m.api, "join-vm1", &a.name).await.then_some(()) },
    )
    .await;
    eprintln!("defined on the agent → in the manager's /vms after {took:?}");
    conn.destroy_vm("join-vm1").await.unwrap();
    let (_, took) = until(
        Duration::from_secs(5),
        "the deleted VM leaves the manager",
        || async { (!has_vm(&m.api, "join-vm1", &a.name).await).then_some(()) },
    )
    .await;
    eprintln!("destroyed on the agent → gone from the manager after {took:?}");

    // An export the manager cannot read gets the DSP0200 answer.
    let answer = post_broken_export(&m.wbem, "?host=join-a&key=x");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("cimerror: request-not-well-formed"),
        "{answer}"
    );

    // Agent b restarts on another port: it registers again and the
    // manager follows it there, indications included.
    pb.kill9();
    let b2 = AgentSpec {
        port: free_port(),
        ..b.clone()
    };
    let _pb2 = join(d, &b2, &m, &["rack=r2"]);
    let (h, took) = until(
        Duration::from_secs(15),
        "the manager follows the move",
        || async {
            host(&m.api, &b2.name)
                .await
                .filter(|h| h["url"] == b2.url() && h["health"] == "Up")
        },
    )
    .await;
    eprintln!("restarted agent followed after {took:?}: {}", h["url"]);
    let conn_b = vni(&b2);
    conn_b.define_vm(&template("join-vm2")).await.unwrap();
    until(
        Duration::from_secs(5),
        "the moved host's VM reaches the manager",
        || async { has_vm(&m.api, "join-vm2", &b2.name).await.then_some(()) },
    )
    .await;
    // One subscription of this manager on the agent, however often it
    // joined.
    let subs = conn_b
        .wbem()
        .enumerate_instances(
            "root/interop",
            "CIM_IndicationSubscription",
            &EnumArgs::default(),
        )
        .await
        .unwrap();
    assert_eq!(subs.len(), 1, "{subs:#?}");
}

/// `vine up` runs its agents in-process and lists them directly; the
/// manager subscribes to them all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vine_up_hosts_send_indications_too() {
    let dir = tempfile::tempdir().unwrap();
    let up = up_support::vine_up(
        dir.path(),
        1,
        0,
        &[
            "--resync-secs",
            "600",
            "--haproxy",
            "off",
            "--policy-interval",
            "0",
            "--metrics-interval",
            "0",
        ],
    );
    let api = ApiClient::new(&up.api, "admin", &up.password, TlsVerify::Insecure).unwrap();
    let (name, url) = up.agents[0].clone();
    let conn = AgentConn::new(&ClientConfig {
        url,
        user: "admin".into(),
        password: up.password.clone(),
        tls: TlsVerify::Insecure,
        timeout: Duration::from_secs(30),
    })
    .unwrap();
    // The manager subscribes in the background once it serves.
    until(
        Duration::from_secs(10),
        "the manager subscribes",
        || async {
            let subs = conn
                .wbem()
                .enumerate_instances(
                    "root/interop",
                    "CIM_IndicationSubscription",
                    &EnumArgs::default(),
                )
                .await
                .ok()?;
            (subs.len() == 1).then_some(())
        },
    )
    .await;
    conn.define_vm(&template("up-vm")).await.unwrap();
    let (_, took) = until(
        Duration::from_secs(5),
        "vine up's manager sees the VM",
        || async { has_vm(&api, "up-vm", &name).await.then_some(()) },
    )
    .await;
    eprintln!("vine up: defined on the agent → in /vms after {took:?}");
    up.stop();
}

/// An agent that starts before its manager keeps trying, and joins once
/// the manager is there (here with a token the operator chose).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_started_before_its_manager_joins_when_it_comes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = d.join("chosen-token");
    std::fs::write(&token, "a-token-the-operator-chose\n").unwrap();
    let api = format!("127.0.0.1:{}", free_port());
    let a = AgentSpec::new("early");
    let mut child = agent_cmd_for(d, &a, &format!("https://{api}"), None, &token, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(lines_with(&mut child, &["wbem: "]).remove(0), a.url());
    let _agent = Proc { child };
    // Let it fail at least once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let m = start_manager_on(d, &api, Some(&token));
    let (h, took) = until(Duration::from_secs(20), "the early agent joins", || async {
        host(&m.api, &a.name).await.filter(|h| h["health"] == "Up")
    })
    .await;
    assert_eq!(h["url"], a.url());
    eprintln!("the early agent joined {took:?} after the manager started");
}
