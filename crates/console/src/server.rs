//! The API's HTTP(S) listener: hyper, HTTP/1.1, rustls with the same
//! certificate sources as the WBEM server, HTTP Basic against the shared
//! users file.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use vine_wbem::auth::{basic, Role, UserStore};
use vine_wbem::transport::{tls, TlsSource};

use crate::api::Api;
use crate::problem::Problem;

/// Where the API listens.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub addr: SocketAddr,
    /// HTTPS with this certificate; `None` serves plain HTTP (tests, or
    /// behind a TLS proxy).
    pub tls: Option<TlsSource>,
}

/// Why the API could not start.
#[derive(Debug, Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

/// A started API server.
pub struct RunningApi {
    pub addr: SocketAddr,
    pub https: bool,
    task: JoinHandle<()>,
}

impl RunningApi {
    /// The base URL (`https://127.0.0.1:8443`).
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.addr
        )
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

const MAX_BODY: usize = 1 << 20;
const CONSOLE_HTML: &str = include_str!("../../../ui/index.html");

/// Binds and serves until `shutdown` resolves.
pub async fn serve(
    config: ApiConfig,
    users: Arc<UserStore>,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningApi, ServeError> {
    let acceptor = match &config.tls {
        Some(src) => Some(TlsAcceptor::from(
            tls::server_config(src).map_err(|e| ServeError::Tls(e.to_string()))?,
        )),
        None => None,
    };
    let listener = TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.addr,
        source,
    })?;
    let https = acceptor.is_some();
    let task = tokio::spawn(async move {
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                _ = &mut shutdown => break,
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let (users, api, acceptor) = (users.clone(), api.clone(), acceptor.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let (users, api) = (users.clone(), api.clone());
                    async move { Ok::<_, Infallible>(handle(req, &users, &api).await) }
                });
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30));
                let result = match acceptor {
                    Some(a) => {
                        match tokio::time::timeout(Duration::from_secs(30), a.accept(stream)).await
                        {
                            Ok(Ok(tls)) => builder.serve_connection(TokioIo::new(tls), svc).await,
                            _ => return,
                        }
                    }
                    None => builder.serve_connection(TokioIo::new(stream), svc).await,
                };
                if let Err(e) = result {
                    tracing::debug!(error = %e, "API connection ended");
                }
            });
        }
    });
    Ok(RunningApi { addr, https, task })
}

fn json_response(
    status: StatusCode,
    body: &serde_json::Value,
    content_type: &str,
) -> Response<Full<Bytes>> {
    let bytes = serde_json::to_vec_pretty(body).unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Full::new(Bytes::from(bytes)))
        .unwrap_or_default()
}

fn problem_response(p: &Problem) -> Response<Full<Bytes>> {
    let body = serde_json::to_value(p).unwrap_or_default();
    let mut r = json_response(p.status(), &body, "application/problem+json");
    if p.status == 401 {
        if let Ok(v) = basic::challenge("vine").parse() {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

async fn handle(
    req: Request<Incoming>,
    users: &Arc<UserStore>,
    api: &Api,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if method == Method::GET && (path == "/" || path == "/index.html") {
        return Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .header("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
            .header("X-Content-Type-Options", "nosniff")
            .body(Full::new(Bytes::from_static(CONSOLE_HTML.as_bytes())))
            .unwrap_or_default();
    }
    if path == "/api/openapi.json" {
        return json_response(
            StatusCode::OK,
            &crate::openapi::document(),
            "application/json",
        );
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return problem_response(&Problem::not_found(format!(
            "no such resource {path}; the API is under /api/v1/"
        )));
    };
    // Authenticate before reading the body.
    let principal = match crate::auth::authenticate(req.headers(), users).await {
        Ok(p) => p,
        Err(p) => return problem_response(&p),
    };
    if method != Method::GET && method != Method::HEAD && principal.role != Role::Admin {
        return problem_response(&Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "user {} has role reader, which may only read",
                principal.name
            ),
        ));
    }
    // Bodies are read (and bounded) even when no route takes one yet, so a
    // client streaming a huge body gets 413, not a hung connection.
    let query = parse_query(req.uri().query());
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return problem_response(&Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("request bodies are limited to {MAX_BODY} bytes"),
            ))
        }
    };
    let segs: Option<Vec<String>> = rest
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|c| c.into_owned())
        })
        .collect();
    let Some(segs) = segs else {
        return problem_response(&Problem::new(
            StatusCode::BAD_REQUEST,
            "bad-path",
            "the path is not valid UTF-8 after percent-decoding",
        ));
    };
    let req = crate::api::Req {
        method: &method,
        segs: segs.iter().map(String::as_str).collect(),
        query,
        body,
        user: &principal,
    };
    match api.route(req).await {
        Ok((status, body)) => json_response(status, &body, "application/json"),
        Err(p) => problem_response(&p),
    }
}

/// `a=1&b=x%20y` as a map (later duplicates win).
fn parse_query(q: Option<&str>) -> std::collections::HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8()
                    .ok()
                    .map(|c| c.into_owned())
            };
            Some((dec(k)?, dec(v)?))
        })
        .collect()
}
