//! A CIM-XML client (DSP0200) for the operations the server implements.
//!
//! The manager uses it to drive agents, the CLI to talk to any WBEM
//! server, and the benchmarks to load one. One [`WbemClient`] keeps its
//! connections alive and may be shared between tasks.

/// Pooled HTTP/1.1 connections, plain or TLS (the indication service
/// delivers through them too).
pub(crate) mod conn;
/// The operations, one method each.
mod ops;

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use vine_cim::{CimError, CimName, CimParamValue};
use vine_cimxml::{
    DecodeLimits, IntrinsicMethod, IntrinsicResponse, MethodResponse, ParamValue, Request,
    RequestMessage, ResponseBody,
};

pub use conn::{Pool as HttpPool, TlsVerify};
pub use ops::{AssocArgs, EnumArgs, PullPage};

/// Where and as whom to connect.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// `http://host:port` or `https://host:port` (path optional, default `/cimom`).
    pub url: String,
    pub user: String,
    pub password: String,
    /// Certificate checking for https URLs.
    pub tls: TlsVerify,
    /// A whole-call time limit.
    pub timeout: std::time::Duration,
}

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a CIM error.
    #[error("{0}")]
    Cim(#[from] CimError),
    /// The URL is not one the client can use.
    #[error("invalid URL `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("HTTP: {0}")]
    Http(String),
    /// HTTP 401: the user or password is wrong.
    #[error("the server refused the credentials (HTTP 401)")]
    Unauthorized,
    /// An HTTP-level rejection, with the `CIMError` header when sent.
    #[error("HTTP {status}{}", cim_error.as_ref().map(|e| format!(" (CIMError: {e})")).unwrap_or_default())]
    Rejected {
        status: u16,
        cim_error: Option<String>,
    },
    /// The response is not CIM-XML we understand.
    #[error("unreadable response: {0}")]
    Decode(String),
    /// The response does not have the form the operation returns.
    #[error("unexpected response to {op}: {detail}")]
    Unexpected { op: String, detail: String },
    #[error("the call took longer than {0:?}")]
    Timeout(std::time::Duration),
}

impl ClientError {
    /// The CIM status when the server answered with a CIM error.
    pub fn cim_status(&self) -> Option<vine_cim::CimStatus> {
        match self {
            ClientError::Cim(e) => Some(e.status),
            _ => None,
        }
    }
}

/// Result of a client call.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A connection to one WBEM server.
pub struct WbemClient {
    pool: conn::Pool,
    authority: String,
    path: String,
    auth_header: String,
    next_id: AtomicU64,
    timeout: std::time::Duration,
    limits: DecodeLimits,
}

impl WbemClient {
    /// A client for `config.url`; connects lazily on the first call.
    pub fn new(config: &ClientConfig) -> Result<Self> {
        let uri: http::Uri =
            config
                .url
                .parse()
                .map_err(|e: http::uri::InvalidUri| ClientError::Url {
                    url: config.url.clone(),
                    reason: e.to_string(),
                })?;
        let bad = |reason: &str| ClientError::Url {
            url: config.url.clone(),
            reason: reason.into(),
        };
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 5989 } else { 5988 });
        let path = match uri.path() {
            "" | "/" => "/cimom".to_string(),
            p => p.to_string(),
        };
        Ok(WbemClient {
            pool: conn::Pool::new(&host, port, https.then_some(&config.tls))?,
            authority: format!("{host}:{port}"),
            path,
            auth_header: crate::auth::basic::authorization_value(&config.user, &config.password),
            next_id: AtomicU64::new(1),
            timeout: config.timeout,
            limits: DecodeLimits::default(),
        })
    }

    /// Sends one request message and decodes the response body.
    async fn call(&self, request: Request, cim_object: String) -> Result<ResponseBody> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let method = request.method_name().to_string();
        let msg = RequestMessage {
            id: id.clone(),
            protocol_version: "1.0".into(),
            request,
        };
        let body = vine_cimxml::encode_request(&msg);
        let req = http::Request::post(&self.path)
            .header(http::header::HOST, &self.authority)
            .header(
                http::header::CONTENT_TYPE,
                "application/xml; charset=\"utf-8\"",
            )
            .header(http::header::AUTHORIZATION, &self.auth_header)
            .header("CIMOperation", "MethodCall")
            .header("CIMMethod", percent_encode(&method))
            .header("CIMObject", percent_encode(&cim_object))
            .header("CIMProtocolVersion", "1.0")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let (parts, bytes) = tokio::time::timeout(self.timeout, self.pool.send(req))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))??;
        if parts.status == http::StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized);
        }
        if parts.status != http::StatusCode::OK {
            return Err(ClientError::Rejected {
                status: parts.status.as_u16(),
                cim_error: parts
                    .headers
                    .get("CIMError")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            });
        }
        let (rid, body) = vine_cimxml::decode_response(&bytes, &self.limits)
            .map_err(|e| ClientError::Decode(e.to_string()))?;
        if rid != id {
            return Err(ClientError::Unexpected {
                op: method,
                detail: format!("response id {rid} does not match request id {id}"),
            });
        }
        Ok(body)
    }

    /// Runs an intrinsic operation.
    pub async fn intrinsic(
        &self,
        ns: &str,
        method: IntrinsicMethod,
        params: Vec<(CimName, ParamValue)>,
    ) -> Result<IntrinsicResponse> {
        let op = method.as_str().to_string();
        let namespace = vine_cim::name::normalize_namespace(ns);
        match self
            .call(
                Request::Intrinsic {
                    namespace: namespace.clone(),
                    method,
                    params,
                },
                namespace,
            )
            .await?
        {
            ResponseBody::Intrinsic(r) => Ok(r?),
            ResponseBody::Extrinsic(_) => Err(ClientError::Unexpected {
                op,
                detail: "a METHODRESPONSE to an intrinsic call".into(),
            }),
        }
    }

    /// Invokes an extrinsic method on an instance or class.
    pub async fn invoke_method(
        &self,
        target: vine_cimxml::MethodTarget,
        method: &str,
        params: Vec<CimParamValue>,
    ) -> Result<MethodResponse> {
        let cim_object = match &target {
            vine_cimxml::MethodTarget::Instance(p) => p.to_string(),
            vine_cimxml::MethodTarget::Class(c) => c.to_string(),
        };
        let req = Request::Extrinsic {
            target,
            method: CimName::new(method),
            params,
        };
        match self.call(req, cim_object).await? {
            ResponseBody::Extrinsic(r) => Ok(r?),
            ResponseBody::Intrinsic(_) => Err(ClientError::Unexpected {
                op: method.into(),
                detail: "an IMETHODRESPONSE to a method call".into(),
            }),
        }
    }
}

/// DSP0200 §7.3.3: CIMMethod and CIMObject are %-escaped UTF-8.
fn percent_encode(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
    const SET: &AsciiSet = &CONTROLS
        .add(b' ')
        .add(b'"')
        .add(b'%')
        .add(b'<')
        .add(b'>')
        .add(b'\\')
        .add(b'^')
        .add(b'`')
        .add(b'{')
        .add(b'|')
        .add(b'}');
    utf8_percent_encode(s, SET).to_string()
}
