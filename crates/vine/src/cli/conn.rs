//! How a client command reaches the manager: flags and environment turned
//! into an [`ApiClient`], and every failure turned into a message that says
//! what to do and an exit code a script can test.

use std::path::{Path, PathBuf};

use serde_json::Value;
use vine_console::{ApiClient, ApiError};
use vine_wbem::client::{ClientError, TlsVerify};

/// Exit codes, as `--help` shows them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0    done
  1    the job failed or was cancelled, or the manager failed (HTTP 5xx)
  2    bad usage or input the manager refused: unknown name, conflict, no
       room (HTTP 400/404/409/422); the manager's reason is printed
  3    cannot reach the manager, TLS verification failed, or the
       credentials were refused (HTTP 401/403)
  130  interrupted while waiting for a job (the job goes on)";

/// Where the CLI finds the manager when nothing says otherwise: `vine up`'s
/// API address.
const DEFAULT_API: &str = "https://127.0.0.1:8443";

/// Connection and output flags shared by `vine host|vm|pool|vs|job`.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Connection and output")]
pub struct ConnArgs {
    /// The manager's API URL (`vine up` prints it as `api: URL`)
    #[arg(long, global = true, env = "VINE_API", default_value = DEFAULT_API, value_name = "URL")]
    pub api: String,
    /// User name
    #[arg(long, global = true, env = "VINE_USER", default_value = "admin")]
    pub user: String,
    /// File holding the password (else VINE_PASSWORD, else the
    /// `admin-password` a `vine up` keeps in --state-dir)
    #[arg(long, global = true, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// A `vine up` state directory to take the admin password and the
    /// manager's certificate from [default: ~/.local/share/vine/up]
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Trust this PEM certificate (the manager's self-signed one, or its CA)
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "insecure")]
    pub ca: Option<PathBuf>,
    /// Accept any certificate the manager shows (no verification)
    #[arg(long, global = true)]
    pub insecure: bool,
    /// Output: aligned tables, or the API's JSON as is
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

/// Why a command failed; each kind has its exit code.
#[derive(Debug)]
pub enum CliError {
    /// The operation ran and failed: a job failed or was cancelled, or the
    /// manager broke (exit 1).
    Failed(String),
    /// The request was wrong or refused (exit 2).
    Usage(String),
    /// No conversation with the manager: connection, TLS, credentials
    /// (exit 3).
    Unreachable(String),
    /// Ctrl-C while waiting (exit 130).
    Interrupted(String),
}

impl CliError {
    pub fn code(&self) -> i32 {
        match self {
            CliError::Failed(_) => 1,
            CliError::Usage(_) => 2,
            CliError::Unreachable(_) => 3,
            CliError::Interrupted(_) => 130,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            CliError::Failed(m)
            | CliError::Usage(m)
            | CliError::Unreachable(m)
            | CliError::Interrupted(m) => m,
        }
    }
}

pub type Result<T> = std::result::Result<T, CliError>;

/// A connected command: the client, the output format, and what to tell
/// the user when TLS fails.
pub struct Ctx {
    client: ApiClient,
    pub output: Output,
    user: String,
    tls_hint: String,
}

/// The state directory `vine up` uses by default (see `up.rs`).
fn default_up_dir() -> Option<PathBuf> {
    crate::config::default_state_dir().map(|d| d.join("up"))
}

/// Whether `url`'s host is this machine.
fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

/// Where system CA bundles usually are.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

impl ConnArgs {
    fn state_dir(&self) -> Option<PathBuf> {
        self.state_dir.clone().or_else(default_up_dir)
    }

    fn password(&self) -> Result<String> {
        if let Some(f) = &self.password_file {
            let p = std::fs::read_to_string(f).map_err(|e| {
                CliError::Usage(format!("cannot read --password-file {}: {e}", f.display()))
            })?;
            return Ok(p.trim_end_matches(['\r', '\n']).to_string());
        }
        if let Ok(p) = std::env::var("VINE_PASSWORD") {
            if !p.is_empty() {
                return Ok(p);
            }
        }
        // `vine up` keeps the one admin password in its state directory.
        let dir = self.state_dir();
        if self.user == "admin" {
            if let Some(d) = &dir {
                if let Ok(p) = std::fs::read_to_string(d.join("admin-password")) {
                    let p = p.trim().to_string();
                    if !p.is_empty() {
                        return Ok(p);
                    }
                }
            }
        }
        Err(CliError::Usage(format!(
            "no password for user {}: pass --password-file FILE or set VINE_PASSWORD{}",
            self.user,
            match dir {
                Some(d) if self.user == "admin" => format!(
                    " (no `vine up` password in {}; point --state-dir at its state directory)",
                    d.display()
                ),
                _ => String::new(),
            }
        )))
    }

    /// How to check the manager's certificate: --insecure, --ca, the
    /// certificate of a local `vine up`, else the system's CAs.
    fn tls(&self) -> Result<TlsVerify> {
        if self.insecure || !self.api.starts_with("https://") {
            return Ok(TlsVerify::Insecure);
        }
        if let Some(ca) = &self.ca {
            if !ca.is_file() {
                return Err(CliError::Usage(format!(
                    "--ca {}: no such file",
                    ca.display()
                )));
            }
            return Ok(TlsVerify::CaFile(ca.clone()));
        }
        if is_loopback(&self.api) {
            if let Some(d) = self.state_dir() {
                let cert = up_cert(&d);
                if cert.is_file() {
                    return Ok(TlsVerify::CaFile(cert));
                }
            }
        }
        match SYSTEM_BUNDLES.iter().map(Path::new).find(|p| p.is_file()) {
            Some(b) => Ok(TlsVerify::CaFile(b.to_path_buf())),
            None => Err(CliError::Usage(format!(
                "no system CA certificates to verify {} with: {}",
                self.api,
                self.tls_hint()
            ))),
        }
    }

    fn tls_hint(&self) -> String {
        let up = self
            .state_dir()
            .map(|d| up_cert(&d).display().to_string())
            .unwrap_or_else(|| "<state-dir>/manager/tls/cert.pem".into());
        format!(
            "pass --ca FILE with the manager's certificate (vine up keeps it in {up}; \
             vine manager in <its state dir>/tls/cert.pem), or --insecure to accept any certificate"
        )
    }

    /// Connects (lazily: nothing is sent yet).
    pub fn connect(&self) -> Result<Ctx> {
        let password = self.password()?;
        let client =
            ApiClient::new(&self.api, &self.user, &password, self.tls()?).map_err(|e| match e {
                ApiError::Url(u) => CliError::Usage(format!(
                    "--api {u} is not an API URL: use http(s)://host:port, as `vine up` prints it"
                )),
                ApiError::Transport { source, .. } => CliError::Usage(format!(
                    "cannot use the TLS settings: {source}; {}",
                    self.tls_hint()
                )),
                other => CliError::Usage(other.to_string()),
            })?;
        Ok(Ctx {
            client,
            output: self.output,
            user: self.user.clone(),
            tls_hint: self.tls_hint(),
        })
    }
}

/// The certificate of the manager of a `vine up` in `dir`.
fn up_cert(dir: &Path) -> PathBuf {
    dir.join("manager").join("tls").join("cert.pem")
}

/// `s` as one URL path segment (or query value): everything but the
/// unreserved characters percent-encoded, `/` included.
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Ctx {
    fn error(&self, e: ApiError) -> CliError {
        let base = self.client.base().to_string();
        match e {
            ApiError::Status { status, detail, .. } => match status {
                401 => CliError::Unreachable(format!(
                    "the manager refused the credentials of user {}: {detail}; check --user and \
                     --password-file (or VINE_PASSWORD)",
                    self.user
                )),
                403 => CliError::Unreachable(format!("not allowed: {detail}")),
                400..=499 => CliError::Usage(detail),
                _ => CliError::Failed(format!("the manager failed (HTTP {status}): {detail}")),
            },
            ApiError::Transport { source, .. } => match source {
                ClientError::Tls(m) => CliError::Unreachable(format!(
                    "TLS with {base} failed: {m}\nTo trust the manager, {}",
                    self.tls_hint
                )),
                ClientError::Connect(m) => CliError::Unreachable(format!(
                    "cannot reach the manager at {base} ({m}); is it running? Give its address \
                     with --api URL or VINE_API (`vine up` prints it as `api: URL`)"
                )),
                other => {
                    let hint = if base.starts_with("http://") {
                        "; if the manager serves HTTPS, use an https:// URL"
                    } else {
                        ""
                    };
                    CliError::Unreachable(format!(
                        "cannot talk to the manager at {base}: {other}{hint}"
                    ))
                }
            },
            ApiError::Url(u) => CliError::Usage(format!("bad API URL {u}")),
            ApiError::Decode(m) => CliError::Failed(format!(
                "the manager's answer is not the JSON expected: {m}"
            )),
        }
    }

    /// `GET path` (below `/api/v1`).
    pub async fn get(&self, path: &str) -> Result<Value> {
        self.client.get(path).await.map_err(|e| self.error(e))
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.client
            .post(path, body)
            .await
            .map_err(|e| self.error(e))
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        self.client
            .patch(path, body)
            .await
            .map_err(|e| self.error(e))
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value> {
        self.client.delete(path).await.map_err(|e| self.error(e))
    }

    pub fn json(&self) -> bool {
        self.output == Output::Json
    }
}

/// Prints `v` as the API gave it.
pub fn print_json(v: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded_whole() {
        assert_eq!(seg("host/host-1"), "host%2Fhost-1");
        assert_eq!(seg("web 1"), "web%201");
        assert_eq!(seg("a.b_c~d-e"), "a.b_c~d-e");
        assert_eq!(seg("é"), "%C3%A9");
    }

    #[test]
    fn loopback_urls_are_recognised() {
        assert!(is_loopback("https://127.0.0.1:8443"));
        assert!(is_loopback("https://localhost:8443/api/v1"));
        assert!(is_loopback("https://[::1]:8443"));
        assert!(!is_loopback("https://10.0.0.5:8443"));
        assert!(!is_loopback("https://manager.example"));
    }

    #[test]
    fn exit_codes_follow_the_kind_of_failure() {
        assert_eq!(CliError::Failed(String::new()).code(), 1);
        assert_eq!(CliError::Usage(String::new()).code(), 2);
        assert_eq!(CliError::Unreachable(String::new()).code(), 3);
        assert!(EXIT_CODES.contains("401/403"));
    }
}
