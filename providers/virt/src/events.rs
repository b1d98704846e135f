//! Indications (DSP1054) from libvirt's lifecycle events, not from polling:
//! the loop keeps the last `<P>_ComputerSystem` instance of every domain, so
//! each event becomes a Created, Deleted or Modified indication carrying the
//! instance before and after. When the event stream lags (the broadcast
//! buffer overflowed), the loop lists the domains and diffs them against
//! what it knew, so no VM's change is lost, only merged.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::broadcast::error::RecvError;
use vine_cim::{CimDateTime, CimInstance};
use vine_hypervisor::{DomainEvent, DomainEventKind, DomainInfo, DomainState, HvError};

use crate::context::VirtContext;
use crate::system::system_instance;
use crate::VIRT_NS;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An indication of class `<P>_<base>` about `source`.
pub fn indication(
    ctx: &VirtContext,
    base: &str,
    source: &CimInstance,
    previous: Option<&CimInstance>,
) -> CimInstance {
    let embed = |i: &CimInstance| {
        let mut i = i.clone();
        i.path = None;
        i
    };
    let mut ind = CimInstance::new(ctx.class(base))
        .with(
            "IndicationIdentifier",
            format!(
                "{}:{}",
                ctx.host_name,
                NEXT_ID.fetch_add(1, Ordering::Relaxed)
            ),
        )
        .with("IndicationTime", CimDateTime::now())
        // 2 = Information.
        .with("PerceivedSeverity", 2u16)
        .with("SourceInstance", embed(source))
        .with("SourceInstanceHost", ctx.host_name.as_str());
    if let Some(p) = &source.path {
        ind.set("SourceInstanceModelPath", p.to_string());
    }
    if let Some(prev) = previous {
        ind.set("PreviousInstance", embed(prev));
    }
    ind
}

/// Publishes `<P>_<base>` (a CIM_InstCreation subclass) for `source`.
pub fn publish_created(ctx: &VirtContext, base: &str, source: &CimInstance) {
    if let Some(sink) = &ctx.sink {
        sink.publish(VIRT_NS, indication(ctx, base, source, None));
    }
}

/// Publishes `<P>_<base>` (a CIM_InstDeletion subclass) for `source`.
pub fn publish_deleted(ctx: &VirtContext, base: &str, source: &CimInstance) {
    if let Some(sink) = &ctx.sink {
        sink.publish(VIRT_NS, indication(ctx, base, source, None));
    }
}

/// Publishes `<P>_<base>` (a CIM_InstModification subclass): `before` →
/// `after`.
pub fn publish_modified(ctx: &VirtContext, base: &str, before: &CimInstance, after: CimInstance) {
    if let Some(sink) = &ctx.sink {
        sink.publish(VIRT_NS, indication(ctx, base, &after, Some(before)));
    }
}

const CREATED: &str = "ComputerSystemCreatedIndication";
const DELETED: &str = "ComputerSystemDeletedIndication";
const MODIFIED: &str = "ComputerSystemModifiedIndication";

/// Turns the hypervisor's domain events into indications until the event
/// stream closes. Spawn it once per agent.
pub async fn run(ctx: VirtContext) {
    // Subscribe before listing, so nothing between the two is missed.
    let mut rx = ctx.hv.subscribe();
    let mut known = HashMap::new();
    resync(&ctx, &mut known, false).await;
    loop {
        match rx.recv().await {
            Ok(ev) => on_event(&ctx, &mut known, ev).await,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "domain events lagged; resyncing");
                resync(&ctx, &mut known, true).await;
            }
            Err(RecvError::Closed) => {
                tracing::info!("domain event stream closed");
                return;
            }
        }
    }
}

type Known = HashMap<String, CimInstance>;

async fn domain(ctx: &VirtContext, name: &str) -> Result<Option<DomainInfo>, ()> {
    let n = name.to_string();
    let hv = ctx.hv.clone();
    match tokio::task::spawn_blocking(move || hv.domain(&n)).await {
        Ok(Ok(d)) => Ok(Some(d)),
        Ok(Err(HvError::NoDomain(_))) => Ok(None),
        Ok(Err(e)) => {
            tracing::warn!(domain = name, error = %e, "cannot read domain after event");
            Err(())
        }
        Err(_) => Err(()),
    }
}

async fn on_event(ctx: &VirtContext, known: &mut Known, ev: DomainEvent) {
    tracing::debug!(domain = %ev.domain, kind = ?ev.kind, detail = ev.detail, "domain event");
    ctx.states.mark_changed(&ev.domain);
    if ev.kind == DomainEventKind::Undefined {
        if let Some(last) = known.remove(&ev.domain) {
            publish_deleted(ctx, DELETED, &last);
        }
        ctx.states.forget(&ev.domain);
        return;
    }
    let Ok(info) = domain(ctx, &ev.domain).await else {
        return;
    };
    match info {
        // A transient domain that stopped is gone.
        None => {
            if let Some(last) = known.remove(&ev.domain) {
                publish_deleted(ctx, DELETED, &last);
            }
        }
        Some(mut info) => {
            // The domain is read after the event, and may have moved on
            // (a pause and a quick resume): the indication reports the
            // state the event announced, so each one carries its own
            // transition; the next event's read catches up.
            if let Some(state) = announced_state(ev.kind) {
                info.state = state;
            }
            let now = system_instance(ctx, &info);
            match known.insert(ev.domain.clone(), now.clone()) {
                Some(before) => publish_modified(ctx, MODIFIED, &before, now),
                None => publish_created(ctx, CREATED, &now),
            }
        }
    }
}

/// Lists the domains and publishes what changed since `known` (when
/// `announce`), then makes `known` current.
async fn resync(ctx: &VirtContext, known: &mut Known, announce: bool) {
    let hv = ctx.hv.clone();
    let domains = match tokio::task::spawn_blocking(move || hv.domains()).await {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot list domains to resync");
            return;
        }
        Err(_) => return,
    };
    let mut now: Known = domains
        .iter()
        .map(|d| (d.name.clone(), system_instance(ctx, d)))
        .collect();
    if announce {
        for (name, inst) in &now {
            match known.get(name) {
                None => publish_created(ctx, CREATED, inst),
                Some(before) if state_of(before) != state_of(inst) => {
                    ctx.states.mark_changed(name);
                    publish_modified(ctx, MODIFIED, before, inst.clone())
                }
                Some(_) => {}
            }
        }
        for (name, before) in known.iter() {
            if !now.contains_key(name) {
                publish_deleted(ctx, DELETED, before);
            }
        }
    }
    std::mem::swap(known, &mut now);
}

/// The state a lifecycle event says the domain entered, when it says one.
fn announced_state(kind: DomainEventKind) -> Option<DomainState> {
    match kind {
        DomainEventKind::Started | DomainEventKind::Resumed => Some(DomainState::Running),
        DomainEventKind::Suspended => Some(DomainState::Paused),
        DomainEventKind::Stopped => Some(DomainState::Shutoff),
        DomainEventKind::PmSuspended => Some(DomainState::PmSuspended),
        DomainEventKind::Crashed => Some(DomainState::Crashed),
        // A guest's shutdown is followed by Stopped; a definition says
        // nothing of the state.
        DomainEventKind::Shutdown | DomainEventKind::Defined | DomainEventKind::Undefined => None,
    }
}

fn state_of(i: &CimInstance) -> Option<&vine_cim::CimValue> {
    i.get("EnabledState")
}

#[cfg(test)]
mod tests {
    use vine_cim::CimValue;
    use vine_hypervisor::testhost::{host_uri, write_host_file, TestHostSpec};
    use vine_hypervisor::{Hypervisor, LibvirtHypervisor};
    use vine_wbem::indication::IndicationSink;

    use super::*;

    fn states(i: &CimInstance) -> (Option<u16>, Option<u16>) {
        let state = |p: &str| match i.get(p) {
            Some(CimValue::Instance(x)) => match x.get("EnabledState") {
                Some(CimValue::Uint16(s)) => Some(*s),
                _ => None,
            },
            _ => None,
        };
        (state("PreviousInstance"), state("SourceInstance"))
    }

    /// A pause that libvirt reports after the guest has already been
    /// resumed still reads as running → paused, then paused → running.
    #[tokio::test]
    async fn each_indication_carries_the_state_its_event_announced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("h.xml");
        let spec = TestHostSpec::new("h", 4, 4096, dir.path().join("pool")).with_sample_vms(1);
        write_host_file(&file, &spec).unwrap();
        let hv = LibvirtHypervisor::open(&host_uri(&file)).unwrap();
        let vm = hv.domains().unwrap()[0].name.clone();
        let mut ctx = VirtContext::new(hv, "KVM", "h");
        let (sink, mut rx) = IndicationSink::channel(16);
        ctx.sink = Some(sink);
        let mut known = Known::new();
        resync(&ctx, &mut known, false).await;
        // The domain runs throughout: only the events say it paused.
        for kind in [DomainEventKind::Suspended, DomainEventKind::Resumed] {
            let ev = DomainEvent {
                domain: vm.clone(),
                uuid: String::new(),
                kind,
                detail: 0,
            };
            on_event(&ctx, &mut known, ev).await;
        }
        let a = rx.recv().await.unwrap().indication;
        let b = rx.recv().await.unwrap().indication;
        assert_eq!(states(&a), (Some(2), Some(9)));
        assert_eq!(states(&b), (Some(9), Some(2)));
    }
}
