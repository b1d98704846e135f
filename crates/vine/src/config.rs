//! Serving configuration: the raw form (flags and TOML file), validated
//! into what the server needs, with errors that say what to fix.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where a serving sub-command listens and keeps its state. Every field is
/// optional here; [`ServeConfig::resolve`] fills defaults.
#[derive(Clone, Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// HTTP listen address, `off` to disable [default: 127.0.0.1:5988]
    #[arg(long, value_name = "ADDR")]
    pub http: Option<String>,
    /// HTTPS listen address, `off` to disable [default: 127.0.0.1:5989]
    #[arg(long, value_name = "ADDR")]
    pub https: Option<String>,
    /// Directory for the certificate, users file and data [default: ~/.local/share/vine]
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// PEM certificate for HTTPS (default: a self-signed one kept in the state dir)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Largest request body accepted, in bytes [default: 16777216]
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<u64>,
    /// Read MOF from this directory instead of the schemas built into vine
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,
    /// Host name written into full object paths [default: the system host name]
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{what} `{value}` is not an address like 127.0.0.1:5988 (or `off`)")]
    Address { what: &'static str, value: String },
    #[error("both --http and --https are off: nothing to serve")]
    NothingToServe,
    #[error("no state directory: set --state-dir or HOME")]
    NoStateDir,
}

/// A validated serving configuration.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub state_dir: PathBuf,
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub max_body_bytes: u64,
    pub schemas: Option<PathBuf>,
    pub host_name: String,
}

fn addr(
    what: &'static str,
    v: Option<&str>,
    default: &str,
) -> Result<Option<SocketAddr>, ConfigError> {
    let v = v.unwrap_or(default);
    if v.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    v.parse().map(Some).map_err(|_| ConfigError::Address {
        what,
        value: v.to_string(),
    })
}

impl ServeArgs {
    /// Reads a TOML file with the same keys as the flags (`http`,
    /// `https`, `state_dir`, …); flags given on the command line win.
    pub fn merge_file(self, path: &Path) -> Result<ServeArgs, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file: ServeArgs = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(ServeArgs {
            http: self.http.or(file.http),
            https: self.https.or(file.https),
            state_dir: self.state_dir.or(file.state_dir),
            tls_cert: self.tls_cert.or(file.tls_cert),
            tls_key: self.tls_key.or(file.tls_key),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes),
            schemas: self.schemas.or(file.schemas),
            host_name: self.host_name.or(file.host_name),
        })
    }
}

/// The default state directory, `~/.local/share/vine`.
pub fn default_state_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/vine"))
}

fn system_host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl ServeConfig {
    /// Validates `args`, filling defaults.
    pub fn resolve(
        args: ServeArgs,
        default_http: &str,
        default_https: &str,
    ) -> Result<ServeConfig, ConfigError> {
        let http = addr("--http", args.http.as_deref(), default_http)?;
        let https = addr("--https", args.https.as_deref(), default_https)?;
        if http.is_none() && https.is_none() {
            return Err(ConfigError::NothingToServe);
        }
        Ok(ServeConfig {
            http,
            https,
            state_dir: args
                .state_dir
                .or_else(default_state_dir)
                .ok_or(ConfigError::NoStateDir)?,
            tls_files: args.tls_cert.zip(args.tls_key),
            max_body_bytes: args.max_body_bytes.unwrap_or(16 * 1024 * 1024),
            schemas: args.schemas,
            host_name: args.host_name.unwrap_or_else(system_host_name),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_off() {
        let c = ServeConfig::resolve(
            ServeArgs {
                https: Some("off".into()),
                state_dir: Some("/tmp/x".into()),
                ..Default::default()
            },
            "127.0.0.1:5988",
            "127.0.0.1:5989",
        )
        .unwrap();
        assert_eq!(c.http, Some("127.0.0.1:5988".parse().unwrap()));
        assert_eq!(c.https, None);
    }

    #[test]
    fn bad_address_names_the_flag() {
        let e = ServeConfig::resolve(
            ServeArgs {
                http: Some("localhost".into()),
                ..Default::default()
            },
            "127.0.0.1:5988",
            "127.0.0.1:5989",
        )
        .unwrap_err();
        assert!(e.to_string().contains("--http `localhost`"), "{e}");
    }

    #[test]
    fn both_off_is_refused() {
        let args = ServeArgs {
            http: Some("off".into()),
            https: Some("OFF".into()),
            ..Default::default()
        };
        assert!(matches!(
            ServeConfig::resolve(args, "a", "b"),
            Err(ConfigError::NothingToServe)
        ));
    }

    #[test]
    fn file_values_fill_gaps_and_flags_win() {
        let dir = std::env::temp_dir().join(format!("vine-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, "http = \"127.0.0.1:1\"\nhttps = \"off\"\n").unwrap();
        let merged = ServeArgs {
            http: Some("127.0.0.1:2".into()),
            ..Default::default()
        }
        .merge_file(&f)
        .unwrap();
        assert_eq!(merged.http.as_deref(), Some("127.0.0.1:2"));
        assert_eq!(merged.https.as_deref(), Some("off"));
        std::fs::write(&f, "htp = 1\n").unwrap();
        let err = ServeArgs::default().merge_file(&f).unwrap_err();
        assert!(err.to_string().contains("htp"), "{err}");
    }
}
