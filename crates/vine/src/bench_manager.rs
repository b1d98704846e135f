//! `vine bench manager`: a manager over many agents, measured.
//!
//! 1. A child process (`vine bench agent-farm`, hidden) serves N agents,
//!    each on its own libvirt test-driver host with M running VMs and its
//!    own loopback port, so the manager's memory is read apart from theirs.
//! 2. In this process a manager starts on them: the first full inventory
//!    resync (part of start-up) and a second, warm one are timed; its
//!    resident memory is read once both are done.
//! 3. `GET /api/v1/vms` (every VM, JSON) is timed over REST, and so is the
//!    real `vine vm ls` command (process start, request, table).
//! 4. K `vm.create` jobs are submitted through REST at once and followed to
//!    the end: jobs/s from first submit to last success, and each POST's
//!    latency (the checks before a job is stored, while earlier jobs run).
//! 5. With `--serve`, the manager and agents keep running afterwards and
//!    the console's URL and password are printed: how the console copes
//!    with 1,000 hosts is measured against it (`console_e2e`'s
//!    `console_speed_with_a_big_inventory`).

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use vine_console::ApiClient;
use vine_coordinator::metrics::MetricsConfig;
use vine_hypervisor::testhost::{self, TestHostSpec};
use vine_wbem::auth;
use vine_wbem::client::TlsVerify;

use crate::agent::{self, AgentArgs};
use crate::bench::PASSWORD;
use crate::config::{ServeArgs, ServeConfig};
use crate::manager::{self, ManagerOptions};
use crate::serve::{shutdown_signal, IndicationArgs};

/// Flags of `vine bench manager`.
#[derive(Debug, clap::Args)]
pub struct ManagerBenchArgs {
    /// Simulated hosts (agents)
    #[arg(long, default_value_t = 1000)]
    hosts: u32,
    /// Running VMs per host
    #[arg(long, default_value_t = 20)]
    vms_per_host: u32,
    /// VMs created through the API for the throughput figure
    #[arg(long, default_value_t = 200)]
    creates: u32,
    /// Timed `GET /api/v1/vms` requests
    #[arg(long, default_value_t = 20)]
    lists: u32,
    /// Seconds between the manager's metrics rounds; 0 (the default) keeps
    /// the collector off, as its load would be part of every figure
    #[arg(long, default_value_t = 0, value_name = "SECS")]
    metrics_interval: u64,
    /// After the figures, keep the manager and agents serving (console URL
    /// and password printed) until Ctrl-C
    #[arg(long)]
    serve: bool,
}

/// Flags of the hidden `vine bench agent-farm`.
#[derive(Debug, clap::Args)]
pub struct FarmArgs {
    #[arg(long)]
    hosts: u32,
    #[arg(long)]
    vms_per_host: u32,
    /// Where host files and agent state go
    #[arg(long)]
    dir: PathBuf,
    /// Seconds between the agents' resource-monitor samples
    #[arg(long, default_value_t = 3600)]
    monitor_secs: u64,
}

/// Serves `hosts` agents in this process, prints `agent NAME URL` for each
/// and then `ready`, and runs until killed.
pub async fn farm(a: FarmArgs) -> Result<()> {
    let hosts_dir = a.dir.join("hosts");
    std::fs::create_dir_all(&hosts_dir)?;
    // argon2 is slow on purpose: hash the password once and give every
    // agent a copy of the users file.
    let template = a.dir.join("users-template");
    auth::bootstrap_admin_with(&template, Some(PASSWORD.into()))
        .context("creating the agents' admin user")?;
    let users = std::fs::read(template.join("users.toml")).context("reading the users file")?;
    let (_tx, rx) = watch::channel(false);
    let mut out = std::io::stdout().lock();
    let mut running = Vec::new();
    for i in 1..=a.hosts {
        let name = format!("host-{i}");
        let file = hosts_dir.join(format!("{name}.xml"));
        let spec = TestHostSpec::new(
            &name,
            64,
            256 * 1024,
            hosts_dir.join(format!("{name}-images")),
        )
        .with_sample_vms(a.vms_per_host);
        testhost::write_host_file(&file, &spec)?;
        let state = a.dir.join("agents").join(&name);
        std::fs::create_dir_all(&state)?;
        std::fs::write(state.join("users.toml"), &users)?;
        let agent = agent::start(
            AgentArgs {
                libvirt_uri: Some(testhost::host_uri(&file)),
                test_host: None,
                class_prefix: None,
                serve: ServeArgs {
                    http: Some("127.0.0.1:0".into()),
                    https: Some("off".into()),
                    state_dir: Some(state),
                    host_name: Some(name.clone()),
                    ..Default::default()
                },
                config: None,
                peer_login: Default::default(),
                indications: IndicationArgs {
                    indication_retries: 1,
                    indication_retry_interval: 5,
                    indication_ca: None,
                    indication_insecure: false,
                },
                peers: Vec::new(),
                synthetic_load: None,
                // The monitor is not what is measured; quiet unless the
                // manager's metrics history is wanted.
                monitor_interval: Some(Duration::from_secs(a.monitor_secs.max(1))),
            },
            rx.clone(),
        )
        .await
        .with_context(|| format!("starting agent {name}"))?;
        let addr = agent.http.context("agent without an HTTP address")?;
        writeln!(out, "agent {name} http://{addr}")?;
        running.push(agent);
    }
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    std::future::pending::<()>().await;
    Ok(())
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and p99 of `lat`, in ms.
fn percentiles(lat: &mut [Duration]) -> (f64, f64) {
    lat.sort();
    let at = |p: f64| {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len().max(1)) - 1;
        lat.get(i).map_or(0.0, |d| ms(*d))
    };
    (at(0.50), at(0.99))
}

/// Runs the benchmark and prints its figures.
pub async fn run(a: ManagerBenchArgs) -> Result<()> {
    if a.hosts == 0 {
        bail!("--hosts must be at least 1");
    }
    let dir = std::env::temp_dir().join(format!("vine-bench-manager-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let _cleanup = scopeguard(dir.clone());
    println!(
        "vine bench manager: {} hosts × {} VMs = {} VMs (agents in one child process)",
        a.hosts,
        a.vms_per_host,
        u64::from(a.hosts) * u64::from(a.vms_per_host)
    );

    // 1. The agents.
    let t = Instant::now();
    let exe = std::env::current_exe().context("locating the vine binary")?;
    let mut farm = tokio::process::Command::new(&exe)
        .args(["bench", "agent-farm", "--hosts"])
        .arg(a.hosts.to_string())
        .arg("--vms-per-host")
        .arg(a.vms_per_host.to_string())
        .arg("--dir")
        .arg(dir.join("farm"))
        // Samples every 30 s when the manager charts them: CPU needs two.
        .arg("--monitor-secs")
        .arg(if a.metrics_interval > 0 { "30" } else { "3600" })
        .env("VINE_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting the agent farm")?;
    let mut lines = BufReader::new(farm.stdout.take().context("no stdout")?).lines();
    let mut agents = Vec::new();
    while let Some(l) = lines.next_line().await? {
        if l == "ready" {
            break;
        }
        if let Some(rest) = l.strip_prefix("agent ") {
            if let Some((n, u)) = rest.split_once(' ') {
                agents.push((n.to_string(), u.to_string()));
            }
        }
    }
    if agents.len() != a.hosts as usize {
        bail!("the agent farm stopped after {} agents", agents.len());
    }
    println!(
        "agents up                   {:>9.1} s",
        t.elapsed().as_secs_f64()
    );

    // 2. The manager, whose start includes the first full resync.
    let state = dir.join("manager");
    let serve = ServeConfig::resolve(
        ServeArgs {
            http: Some("127.0.0.1:0".into()),
            https: Some("off".into()),
            state_dir: Some(state.clone()),
            ..Default::default()
        },
        "127.0.0.1:0",
        "off",
    )?;
    std::env::set_var("VINE_ADMIN_PASSWORD", PASSWORD);
    let (tx, rx) = watch::channel(false);
    let rss_before = rss_kib().unwrap_or(0);
    let t = Instant::now();
    let m = manager::start(
        ManagerOptions {
            serve,
            api: "127.0.0.1:0".parse()?,
            agents,
            agent_user: "admin".into(),
            agent_password: PASSWORD.into(),
            resync: Duration::from_secs(24 * 3600),
            lb: None,
            policy: Default::default(),
            metrics: (a.metrics_interval > 0)
                .then(|| MetricsConfig::every(Duration::from_secs(a.metrics_interval))),
            power: Default::default(),
        },
        rx,
    )
    .await?;
    let first = t.elapsed();
    let vms = m.inventory.vm_count()?;
    println!(
        "first resync (at start)     {:>9.1} s   {vms} VMs in the inventory",
        first.as_secs_f64()
    );
    let t = Instant::now();
    let results = m.inventory.resync_all(64).await?;
    let warm = t.elapsed();
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    println!(
        "full resync (warm, 64 at once) {:>6.1} s   {failed} hosts failed",
        warm.as_secs_f64()
    );
    let rss = rss_kib().unwrap_or(0);
    println!(
        "manager RSS                 {:>9.1} MiB (process {:.1} MiB before the manager started)",
        rss as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );

    // 3. Listing every VM.
    let api = m.api.url();
    let client = ApiClient::new(&api, "admin", PASSWORD, TlsVerify::Insecure)?;
    let mut lat = Vec::new();
    let mut size = 0;
    for _ in 0..a.lists.max(1) {
        let t = Instant::now();
        let v: Vec<Value> = client.get("/vms").await?;
        lat.push(t.elapsed());
        size = v.len();
    }
    let (p50, p99) = percentiles(&mut lat);
    println!("GET /api/v1/vms ({size} VMs)  p50 {p50:>7.1} ms   p99 {p99:>7.1} ms");
    let mut lat = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let out = tokio::process::Command::new(&exe)
            .args(["vm", "ls", "--insecure", "--api", &api, "--user", "admin"])
            .env("VINE_PASSWORD", PASSWORD)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await?;
        if !out.status.success() {
            bail!(
                "vine vm ls failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        lat.push(t.elapsed());
    }
    let (p50, p99) = percentiles(&mut lat);
    println!("`vine vm ls` (whole command) p50 {p50:>7.1} ms   p99 {p99:>7.1} ms");

    // 4. Create throughput.
    let t = Instant::now();
    let mut jobs = Vec::new();
    let mut post_lat = Vec::new();
    for i in 0..a.creates {
        let one = Instant::now();
        let r = client
            .post(
                "/vms",
                &json!({"template": {"name": format!("bench-{i}"), "vcpus": 1, "memory_mib": 256}}),
            )
            .await?;
        post_lat.push(one.elapsed());
        jobs.push(r["job"].as_str().unwrap_or_default().to_string());
    }
    let submitted = t.elapsed();
    let mut failed = 0;
    for j in &jobs {
        loop {
            let job: Value = client.get(&format!("/jobs/{j}")).await?;
            match job["state"].as_str() {
                Some("succeeded") => break,
                Some("failed") | Some("cancelled") => {
                    failed += 1;
                    break;
                }
                _ => {
                    let rev = job["revision"].as_u64().unwrap_or(0);
                    let _: Value = client.get(&format!("/jobs/{j}?wait={rev}")).await?;
                }
            }
        }
    }
    let all = t.elapsed();
    println!(
        "vm.create jobs              {:>9.1} jobs/s ({} jobs, {failed} failed; submitting took {:.1} ms)",
        f64::from(a.creates) / all.as_secs_f64(),
        a.creates,
        ms(submitted)
    );
    let (p50, p99) = percentiles(&mut post_lat);
    println!("POST /api/v1/vms (while jobs run) p50 {p50:>7.1} ms   p99 {p99:>7.1} ms");
    if a.serve {
        m.print_urls();
        println!("user: admin  password: {PASSWORD}");
        println!("serving until Ctrl-C");
        shutdown_signal().await;
    }
    let _ = tx.send(true);
    m.wait().await;
    drop(farm);
    Ok(())
}

/// Removes the benchmark's directory however `run` ends.
fn scopeguard(dir: PathBuf) -> impl Drop {
    struct Guard(PathBuf);
    impl Drop for Guard {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    Guard(dir)
}
