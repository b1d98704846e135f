//! DSP0200 HTTP(S) transport of the WBEM server, independent of CIM-XML.
//!
//! Where to begin: [`serve`] binds the HTTP and HTTPS listeners of a
//! [`ServerConfig`] and answers CIM-XML requests by handing each
//! authenticated, header-checked [`OperationRequest`] to an
//! [`OperationHandler`] (the dispatcher) and export requests to an optional
//! [`ExportHandler`] (an indication listener).
//!
//! For each request, in order (first failure answers):
//! 1. method POST or M-POST (else 405), path `/cimom` or `/` (else 404),
//!    HTTP/1.1 needs `Host` (else 400); M-POST needs a `Man` header declaring
//!    the DMTF mapping, whose `ns=NN` prefixes the CIM headers (else 510);
//! 2. HTTP Basic auth against the users file (else 401 + challenge);
//! 3. `CIMOperation: MethodCall` or `CIMExport: MethodRequest`
//!    (else 400 unsupported-operation), no `CIMBatch` (501
//!    multiple-requests-unsupported), `CIMProtocolVersion` 1.x or absent
//!    (501 unsupported-protocol-version), `CIMMethod`/`CIMObject` present
//!    and URI-decodable (400 header-mismatch), XML content type with
//!    charset utf-8 (400 request-not-valid);
//! 4. body at most `max_body_bytes` (413) and UTF-8 (400 request-not-valid);
//! 5. the handler's answer: a CIM-XML body, sent with `CIMStatusCode`
//!    trailers when the client sent `TE: trailers`, or a [`CimErrorHeader`].

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use crate::auth;

/// Response body with optional trailers.
mod body;
/// `CIMError` header values and their HTTP statuses.
mod cim_error;
/// Parsing and checking of the DSP0200 request headers.
mod headers;
/// Listeners, connections, timeouts and shutdown.
mod server;
/// Per-request handling: auth, checks, handler call, response.
mod service;
/// Server certificate: generated self-signed or loaded from files.
pub mod tls;

pub use cim_error::CimErrorHeader;
#[doc(hidden)]
pub use headers::{fuzz_check_header_block, fuzz_uri_decode};
pub use server::{serve, RunningServer};

/// Boxed future returned by the handler traits (no `async_trait` needed).
pub type HandlerFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A CIM operation request that passed the HTTP checks.
#[derive(Debug, Clone)]
pub struct OperationRequest {
    /// The authenticated user.
    pub user: auth::Principal,
    /// `CIMMethod` header, URI-decoded: an intrinsic operation name
    /// (`EnumerateInstances`) or an extrinsic method name.
    pub cim_method: String,
    /// `CIMObject` header, URI-decoded: a namespace (`root/cimv2`) or an
    /// object path.
    pub cim_object: String,
    /// `CIMProtocolVersion` header, `"1.0"` when absent.
    pub protocol_version: String,
    /// The request body, within the size limit and valid UTF-8.
    pub body: bytes::Bytes,
}

/// The handler's answer to an operation or export request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperationResponse {
    /// A CIM-XML message body (may contain an ERROR element). `status` is the
    /// CIM status code for the `CIMStatusCode` trailer (0 = success) and
    /// `description` the `CIMStatusCodeDescription` trailer.
    Body {
        xml: Vec<u8>,
        status: u32,
        description: Option<String>,
    },
    /// Reject at the HTTP level with a `CIMError` header (DSP0200).
    Rejected(CimErrorHeader),
}

/// Handles CIM operation requests (`CIMOperation: MethodCall`).
pub trait OperationHandler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(&self, req: OperationRequest) -> HandlerFuture<'_, OperationResponse>;
}

/// An export request (`CIMExport: MethodRequest`), e.g. an indication
/// delivered to a listener.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The authenticated user; an empty name when the handler
    /// [authenticates senders itself](ExportHandler::authenticates_senders)
    /// and the request carried no valid credentials.
    pub user: auth::Principal,
    /// `CIMExportMethod` header, URI-decoded (e.g. `ExportIndication`).
    pub export_method: String,
    /// The request URI's query string, raw (`host=a&key=…`): a listener
    /// may put what identifies a sender in the destination URL it hands out.
    pub query: Option<String>,
    /// `CIMProtocolVersion` header, `"1.0"` when absent.
    pub protocol_version: String,
    /// The request body, within the size limit and valid UTF-8.
    pub body: bytes::Bytes,
}

/// The answer to an export request: same shape as an operation's.
pub type ExportResponse = OperationResponse;

/// Handles export requests; optional in [`serve`].
pub trait ExportHandler: Send + Sync + 'static {
    /// Answer one request.
    fn handle(&self, req: ExportRequest) -> HandlerFuture<'_, ExportResponse>;

    /// True when the handler checks senders itself (e.g. by a key in the
    /// destination URL it gave them): export requests then reach it
    /// without HTTP Basic credentials, which DSP1054 indication senders
    /// (vine agents among them) do not send.
    fn authenticates_senders(&self) -> bool {
        false
    }
}

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// Self-signed, generated at first start into
    /// `<state_dir>/tls/cert.pem` and `key.pem` and reused afterwards.
    Generate { state_dir: PathBuf },
    /// PEM certificate chain and private key given by the operator.
    Files { cert: PathBuf, key: PathBuf },
}

/// Default HTTP listen address (DSP0200 registered port 5988).
pub const DEFAULT_HTTP_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5988);
/// Default HTTPS listen address (port 5989).
pub const DEFAULT_HTTPS_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 5989);

/// What [`serve`] listens on and how it limits clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Plain HTTP address; `None` disables HTTP.
    pub http: Option<SocketAddr>,
    /// HTTPS address; `None` disables HTTPS.
    pub https: Option<SocketAddr>,
    /// Certificate source for HTTPS.
    pub tls: TlsSource,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: u64,
    /// Time allowed to receive a request's headers (and a TLS handshake).
    /// It also bounds how long a keep-alive connection waits for its next
    /// request, as hyper starts this timer as soon as it waits for headers.
    pub header_timeout: Duration,
    /// A connection with no request in progress for this long is closed.
    pub idle_timeout: Duration,
    /// How long shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
    /// Realm of the `WWW-Authenticate` challenge.
    pub realm: String,
}

impl ServerConfig {
    /// Defaults: 127.0.0.1:5988 and :5989, 16 MiB bodies, 30 s header
    /// timeout, 15 s idle timeout, realm `vine`.
    pub fn new(tls: TlsSource) -> Self {
        ServerConfig {
            http: Some(DEFAULT_HTTP_ADDR),
            https: Some(DEFAULT_HTTPS_ADDR),
            tls,
            max_body_bytes: 16 * 1024 * 1024,
            header_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(15),
            shutdown_grace: Duration::from_secs(10),
            realm: "vine".to_owned(),
        }
    }
}

/// Errors of starting the transport.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Both HTTP and HTTPS are disabled.
    #[error("neither HTTP nor HTTPS address configured")]
    NoListener,
    /// Binding the HTTP listener failed.
    #[error("bind HTTP listener on {addr}")]
    BindHttp {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// Binding the HTTPS listener failed.
    #[error("bind HTTPS listener on {addr}")]
    BindHttps {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// The certificate could not be set up.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}
