//! Server certificate for HTTPS: a self-signed one generated at first start
//! and kept in `<state_dir>/tls/`, or PEM files given by the operator.
//! rustls runs on the ring provider (no cmake, quick builds).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsSource;

/// Errors of setting up the server certificate.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The `<state_dir>/tls` directory could not be created.
    #[error("create certificate directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Generating the self-signed certificate failed.
    #[error("generate self-signed certificate")]
    GenerateCertificate(#[source] rcgen::Error),
    /// Writing the generated certificate or key failed.
    #[error("write {path}")]
    WriteFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The certificate file could not be read.
    #[error("read certificate {path}")]
    ReadCertificate {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The certificate file is not PEM certificates.
    #[error("parse certificate {path}")]
    ParseCertificate {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("no certificate in {path}")]
    NoCertificate { path: PathBuf },
    /// The key file could not be read.
    #[error("read private key {path}")]
    ReadKey {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key file holds no usable PEM private key.
    #[error("parse private key {path}")]
    ParseKey {
        path: PathBuf,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    /// rustls refused the certificate and key (e.g. they do not match).
    #[error("build TLS configuration")]
    Config(#[source] rustls::Error),
}

/// Paths of the generated certificate and key in a state directory.
pub fn generated_paths(state_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = state_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Make sure `<state_dir>/tls/cert.pem` and `key.pem` exist, generating a
/// self-signed pair (for localhost, 127.0.0.1, ::1 and this host's name)
/// when either is missing. Returns their paths.
pub fn ensure_self_signed(state_dir: &Path) -> Result<(PathBuf, PathBuf), TlsError> {
    let (cert_path, key_path) = generated_paths(state_dir);
    if cert_path.is_file() && key_path.is_file() {
        return Ok((cert_path, key_path));
    }
    let dir = state_dir.join("tls");
    fs::create_dir_all(&dir).map_err(|source| TlsError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(host) = fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(TlsError::GenerateCertificate)?;
    // Key first, so a crash in between leaves no certificate without its key.
    write_atomic(
        &key_path,
        generated.key_pair.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_atomic(&cert_path, generated.cert.pem().as_bytes(), 0o644)?;
    tracing::info!(cert = %cert_path.display(), "generated self-signed certificate");
    Ok((cert_path, key_path))
}

/// Load (or first generate) the certificate and build the rustls config.
pub fn server_config(source: &TlsSource) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let (cert_path, key_path) = match source {
        TlsSource::Generate { state_dir } => ensure_self_signed(state_dir)?,
        TlsSource::Files { cert, key } => (cert.clone(), key.clone()),
    };
    let certs = load_certs(&cert_path)?;
    let key = load_key(&key_path)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Read all PEM certificates of a file (leaf first).
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = fs::read(path).map_err(|source| TlsError::ReadCertificate {
        path: path.to_owned(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::ParseCertificate {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = fs::read(path).map_err(|source| TlsError::ReadKey {
        path: path.to_owned(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|source| TlsError::ParseKey {
        path: path.to_owned(),
        source,
    })
}

fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<(), TlsError> {
    let tmp = path.with_extension(format!("pem.tmp-{}", std::process::id()));
    let result = (|| {
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = opts.open(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| TlsError::WriteFile {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ensure_self_signed(dir.path()).unwrap();
        let first = fs::read(&cert).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&key).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        ensure_self_signed(dir.path()).unwrap();
        assert_eq!(fs::read(&cert).unwrap(), first);
        let source = TlsSource::Files { cert, key };
        assert!(server_config(&source).is_ok());
    }

    #[test]
    fn bad_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsSource::Files {
            cert: dir.path().join("nope.pem"),
            key: dir.path().join("nokey.pem"),
        };
        assert!(matches!(
            server_config(&missing),
            Err(TlsError::ReadCertificate { .. })
        ));
        let empty = dir.path().join("empty.pem");
        fs::write(&empty, "not pem").unwrap();
        assert!(matches!(
            load_certs(&empty),
            Err(TlsError::NoCertificate { .. })
        ));
    }
}
