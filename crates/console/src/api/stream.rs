//! Server-sent events: `GET /api/v1/jobs/stream` and
//! `GET /api/v1/events/stream` (`text/event-stream`).
//!
//! 1. One hub per stream drains the store's change feed of its collection
//!    into a bounded broadcast channel. The hub never waits on a client (a
//!    store subscriber that is not drained would hold up the store's
//!    writers).
//! 2. Each client gets a task that first sends what it missed — events
//!    after `Last-Event-ID` (or `?since=`), jobs changed since that time —
//!    then every change, and a comment every [`HEARTBEAT`] so proxies and
//!    the browser see the connection alive.
//! 3. A client is fed through a channel of [`CLIENT_FRAMES`] frames. One
//!    that falls more than [`HUB_BACKLOG`] changes behind is disconnected:
//!    its browser reconnects with `Last-Event-ID` and resumes. A slow client
//!    A client that accepts nothing for [`STALL`] is let go too. A slow
//!    client costs a bounded amount of memory, never a growing queue.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Response, StatusCode};
use hyper::body::{Body, Frame, SizeHint};
use serde::Serialize;
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use vine_coordinator::events::Event;
use vine_coordinator::jobs::{JobFilter, JobRecord};
use vine_coordinator::ops::Coordinator;
use vine_store::{names, Store};

use super::Spec;
use crate::openapi::problem_responses;
use crate::problem::Problem;

/// A comment this often keeps idle connections open.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(15);
/// Frames queued for one client before its task waits.
const CLIENT_FRAMES: usize = 64;
/// A client that takes longer than this to accept a frame is let go.
const STALL: Duration = Duration::from_secs(10);
/// Changes a hub keeps for clients that are behind.
const HUB_BACKLOG: usize = 1024;
/// Jobs are resumed from this long before `Last-Event-ID`: two changes
/// stored at nearly the same time may reach the feed in either order.
const JOB_SLACK_MS: u64 = 5_000;
/// Events sent from the log on (re)connection, at most.
const MAX_BACKLOG: usize = 1_000;

/// The change feeds of jobs and events.
pub(crate) struct Streams {
    jobs: broadcast::Sender<Arc<JobRecord>>,
    events: broadcast::Sender<Arc<Event>>,
}

impl Streams {
    /// Starts the hubs on `store`'s job and event collections.
    pub(crate) fn start(store: &Store) -> Result<Streams, vine_store::StoreError> {
        let jobs = hub::<JobRecord>(store, names::JOBS)?;
        let events = hub::<Event>(store, names::EVENTS)?;
        Ok(Streams { jobs, events })
    }
}

fn hub<T>(store: &Store, name: &str) -> Result<broadcast::Sender<Arc<T>>, vine_store::StoreError>
where
    T: serde::de::DeserializeOwned + serde::Serialize + Send + Sync + 'static,
{
    let mut feed = store.collection::<T>(name)?.watch("");
    let (tx, _) = broadcast::channel(HUB_BACKLOG);
    let sender = tx.clone();
    tokio::spawn(async move {
        while let Some(change) = feed.next().await {
            match change {
                // No receivers is fine: nobody is watching right now.
                Ok(c) => {
                    if let Some(v) = c.value {
                        let _ = sender.send(Arc::new(v));
                    }
                }
                Err(e) => tracing::warn!(error = %e, "change feed: undecodable record"),
            }
        }
    });
    Ok(tx)
}

/// A streamed body: frames from the client's task until it ends.
pub(crate) struct EventBody {
    rx: mpsc::Receiver<Bytes>,
}

impl Body for EventBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// One SSE message.
fn message<T: Serialize>(event: &str, id: &str, data: &T) -> Option<Bytes> {
    let json = serde_json::to_string(data).ok()?;
    Some(Bytes::from(format!(
        "id: {id}\nevent: {event}\ndata: {json}\n\n"
    )))
}

fn bad(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid", detail)
}

/// Where a client resumes: `Last-Event-ID` (what a browser sends when it
/// reconnects) over `?since=`.
pub(crate) fn resume_point(last_event_id: Option<&str>, since: Option<&str>) -> Option<String> {
    last_event_id
        .or(since)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn response(rx: mpsc::Receiver<Bytes>) -> Response<EventBody> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        // Proxies such as nginx must pass each message on as it comes.
        .header("x-accel-buffering", "no")
        .body(EventBody { rx })
        .unwrap_or_else(|_| {
            Response::new(EventBody {
                rx: mpsc::channel(1).1,
            })
        })
}

/// Sends `frame`; false once the client is gone or has taken more than
/// `stall` to make room for it.
async fn send(tx: &mpsc::Sender<Bytes>, frame: Option<Bytes>, stall: Duration) -> bool {
    match frame {
        Some(f) => matches!(tokio::time::timeout(stall, tx.send(f)).await, Ok(Ok(()))),
        None => true,
    }
}

/// Runs one client: the first frames, then the hub's changes as `encode`
/// turns them into messages, with heartbeats; ends when the client goes,
/// falls behind, or the hub closes.
async fn pump<T>(
    tx: mpsc::Sender<Bytes>,
    mut rx: broadcast::Receiver<Arc<T>>,
    first: Vec<Bytes>,
    mut encode: impl FnMut(&T) -> Option<Bytes>,
    (stall, heartbeat): (Duration, Duration),
) {
    // The browser waits this long before reconnecting.
    if !send(&tx, Some(Bytes::from_static(b"retry: 2000\n\n")), stall).await {
        return;
    }
    for f in first {
        if !send(&tx, Some(f), stall).await {
            return;
        }
    }
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    loop {
        let frame = tokio::select! {
            _ = tx.closed() => return,
            _ = beat.tick() => Some(Bytes::from_static(b": keepalive\n\n")),
            r = rx.recv() => match r {
                Ok(v) => encode(&v),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(missed = n, "event stream client fell behind; closing it to resume");
                    return;
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
        };
        if !send(&tx, frame, stall).await {
            return;
        }
    }
}

/// `GET /api/v1/jobs/stream`: every stored change of every job, each as
/// `event: job` with the job as data and its `updated_at` as id. Resuming
/// from an id sends the jobs changed since (a little before) then.
pub(crate) fn jobs(
    streams: &Streams,
    c: &Arc<Coordinator>,
    resume: Option<String>,
) -> Result<Response<EventBody>, Problem> {
    let after = match resume.as_deref() {
        None => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            bad(format!(
                "`{s}` is not a job stream position (Unix milliseconds, the id of a job message)"
            ))
        })?),
    };
    // Subscribe before reading the store: a change between the two is
    // then sent twice (harmless: clients keep the higher revision), never
    // lost.
    let rx = streams.jobs.subscribe();
    let mut first = Vec::new();
    if let Some(after) = after {
        let mut changed: Vec<JobRecord> = c
            .list_jobs(&JobFilter::default())
            .map_err(super::ops_problem)?
            .into_iter()
            .filter(|j| j.updated_at + JOB_SLACK_MS > after)
            .collect();
        changed.sort_by_key(|j| j.updated_at);
        first.extend(
            changed
                .iter()
                .filter_map(|j| message("job", &j.updated_at.to_string(), j)),
        );
    }
    let (tx, out) = mpsc::channel(CLIENT_FRAMES);
    tokio::spawn(pump(
        tx,
        rx,
        first,
        |j: &JobRecord| message("job", &j.updated_at.to_string(), j),
        (STALL, HEARTBEAT),
    ));
    Ok(response(out))
}

/// `GET /api/v1/events/stream`: each new event as `event: event`, its id
/// as id. Resuming from an id sends the (at most 1,000) events after it.
pub(crate) fn events(
    streams: &Streams,
    c: &Arc<Coordinator>,
    resume: Option<String>,
) -> Result<Response<EventBody>, Problem> {
    let rx = streams.events.subscribe();
    let mut first = Vec::new();
    let mut last = resume.clone().unwrap_or_default();
    if let Some(after) = &resume {
        let mut backlog = c
            .events()
            .since(after)
            .map_err(|e| super::ops_problem(vine_coordinator::ops::OpsError::Store(e)))?;
        backlog.truncate(MAX_BACKLOG);
        if let Some(e) = backlog.last() {
            last = e.id.clone();
        }
        first.extend(backlog.iter().filter_map(|e| message("event", &e.id, e)));
    } else if let Ok(newest) = c.events().recent(1) {
        // Only what happens from now on.
        if let Some(e) = newest.last() {
            last = e.id.clone();
        }
    }
    let (tx, out) = mpsc::channel(CLIENT_FRAMES);
    let encode = move |e: &Event| {
        // The backlog may already hold what the feed repeats.
        if e.id <= last {
            return None;
        }
        last = e.id.clone();
        message("event", &e.id, e)
    };
    tokio::spawn(pump(tx, rx, first, encode, (STALL, HEARTBEAT)));
    Ok(response(out))
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let params = |what: &str| {
        json!([
            {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "string"},
             "description": format!("resume after this message id (browsers send it when they reconnect): {what}")},
            {"name": "since", "in": "query", "required": false, "schema": {"type": "string"},
             "description": "the same as Last-Event-ID, for clients that cannot set headers"}])
    };
    let responses = |what: &str| {
        let mut r = problem_responses();
        r["200"] = json!({"description": what, "content": {"text/event-stream": {"schema": {"type": "string"}}}});
        r["400"] = json!({"description": "a resume position that is not valid", "content": p});
        r
    };
    s.paths.insert(
        "/api/v1/jobs/stream".into(),
        json!({"get": {"summary": "every change of every job as server-sent events (`event: job`, data a Job, id its updated_at); a `: keepalive` comment every 15 s",
            "parameters": params("jobs changed since that time are sent first"),
            "responses": responses("the stream; a client too far behind is disconnected and resumes")}}),
    );
    s.paths.insert(
        "/api/v1/events/stream".into(),
        json!({"get": {"summary": "new events as server-sent events (`event: event`, data an Event, id its id); a `: keepalive` comment every 15 s",
            "parameters": params("the events after it are sent first (at most 1,000)"),
            "responses": responses("the stream; a client too far behind is disconnected and resumes")}}),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_id_event_and_one_data_line() {
        let m = message("job", "17", &json!({"a": "x\ny"})).unwrap();
        assert_eq!(
            std::str::from_utf8(&m).unwrap(),
            "id: 17\nevent: job\ndata: {\"a\":\"x\\ny\"}\n\n"
        );
    }

    #[test]
    fn last_event_id_wins_over_since() {
        assert_eq!(resume_point(Some("5"), Some("3")).as_deref(), Some("5"));
        assert_eq!(resume_point(None, Some(" 3 ")).as_deref(), Some("3"));
        assert_eq!(resume_point(Some(""), None), None);
    }

    #[tokio::test]
    async fn an_idle_stream_gets_heartbeats_and_ends_when_the_client_goes() {
        let (hub, rx) = broadcast::channel::<Arc<u32>>(4);
        let (tx, mut out) = mpsc::channel(8);
        let encode = |n: &u32| Some(Bytes::from(format!("data: {n}\n\n")));
        let timing = (STALL, Duration::from_millis(20));
        let task = tokio::spawn(pump(tx, rx, Vec::new(), encode, timing));
        assert_eq!(&out.recv().await.unwrap()[..], b"retry: 2000\n\n");
        assert_eq!(&out.recv().await.unwrap()[..], b": keepalive\n\n");
        hub.send(Arc::new(7)).unwrap();
        let mut next = out.recv().await.unwrap();
        while &next[..] == b": keepalive\n\n" {
            next = out.recv().await.unwrap();
        }
        assert_eq!(&next[..], b"data: 7\n\n");
        drop(out);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the pump ends with its client")
            .unwrap();
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_let_go() {
        let (hub, _) = broadcast::channel::<Arc<u32>>(4);
        let rx = hub.subscribe();
        // The client reads nothing: its channel holds two frames.
        let (tx, mut out) = mpsc::channel(2);
        let encode = |n: &u32| Some(Bytes::from(format!("data: {n}\n\n")));
        let timing = (Duration::from_millis(50), HEARTBEAT);
        let task = tokio::spawn(pump(tx, rx, Vec::new(), encode, timing));
        for i in 0..100 {
            let _ = hub.send(Arc::new(i));
            tokio::task::yield_now().await;
        }
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the pump ends instead of queueing")
            .unwrap();
        // What it had queued is still delivered, then the stream ends.
        let mut got = 0;
        while out.recv().await.is_some() {
            got += 1;
        }
        assert!(got <= 2, "{got} frames");
    }
}
