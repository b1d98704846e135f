//! One libvirt connection that survives the daemon going away: a close
//! callback marks it down, a background thread reopens it with back-off
//! and re-registers the event callbacks.
//!
//! The state machine is [`LinkState::next`], pure and unit-tested; the
//! rest is plumbing around it.

use std::ffi::c_void;
use std::os::raw::c_int;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::sync::broadcast;
use virt::connect::Connect;
use virt::sys;

use super::events;
use crate::error::{HvError, HvResult};
use crate::types::{DomainEvent, DriverKind};

/// The longest wait between two reconnection attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_secs(30);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// Whether the connection is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkState {
    Up,
    /// Lost; `attempts` reconnections have failed so far.
    Down {
        attempts: u32,
    },
}

/// What happened to the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkEvent {
    /// libvirt called the close callback (daemon gone, keepalive lost).
    Closed,
    ReconnectFailed,
    Reconnected,
}

/// What the link must do after a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkAction {
    Nothing,
    /// Start the reconnect thread (first try after this delay).
    StartReconnecting(Duration),
    /// Try again after this delay.
    RetryAfter(Duration),
}

impl LinkState {
    /// The transition on `event`, and what to do about it.
    pub fn next(self, event: LinkEvent) -> (LinkState, LinkAction) {
        match (self, event) {
            (LinkState::Up, LinkEvent::Closed) => (
                LinkState::Down { attempts: 0 },
                LinkAction::StartReconnecting(backoff(0)),
            ),
            // A second close while reconnecting changes nothing: one
            // reconnect thread per link.
            (LinkState::Down { attempts }, LinkEvent::Closed) => {
                (LinkState::Down { attempts }, LinkAction::Nothing)
            }
            (LinkState::Down { attempts }, LinkEvent::ReconnectFailed) => {
                let attempts = attempts.saturating_add(1);
                (
                    LinkState::Down { attempts },
                    LinkAction::RetryAfter(backoff(attempts)),
                )
            }
            (LinkState::Down { .. }, LinkEvent::Reconnected) => {
                (LinkState::Up, LinkAction::Nothing)
            }
            // Stale reports from a reconnect that raced a new connection.
            (LinkState::Up, LinkEvent::ReconnectFailed | LinkEvent::Reconnected) => {
                (LinkState::Up, LinkAction::Nothing)
            }
        }
    }
}

/// Delay before reconnection attempt `attempts + 1`: doubling from half a
/// second, capped at [`MAX_BACKOFF`].
pub(crate) fn backoff(attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.min(16)).unwrap_or(u32::MAX);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

/// Whether `uri` reaches its driver through a daemon: all but the plain
/// test driver, which lives in this process (`test:///…`); a transport in
/// the scheme (`test+unix://`, `qemu+ssh://`) always means a daemon.
pub(crate) fn through_daemon(uri: &str, driver: DriverKind) -> bool {
    let scheme = uri.split("://").next().unwrap_or_default();
    driver != DriverKind::Test || scheme.contains('+')
}

/// A connection plus what is registered on it.
struct Live {
    conn: Connect,
    event_callback: Option<c_int>,
    close_callback: bool,
}

/// The connection of one [`LibvirtHypervisor`](super::LibvirtHypervisor).
pub(crate) struct Link {
    pub uri: String,
    pub driver: DriverKind,
    /// Whether a daemon is behind the connection (it can die and come
    /// back): every driver but the in-process test driver, and the test
    /// driver too when reached through one (`test+unix:///default?…`).
    daemon: bool,
    live: RwLock<Option<Live>>,
    state: Mutex<LinkState>,
    events: broadcast::Sender<DomainEvent>,
}

impl Link {
    /// Opens `uri` and registers lifecycle events (and, for drivers that
    /// talk to a daemon, the close callback and keepalive).
    pub fn open(uri: &str, driver: DriverKind) -> HvResult<Arc<Link>> {
        events::ensure_event_loop()?;
        let (tx, _) = broadcast::channel(1024);
        let link = Arc::new(Link {
            uri: uri.to_string(),
            driver,
            daemon: through_daemon(uri, driver),
            live: RwLock::new(None),
            state: Mutex::new(LinkState::Up),
            events: tx,
        });
        let conn = Connect::open(Some(uri)).map_err(|e| HvError::Connect {
            uri: uri.to_string(),
            message: e.message().to_string(),
        })?;
        link.install(conn)?;
        Ok(link)
    }

    /// A new reference to the connection, or `ConnectionLost`.
    pub fn conn(&self) -> HvResult<Connect> {
        if let LinkState::Down { attempts } = self.state() {
            return Err(HvError::ConnectionLost(format!(
                "{} is down ({attempts} reconnection attempts so far)",
                self.uri
            )));
        }
        let live = self.live.read().map_err(|_| poisoned(&self.uri))?;
        match live.as_ref() {
            Some(l) => Ok(l.conn.clone()),
            None => Err(HvError::ConnectionLost(format!(
                "{} is not connected",
                self.uri
            ))),
        }
    }

    pub fn state(&self) -> LinkState {
        match self.state.lock() {
            Ok(s) => *s,
            Err(p) => *p.into_inner(),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.events.subscribe()
    }

    /// A call failed because the connection is gone: treat it like the
    /// close callback would (it may come late, or not at all).
    pub fn note_lost(self: &Arc<Self>) {
        if self.daemon {
            self.transition(LinkEvent::Closed);
        }
    }

    /// Feeds `event` to the state machine and acts on the result.
    fn transition(self: &Arc<Self>, event: LinkEvent) {
        let action = {
            let mut state = match self.state.lock() {
                Ok(s) => s,
                Err(p) => p.into_inner(),
            };
            let (next, action) = state.next(event);
            if next != *state {
                tracing::info!(uri = %self.uri, from = ?*state, to = ?next, "libvirt connection state");
            }
            *state = next;
            action
        };
        if let LinkAction::StartReconnecting(first) = action {
            let weak = Arc::downgrade(self);
            let name = format!("libvirt-reconnect {}", self.uri);
            if let Err(e) = std::thread::Builder::new()
                .name(name)
                .spawn(move || reconnect_loop(weak, first))
            {
                tracing::error!(uri = %self.uri, error = %e, "cannot start the reconnect thread");
            }
        }
    }

    /// Makes `conn` the live connection and registers callbacks on it.
    fn install(self: &Arc<Self>, conn: Connect) -> HvResult<()> {
        let event_callback = match events::register_lifecycle(&conn, self.events.clone()) {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::warn!(uri = %self.uri, error = %e, "no domain lifecycle events on this connection");
                None
            }
        };
        let close_callback = self.daemon && self.register_close(&conn);
        if self.daemon {
            // Lets libvirt notice a dead daemon within ~15 s even when
            // vine sends nothing.
            if let Err(e) = conn.set_keep_alive(5, 3) {
                tracing::debug!(uri = %self.uri, error = %e, "keepalive not available");
            }
        }
        let old = {
            let mut live = self.live.write().map_err(|_| poisoned(&self.uri))?;
            live.replace(Live {
                conn,
                event_callback,
                close_callback,
            })
        };
        if let Some(old) = old {
            release(old);
        }
        Ok(())
    }

    fn register_close(self: &Arc<Self>, conn: &Connect) -> bool {
        let opaque = Box::into_raw(Box::new(Arc::downgrade(self))) as *mut c_void;
        // SAFETY: `opaque` is a Box<Weak<Link>> owned by libvirt from here
        // on and freed by `free_weak_link`.
        let rc = unsafe {
            sys::virConnectRegisterCloseCallback(
                conn.as_ptr(),
                Some(on_close),
                opaque,
                Some(free_weak_link),
            )
        };
        if rc < 0 {
            // SAFETY: libvirt refused it, so the box is still ours.
            unsafe { drop(Box::from_raw(opaque as *mut Weak<Link>)) };
            tracing::warn!(uri = %self.uri, "cannot register the close callback: a lost connection will not be noticed");
            return false;
        }
        true
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let live = match self.live.get_mut() {
            Ok(l) => l.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(live) = live {
            release(live);
        }
    }
}

/// Unregisters what `install` registered; the connection closes when the
/// last reference goes.
fn release(live: Live) {
    if let Some(id) = live.event_callback {
        // SAFETY: `id` was returned by a registration on this connection.
        unsafe { sys::virConnectDomainEventDeregisterAny(live.conn.as_ptr(), id) };
    }
    if live.close_callback {
        // SAFETY: the callback was registered on this connection.
        unsafe { sys::virConnectUnregisterCloseCallback(live.conn.as_ptr(), Some(on_close)) };
    }
}

fn poisoned(uri: &str) -> HvError {
    HvError::ConnectionLost(format!("{uri}: connection state poisoned by a panic"))
}

unsafe extern "C" fn on_close(_conn: sys::virConnectPtr, reason: c_int, opaque: *mut c_void) {
    // SAFETY: `opaque` is the Box<Weak<Link>> given at registration,
    // alive until `free_weak_link`.
    let weak = unsafe { &*(opaque as *const Weak<Link>) };
    if let Some(link) = weak.upgrade() {
        tracing::warn!(uri = %link.uri, reason, "libvirt connection closed");
        link.transition(LinkEvent::Closed);
    }
}

unsafe extern "C" fn free_weak_link(opaque: *mut c_void) {
    // SAFETY: see `register_close`.
    unsafe { drop(Box::from_raw(opaque as *mut Weak<Link>)) };
}

fn reconnect_loop(link: Weak<Link>, first: Duration) {
    let mut delay = first;
    loop {
        std::thread::sleep(delay);
        let Some(l) = link.upgrade() else { return };
        match Connect::open(Some(&l.uri)) {
            Ok(conn) => match l.install(conn) {
                Ok(()) => {
                    l.transition(LinkEvent::Reconnected);
                    return;
                }
                Err(e) => tracing::warn!(uri = %l.uri, error = %e, "reconnected but cannot use it"),
            },
            Err(e) => tracing::debug!(uri = %l.uri, error = %e, "reconnect failed"),
        }
        let mut state = match l.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        let (next, action) = state.next(LinkEvent::ReconnectFailed);
        *state = next;
        match action {
            LinkAction::RetryAfter(d) => delay = d,
            LinkAction::Nothing | LinkAction::StartReconnecting(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_starts_one_reconnect_and_failures_back_off_to_the_cap() {
        let (s, a) = LinkState::Up.next(LinkEvent::Closed);
        assert_eq!(s, LinkState::Down { attempts: 0 });
        assert_eq!(a, LinkAction::StartReconnecting(Duration::from_millis(500)));

        // A second close while down must not start another thread.
        assert_eq!(s.next(LinkEvent::Closed), (s, LinkAction::Nothing));

        let mut state = s;
        let mut delays = Vec::new();
        for _ in 0..10 {
            let (n, a) = state.next(LinkEvent::ReconnectFailed);
            state = n;
            match a {
                LinkAction::RetryAfter(d) => delays.push(d),
                other => panic!("expected a retry, got {other:?}"),
            }
        }
        assert_eq!(delays[0], Duration::from_secs(1));
        assert_eq!(delays[1], Duration::from_secs(2));
        assert!(delays.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*delays.last().unwrap(), MAX_BACKOFF);
        assert_eq!(state, LinkState::Down { attempts: 10 });

        assert_eq!(
            state.next(LinkEvent::Reconnected),
            (LinkState::Up, LinkAction::Nothing)
        );
    }

    #[test]
    fn stale_reports_leave_an_up_link_up() {
        for ev in [LinkEvent::ReconnectFailed, LinkEvent::Reconnected] {
            assert_eq!(LinkState::Up.next(ev), (LinkState::Up, LinkAction::Nothing));
        }
    }

    #[test]
    fn only_the_in_process_test_driver_has_no_daemon() {
        assert!(!through_daemon("test:///tmp/a.xml", DriverKind::Test));
        assert!(through_daemon(
            "test+unix:///default?socket=/tmp/s",
            DriverKind::Test
        ));
        assert!(through_daemon("qemu:///system", DriverKind::Qemu));
    }

    #[test]
    fn backoff_never_exceeds_the_cap_even_after_many_attempts() {
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
        assert_eq!(backoff(0), Duration::from_millis(500));
    }
}
