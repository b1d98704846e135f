//! `vine wbem serve`: a WBEM server with the interop namespace, indication
//! subscriptions (and, for testing, the sample provider, which publishes
//! indications about its items). The start-up steps are shared by every
//! serving sub-command.

use std::sync::Arc;

use anyhow::{Context, Result};
use vine_wbem::auth::{self, UserStore};
use vine_wbem::client::TlsVerify;
use vine_wbem::indication::{IndicationConfig, IndicationService};
use vine_wbem::interop::{InteropProvider, INTEROP_NS};
use vine_wbem::sample::{SampleProvider, SAMPLE_NS};
use vine_wbem::server::dispatch::Dispatcher;
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};
use vine_wbem::transport::{self, ServerConfig, TlsSource};

use crate::config::{ServeArgs, ServeConfig};

/// Flags of `vine wbem serve`.
#[derive(Debug, clap::Args)]
pub struct WbemServeArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// TOML file with the same settings as the flags (flags win)
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// Also serve the in-memory sample classes in namespace test/sample
    /// (for trying clients out; nothing real lives there)
    #[arg(long)]
    pub sample: bool,
    /// Number of sample items to start with
    #[arg(long, default_value_t = 3, requires = "sample")]
    pub sample_items: usize,
    #[command(flatten)]
    pub indications: IndicationArgs,
}

/// Indication delivery flags (DSP1054), shared by the serving commands.
#[derive(Debug, Clone, clap::Args)]
pub struct IndicationArgs {
    /// Retries of an undeliverable indication before it is given up (the
    /// subscription then turns "Enabled Degraded")
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub indication_retries: u32,
    /// Seconds before the first retry; each further retry waits twice as long
    #[arg(long, default_value_t = 20, value_name = "SECS")]
    pub indication_retry_interval: u64,
    /// Trust these PEM certificates for https listeners (default: the
    /// system CA bundle)
    #[arg(long, value_name = "FILE", conflicts_with = "indication_insecure")]
    pub indication_ca: Option<std::path::PathBuf>,
    /// Accept any certificate from https listeners (tests only)
    #[arg(long)]
    pub indication_insecure: bool,
}

impl IndicationArgs {
    /// The service settings, keeping subscriptions in `state_dir`.
    pub fn config(&self, state_dir: &std::path::Path) -> IndicationConfig {
        let mut c = IndicationConfig {
            state_dir: Some(state_dir.to_path_buf()),
            retry_attempts: self.indication_retries,
            retry_interval: std::time::Duration::from_secs(self.indication_retry_interval),
            ..Default::default()
        };
        if self.indication_insecure {
            c.tls = TlsVerify::Insecure;
        } else if let Some(ca) = &self.indication_ca {
            c.tls = TlsVerify::CaFile(ca.clone());
        }
        c
    }
}

/// Creates the state directory and the admin user on first start; prints
/// a generated password once.
pub fn bootstrap(cfg: &ServeConfig) -> Result<Arc<UserStore>> {
    std::fs::create_dir_all(&cfg.state_dir)
        .with_context(|| format!("creating state directory {}", cfg.state_dir.display()))?;
    if let Some(password) =
        auth::bootstrap_admin(&cfg.state_dir).context("creating the admin user")?
    {
        println!("created user `admin` with password: {password}");
        println!("(shown once; change it with `vine user passwd admin`)");
    }
    let users =
        UserStore::open(auth::users_path(&cfg.state_dir)).context("opening the users file")?;
    Ok(Arc::new(users))
}

/// The transport settings for a validated configuration.
pub fn transport_config(cfg: &ServeConfig) -> ServerConfig {
    let tls = match &cfg.tls_files {
        Some((cert, key)) => TlsSource::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        None => TlsSource::Generate {
            state_dir: cfg.state_dir.clone(),
        },
    };
    let mut t = ServerConfig::new(tls);
    t.http = cfg.http;
    t.https = cfg.https;
    t.max_body_bytes = cfg.max_body_bytes;
    t
}

/// Resolves to `()` on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Runs `vine wbem serve` until a signal.
pub async fn run(args: WbemServeArgs) -> Result<()> {
    let raw = match &args.config {
        Some(f) => args.serve.merge_file(f)?,
        None => args.serve,
    };
    let cfg = ServeConfig::resolve(raw, "127.0.0.1:5988", "127.0.0.1:5989")?;
    let users = bootstrap(&cfg)?;
    let sample_ns: &[&str] = if args.sample { &[SAMPLE_NS] } else { &[] };
    let repo = crate::schema::load(&[INTEROP_NS], sample_ns, cfg.schemas.as_deref())?;
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    let indications = IndicationService::install(
        &mut registry,
        &mut profiles,
        args.indications.config(&cfg.state_dir),
    );
    if args.sample {
        SampleProvider::install(&mut registry, args.sample_items).publish_to(indications.sink());
    }
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
    indications.start(shutdown_signal());
    let running = transport::serve(
        transport_config(&cfg),
        users,
        Dispatcher::new(cimom),
        None,
        shutdown_signal(),
    )
    .await
    .context("starting the WBEM server")?;
    if let Some(a) = running.http {
        println!("wbem: http://{a}");
    }
    if let Some(a) = running.https {
        println!("wbem: https://{a}");
    }
    tracing::info!("serving; Ctrl-C stops");
    running.wait().await;
    Ok(())
}
