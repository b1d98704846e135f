//! Delivery to listeners: one bounded, ordered queue and one task per
//! listener destination, CIM-XML ExportIndication requests over the
//! client's pooled connections, retries with back-off.
//!
//! 1. The router [`push`](DestQueue::push)es a matched indication; the
//!    queue stamps SequenceContext/SequenceNumber (DSP1054) in queue order
//!    and drops the oldest entry when full.
//! 2. The destination's task takes entries one at a time, in order, and
//!    skips those whose subscription is gone or disabled.
//! 3. A failed attempt is retried after `retry_interval`, then twice that,
//!    and so on, `retry_attempts` times; then the indication is given up
//!    and the subscription told (see [`DeliveryEvents::failed`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::{watch, Notify};
use vine_cim::{CimError, CimInstance};
use vine_cimxml::{DecodeLimits, ExportIndication};

use super::model::ObjKey;
use crate::client::conn::Pool;
use crate::client::{ClientError, TlsVerify};

/// A subscription: (filter keys, handler keys).
pub type SubKey = (ObjKey, ObjKey);

/// One indication waiting for its listener.
#[derive(Clone, Debug)]
pub struct Pending {
    pub sub: SubKey,
    pub indication: CimInstance,
}

/// Why one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("destination `{url}`: {reason}")]
    Url { url: String, reason: String },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("the listener answered HTTP {status}{}", cim_error.as_ref().map(|e| format!(" (CIMError: {e})")).unwrap_or_default())]
    Status {
        status: u16,
        cim_error: Option<String>,
    },
    #[error("unreadable export response: {0}")]
    Decode(String),
    #[error("the listener refused the indication: {0}")]
    Refused(#[from] CimError),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
}

/// What the delivery tasks report back to the service.
pub trait DeliveryEvents: Send + Sync + 'static {
    /// True while `sub` exists and is enabled.
    fn wanted(&self, sub: &SubKey) -> bool;
    /// An indication for `sub` reached its listener.
    fn delivered(&self, sub: &SubKey);
    /// An indication for `sub` was given up after every retry.
    fn failed(&self, sub: &SubKey, error: &DeliveryError);
}

/// Retry and connection settings of the delivery tasks.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub retry_attempts: u32,
    pub retry_interval: Duration,
    pub timeout: Duration,
    pub tls: TlsVerify,
}

impl DeliveryConfig {
    /// The wait before retry number `n` (0-based): the interval doubled
    /// `n` times, capped at 64 intervals.
    pub fn backoff(&self, n: u32) -> Duration {
        self.retry_interval.saturating_mul(1u32 << n.min(6))
    }
}

/// The queue of one listener destination.
pub struct DestQueue {
    items: Mutex<Queue>,
    notify: Notify,
    capacity: usize,
    /// DSP1054 SequenceContext: this server run and this destination.
    context: String,
    dropped: AtomicU64,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

struct Queue {
    items: VecDeque<Pending>,
    next_seq: i64,
}

impl DestQueue {
    /// An empty queue of `capacity` entries (at least one).
    pub fn new(capacity: usize, context: String) -> Arc<Self> {
        Arc::new(DestQueue {
            items: Mutex::new(Queue {
                items: VecDeque::new(),
                next_seq: 0,
            }),
            notify: Notify::new(),
            capacity: capacity.max(1),
            context,
            dropped: AtomicU64::new(0),
            task: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.items.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends `p`, numbering it; drops the oldest entry when full.
    pub fn push(&self, mut p: Pending) {
        {
            let mut q = self.lock();
            p.indication.set("SequenceContext", self.context.as_str());
            p.indication.set("SequenceNumber", q.next_seq);
            // DSP1054: the number wraps to 0 after the largest sint64.
            q.next_seq = q.next_seq.checked_add(1).unwrap_or(0);
            if q.items.len() >= self.capacity {
                q.items.pop_front();
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                tracing::warn!(context = %self.context, dropped = n, "listener queue full; oldest indication dropped");
            }
            q.items.push_back(p);
        }
        self.notify.notify_one();
    }

    /// The entries waiting now, oldest first (for tests).
    #[cfg(test)]
    pub fn snapshot(&self) -> Vec<Pending> {
        self.lock().items.iter().cloned().collect()
    }

    /// Entries dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    async fn next(&self) -> Pending {
        loop {
            if let Some(p) = self.lock().items.pop_front() {
                return p;
            }
            // notify_one stores a permit when no one waits, so a push
            // between the pop and this await is not lost.
            self.notify.notified().await;
        }
    }

    /// Starts the delivery task for `url`.
    pub fn spawn(
        self: &Arc<Self>,
        url: String,
        config: DeliveryConfig,
        events: Weak<dyn DeliveryEvents>,
        shutdown: watch::Receiver<bool>,
    ) {
        let handle = tokio::spawn(run(self.clone(), url, config, events, shutdown));
        if let Some(old) = self
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(handle)
        {
            old.abort();
        }
    }

    /// Stops the delivery task; waiting entries are dropped with the queue.
    pub fn stop(&self) {
        if let Some(h) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            h.abort();
        }
    }
}

impl Drop for DestQueue {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn run(
    queue: Arc<DestQueue>,
    url: String,
    config: DeliveryConfig,
    events: Weak<dyn DeliveryEvents>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut exporter: Option<Exporter> = None;
    loop {
        let p = tokio::select! {
            p = queue.next() => p,
            _ = shutdown.changed() => return,
        };
        let mut retry = 0u32;
        loop {
            let Some(ev) = events.upgrade() else {
                return;
            };
            if !ev.wanted(&p.sub) {
                break;
            }
            let result = match &exporter {
                Some(e) => e.export(&p.indication).await,
                None => match Exporter::new(&url, &config) {
                    Ok(e) => {
                        let r = e.export(&p.indication).await;
                        exporter = Some(e);
                        r
                    }
                    Err(e) => Err(e),
                },
            };
            match result {
                Ok(()) => {
                    ev.delivered(&p.sub);
                    break;
                }
                Err(e) if retry >= config.retry_attempts => {
                    tracing::warn!(%url, error = %e, tries = retry + 1, "indication given up");
                    ev.failed(&p.sub, &e);
                    break;
                }
                Err(e) => {
                    let wait = config.backoff(retry);
                    retry += 1;
                    tracing::info!(%url, error = %e, retry, ?wait, "indication delivery failed; will retry");
                    drop(ev);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }
    }
}

/// Sends ExportIndication requests to one listener.
pub struct Exporter {
    pool: Pool,
    authority: String,
    path: String,
    timeout: Duration,
    next_id: AtomicU64,
    limits: DecodeLimits,
}

impl Exporter {
    /// An exporter for `url`; connects on the first export.
    pub fn new(url: &str, config: &DeliveryConfig) -> Result<Exporter, DeliveryError> {
        let bad = |reason: &str| DeliveryError::Url {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let uri: http::Uri = url.parse().map_err(|_| bad("not a URL"))?;
        let https = match uri.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        let host = uri
            .host()
            .ok_or_else(|| bad("no host"))?
            .trim_matches(['[', ']'])
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        // The query too: a listener may name the sender there.
        let path = match uri.path_and_query().map(|p| p.as_str()) {
            None | Some("") => "/".to_string(),
            Some(p) if p.starts_with('?') => format!("/{p}"),
            Some(p) => p.to_string(),
        };
        Ok(Exporter {
            pool: Pool::new(&host, port, https.then_some(&config.tls))?,
            authority: match uri.port_u16() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            },
            path,
            timeout: config.timeout,
            next_id: AtomicU64::new(1),
            limits: DecodeLimits::default(),
        })
    }

    /// One delivery attempt (DSP0200 §7.3: CIMExport headers, an
    /// EXPMETHODCALL body, an EXPMETHODRESPONSE back).
    pub async fn export(&self, indication: &CimInstance) -> Result<(), DeliveryError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let body = vine_cimxml::encode_export_indication(&ExportIndication {
            id: id.clone(),
            protocol_version: "1.0".into(),
            indication: indication.clone(),
        });
        let req = http::Request::post(&self.path)
            .header(http::header::HOST, &self.authority)
            .header(
                http::header::CONTENT_TYPE,
                "application/xml; charset=\"utf-8\"",
            )
            .header("CIMExport", "MethodRequest")
            .header("CIMExportMethod", "ExportIndication")
            .header("CIMProtocolVersion", "1.0")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DeliveryError::Client(ClientError::Http(e.to_string())))?;
        let (parts, bytes) = tokio::time::timeout(self.timeout, self.pool.send(req))
            .await
            .map_err(|_| DeliveryError::Timeout(self.timeout))??;
        if parts.status != http::StatusCode::OK {
            return Err(DeliveryError::Status {
                status: parts.status.as_u16(),
                cim_error: parts
                    .headers
                    .get("CIMError")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            });
        }
        let (rid, outcome) = vine_cimxml::decode_export_response(&bytes, &self.limits)
            .map_err(|e| DeliveryError::Decode(e.to_string()))?;
        if rid != id {
            return Err(DeliveryError::Decode(format!(
                "response id {rid} does not match request id {id}"
            )));
        }
        Ok(outcome?)
    }
}
