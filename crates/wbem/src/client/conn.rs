//! HTTP/1.1 connections to a WBEM server, plain or TLS, kept in a small
//! pool so consecutive calls reuse them (DSP0200 servers keep alive).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::ClientError;

/// How the client checks the server's certificate.
#[derive(Clone, Debug)]
pub enum TlsVerify {
    /// Trust only these PEM certificates (e.g. the server's self-signed one).
    CaFile(std::path::PathBuf),
    /// Accept any certificate: for tests and first contact only.
    Insecure,
}

/// A small pool of HTTP/1.1 connections to one server, plain or TLS; the
/// WBEM client uses it, and so does the REST client of `vine-console`.
pub struct Pool {
    host: String,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Pool {
    pub fn new(host: &str, port: u16, tls: Option<&TlsVerify>) -> Result<Self, ClientError> {
        let tls = match tls {
            None => None,
            Some(v) => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let builder = ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
                let config = match v {
                    TlsVerify::Insecure => builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                        .with_no_client_auth(),
                    TlsVerify::CaFile(path) => {
                        let pem = std::fs::read(path)
                            .map_err(|e| ClientError::Tls(format!("{}: {e}", path.display())))?;
                        let mut roots = rustls::RootCertStore::empty();
                        for cert in rustls_pemfile_certs(&pem) {
                            roots
                                .add(cert)
                                .map_err(|e| ClientError::Tls(e.to_string()))?;
                        }
                        builder.with_root_certificates(roots).with_no_client_auth()
                    }
                };
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
                Some((TlsConnector::from(Arc::new(config)), name))
            }
        };
        Ok(Pool {
            host: host.to_string(),
            port,
            tls,
            idle: Mutex::new(Vec::new()),
        })
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, ClientError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| ClientError::Connect(format!("{}:{}: {e}", self.host, self.port)))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => handshake(TokioIo::new(tcp)).await,
            Some((connector, name)) => {
                let stream = connector
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| ClientError::Tls(e.to_string()))?;
                handshake(TokioIo::new(stream)).await
            }
        }
    }

    /// Sends one request, on an idle connection if one is ready.
    pub async fn send(
        &self,
        req: http::Request<Full<Bytes>>,
    ) -> Result<(http::response::Parts, Bytes), ClientError> {
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            let mut found = None;
            while let Some(s) = idle.pop() {
                if !s.is_closed() {
                    found = Some(s);
                    break;
                }
            }
            found
        };
        // A peer that closes after each answer (HTTP/1.0 listeners do) can
        // leave a pooled connection that looks open until polled; it fails
        // in `ready`, before anything is sent, so a fresh one is safe.
        let reused = match idle {
            Some(mut s) => s.ready().await.is_ok().then_some(s),
            None => None,
        };
        let mut sender = match reused {
            Some(s) => s,
            None => {
                let mut s = self.connect().await?;
                s.ready()
                    .await
                    .map_err(|e| ClientError::Http(e.to_string()))?;
                s
            }
        };
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let bytes = body
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        self.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(sender);
        Ok((parts, bytes))
    }
}

async fn handshake<T>(io: TokioIo<T>) -> Result<SendRequest<Full<Bytes>>, ClientError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| ClientError::Http(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "WBEM client connection ended");
        }
    });
    Ok(sender)
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

#[derive(Debug)]
struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
