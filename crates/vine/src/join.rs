//! Agents joining a manager by themselves.
//!
//! Manager side: the join token (`--join-token-file`, else generated once
//! into `<state-dir>/join-token`), the key behind its indication
//! destinations (`<state-dir>/indication-key`), and the WBEM URL agents
//! call back (`--advertise-wbem`).
//!
//! Agent side (`vine agent --manager URL --join-token-file FILE`):
//! 1. the flags are checked before the agent starts (token readable, TLS
//!    to the manager verified or explicitly not);
//! 2. once its WBEM server listens, the agent POSTs {name, url, labels,
//!    mac} to `/api/v1/hosts/register` with the token as a bearer token
//!    (`mac`, the Wake-on-LAN address, only when one is known: see
//!    [`wol_mac`]);
//! 3. an unreachable manager is retried with a capped back-off; a refusal
//!    (wrong token, bad name) stops the agent with the manager's reason,
//!    since retrying cannot fix it.
//!
//! Every start registers again, so an agent that comes back on another
//! port or address is followed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::json;
use vine_console::{ApiClient, ApiError};
use vine_wbem::client::TlsVerify;

/// The manager's generated join token, in its state directory.
pub const JOIN_TOKEN_FILE: &str = "join-token";
/// The secret behind the manager's indication destinations.
pub const INDICATION_KEY_FILE: &str = "indication-key";
/// Longest wait between two registration attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Reads the secret in `file`, or generates one into it (mode 0600).
/// Returns it and whether it was created now.
pub fn read_or_create_secret(file: &Path) -> Result<(String, bool)> {
    if let Ok(s) = std::fs::read_to_string(file) {
        let s = s.trim().to_string();
        if !s.is_empty() {
            return Ok((s, false));
        }
    }
    let s = vine_wbem::auth::generate_password().context("generating a secret")?;
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    o.mode(0o600);
    o.open(file)
        .and_then(|mut f| f.write_all(s.as_bytes()))
        .with_context(|| format!("writing {}", file.display()))?;
    Ok((s, true))
}

/// The manager's join token and the file it is in.
pub fn manager_token(flag: Option<&Path>, state_dir: &Path) -> Result<(String, PathBuf, bool)> {
    match flag {
        Some(f) => {
            let t = std::fs::read_to_string(f)
                .with_context(|| format!("reading --join-token-file {}", f.display()))?
                .trim()
                .to_string();
            if t.len() < 16 {
                bail!(
                    "--join-token-file {}: the token must be at least 16 characters",
                    f.display()
                );
            }
            Ok((t, f.to_path_buf(), false))
        }
        None => {
            std::fs::create_dir_all(state_dir)
                .with_context(|| format!("creating {}", state_dir.display()))?;
            let f = state_dir.join(JOIN_TOKEN_FILE);
            let (t, created) = read_or_create_secret(&f)?;
            Ok((t, f, created))
        }
    }
}

/// The WBEM URL agents deliver indications to: `--advertise-wbem`, else
/// the manager's HTTP (or HTTPS) listener, which must then be an address
/// agents can reach, not a wildcard.
pub fn advertise_wbem(
    flag: Option<&str>,
    http: Option<SocketAddr>,
    https: Option<SocketAddr>,
) -> Result<String> {
    if let Some(u) = flag {
        let host = u
            .strip_prefix("http://")
            .or_else(|| u.strip_prefix("https://"))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default();
        if host.is_empty() {
            bail!("--advertise-wbem `{u}` must be an http:// or https:// URL, e.g. http://10.0.0.1:5988");
        }
        return Ok(u.trim_end_matches('/').to_string());
    }
    let (scheme, addr) = match (http, https) {
        (Some(a), _) => ("http", a),
        (None, Some(a)) => ("https", a),
        (None, None) => bail!("the manager has no WBEM listener for agents' indications"),
    };
    if addr.ip().is_unspecified() {
        bail!(
            "the manager's WBEM listener is {addr}, which agents cannot call back: \
             give --advertise-wbem {scheme}://<an address agents reach>:{}",
            addr.port()
        );
    }
    Ok(format!("{scheme}://{addr}"))
}

/// `KEY=VALUE` of `--label`.
pub fn parse_label(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE (e.g. rack=a)")),
    }
}

/// Flags of `vine agent` for joining a manager.
#[derive(Debug, Default, clap::Args)]
pub struct JoinArgs {
    /// Join this manager on start: its API URL, e.g. https://mgr:8443
    #[arg(long, value_name = "URL", requires = "join_token_file")]
    pub manager: Option<String>,
    /// File holding the manager's join token (the manager prints where its
    /// own copy is)
    #[arg(long, value_name = "FILE", requires = "manager")]
    pub join_token_file: Option<PathBuf>,
    /// The WBEM URL the manager should call this agent at
    /// [default: http://<the --http address>]
    #[arg(long, value_name = "URL", requires = "manager")]
    pub advertise: Option<String>,
    /// A label for this host, KEY=VALUE (repeatable), e.g. --label rack=a
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label, requires = "manager")]
    pub labels: Vec<(String, String)>,
    /// The manager's certificate (PEM; its state directory's tls/cert.pem)
    #[arg(long, value_name = "PEM", requires = "manager")]
    pub manager_ca_file: Option<PathBuf>,
    /// Accept any certificate from the manager (tests and first contact)
    #[arg(long, conflicts_with = "manager_ca_file", requires = "manager")]
    pub manager_insecure: bool,
}

/// A checked `--manager` setup, before the agent's listener is known.
pub struct Joiner {
    manager: String,
    token: String,
    tls: TlsVerify,
    advertise: Option<String>,
    labels: std::collections::BTreeMap<String, String>,
    /// The Wake-on-LAN MAC the manager wakes this host at, when known.
    mac: Option<String>,
}

impl JoinArgs {
    /// The joiner, when `--manager` is given; errors say which flag to fix.
    pub fn check(&self) -> Result<Option<Joiner>> {
        let Some(manager) = &self.manager else {
            return Ok(None);
        };
        let manager = manager.trim_end_matches('/').to_string();
        let https = manager.starts_with("https://");
        if !https && !manager.starts_with("http://") {
            bail!("--manager `{manager}` must be the manager's API URL, e.g. https://mgr:8443");
        }
        let tls = match (&self.manager_ca_file, self.manager_insecure) {
            (Some(ca), _) => {
                if !ca.exists() {
                    bail!("--manager-ca-file {} does not exist", ca.display());
                }
                TlsVerify::CaFile(ca.clone())
            }
            (None, true) => TlsVerify::Insecure,
            (None, false) if https => bail!(
                "--manager {manager} is https: give --manager-ca-file PEM (the manager's \
                 certificate, tls/cert.pem in its state directory) to verify it, or \
                 --manager-insecure to connect without verifying"
            ),
            (None, false) => TlsVerify::Insecure,
        };
        let Some(file) = &self.join_token_file else {
            bail!("--manager needs --join-token-file FILE");
        };
        let token = std::fs::read_to_string(file)
            .with_context(|| format!("reading --join-token-file {}", file.display()))?
            .trim()
            .to_string();
        if token.is_empty() {
            bail!("--join-token-file {} is empty", file.display());
        }
        if let Some(a) = &self.advertise {
            if !(a.starts_with("http://") || a.starts_with("https://")) {
                bail!(
                    "--advertise `{a}` must be this agent's WBEM URL, e.g. http://10.0.0.5:15988"
                );
            }
        }
        let mut labels = std::collections::BTreeMap::new();
        for (k, v) in &self.labels {
            if labels.insert(k.clone(), v.clone()).is_some() {
                bail!("--label {k} is given twice");
            }
        }
        Ok(Some(Joiner {
            manager,
            token,
            tls,
            advertise: self.advertise.clone(),
            labels,
            mac: None,
        }))
    }
}

impl Joiner {
    /// Sends `mac` (lowercase `aa:bb:..`, see [`wol_mac`]) with the
    /// registration, so the manager can wake this host after powering it
    /// off.
    pub fn with_mac(mut self, mac: Option<String>) -> Self {
        self.mac = mac;
        self
    }

    /// The registration body: name, URL, labels, and the MAC when known.
    fn body(&self, name: &str, url: &str) -> serde_json::Value {
        let mut body = json!({"name": name, "url": url, "labels": self.labels});
        if let Some(mac) = &self.mac {
            body["mac"] = json!(mac);
        }
        body
    }

    /// The URL to register: `--advertise`, else the agent's listener.
    pub fn url(&self, http: Option<SocketAddr>, https: Option<SocketAddr>) -> Result<String> {
        if let Some(a) = &self.advertise {
            return Ok(a.trim_end_matches('/').to_string());
        }
        let (scheme, addr) = match (http, https) {
            (Some(a), _) => ("http", a),
            (None, Some(a)) => ("https", a),
            (None, None) => bail!("the agent has no WBEM listener to register"),
        };
        if addr.ip().is_unspecified() {
            bail!(
                "this agent listens on {addr}, which the manager cannot call: give --advertise \
                 {scheme}://<an address the manager reaches>:{}",
                addr.port()
            );
        }
        Ok(format!("{scheme}://{addr}"))
    }

    /// Registers `name` at `url` until the manager accepts (retrying an
    /// unreachable manager, 1 s doubling to 30 s); a refusal is an error.
    pub async fn register(&self, name: &str, url: &str) -> Result<()> {
        let client = ApiClient::with_bearer(&self.manager, &self.token, self.tls.clone())
            .with_context(|| format!("--manager {}", self.manager))?;
        let body = self.body(name, url);
        let mut wait = Duration::from_secs(1);
        loop {
            match client.post("/hosts/register", &body).await {
                Ok(v) => {
                    tracing::info!(manager = %self.manager, host = name, url, "joined the manager");
                    if v["reachable"] == json!(false) {
                        tracing::warn!(
                            error = v["error"].as_str().unwrap_or("unknown"),
                            "the manager cannot reach this agent at {url}: check --advertise, \
                             the firewall, and the manager's --agent-user/--agent-password-file"
                        );
                    }
                    return Ok(());
                }
                Err(e @ ApiError::Status { status, .. }) if (400..500).contains(&status) => {
                    bail!(
                        "the manager {} refused to register this host: {e}",
                        self.manager
                    );
                }
                Err(e) => {
                    tracing::warn!(manager = %self.manager, error = %e, retry_in = ?wait, "cannot register with the manager yet");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// A MAC address of `--wol-mac`: six hex pairs separated by `:` or `-`,
/// returned lowercase with `:`.
pub fn parse_mac(s: &str) -> std::result::Result<String, String> {
    let s = s.trim();
    let sep = if s.contains('-') { '-' } else { ':' };
    let parts: Vec<&str> = s.split(sep).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if !ok {
        return Err(format!(
            "`{s}` is not a MAC address: give six hex pairs separated by ':' or '-' \
             (e.g. aa:bb:cc:dd:ee:ff)"
        ));
    }
    Ok(parts.join(":").to_ascii_lowercase())
}

/// Reads `<net_dir>/<iface>/<file>`, trimmed.
fn net_attr(net_dir: &Path, iface: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(net_dir.join(iface).join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The MAC of `iface` under `net_dir`, when it has a usable (valid,
/// non-zero) one.
fn iface_mac(net_dir: &Path, iface: &str) -> Option<String> {
    net_attr(net_dir, iface, "address")
        .and_then(|a| parse_mac(&a).ok())
        .filter(|m| m != "00:00:00:00:00:00")
}

/// The MAC the manager wakes this host at (Wake-on-LAN): `--wol-mac`,
/// else that of `--wol-interface`, else found under `net_dir`
/// (`/sys/class/net`): the first interface by name that is not loopback,
/// is up and has a non-zero address, physical NICs (those with a
/// `device` link) before virtual ones, since only a NIC wakes a host.
/// `None` when nothing fits.
pub fn wol_mac(
    flag: Option<&str>,
    interface: Option<&str>,
    net_dir: &Path,
) -> Result<Option<String>> {
    if let Some(m) = flag {
        return parse_mac(m)
            .map(Some)
            .map_err(|e| anyhow::anyhow!("--wol-mac {e}"));
    }
    if let Some(i) = interface {
        if !net_dir.join(i).exists() {
            bail!(
                "--wol-interface {i}: there is no such network interface (see {})",
                net_dir.display()
            );
        }
        return match iface_mac(net_dir, i) {
            Some(m) => Ok(Some(m)),
            None => bail!(
                "--wol-interface {i} has no MAC address: name another interface or give \
                 --wol-mac aa:bb:cc:dd:ee:ff"
            ),
        };
    }
    let Ok(entries) = std::fs::read_dir(net_dir) else {
        return Ok(None);
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    // ARPHRD_LOOPBACK.
    let loopback = |n: &str| n == "lo" || net_attr(net_dir, n, "type").as_deref() == Some("772");
    let up = |n: &str| net_attr(net_dir, n, "operstate").as_deref() == Some("up");
    let usable: Vec<(bool, String)> = names
        .iter()
        .filter(|n| !loopback(n) && up(n))
        .filter_map(|n| {
            let physical = net_dir.join(n).join("device").exists();
            iface_mac(net_dir, n).map(|m| (physical, m))
        })
        .collect();
    Ok(usable
        .iter()
        .find(|(physical, _)| *physical)
        .or_else(|| usable.first())
        .map(|(_, m)| m.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_listeners_need_an_advertised_url() {
        let any: SocketAddr = "0.0.0.0:5988".parse().unwrap();
        let lo: SocketAddr = "127.0.0.1:5988".parse().unwrap();
        let e = advertise_wbem(None, Some(any), None).unwrap_err();
        assert!(e.to_string().contains("--advertise-wbem"), "{e}");
        assert_eq!(
            advertise_wbem(None, Some(lo), None).unwrap(),
            "http://127.0.0.1:5988"
        );
        assert_eq!(
            advertise_wbem(Some("http://10.0.0.1:5988/"), Some(any), None).unwrap(),
            "http://10.0.0.1:5988"
        );
        assert!(advertise_wbem(Some("10.0.0.1:5988"), Some(any), None).is_err());
    }

    #[test]
    fn https_managers_need_a_ca_or_insecure() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "abcdefabcdefabcdef\n").unwrap();
        let mut a = JoinArgs {
            manager: Some("https://mgr:8443".into()),
            join_token_file: Some(token),
            ..Default::default()
        };
        let e = a.check().err().unwrap().to_string();
        assert!(
            e.contains("--manager-ca-file") && e.contains("--manager-insecure"),
            "{e}"
        );
        a.manager_insecure = true;
        let j = a.check().unwrap().unwrap();
        assert_eq!(j.token, "abcdefabcdefabcdef");
        let any: SocketAddr = "0.0.0.0:15988".parse().unwrap();
        assert!(j
            .url(Some(any), None)
            .unwrap_err()
            .to_string()
            .contains("--advertise"));
    }

    #[test]
    fn secrets_are_made_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("join-token");
        let (a, created) = read_or_create_secret(&f).unwrap();
        assert!(created && a.len() >= 16);
        let (b, created) = read_or_create_secret(&f).unwrap();
        assert!(!created);
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(parse_label("rack=a"), Ok(("rack".into(), "a".into())));
        assert!(parse_label("rack").is_err());
    }

    #[test]
    fn macs_are_six_hex_pairs() {
        assert_eq!(parse_mac("AA:bb:CC:dd:EE:01").unwrap(), "aa:bb:cc:dd:ee:01");
        assert_eq!(parse_mac("aa-bb-cc-dd-ee-02").unwrap(), "aa:bb:cc:dd:ee:02");
        for bad in [
            "",
            "aa:bb:cc:dd:ee",
            "aa:bb:cc:dd:ee:ff:00",
            "aa:bb:cc:dd:ee:fg",
            "aabb.ccdd.eeff",
            "a:bb:cc:dd:ee:ff0",
            "aa:bb-cc:dd:ee:ff",
        ] {
            let e = parse_mac(bad).unwrap_err();
            assert!(e.contains("six hex pairs"), "{bad}: {e}");
        }
    }

    /// Lays out `dir/<name>/{address,operstate,type}` like /sys/class/net.
    fn iface(dir: &Path, name: &str, mac: &str, state: &str, physical: bool) {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("address"), format!("{mac}\n")).unwrap();
        std::fs::write(d.join("operstate"), format!("{state}\n")).unwrap();
        let ty = if name == "lo" { "772" } else { "1" };
        std::fs::write(d.join("type"), format!("{ty}\n")).unwrap();
        if physical {
            std::fs::create_dir_all(d.join("device")).unwrap();
        }
    }

    #[test]
    fn the_wol_mac_is_the_first_nic_that_is_up() {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path();
        assert_eq!(wol_mac(None, None, net).unwrap(), None);
        iface(net, "lo", "00:00:00:00:00:00", "unknown", false);
        assert_eq!(wol_mac(None, None, net).unwrap(), None);
        iface(net, "veth1", "02:00:00:00:00:01", "up", false);
        assert_eq!(
            wol_mac(None, None, net).unwrap().as_deref(),
            Some("02:00:00:00:00:01")
        );
        // A NIC that is up wins over a virtual interface, whatever its name.
        iface(net, "eth1", "52:54:00:AA:00:02", "up", true);
        iface(net, "eth0", "52:54:00:aa:00:01", "down", true);
        iface(net, "bond0", "00:00:00:00:00:00", "up", true);
        assert_eq!(
            wol_mac(None, None, net).unwrap().as_deref(),
            Some("52:54:00:aa:00:02")
        );
        iface(net, "eno1", "52:54:00:aa:00:03", "up", true);
        assert_eq!(
            wol_mac(None, None, net).unwrap().as_deref(),
            Some("52:54:00:aa:00:03")
        );
        // Named: even when down.
        assert_eq!(
            wol_mac(None, Some("eth0"), net).unwrap().as_deref(),
            Some("52:54:00:aa:00:01")
        );
        let e = wol_mac(None, Some("lo"), net).unwrap_err().to_string();
        assert!(e.contains("--wol-interface lo has no MAC"), "{e}");
        let e = wol_mac(None, Some("wlan9"), net).unwrap_err().to_string();
        assert!(e.contains("no such network interface"), "{e}");
        // The flag wins.
        assert_eq!(
            wol_mac(Some("AA-BB-CC-DD-EE-FF"), Some("eth0"), net)
                .unwrap()
                .as_deref(),
            Some("aa:bb:cc:dd:ee:ff")
        );
    }

    #[test]
    fn the_registration_carries_the_mac_when_known() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("t");
        std::fs::write(&token, "abcdefabcdefabcdef\n").unwrap();
        let a = JoinArgs {
            manager: Some("http://mgr:8443".into()),
            join_token_file: Some(token),
            ..Default::default()
        };
        let j = a.check().unwrap().unwrap();
        let body = j.body("h1", "http://10.0.0.5:15988");
        assert!(body.get("mac").is_none(), "{body}");
        let j = j.with_mac(Some("aa:bb:cc:dd:ee:ff".into()));
        let body = j.body("h1", "http://10.0.0.5:15988");
        assert_eq!(body["mac"], json!("aa:bb:cc:dd:ee:ff"));
        assert_eq!(body["name"], json!("h1"));
    }
}
