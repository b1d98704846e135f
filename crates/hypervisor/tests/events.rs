//! Lifecycle events from the real test driver reach subscribers.

mod common;

use std::time::{Duration, Instant};

use tokio::sync::broadcast::error::TryRecvError;
use vine_hypervisor::*;

/// Events for `domain` until `want` have arrived or 5 s pass.
fn collect(
    rx: &mut tokio::sync::broadcast::Receiver<DomainEvent>,
    domain: &str,
    want: usize,
) -> Vec<DomainEventKind> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        match rx.try_recv() {
            Ok(ev) if ev.domain == domain => got.push(ev.kind),
            Ok(_) => {}
            Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[test]
fn define_start_suspend_resume_destroy_undefine_each_emit_an_event() {
    let h = common::host("host-events", 0);
    let mut rx = h.hv.subscribe();
    let hv = &h.hv;
    let info = hv.define(&DomainSpec::new("ev", 1, 256)).unwrap();
    hv.start("ev").unwrap();
    hv.suspend("ev").unwrap();
    hv.resume("ev").unwrap();
    hv.destroy("ev").unwrap();
    hv.undefine("ev").unwrap();
    use DomainEventKind::*;
    assert_eq!(
        collect(&mut rx, "ev", 6),
        [Defined, Started, Suspended, Resumed, Stopped, Undefined]
    );

    // The uuid travels with the event.
    let mut rx = h.hv.subscribe();
    hv.define(&DomainSpec::new("ev2", 1, 256)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let ev = loop {
        match rx.try_recv() {
            Ok(ev) => break ev,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("no event: {e}"),
        }
    };
    assert_eq!(ev.domain, "ev2");
    assert_eq!(ev.uuid, hv.domain("ev2").unwrap().uuid);
    assert_ne!(ev.uuid, info.uuid);
}

#[test]
fn hosts_only_hear_about_their_own_domains() {
    let a = common::host("host-ev-a", 0);
    let b = common::host("host-ev-b", 0);
    let mut rx_b = b.hv.subscribe();
    a.hv.define(&DomainSpec::new("only-on-a", 1, 256)).unwrap();
    b.hv.define(&DomainSpec::new("marker", 1, 256)).unwrap();
    // Once b's own event is in, a's would have been too.
    assert_eq!(collect(&mut rx_b, "marker", 1), [DomainEventKind::Defined]);
    while let Ok(ev) = rx_b.try_recv() {
        assert_ne!(ev.domain, "only-on-a");
    }
}
