//! Response body: one data frame, optionally followed by trailers, plus the
//! bookkeeping that tells the connection a request is still in progress.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

/// Requests in progress on one connection and when the last one ended; the
/// idle timeout counts only while nothing is in progress.
#[derive(Debug)]
pub(crate) struct Activity {
    in_flight: AtomicUsize,
    last_end: Mutex<Instant>,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            last_end: Mutex::new(Instant::now()),
        })
    }

    /// Mark a request as started; it ends when the guard drops.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    /// When the connection became idle, or `None` while a request runs.
    pub(crate) fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(*self.last_end.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A request in progress; held by the response body until it is sent.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.last_end.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The body of every response this transport sends.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
    len: u64,
    _in_flight: Option<InFlight>,
}

impl ResponseBody {
    /// A body sent with `Content-Length`.
    pub(crate) fn full(data: impl Into<Bytes>) -> Self {
        let data: Bytes = data.into();
        ResponseBody {
            len: data.len() as u64,
            data: (!data.is_empty()).then_some(data),
            trailers: None,
            _in_flight: None,
        }
    }

    /// A body of unknown length (so hyper chunks it) ending in trailers.
    pub(crate) fn with_trailers(data: impl Into<Bytes>, trailers: HeaderMap) -> Self {
        let mut body = Self::full(data);
        body.trailers = Some(trailers);
        body
    }

    pub(crate) fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// Keep `in_flight` alive until the body is sent or dropped.
    pub(crate) fn tracked(mut self, in_flight: InFlight) -> Self {
        self._in_flight = Some(in_flight);
        self
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(trailers) = self.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.trailers.is_some() {
            // No exact size: hyper then uses chunked encoding, which trailers need.
            let mut hint = SizeHint::new();
            hint.set_lower(self.len);
            hint
        } else {
            SizeHint::with_exact(self.len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn frames_and_hints() {
        let b = ResponseBody::full("abc");
        assert_eq!(b.size_hint().exact(), Some(3));
        assert_eq!(b.collect().await.unwrap().to_bytes(), "abc");

        let mut t = HeaderMap::new();
        t.insert("cimstatuscode", "0".parse().unwrap());
        let b = ResponseBody::with_trailers("xyz", t);
        assert_eq!(b.size_hint().exact(), None);
        let c = b.collect().await.unwrap();
        assert_eq!(c.trailers().unwrap()["cimstatuscode"], "0");
        assert_eq!(c.to_bytes(), "xyz");
        assert!(ResponseBody::empty().is_end_stream());
    }

    #[test]
    fn activity_tracks_in_flight() {
        let a = Activity::new();
        assert!(a.idle_since().is_some());
        let g = a.start();
        assert!(a.idle_since().is_none());
        let body = ResponseBody::empty().tracked(g);
        assert!(a.idle_since().is_none());
        drop(body);
        assert!(a.idle_since().is_some());
    }
}
