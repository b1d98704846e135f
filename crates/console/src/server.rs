//! The API's HTTP(S) listener: hyper, HTTP/1.1, rustls with the same
//! certificate sources as the WBEM server, HTTP Basic against the shared
//! users file or a console session cookie; also serves the console's
//! embedded files.

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
use vine_coordinator::metrics::MetricsHistory;
use vine_wbem::auth::{basic, Role, UserStore};
use vine_wbem::transport::{tls, TlsSource};

use crate::api::stream::{EventBody, Streams};
use crate::api::{Api, Join};
use crate::auth::{is_read, session_token};
use crate::problem::Problem;
use crate::session::Sessions;

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
    #[error("following the store's changes for the event streams: {0}")]
    Feeds(String),
}

/// What the API serves beyond the coordinator, each optional.
#[derive(Default)]
pub struct ApiExtras {
    /// Agents may join with this token (`POST /api/v1/hosts/register`).
    pub join: Option<Arc<Join>>,
    /// The resource-monitor history behind the `metrics` routes.
    pub metrics: Option<Arc<MetricsHistory>>,
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

/// Binds and serves until `shutdown` resolves.
pub async fn serve(
    config: ApiConfig,
    users: Arc<UserStore>,
    api: Arc<Api>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningApi, ServeError> {
    serve_with_join(config, users, api, None, shutdown).await
}

/// [`serve`], and agents may join with `join`'s token
/// (`POST /api/v1/hosts/register`).
pub async fn serve_with_join(
    config: ApiConfig,
    users: Arc<UserStore>,
    api: Arc<Api>,
    join: Option<Arc<Join>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningApi, ServeError> {
    let extras = ApiExtras {
        join,
        ..ApiExtras::default()
    };
    serve_with(config, users, api, extras, shutdown).await
}

/// [`serve`] with what `extras` adds.
pub async fn serve_with(
    config: ApiConfig,
    users: Arc<UserStore>,
    api: Arc<Api>,
    extras: ApiExtras,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningApi, ServeError> {
    let ApiExtras { join, metrics } = extras;
    let streams = Arc::new(
        Streams::start(&api.coordinator.services.store)
            .map_err(|e| ServeError::Feeds(e.to_string()))?,
    );
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
    let sessions = Arc::new(Sessions::new());
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
            let sessions = sessions.clone();
            let join = join.clone();
            let (metrics, streams) = (metrics.clone(), streams.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req| {
                    let ctx = Ctx {
                        users: users.clone(),
                        api: api.clone(),
                        sessions: sessions.clone(),
                        join: join.clone(),
                        metrics: metrics.clone(),
                        streams: streams.clone(),
                        https,
                    };
                    async move { Ok::<_, Infallible>(handle(req, &ctx).await) }
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

/// A problem body; a 401 carries a Basic challenge only when `challenge`
/// (a browser shows its own password dialog on one, which must not
/// happen under the console).
pub(crate) fn problem_response(p: &Problem, challenge: bool) -> Response<Full<Bytes>> {
    let body = serde_json::to_value(p).unwrap_or_default();
    let mut r = json_response(p.status(), &body, "application/problem+json");
    if p.status == 401 && challenge {
        if let Ok(v) = basic::challenge("vine").parse() {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    r
}

/// What every request handler shares.
struct Ctx {
    users: Arc<UserStore>,
    api: Arc<Api>,
    sessions: Arc<Sessions>,
    join: Option<Arc<Join>>,
    metrics: Option<Arc<MetricsHistory>>,
    streams: Arc<Streams>,
    https: bool,
}

/// A response body: a whole answer, or a stream of server-sent events.
enum Body {
    Full(Full<Bytes>),
    Events(EventBody),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
        // Both are Unpin.
        match self.get_mut() {
            Body::Full(b) => std::pin::Pin::new(b).poll_frame(cx),
            Body::Events(b) => std::pin::Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_end_stream(),
            Body::Events(_) => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Full(b) => b.size_hint(),
            Body::Events(b) => b.size_hint(),
        }
    }
}

/// The event streams (authenticated like every route, then held open);
/// everything else is answered whole.
async fn handle(req: Request<Incoming>, ctx: &Ctx) -> Response<Body> {
    let stream = match (req.method(), req.uri().path().trim_end_matches('/')) {
        (&Method::GET, "/api/v1/jobs/stream") => Some(true),
        (&Method::GET, "/api/v1/events/stream") => Some(false),
        _ => None,
    };
    let Some(jobs) = stream else {
        return handle_whole(req, ctx).await.map(Body::Full);
    };
    let challenge =
        session_token(req.headers()).is_none() && !req.headers().contains_key("x-requested-with");
    if let Err(p) =
        crate::auth::authenticate(req.method(), req.headers(), &ctx.users, &ctx.sessions).await
    {
        return problem_response(&p, challenge).map(Body::Full);
    }
    let query = parse_query(req.uri().query());
    let last_id = req
        .headers()
        .get("last-event-id")
        .and_then(|v| v.to_str().ok());
    let resume = crate::api::stream::resume_point(last_id, query.get("since").map(String::as_str));
    let c = &ctx.api.coordinator;
    let r = if jobs {
        crate::api::stream::jobs(&ctx.streams, c, resume)
    } else {
        crate::api::stream::events(&ctx.streams, c, resume)
    };
    match r {
        Ok(r) => r.map(Body::Events),
        Err(p) => problem_response(&p, false).map(Body::Full),
    }
}

async fn handle_whole(req: Request<Incoming>, ctx: &Ctx) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if is_read(&method) {
        if let Some(a) = crate::assets::find(&path) {
            return crate::assets::respond(a, req.headers(), method == Method::HEAD);
        }
    }
    if path == "/api/openapi.json" {
        return json_response(
            StatusCode::OK,
            &crate::openapi::document(),
            "application/json",
        );
    }
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return problem_response(
            &Problem::not_found(format!(
                "no such resource {path}; the API is under /api/v1/"
            )),
            false,
        );
    };
    // The console's own requests (a session cookie, or its marker header)
    // get no Basic challenge; the CLI and curl do.
    let challenge =
        session_token(req.headers()).is_none() && !req.headers().contains_key("x-requested-with");
    if rest.trim_end_matches('/') == "session" {
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return problem_response(&too_large(), false),
        };
        let users = &ctx.users;
        return match crate::session_routes::handle(
            &parts.method,
            &parts.headers,
            &body,
            users,
            &ctx.sessions,
            ctx.https,
        )
        .await
        {
            Ok(r) => r,
            Err(p) => problem_response(&p, false),
        };
    }
    // Agents join with the join token, not a user's login.
    if rest.trim_end_matches('/') == "hosts/register" {
        let c = &ctx.api.coordinator;
        return match crate::api::register::handle(c, ctx.join.as_deref(), req).await {
            Ok((status, body)) => json_response(status, &body, "application/json"),
            Err(p) => problem_response(&p, false),
        };
    }
    // Authenticate before reading the body.
    let caller =
        match crate::auth::authenticate(&method, req.headers(), &ctx.users, &ctx.sessions).await {
            Ok(c) => c,
            Err(p) => return problem_response(&p, challenge),
        };
    let principal = caller.principal;
    if !is_read(&method)
        && principal.role != Role::Admin
        && !crate::api::read_only_post(&method, rest)
    {
        return problem_response(
            &Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "user {} has role reader, which may only read",
                    principal.name
                ),
            ),
            false,
        );
    }
    // Bodies are read (and bounded) even when no route takes one yet, so a
    // client streaming a huge body gets 413, not a hung connection.
    let query = parse_query(req.uri().query());
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return problem_response(&too_large(), false),
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
        return problem_response(
            &Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-path",
                "the path is not valid UTF-8 after percent-decoding",
            ),
            false,
        );
    };
    let req = crate::api::Req {
        method: &method,
        segs: segs.iter().map(String::as_str).collect(),
        query,
        body,
        user: &principal,
        idempotency_key,
        metrics: ctx.metrics.as_deref(),
    };
    match ctx.api.route(req).await {
        Ok((status, body)) => json_response(status, &body, "application/json"),
        Err(p) => problem_response(&p, false),
    }
}

fn too_large() -> Problem {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("request bodies are limited to {MAX_BODY} bytes"),
    )
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
