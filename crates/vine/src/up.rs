//! `vine up`: the embedded default. One process runs a manager and N
//! agents, each agent on its own libvirt test-driver host (a file in the
//! state directory, created with a few VMs on first start and written back
//! at shutdown). Everything still talks over loopback sockets: the manager
//! reaches the agents only through CIM-XML.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;
use vine_hypervisor::testhost::{self, TestHostSpec};
use vine_wbem::auth;

use crate::agent::{self, AgentArgs};
use crate::config::{default_state_dir, ServeArgs, ServeConfig};
use crate::manager::{self, ManagerOptions, DEFAULT_API};
use crate::serve::{shutdown_signal, IndicationArgs};

/// Flags of `vine up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Number of simulated hosts (one agent each)
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub hosts: usize,
    /// VMs on each host when it is first created
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub vms_per_host: u32,
    /// Directory for all state [default: ~/.local/share/vine/up]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Manager WBEM HTTP address, `off` to disable
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5988")]
    pub http: String,
    /// Manager WBEM HTTPS address, `off` to disable
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:5989")]
    pub https: String,
    /// REST API and console address (HTTPS)
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_API)]
    pub api: String,
    /// Seconds between full inventory resyncs
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub resync_secs: u64,
    /// The haproxy program fronting virtual servers; `off` for none
    /// [default: haproxy on PATH or in /usr/sbin, none if absent]
    #[arg(long, value_name = "PATH|off")]
    pub haproxy: Option<String>,
    /// Put CPU load on the hosts' VMs as FILE says (JSON,
    /// `{"host-1-vm1": 0.9}`, re-read when it changes; see `vine agent
    /// --synthetic-load`)
    #[arg(long, value_name = "FILE")]
    pub synthetic_load: Option<PathBuf>,
    /// Seconds between the agents' resource-monitor samples [default: 5]
    #[arg(long, value_name = "SECS", value_parser = agent::parse_interval)]
    pub monitor_interval: Option<Duration>,
    #[command(flatten)]
    pub policy: manager::PolicyArgs,
    #[command(flatten)]
    pub metrics: manager::MetricsArgs,
}

/// The one password of an embedded setup: the manager's `admin` and the
/// agents' `admin`. Kept (0600) in the state directory so that every start
/// can print it; `vine up` is a single-user development setup.
fn credentials(dir: &Path) -> Result<String> {
    let file = dir.join("admin-password");
    if let Ok(p) = std::fs::read_to_string(&file) {
        let p = p.trim().to_string();
        if !p.is_empty() {
            return Ok(p);
        }
    }
    let p = auth::generate_password().context("generating a password")?;
    write_private(&file, &p)?;
    Ok(p)
}

fn write_private(file: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o
        .open(file)
        .with_context(|| format!("writing {}", file.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

/// Creates host `name`'s test-driver file on first start.
fn ensure_host(hosts_dir: &Path, name: &str, vms: u32) -> Result<PathBuf> {
    let file = hosts_dir.join(format!("{name}.xml"));
    if !file.exists() {
        let spec = TestHostSpec::new(name, 8, 16 * 1024, hosts_dir.join(format!("{name}-images")))
            .with_sample_vms(vms);
        testhost::write_host_file(&file, &spec)
            .with_context(|| format!("writing test host {}", file.display()))?;
    }
    Ok(file)
}

/// Runs `vine up` until a signal.
pub async fn run(args: UpArgs) -> Result<()> {
    if args.hosts == 0 || args.hosts > 64 {
        bail!("--hosts must be 1..=64 (got {})", args.hosts);
    }
    let dir = match args.state_dir.clone() {
        Some(d) => d,
        None => default_state_dir()
            .map(|d| d.join("up"))
            .context("no state directory: set --state-dir or HOME")?,
    };
    let dir = if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()?.join(dir)
    };
    let hosts_dir = dir.join("hosts");
    std::fs::create_dir_all(&hosts_dir)
        .with_context(|| format!("creating {}", hosts_dir.display()))?;
    let password = credentials(&dir)?;
    let (tx, rx) = watch::channel(false);

    let mut agents = Vec::new();
    let mut agent_urls = Vec::new();
    for i in 1..=args.hosts {
        let name = format!("host-{i}");
        let file = ensure_host(&hosts_dir, &name, args.vms_per_host)?;
        let state = dir.join("agents").join(&name);
        auth::bootstrap_admin_with(&state, Some(password.clone()))
            .with_context(|| format!("creating the admin user of agent {name}"))?;
        let a = agent::start(
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
                    indication_retries: 3,
                    indication_retry_interval: 5,
                    indication_ca: None,
                    indication_insecure: false,
                },
                // Every other host, so VMs can move between them.
                peers: (1..=args.hosts)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let peer = format!("host-{j}");
                        let uri = testhost::host_uri(&hosts_dir.join(format!("{peer}.xml")));
                        (peer, uri)
                    })
                    .collect(),
                synthetic_load: args.synthetic_load.clone(),
                monitor_interval: args.monitor_interval,
            },
            rx.clone(),
        )
        .await
        .with_context(|| format!("starting agent {name}"))?;
        let Some(addr) = a.http else {
            bail!("agent {name} has no HTTP listener");
        };
        agent_urls.push((name, format!("http://{addr}")));
        agents.push(a);
    }

    let manager_dir = dir.join("manager");
    auth::bootstrap_admin_with(&manager_dir, Some(password.clone()))
        .context("creating the manager's admin user")?;
    let serve = ServeConfig::resolve(
        ServeArgs {
            http: Some(args.http.clone()),
            https: Some(args.https.clone()),
            state_dir: Some(manager_dir),
            ..Default::default()
        },
        "127.0.0.1:5988",
        "127.0.0.1:5989",
    )?;
    let api = args
        .api
        .parse()
        .with_context(|| format!("--api `{}` is not an address like {DEFAULT_API}", args.api))?;
    let lb = manager::load_balancer(args.haproxy.as_deref(), &dir.join("haproxy")).await?;
    let has_lb = lb.is_some();
    let m = manager::start(
        ManagerOptions {
            serve,
            api,
            agents: agent_urls,
            agent_user: "admin".into(),
            agent_password: password.clone(),
            resync: Duration::from_secs(args.resync_secs.max(1)),
            lb,
            policy: args.policy.config(),
            metrics: args.metrics.config(),
            power: Default::default(),
        },
        rx,
    )
    .await?;
    let hosts = m.inventory.hosts().map(|h| h.len()).unwrap_or(0);
    let vms = m.inventory.vms().map(|v| v.len()).unwrap_or(0);
    println!(
        "vine up: {hosts} hosts, {vms} VMs (state in {})",
        dir.display()
    );
    println!("user: admin  password: {password}");
    println!(
        "virtual servers: {}; node addresses in {}",
        if has_lb {
            "front ends by haproxy"
        } else {
            "no front end (haproxy not found or off)"
        },
        dir.join("manager").join(manager::NODE_ADDRS_FILE).display()
    );
    m.print_urls();
    for (name, a) in m
        .inventory
        .hosts()
        .unwrap_or_default()
        .iter()
        .map(|h| (&h.name, &h.url))
    {
        println!("agent {name}: {a}");
    }
    tracing::info!("Ctrl-C stops");
    shutdown_signal().await;
    let _ = tx.send(true);
    m.wait().await;
    for a in agents {
        a.wait().await;
    }
    // stdout may be gone by now (a closed terminal or pipe); that is no
    // reason to fail a clean stop.
    use std::io::Write;
    let _ = writeln!(
        std::io::stdout(),
        "vine up: stopped; state kept in {}",
        dir.display()
    );
    Ok(())
}
