//! `vine agent`: one host's CIMOM. It models the host and its VMs with the
//! DMTF virtualization profiles in `root/virt` (classes `<P>_ComputerSystem`
//! …, P = KVM, Xen or LXC), profiles and subscriptions in `root/interop`,
//! and drives the host through libvirt.
//!
//! Start-up, in order:
//! 1. validate flags, create the state directory and the admin user;
//! 2. open libvirt (`--libvirt-uri`, or the test-driver host `--test-host`);
//! 3. build the repository: DMTF schema in root/interop and root/virt, then
//!    `schemas/virt` with the class prefix;
//! 4. install interop, indications and the virtualization providers;
//! 5. serve until SIGTERM/Ctrl-C; a test-driver host kept in a file is
//!    written back so its VMs survive a restart.
//!
//! Default ports are 15988 (HTTP) and 15989 (HTTPS), so an agent and a
//! manager (5988/5989) can share a machine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use vine_hypervisor::synthetic::SyntheticLoad;
use vine_hypervisor::testhost::{self, TestHostSpec};
use vine_hypervisor::{DriverKind, Hypervisor, LibvirtHypervisor};
use vine_providers_virt::monitor::{Monitor, MonitorConfig};
use vine_providers_virt::{VirtContext, VIRT_NS};
use vine_wbem::indication::IndicationService;
use vine_wbem::interop::{InteropProvider, INTEROP_NS};
use vine_wbem::server::dispatch::Dispatcher;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};
use vine_wbem::transport;

use crate::config::{ServeArgs, ServeConfig};
use crate::manager::stopped;
use crate::serve::{bootstrap, shutdown_signal, transport_config, IndicationArgs};

/// Default HTTP address of an agent.
pub const DEFAULT_HTTP: &str = "127.0.0.1:15988";
/// Default HTTPS address of an agent.
pub const DEFAULT_HTTPS: &str = "127.0.0.1:15989";

/// Flags of `vine agent`.
#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// libvirt URI of the host: qemu:///system, xen:///system, lxc:///,
    /// test:///abs/path/host.xml
    #[arg(
        long,
        value_name = "URI",
        env = "VINE_LIBVIRT_URI",
        required_unless_present = "test_host"
    )]
    pub libvirt_uri: Option<String>,
    /// Serve a libvirt test-driver host kept in FILE (created with 8 CPUs,
    /// 16 GiB and a storage pool next to it when missing)
    #[arg(long, value_name = "FILE", conflicts_with = "libvirt_uri")]
    pub test_host: Option<PathBuf>,
    /// CIM class prefix (KVM, Xen, LXC) [default: from the libvirt driver;
    /// KVM for the test driver]
    #[arg(long, value_name = "P")]
    pub class_prefix: Option<String>,
    /// HTTP/HTTPS defaults here are 127.0.0.1:15988 and 127.0.0.1:15989
    #[command(flatten)]
    pub serve: ServeArgs,
    /// TOML file with the same settings as the flags (flags win)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub indications: IndicationArgs,
    #[command(flatten)]
    pub peer_login: PeerLoginArgs,
    /// A migration peer: its host name and libvirt URI
    /// (`--peer b=qemu+ssh://b/system`); repeat for more
    #[arg(long = "peer", value_name = "NAME=URI", value_parser = parse_peer)]
    pub peers: Vec<(String, String)>,
    /// Test-driver hosts only: make VMs' CPU time advance at the busy
    /// fraction FILE gives each (JSON, `{"vm-name": 0.9}`; re-read when it
    /// changes; VMs not named are idle). Test domains have no guest, so
    /// this is how a test puts load on them
    #[arg(long, value_name = "FILE")]
    pub synthetic_load: Option<PathBuf>,
    /// Seconds between resource-monitor samples (CPU, memory; fractions
    /// allowed) [default: 5]
    #[arg(long, value_name = "SECS", value_parser = parse_interval)]
    pub monitor_interval: Option<std::time::Duration>,
}

/// Seconds of `--monitor-interval`: 0.1 to 3600.
pub(crate) fn parse_interval(s: &str) -> std::result::Result<std::time::Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.1..=3600.0).contains(&v) => Ok(std::time::Duration::from_secs_f64(v)),
        _ => Err(format!(
            "`{s}` is not a number of seconds from 0.1 to 3600 (e.g. 5 or 0.5)"
        )),
    }
}

/// `NAME=URI` of `--peer`.
fn parse_peer(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        // A test-driver host lives in the memory of the process that opened
        // it: another process's copy would receive the VM and drop it on
        // exit. Only `vine up` (one process) may pair test hosts directly.
        Some((name, uri)) if uri.trim().starts_with("test:") => Err(format!(
            "--peer {}: a test-driver host cannot be reached from another process; \
             give the peer agent's URL instead (e.g. {}=http://127.0.0.1:15988)",
            name.trim(),
            name.trim()
        )),
        Some((name, uri)) if !name.trim().is_empty() && !uri.trim().is_empty() => {
            Ok((name.trim().to_string(), uri.trim().to_string()))
        }
        _ => Err(format!(
            "`{s}` is not NAME=URI (e.g. b=qemu+ssh://b/system)"
        )),
    }
}

/// How the agent logs in to peer agents given by URL
/// (`--peer b=http://10.0.0.2:15988`): the VM moves through the peer's
/// CIM interface.
#[derive(Debug, Default, clap::Args)]
pub struct PeerLoginArgs {
    /// User this agent logs in to peer agents as (peers given by URL)
    #[arg(long, value_name = "USER", default_value = "admin")]
    pub peer_user: String,
    /// File holding the password for --peer-user
    #[arg(long, value_name = "FILE")]
    pub peer_password_file: Option<PathBuf>,
    /// CA certificate of https:// peers [default: accept any certificate]
    #[arg(long, value_name = "FILE")]
    pub peer_ca_file: Option<PathBuf>,
}

/// The login for peer agents; required when a peer is given by URL.
fn peer_login(
    args: &PeerLoginArgs,
    peers: &HashMap<String, String>,
) -> Result<Option<vine_providers_virt::peer::PeerLogin>> {
    let by_url = peers
        .iter()
        .find(|(_, t)| vine_providers_virt::peer::is_agent_url(t));
    let Some(file) = &args.peer_password_file else {
        if let Some((n, _)) = by_url {
            bail!(
                "--peer {n} is a vine agent URL: give --peer-password-file (and --peer-user) \
                 to log in to it"
            );
        }
        return Ok(None);
    };
    let password = std::fs::read_to_string(file)
        .with_context(|| format!("reading --peer-password-file {}", file.display()))?
        .trim_end_matches(['\r', '\n'])
        .to_string();
    if password.is_empty() {
        bail!("--peer-password-file {} is empty", file.display());
    }
    Ok(Some(vine_providers_virt::peer::PeerLogin {
        user: args.peer_user.clone(),
        password,
        ca_file: args.peer_ca_file.clone(),
    }))
}

/// The peers of `--peer`, by host name; a name given twice is refused.
fn peer_map(peers: &[(String, String)]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (name, uri) in peers {
        if out.insert(name.clone(), uri.clone()).is_some() {
            bail!("--peer {name} is given twice");
        }
    }
    Ok(out)
}

/// A class prefix must make valid class names (`KVM_ComputerSystem`).
fn check_prefix(p: &str) -> Result<()> {
    let ok = !p.is_empty()
        && p.chars().all(|c| c.is_ascii_alphanumeric())
        && p.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    if !ok {
        bail!("--class-prefix `{p}` must be letters and digits, starting with a letter (KVM, Xen, LXC)");
    }
    Ok(())
}

/// The test-host file behind a `test:///abs/path/host.xml` URI.
fn test_host_file(uri: &str) -> Option<PathBuf> {
    let path = uri.strip_prefix("test://")?;
    (path.starts_with('/') && path != "/default").then(|| PathBuf::from(path))
}

/// Creates the test-host file at `path` unless it exists; returns its URI.
fn init_test_host(path: &Path, host_name: &str) -> Result<String> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    if !abs.exists() {
        let stem = abs
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "host".into());
        let pool = abs.with_file_name(format!("{stem}-images"));
        testhost::write_host_file(&abs, &TestHostSpec::new(host_name, 8, 16 * 1024, pool))
            .with_context(|| format!("writing test host file {}", abs.display()))?;
        tracing::info!(file = %abs.display(), "created test host");
    }
    Ok(testhost::host_uri(&abs))
}

/// `vine agent`'s flags: the agent's own, those for joining a manager
/// (`--manager`, see [`crate::join`]) and those for powering the host off
/// and waking it.
#[derive(Debug, clap::Args)]
pub struct AgentCmd {
    #[command(flatten)]
    pub agent: AgentArgs,
    #[command(flatten)]
    pub join: crate::join::JoinArgs,
    #[command(flatten)]
    pub power: PowerArgs,
}

/// How the manager powers this host off (DSP1027, through the agent) and
/// wakes it again (Wake-on-LAN, from the manager).
#[derive(Debug, Default, clap::Args)]
pub struct PowerArgs {
    /// Shell command that powers this host off when the manager asks
    /// (e.g. `systemctl poweroff`): run by `sh -c` 1 s after the agent
    /// answers, and only when no guest runs. Without it the host cannot be
    /// powered off through the agent
    #[arg(long, value_name = "CMD")]
    pub power_off_command: Option<String>,
    /// MAC address the manager wakes this host at (Wake-on-LAN), sent when
    /// joining: six hex pairs, e.g. aa:bb:cc:dd:ee:ff [default: that of the
    /// first network interface that is up, not loopback, physical first]
    #[arg(long, value_name = "MAC", value_parser = crate::join::parse_mac)]
    pub wol_mac: Option<String>,
    /// Take the Wake-on-LAN MAC from this network interface (e.g. eno1)
    #[arg(long, value_name = "IFACE", conflicts_with = "wol_mac")]
    pub wol_interface: Option<String>,
}

impl PowerArgs {
    /// The power-off command, refusing a blank one.
    fn command(&self) -> Result<Option<String>> {
        match &self.power_off_command {
            Some(c) if c.trim().is_empty() => {
                bail!("--power-off-command is empty: give the command that powers this host off, e.g. 'systemctl poweroff'")
            }
            c => Ok(c.clone()),
        }
    }
}

/// A started agent.
pub struct RunningAgent {
    pub http: Option<std::net::SocketAddr>,
    pub https: Option<std::net::SocketAddr>,
    /// The host's name (`--host-name`, else the system's).
    pub host_name: String,
    task: tokio::task::JoinHandle<()>,
}

impl RunningAgent {
    /// Waits until the agent has stopped (and saved its test host).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Runs `vine agent` until a signal; with `--manager`, joins it first
/// (a refusal stops the agent with the manager's reason).
pub async fn run(cmd: AgentCmd) -> Result<()> {
    let joiner = cmd.join.check()?;
    let power_off = cmd.power.command()?;
    let mac = crate::join::wol_mac(
        cmd.power.wol_mac.as_deref(),
        cmd.power.wol_interface.as_deref(),
        Path::new("/sys/class/net"),
    )?;
    if joiner.is_some() && mac.is_none() {
        tracing::warn!("no network interface is up with a MAC address: the manager cannot wake this host; give --wol-mac or --wol-interface");
    }
    let joiner = joiner.map(|j| j.with_mac(mac));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let agent = start_with_power(cmd.agent, power_off, rx).await?;
    if let Some(a) = agent.http {
        println!("wbem: http://{a}");
    }
    if let Some(a) = agent.https {
        println!("wbem: https://{a}");
    }
    let outcome = match joiner {
        None => {
            shutdown_signal().await;
            Ok(())
        }
        Some(j) => match j.url(agent.http, agent.https) {
            Err(e) => Err(e),
            Ok(url) => {
                tokio::select! {
                    r = j.register(&agent.host_name, &url) => match r {
                        Ok(()) => {
                            shutdown_signal().await;
                            Ok(())
                        }
                        Err(e) => Err(e),
                    },
                    _ = shutdown_signal() => Ok(()),
                }
            }
        },
    };
    let _ = tx.send(true);
    agent.wait().await;
    tracing::info!("agent stopped");
    outcome
}

/// Starts an agent that serves until `stop` turns true; `vine up` runs
/// several in one process. Its host cannot be powered off through it.
pub async fn start(
    args: AgentArgs,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<RunningAgent> {
    start_with_power(args, None, stop).await
}

/// [`start`], with the command that powers the host off when the manager
/// asks (`--power-off-command`; see `vine_providers_virt::power`).
pub async fn start_with_power(
    args: AgentArgs,
    power_off_command: Option<String>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<RunningAgent> {
    let raw = match &args.config {
        Some(f) => args.serve.merge_file(f)?,
        None => args.serve,
    };
    let cfg = ServeConfig::resolve(raw, DEFAULT_HTTP, DEFAULT_HTTPS)?;
    if let Some(p) = &args.class_prefix {
        check_prefix(p)?;
    }
    let uri = match (&args.libvirt_uri, &args.test_host) {
        (Some(u), _) => u.clone(),
        (None, Some(f)) => init_test_host(f, &cfg.host_name)?,
        (None, None) => bail!("give --libvirt-uri or --test-host"),
    };
    if DriverKind::from_uri(&uri).is_none() {
        bail!("--libvirt-uri `{uri}` is not a qemu, xen, lxc or test URI");
    }
    let users = bootstrap(&cfg)?;

    let open_uri = uri.clone();
    let hv = tokio::task::spawn_blocking(move || LibvirtHypervisor::open(&open_uri))
        .await?
        .with_context(|| format!("opening libvirt at {uri}"))?;
    let prefix = args
        .class_prefix
        .clone()
        .unwrap_or_else(|| hv.driver().class_prefix().to_string());

    let mut repo = crate::schema::load(&[INTEROP_NS, VIRT_NS], &[], cfg.schemas.as_deref())?;
    crate::schema::compile_virt(&mut repo, VIRT_NS, &prefix, cfg.schemas.as_deref())?;

    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    let indications = IndicationService::install(
        &mut registry,
        &mut profiles,
        args.indications.config(&cfg.state_dir),
    );
    let hv_dyn: Arc<dyn Hypervisor> = match &args.synthetic_load {
        Some(file) => {
            if hv.driver() != DriverKind::Test {
                bail!("--synthetic-load is for test-driver hosts only (--test-host or a test:/// URI): real guests make their own load");
            }
            SyntheticLoad::wrap(hv.clone(), file)?
        }
        None => hv.clone(),
    };
    let mut ctx = VirtContext::new(hv_dyn, &prefix, &cfg.host_name);
    if let Some(interval) = args.monitor_interval {
        ctx.monitor = Monitor::new(MonitorConfig {
            interval,
            ..MonitorConfig::default()
        });
    }
    ctx.sink = Some(indications.sink());
    let peers = peer_map(&args.peers)?;
    ctx.peer_login = peer_login(&args.peer_login, &peers)?;
    ctx.peers = Arc::new(peers);
    ctx.power_off_command = power_off_command;
    let installed = vine_providers_virt::install(&mut registry, &mut profiles, ctx);

    let cimom = Cimom::new(
        repo,
        registry,
        profiles,
        CimomConfig {
            host: cfg.host_name.clone(),
            ..Default::default()
        },
    );
    interop.attach(&cimom);
    indications.attach(&cimom);
    indications.start(stopped(stop.clone()));
    installed.spawn_events();
    let running = transport::serve(
        transport_config(&cfg),
        users,
        Dispatcher::new(cimom),
        None,
        stopped(stop),
    )
    .await
    .context("starting the WBEM server")?;
    tracing::info!(uri = %uri, prefix = %prefix, host = %cfg.host_name, "agent serving");
    let (http, https) = (running.http, running.https);
    let host_name = cfg.host_name.clone();
    let task = tokio::spawn(async move {
        running.wait().await;
        if let Some(file) = test_host_file(&uri) {
            let h = hv.clone();
            let f = file.clone();
            match tokio::task::spawn_blocking(move || h.save_test_host(&f)).await {
                Ok(Ok(())) => tracing::info!(file = %file.display(), "test host saved"),
                Ok(Err(e)) => {
                    tracing::error!(file = %file.display(), error = %e, "cannot save the test host")
                }
                Err(e) => tracing::error!(error = %e, "saving the test host did not complete"),
            }
        }
    });
    Ok(RunningAgent {
        http,
        https,
        host_name,
        task,
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_name_equals_uri() {
        assert_eq!(
            parse_peer("b=qemu+ssh://b/system"),
            Ok(("b".into(), "qemu+ssh://b/system".into()))
        );
        assert!(parse_peer("b").is_err());
        assert!(parse_peer("=test:///default").is_err());
        assert!(parse_peer("b=").is_err());
        // Another process's copy of a test host would swallow the VM.
        let e = parse_peer("b=test:///tmp/b.xml").unwrap_err();
        assert!(e.contains("b=http://"), "{e}");
        let p = |n: &str| (n.to_string(), format!("test:///{n}.xml"));
        let m = peer_map(&[p("a"), p("b")]).unwrap();
        assert_eq!(m.get("b").map(String::as_str), Some("test:///b.xml"));
        assert!(peer_map(&[p("a"), p("a")]).is_err());
    }

    #[test]
    fn monitor_interval_is_bounded_seconds() {
        assert_eq!(
            parse_interval("0.5"),
            Ok(std::time::Duration::from_millis(500))
        );
        assert!(parse_interval("0").is_err());
        assert!(parse_interval("soon").is_err());
        assert!(parse_interval("7200").is_err());
    }

    #[test]
    fn peers_by_url_need_a_login() {
        let peers = peer_map(&[("b".into(), "http://127.0.0.1:15990".into())]).unwrap();
        let e = peer_login(&PeerLoginArgs::default(), &peers).unwrap_err();
        assert!(e.to_string().contains("--peer-password-file"), "{e}");
        let libvirt = peer_map(&[("b".into(), "test:///b.xml".into())]).unwrap();
        assert!(peer_login(&PeerLoginArgs::default(), &libvirt)
            .unwrap()
            .is_none());
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pw");
        std::fs::write(&f, "s3cret\n").unwrap();
        let args = PeerLoginArgs {
            peer_user: "ops".into(),
            peer_password_file: Some(f),
            peer_ca_file: None,
        };
        let l = peer_login(&args, &peers).unwrap().unwrap();
        assert_eq!((l.user.as_str(), l.password.as_str()), ("ops", "s3cret"));
    }

    #[test]
    fn prefixes_must_make_class_names() {
        assert!(check_prefix("KVM").is_ok());
        assert!(check_prefix("Xen").is_ok());
        assert!(check_prefix("").is_err());
        assert!(check_prefix("K_V").is_err());
        assert!(check_prefix("1X").is_err());
    }

    #[test]
    fn only_file_test_uris_are_saved() {
        assert_eq!(
            test_host_file("test:///tmp/a.xml"),
            Some(PathBuf::from("/tmp/a.xml"))
        );
        assert_eq!(test_host_file("test:///default"), None);
        assert_eq!(test_host_file("qemu:///system"), None);
    }
}
