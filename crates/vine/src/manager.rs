//! `vine manager`: the management server. It keeps the inventory of every
//! host (resynced from the agents through the Virtual Node Interface),
//! serves the REST API and console, and is a WBEM server itself.
//!
//! [`start`] is what `vine up` runs in-process; [`run`] adds flag parsing
//! and waits for a signal.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::sync::watch;
use vine_console::{Api, ApiConfig, ApiExtras, Join, RunningApi};
use vine_coordinator::cluster::{Haproxy, HaproxyConfig, LbError, LoadBalancer};
use vine_coordinator::inventory::Inventory;
use vine_coordinator::metrics::{MetricsCollector, MetricsConfig, MetricsHistory};
use vine_coordinator::ops::vs::{health as vs_health, AddrFile};
use vine_coordinator::ops::{Coordinator, CoordinatorConfig};
use vine_coordinator::policy_loop::{PolicyLoop, PolicyLoopConfig};
use vine_coordinator::power::PowerConfig;
use vine_coordinator::vni::indications::{Freshness, ListenerConfig};
use vine_providers_manager::{ManagerContext, VINE_NS};
use vine_store::Store;
use vine_wbem::client::{ClientConfig, TlsVerify};
use vine_wbem::interop::{InteropProvider, INTEROP_NS};
use vine_wbem::server::dispatch::Dispatcher;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};
use vine_wbem::transport::{self, RunningServer, TlsSource};

use crate::config::{ServeArgs, ServeConfig};
use crate::serve::{bootstrap, shutdown_signal, transport_config};

/// Default address of the REST API and console.
pub const DEFAULT_API: &str = "127.0.0.1:8443";
/// How often the virtual servers' health loop looks at the balancer.
const VS_HEALTH_EVERY: Duration = Duration::from_secs(1);
/// The file nodes publish their addresses in, in the manager's state
/// directory (format: `vine_coordinator::ops::vs::addrs`).
pub const NODE_ADDRS_FILE: &str = "node-addrs";

/// Flags of `vine manager`.
#[derive(Debug, clap::Args)]
pub struct ManagerArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// REST API and console address (HTTPS, same certificate as WBEM)
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_API)]
    pub api: String,
    /// An agent to manage, as NAME=URL (repeatable), e.g.
    /// host-a=http://10.0.0.5:15988
    #[arg(long = "agent", value_name = "NAME=URL")]
    pub agents: Vec<String>,
    /// User the manager logs in to agents as
    #[arg(long, default_value = "admin", value_name = "USER")]
    pub agent_user: String,
    /// File holding the password for --agent-user
    #[arg(long, value_name = "FILE")]
    pub agent_password_file: Option<PathBuf>,
    /// Seconds between full inventory resyncs (indications keep the
    /// inventory fresh in between)
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub resync_secs: u64,
    /// The haproxy program fronting virtual servers; `off` for none
    /// [default: haproxy on PATH or in /usr/sbin, none if absent]
    #[arg(long, value_name = "PATH|off")]
    pub haproxy: Option<String>,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// The WBEM URL agents send indications to [default: http://<--http
    /// address>; required when that is 0.0.0.0]
    #[arg(long, value_name = "URL")]
    pub advertise_wbem: Option<String>,
    /// File holding the token agents join with (`vine agent --manager`)
    /// [default: generated once into <state-dir>/join-token]
    #[arg(long, value_name = "FILE")]
    pub join_token_file: Option<PathBuf>,
    #[command(flatten)]
    pub power: PowerArgs,
}

/// Flags of host power management (`vine manager`).
#[derive(Clone, Debug, clap::Args)]
pub struct PowerArgs {
    /// Where Wake-on-LAN magic packets go: the broadcast address of the
    /// hosts' network and a UDP port
    #[arg(long, default_value = "255.255.255.255:9", value_name = "ADDR:PORT")]
    pub wol_address: SocketAddr,
    /// Wake hosts with this command instead of Wake-on-LAN (e.g. a BMC's
    /// `ipmitool -H bmc-$VINE_HOST chassis power on`), run by `sh -c` with
    /// VINE_HOST and VINE_MAC set
    #[arg(long, value_name = "CMD")]
    pub power_on_command: Option<String>,
    /// Seconds a host may take to go off after accepting a power-off, or to
    /// answer after being woken, before its host.power job fails
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub power_timeout: u64,
}

impl PowerArgs {
    pub fn config(&self) -> PowerConfig {
        PowerConfig {
            wol_target: self.wol_address,
            on_command: self
                .power_on_command
                .clone()
                .filter(|c| !c.trim().is_empty()),
            timeout: Duration::from_secs(self.power_timeout.max(1)),
            ..PowerConfig::default()
        }
    }
}

/// Flags of the live policy loop (`vine manager` and `vine up`).
#[derive(Clone, Debug, clap::Args)]
pub struct PolicyArgs {
    /// Seconds between policy-engine rounds on the live data centre
    /// (every stored policy, active version); 0 turns the loop off
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    pub policy_interval: u64,
    /// Plan and audit every round but send no command
    /// (GET /api/v1/policies/audit shows what would have run)
    #[arg(long)]
    pub policy_dry_run: bool,
}

impl PolicyArgs {
    pub fn config(&self) -> PolicyLoopConfig {
        PolicyLoopConfig {
            interval: Duration::from_secs(self.policy_interval),
            dry_run: self.policy_dry_run,
            ..PolicyLoopConfig::default()
        }
    }
}

/// Flags of the manager's resource-monitor history (`vine manager` and
/// `vine up`).
#[derive(Clone, Debug, clap::Args)]
pub struct MetricsArgs {
    /// Seconds between the manager's utilization samples of every host
    /// and VM (the console's charts, GET /api/v1/{hosts,vms}/NAME/metrics);
    /// 0 keeps no history
    #[arg(long, default_value_t = 5, value_name = "SECS")]
    pub metrics_interval: u64,
}

impl MetricsArgs {
    pub fn config(&self) -> Option<MetricsConfig> {
        (self.metrics_interval > 0)
            .then(|| MetricsConfig::every(Duration::from_secs(self.metrics_interval)))
    }
}

/// Everything `start` needs, validated.
pub struct ManagerOptions {
    pub serve: ServeConfig,
    pub api: SocketAddr,
    /// (name, URL) of each agent.
    pub agents: Vec<(String, String)>,
    pub agent_user: String,
    pub agent_password: String,
    pub resync: Duration,
    /// The virtual servers' load balancer, when there is one.
    pub lb: Option<Arc<dyn LoadBalancer>>,
    /// The live policy loop.
    pub policy: PolicyLoopConfig,
    /// The metrics history; `None` keeps none.
    pub metrics: Option<MetricsConfig>,
    /// Waking hosts and the power-change time limit.
    pub power: PowerConfig,
}

/// What `vine manager` adds to [`ManagerOptions`]; `vine up` and the
/// benchmarks start without (no self-registration, callback URL from the
/// WBEM listener).
#[derive(Clone, Debug, Default)]
pub struct JoinOptions {
    /// `--advertise-wbem`.
    pub advertise_wbem: Option<String>,
    /// The join token; `None` turns `POST /api/v1/hosts/register` off.
    pub join_token: Option<String>,
}

/// A started manager.
pub struct RunningManager {
    pub wbem: RunningServer,
    pub api: RunningApi,
    pub inventory: Arc<Inventory>,
    resync_task: tokio::task::JoinHandle<()>,
    jobs_task: tokio::task::JoinHandle<()>,
    policy_task: tokio::task::JoinHandle<()>,
    metrics_task: Option<tokio::task::JoinHandle<()>>,
    vs_task: tokio::task::JoinHandle<()>,
    fresh_task: tokio::task::JoinHandle<()>,
    lb: Option<Arc<dyn LoadBalancer>>,
}

impl RunningManager {
    /// The lines a user needs: console, API and WBEM URLs.
    pub fn print_urls(&self) {
        println!("console: {}/", self.api.url());
        println!("api: {}/api/v1", self.api.url());
        if let Some(a) = self.wbem.http {
            println!("wbem: http://{a}");
        }
        if let Some(a) = self.wbem.https {
            println!("wbem: https://{a}");
        }
    }

    /// Waits until every part has stopped.
    pub async fn wait(self) {
        self.wbem.wait().await;
        self.api.wait().await;
        let _ = self.resync_task.await;
        let _ = self.jobs_task.await;
        let _ = self.policy_task.await;
        if let Some(t) = self.metrics_task {
            let _ = t.await;
        }
        let _ = self.vs_task.await;
        let _ = self.fresh_task.await;
        // The front ends close with the manager; the next start restores
        // them from the store.
        if let Some(lb) = self.lb {
            if let Err(e) = lb.stop().await {
                tracing::warn!(error = %e, "stopping the load balancer");
            }
        }
    }
}

/// The virtual servers' balancer: HAProxy in `dir` (a master left there by
/// a killed manager is stopped first). `choice` is `--haproxy`: a program
/// path, `off`, or `None` to look for `haproxy` — and go without a front
/// end, with a warning, when it is not installed.
pub async fn load_balancer(
    choice: Option<&str>,
    dir: &Path,
) -> Result<Option<Arc<dyn LoadBalancer>>> {
    let binary = match choice {
        Some("off") => {
            tracing::info!("--haproxy off: virtual servers get no front end");
            return Ok(None);
        }
        Some(path) => Some(PathBuf::from(path)),
        None => None,
    };
    let explicit = binary.is_some();
    match Haproxy::new(HaproxyConfig {
        binary,
        dir: dir.to_path_buf(),
    })
    .await
    {
        Ok(h) => Ok(Some(Arc::new(h))),
        Err(LbError::Missing(_)) if !explicit => {
            tracing::warn!(
                "haproxy not found (deploy/setup.sh installs it): virtual servers will run without a front end"
            );
            Ok(None)
        }
        Err(e) => Err(e).with_context(|| format!("preparing haproxy in {}", dir.display())),
    }
}

/// Resolves when `rx` says stop.
pub async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Parses `NAME=URL`.
fn parse_agent(s: &str) -> Result<(String, String)> {
    let Some((name, url)) = s.split_once('=') else {
        bail!("--agent `{s}` must be NAME=URL, e.g. host-a=http://10.0.0.5:15988");
    };
    if name.is_empty() || !url.starts_with("http://") && !url.starts_with("https://") {
        bail!("--agent `{s}` must be NAME=URL with an http:// or https:// URL");
    }
    Ok((name.to_string(), url.to_string()))
}

/// Opens the store, registers the agents, starts the WBEM server, the API
/// and the resync loop; returns once the first resync is done, so the
/// inventory answers from the start.
pub async fn start(opts: ManagerOptions, stop: watch::Receiver<bool>) -> Result<RunningManager> {
    start_with(opts, JoinOptions::default(), stop).await
}

/// [`start`], with self-registration and a chosen callback URL.
pub async fn start_with(
    opts: ManagerOptions,
    join: JoinOptions,
    stop: watch::Receiver<bool>,
) -> Result<RunningManager> {
    // Refuse a callback URL agents cannot use before anything starts.
    crate::join::advertise_wbem(
        join.advertise_wbem.as_deref(),
        opts.serve.http,
        opts.serve.https,
    )?;
    let users = bootstrap(&opts.serve)?;
    let store_dir = opts.serve.state_dir.join("store");
    let store = tokio::task::spawn_blocking(move || Store::open(&store_dir))
        .await?
        .context("opening the manager's store")?;
    let inventory = Arc::new(
        Inventory::open(
            &store,
            ClientConfig {
                url: String::new(),
                user: opts.agent_user.clone(),
                password: opts.agent_password.clone(),
                // Agents generate their own certificates; loopback setups
                // use http. A CA option belongs here once agents get
                // certificates from a CA.
                tls: TlsVerify::Insecure,
                timeout: Duration::from_secs(30),
            },
        )
        .context("opening the inventory")?,
    );
    for (name, url) in &opts.agents {
        inventory
            .upsert_host(name, url)
            .with_context(|| format!("registering agent {name}"))?;
    }
    for (host, r) in inventory.resync_all(16).await? {
        match r {
            Ok(rep) => tracing::info!(host, vms_added = rep.added.len(), "host in sync"),
            Err(e) => tracing::warn!(host, error = %e, "host not reachable"),
        }
    }

    let coordinator = Coordinator::open(
        &store,
        inventory.clone(),
        CoordinatorConfig {
            lb: opts.lb.clone(),
            node_addrs: Some(Arc::new(AddrFile::new(
                opts.serve.state_dir.join(NODE_ADDRS_FILE),
            ))),
            power: opts.power.clone(),
            ..CoordinatorConfig::default()
        },
    )
    .context("opening the coordinator")?;
    let jobs_task = {
        let c = coordinator.clone();
        let stop = stop.clone();
        tokio::spawn(async move { c.run(stopped(stop)).await })
    };
    let policy_loop = PolicyLoop::new(coordinator.clone(), opts.policy.clone())
        .context("opening the policy audit")?;
    let policy_task = tokio::spawn(policy_loop.run(stopped(stop.clone())));
    let metrics = opts
        .metrics
        .clone()
        .map(|c| Arc::new(MetricsHistory::new(c)));
    let metrics_task = metrics.as_ref().map(|h| {
        let collector = MetricsCollector::new(inventory.clone(), h.clone());
        tokio::spawn(collector.run(stopped(stop.clone())))
    });
    let vs_task = tokio::spawn(vs_health::run(
        coordinator.clone(),
        VS_HEALTH_EVERY,
        stopped(stop.clone()),
    ));

    let schemas = opts.serve.schemas.as_deref();
    let mut repo = crate::schema::load(&[INTEROP_NS, VINE_NS], &[], schemas)?;
    crate::schema::compile_manager(&mut repo, VINE_NS, schemas)?;
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    vine_providers_manager::install(
        &mut registry,
        &mut profiles,
        ManagerContext::new(coordinator.clone(), &opts.serve.host_name),
    );
    let cimom = Cimom::new(
        repo,
        registry,
        profiles,
        CimomConfig {
            host: opts.serve.host_name.clone(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    let (key, _) = crate::join::read_or_create_secret(
        &opts.serve.state_dir.join(crate::join::INDICATION_KEY_FILE),
    )?;
    let freshness = Freshness::new(
        inventory.clone(),
        ListenerConfig {
            manager: opts.serve.host_name.clone(),
            // Set below, once the listener's port is known.
            advertise: String::new(),
            secret: key.into_bytes(),
        },
    );
    let wbem = transport::serve(
        transport_config(&opts.serve),
        users.clone(),
        Dispatcher::new(cimom),
        Some(freshness.clone()),
        stopped(stop.clone()),
    )
    .await
    .context("starting the WBEM server")?;
    freshness.set_advertise(&crate::join::advertise_wbem(
        join.advertise_wbem.as_deref(),
        wbem.http,
        wbem.https,
    )?);
    let fresh_task = tokio::spawn(freshness.clone().run(stopped(stop.clone())));
    // Hosts that answered the first resync get their subscriptions in the
    // background: start does not wait on every agent twice.
    {
        let f = freshness.clone();
        tokio::spawn(async move { f.subscribe_all(16).await });
    }

    let tls = match &opts.serve.tls_files {
        Some((cert, key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        None => TlsSource::Generate {
            state_dir: opts.serve.state_dir.clone(),
        },
    };
    let api = vine_console::serve_with(
        ApiConfig {
            addr: opts.api,
            tls: Some(tls),
        },
        users,
        Arc::new(Api {
            coordinator: coordinator.clone(),
        }),
        ApiExtras {
            join: join.join_token.map(|token| {
                Arc::new(Join {
                    token,
                    freshness: freshness.clone(),
                })
            }),
            metrics,
        },
        stopped(stop.clone()),
    )
    .await
    .context("starting the REST API")?;

    let inv = freshness.clone();
    let every = opts.resync;
    let mut stop_rx = stop;
    let resync_task = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop_rx.changed() => {}
            }
            if *stop_rx.borrow() {
                return;
            }
            match inv.resync_all(16).await {
                Ok(results) => {
                    for (host, r) in results {
                        if let Err(e) = r {
                            tracing::warn!(host, error = %e, "resync failed");
                        }
                    }
                }
                Err(e) => tracing::error!(error = %e, "resync failed"),
            }
        }
    });
    Ok(RunningManager {
        wbem,
        api,
        inventory,
        resync_task,
        jobs_task,
        policy_task,
        metrics_task,
        vs_task,
        fresh_task,
        lb: opts.lb,
    })
}

/// Runs `vine manager` until a signal.
pub async fn run(args: ManagerArgs) -> Result<()> {
    let serve = ServeConfig::resolve(args.serve, "127.0.0.1:5988", "127.0.0.1:5989")?;
    let api: SocketAddr = args
        .api
        .parse()
        .with_context(|| format!("--api `{}` is not an address like {DEFAULT_API}", args.api))?;
    let agents = args
        .agents
        .iter()
        .map(|a| parse_agent(a))
        .collect::<Result<Vec<_>>>()?;
    let agent_password = match &args.agent_password_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("reading --agent-password-file {}", f.display()))?
            .trim()
            .to_string(),
        None => std::env::var("VINE_AGENT_PASSWORD").unwrap_or_default(),
    };
    let lb = load_balancer(args.haproxy.as_deref(), &serve.state_dir.join("haproxy")).await?;
    let (join_token, token_file, created) =
        crate::join::manager_token(args.join_token_file.as_deref(), &serve.state_dir)?;
    let ca = match &serve.tls_files {
        Some((cert, _)) => cert.clone(),
        None => vine_wbem::transport::tls::generated_paths(&serve.state_dir).0,
    };
    let (tx, rx) = watch::channel(false);
    let running = start_with(
        ManagerOptions {
            serve,
            api,
            agents,
            agent_user: args.agent_user,
            agent_password,
            resync: Duration::from_secs(args.resync_secs.max(1)),
            lb,
            policy: args.policy.config(),
            metrics: args.metrics.config(),
            power: args.power.config(),
        },
        JoinOptions {
            advertise_wbem: args.advertise_wbem,
            join_token: Some(join_token),
        },
        rx,
    )
    .await?;
    running.print_urls();
    if created {
        tracing::info!(file = %token_file.display(), "generated the join token");
    }
    // What an operator runs on a host (after copying the token file and
    // the manager's certificate there).
    println!(
        "join a host: vine agent --manager {} --join-token-file {} --manager-ca-file {} \\\n    --libvirt-uri qemu:///system --http 0.0.0.0:15988 --advertise http://<host address>:15988 [--label k=v]",
        running.api.url(),
        token_file.display(),
        ca.display()
    );
    tracing::info!("manager serving; Ctrl-C stops");
    shutdown_signal().await;
    let _ = tx.send(true);
    running.wait().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_name_equals_url() {
        assert_eq!(
            parse_agent("a=http://h:1").unwrap(),
            ("a".to_string(), "http://h:1".to_string())
        );
        assert!(parse_agent("http://h:1").is_err());
        assert!(parse_agent("a=h:1").is_err());
        assert!(parse_agent("=http://h").is_err());
    }
}
