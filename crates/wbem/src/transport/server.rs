//! Listeners, connections, timeouts and shutdown.
//!
//! 1. [`serve`] builds the TLS config (generating the certificate at first
//!    start), binds both listeners and returns their real addresses at once;
//! 2. one accept loop per listener spawns a task per connection;
//! 3. a connection is HTTP/1.1 with keep-alive (hyper), closed after the
//!    header timeout, after `idle_timeout` without a request in progress,
//!    or at shutdown once its current request is answered;
//! 4. shutdown stops accepting, waits up to `shutdown_grace` for
//!    connections, then drops the rest.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

use super::body::Activity;
use super::service::{self, Shared};
use super::{tls, ExportHandler, OperationHandler, ServerConfig, TransportError};
use crate::auth::{basic, UserStore};

/// A started server: its bound addresses and the task serving them.
#[derive(Debug)]
pub struct RunningServer {
    /// Bound HTTP address, if HTTP is enabled.
    pub http: Option<SocketAddr>,
    /// Bound HTTPS address, if HTTPS is enabled.
    pub https: Option<SocketAddr>,
    task: JoinHandle<()>,
}

impl RunningServer {
    /// Wait until the server has shut down (after the `shutdown` future given
    /// to [`serve`] completed and connections drained).
    pub async fn wait(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "WBEM server task failed");
        }
    }
}

/// Timeouts every connection needs.
#[derive(Clone, Copy)]
struct Limits {
    header_timeout: Duration,
    idle_timeout: Duration,
    shutdown_grace: Duration,
}

/// Bind the configured listeners and serve until `shutdown` completes.
///
/// Returns as soon as the listeners are bound, with their actual addresses
/// (so port 0 works); serving continues on a background task.
pub async fn serve(
    config: ServerConfig,
    users: Arc<UserStore>,
    ops: Arc<dyn OperationHandler>,
    export: Option<Arc<dyn ExportHandler>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<RunningServer, TransportError> {
    if config.http.is_none() && config.https.is_none() {
        return Err(TransportError::NoListener);
    }
    let acceptor = match config.https {
        // Blocking file I/O and key generation, but only once at start-up
        // and in milliseconds: not worth a blocking-pool hop.
        Some(_) => Some(TlsAcceptor::from(tls::server_config(&config.tls)?)),
        None => None,
    };
    let http = match config.http {
        Some(addr) => Some(bind(addr, false).await?),
        None => None,
    };
    let https = match config.https {
        Some(addr) => Some(bind(addr, true).await?),
        None => None,
    };
    let http_addr = http.as_ref().map(|(_, a)| *a);
    let https_addr = https.as_ref().map(|(_, a)| *a);

    // Header values built from the realm are checked here, once.
    let challenge = http::HeaderValue::from_str(&basic::challenge(&config.realm))
        .unwrap_or_else(|_| http::HeaderValue::from_static("Basic realm=\"vine\""));
    let shared = Arc::new(Shared {
        users,
        ops,
        export,
        max_body_bytes: config.max_body_bytes,
        challenge,
    });
    let limits = Limits {
        header_timeout: config.header_timeout,
        idle_timeout: config.idle_timeout,
        shutdown_grace: config.shutdown_grace,
    };

    let task = tokio::spawn(async move {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut loops = JoinSet::new();
        if let Some((listener, addr)) = http {
            tracing::info!(%addr, "WBEM HTTP listening");
            loops.spawn(accept_loop(
                listener,
                None,
                Arc::clone(&shared),
                limits,
                stop_rx.clone(),
            ));
        }
        if let (Some((listener, addr)), Some(acceptor)) = (https, acceptor) {
            tracing::info!(%addr, "WBEM HTTPS listening");
            loops.spawn(accept_loop(
                listener,
                Some(acceptor),
                shared,
                limits,
                stop_rx,
            ));
        }
        shutdown.await;
        tracing::info!("WBEM server shutting down");
        let _ = stop_tx.send(true);
        while loops.join_next().await.is_some() {}
    });
    Ok(RunningServer {
        http: http_addr,
        https: https_addr,
        task,
    })
}

async fn bind(addr: SocketAddr, https: bool) -> Result<(TcpListener, SocketAddr), TransportError> {
    let err = |source| match https {
        false => TransportError::BindHttp { addr, source },
        true => TransportError::BindHttps { addr, source },
    };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let local = listener.local_addr().map_err(err)?;
    Ok((listener, local))
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    conns.spawn(connection(stream, peer, tls.clone(), Arc::clone(&shared), limits, stop.clone()));
                }
                Err(e) => {
                    // Usually EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            left = conns.len(),
            "closing connections still busy at shutdown"
        );
        conns.abort_all();
    }
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    // Responses are written whole; don't let Nagle hold back their tail.
    let _ = stream.set_nodelay(true);
    match tls {
        None => drive(stream, peer, "http", shared, limits, stop).await,
        Some(acceptor) => {
            match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls_stream)) => drive(tls_stream, peer, "https", shared, limits, stop).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        }
    }
}

async fn drive<I>(
    io: I,
    peer: SocketAddr,
    scheme: &'static str,
    shared: Arc<Shared>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let svc_activity = Arc::clone(&activity);
    let svc = service_fn(move |req| {
        let in_flight = svc_activity.start();
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(service::handle(shared, req, scheme, in_flight).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let idle_deadline = activity
            .idle_since()
            .map(|since| since + limits.idle_timeout)
            .unwrap_or_else(|| std::time::Instant::now() + limits.idle_timeout);
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, error = %e, "connection ended with error");
                }
                break;
            }
            _ = stop.changed(), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = tokio::time::sleep_until(idle_deadline.into()), if !closing => {
                let idle = activity.idle_since().is_some_and(|s| s.elapsed() >= limits.idle_timeout);
                if idle {
                    tracing::debug!(%peer, "closing idle connection");
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}
