//! `vine bench wbem`: a load generator against a real `vine wbem serve`
//! child process over loopback. Prints operations per second, p50/p99
//! latency and the server's resident memory. `vine bench agent` (in
//! `bench_agent.rs`) does the same against `vine agent`.

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use vine_cim::CimInstanceName;
use vine_wbem::client::{ClientConfig, EnumArgs, TlsVerify, WbemClient};
use vine_wbem::sample::SAMPLE_NS;

/// `vine bench …`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {
    /// EnumerateInstances of 1, 1,000 and 10,000 instances; GetInstance
    /// with 1 and 32 connections
    Wbem {
        /// Seconds per measurement
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Instance counts to enumerate
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 1000, 10000])]
        sizes: Vec<usize>,
        /// Concurrent connections for GetInstance
        #[arg(long, value_delimiter = ',', default_values_t = [1usize, 32])]
        connections: Vec<usize>,
    },
    /// `vine agent` on a test-driver host: RSS with 0 and N VMs,
    /// EnumerateInstances of CIM_ComputerSystem, DefineSystem→running
    Agent(crate::bench_agent::AgentBenchArgs),
    /// A manager over N simulated hosts: resync time, memory, `vine vm ls`
    /// latency, create-VM throughput
    Manager(crate::bench_manager::ManagerBenchArgs),
    /// Serves N agents in one process for `bench manager`
    #[command(hide = true)]
    AgentFarm(crate::bench_manager::FarmArgs),
}

pub(crate) const PASSWORD: &str = "bench-password";

/// A `vine` child process serving WBEM on a loopback port.
pub(crate) struct Server {
    child: tokio::process::Child,
    url: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Server {
    async fn start(items: usize) -> Result<Server> {
        let dir = std::env::temp_dir().join(format!("vine-bench-{}-{items}", std::process::id()));
        let items = items.to_string();
        Server::spawn(
            &[
                "wbem",
                "serve",
                "--sample",
                "--sample-items",
                items.as_str(),
            ],
            dir,
        )
        .await
    }

    /// Runs `vine <args> --http 127.0.0.1:0 --https off --state-dir <dir>`
    /// and waits for its `wbem: URL` line; `dir` is removed afterwards.
    pub(crate) async fn spawn(args: &[&str], dir: std::path::PathBuf) -> Result<Server> {
        std::fs::create_dir_all(&dir)?;
        let exe = std::env::current_exe().context("locating the vine binary")?;
        let mut child = tokio::process::Command::new(exe)
            .args(args)
            .args(["--http", "127.0.0.1:0", "--https", "off"])
            .arg("--state-dir")
            .arg(&dir)
            .env("VINE_ADMIN_PASSWORD", PASSWORD)
            .env("VINE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting vine wbem serve")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(l) = lines.next_line().await? {
                if let Some(u) = l.strip_prefix("wbem: ") {
                    return Ok::<_, std::io::Error>(Some(u.to_string()));
                }
            }
            Ok(None)
        })
        .await
        .context("the server did not start within 60 s")??
        .context("the server exited before listening")?;
        Ok(Server {
            child,
            url,
            _dir: TempDir(dir),
        })
    }

    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    pub(crate) fn client(&self) -> Result<WbemClient> {
        Ok(WbemClient::new(&ClientConfig {
            url: self.url.clone(),
            user: "admin".into(),
            password: PASSWORD.into(),
            tls: TlsVerify::Insecure,
            timeout: Duration::from_secs(120),
        })?)
    }
}

pub(crate) struct Stats {
    pub(crate) ops: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latencies: Vec<Duration>,
}

impl Stats {
    pub(crate) fn line(&mut self, what: &str, rss: Option<u64>) {
        self.latencies.sort();
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 * p).ceil() as usize)
                .clamp(1, self.latencies.len().max(1))
                - 1;
            self.latencies.get(i).copied().unwrap_or_default()
        };
        println!(
            "{what:<44} {:>10.1} ops/s  p50 {:>9.3} ms  p99 {:>9.3} ms  server RSS {:>7} KiB",
            self.ops as f64 / self.elapsed.as_secs_f64(),
            pct(0.50).as_secs_f64() * 1e3,
            pct(0.99).as_secs_f64() * 1e3,
            rss.map(|r| r.to_string()).unwrap_or_else(|| "?".into()),
        );
    }
}

/// Runs `conns` workers calling `op` until `dur` has passed.
pub(crate) async fn measure<F, Fut>(
    conns: usize,
    dur: Duration,
    clients: Vec<Arc<WbemClient>>,
    op: F,
) -> Result<Stats>
where
    F: Fn(Arc<WbemClient>, usize) -> Fut + Send + Sync + 'static + Clone,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conns {
        let client = clients[w % clients.len()].clone();
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = w;
            while start.elapsed() < dur {
                let t = Instant::now();
                op(client.clone(), i).await?;
                lat.push(t.elapsed());
                i += conns;
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await??);
    }
    Ok(Stats {
        ops: latencies.len(),
        elapsed: start.elapsed(),
        latencies,
    })
}

/// Runs a benchmark.
pub async fn run(cmd: BenchCmd) -> Result<()> {
    let (seconds, sizes, connections) = match cmd {
        BenchCmd::Wbem {
            seconds,
            sizes,
            connections,
        } => (seconds, sizes, connections),
        BenchCmd::Agent(args) => return crate::bench_agent::run(args).await,
        BenchCmd::Manager(args) => return crate::bench_manager::run(args).await,
        BenchCmd::AgentFarm(args) => return crate::bench_manager::farm(args).await,
    };
    if seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    let dur = Duration::from_secs(seconds);
    println!("vine bench wbem: {seconds} s per line, HTTP on loopback, server in its own process");
    for &n in &sizes {
        let server = Server::start(n).await?;
        let client = Arc::new(server.client()?);
        let got = client
            .enumerate_instances(SAMPLE_NS, "VINE_SampleItem", &EnumArgs::default())
            .await?
            .len();
        if got != n {
            bail!("expected {n} instances, the server returned {got}");
        }
        let mut s = measure(1, dur, vec![client.clone()], |c, _| async move {
            c.enumerate_instances(SAMPLE_NS, "VINE_SampleItem", &EnumArgs::default())
                .await?;
            Ok(())
        })
        .await?;
        s.line(
            &format!("EnumerateInstances, {n} instances, 1 conn"),
            server.rss_kib(),
        );
        if n >= 1000 {
            for &conns in &connections {
                // One client (one connection pool) per worker, so each
                // worker really holds its own connection.
                let clients: Vec<Arc<WbemClient>> = (0..conns)
                    .map(|_| server.client().map(Arc::new))
                    .collect::<Result<_>>()?;
                let n_items = n;
                let mut s = measure(conns, dur, clients, move |c, i| async move {
                    let path = CimInstanceName::new("VINE_SampleItem")
                        .with_key("InstanceID", format!("item-{}", i % n_items));
                    c.get_instance(SAMPLE_NS, &path, &EnumArgs::default())
                        .await?;
                    Ok(())
                })
                .await?;
                s.line(
                    &format!("GetInstance, {n} instances, {conns} conn"),
                    server.rss_kib(),
                );
            }
        }
    }
    Ok(())
}
