//! The virtual servers' health loop. Each round:
//!
//! 1. re-reads every ready node's published address; a change (a node
//!    that published one late, or moved) updates the record;
//! 2. applies the front ends when an address changed, and at the first
//!    round (so a restarted manager restores its balancer from the store);
//! 3. reads the balancer's checks and the inventory, and submits one
//!    `vs.repair` for a virtual server with a failed node: a node that was
//!    seen up and is now down, or whose VM is gone from its host (confirmed
//!    with the agent, not only the inventory).
//!
//! Each failed node is reported once: the loop remembers the nodes it
//! asked about until they leave the record, or the repair is over and the
//! balancer sees them up again. A node the loop has never seen
//! up is not repaired for failing its checks: HAProxy reports a node down
//! from its first failed check, so such a node never worked (a wrong
//! address, say), and a replacement made the same way would fail the same.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::cluster::BackendState;
use crate::events::Severity;
use crate::inventory::HostHealth;
use crate::ops::{Coordinator, ErrorKind};

use super::front::{node_row, sync_lb};
use super::{NodeState, VsRecord};

/// The owner of the repair jobs the loop submits.
pub const OWNER: &str = "vs-health";

/// Runs rounds every `every` until `stop` resolves.
pub async fn run(c: Arc<Coordinator>, every: Duration, stop: impl Future<Output = ()>) {
    let mut h = Health::default();
    tokio::pin!(stop);
    loop {
        h.round(&c).await;
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

/// What the loop remembers between rounds: (virtual server, node) pairs.
#[derive(Default)]
struct Health {
    /// The front ends were applied once since the start.
    synced: bool,
    /// Seen up by the balancer's checks.
    proven: HashSet<(String, String)>,
    /// A repair was asked for them.
    asked: HashSet<(String, String)>,
}

impl Health {
    async fn round(&mut self, c: &Coordinator) {
        let s = &c.services;
        let records: Vec<VsRecord> = match s.vservers.list() {
            Ok(l) => l.into_iter().map(|(_, r)| r).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "health round: reading virtual servers");
                return;
            }
        };
        let mut changed = false;
        for r in records.iter().filter(|r| !r.deleting) {
            for n in r.nodes.iter().filter(|n| n.state == NodeState::Ready) {
                let now =
                    s.vs.addrs
                        .resolve(&n.host, &n.vm, r.node_port)
                        .await
                        .map(|a| a.to_string());
                if now == n.addr {
                    continue;
                }
                tracing::info!(vs = r.name, node = n.vm, addr = ?now, "node address changed");
                let (vm, a) = (n.vm.clone(), now.clone());
                let res = s.vservers.update(&r.name, |old| {
                    Ok::<_, vine_store::StoreError>(old.map(|mut rec: VsRecord| {
                        if let Some(x) = rec.nodes.iter_mut().find(|x| x.vm == vm) {
                            x.addr = a.clone();
                        }
                        rec
                    }))
                });
                match res {
                    Ok(_) => changed = true,
                    Err(e) => tracing::warn!(error = %e, "storing a node address"),
                }
            }
        }
        if changed || !self.synced {
            match sync_lb(s).await {
                Ok(()) => self.synced = true,
                Err(e) => tracing::warn!(error = %e, "applying the front ends"),
            }
        }
        let live: HashSet<(String, String)> = records
            .iter()
            .flat_map(|r| r.nodes.iter().map(|n| (r.name.clone(), n.vm.clone())))
            .collect();
        self.proven.retain(|k| live.contains(k));
        self.asked.retain(|k| live.contains(k));

        let status = match &s.lb {
            Some(lb) => match lb.status().await {
                Ok(st) => st,
                Err(e) => {
                    tracing::warn!(error = %e, "load balancer status");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        for r in records.iter().filter(|r| !r.deleting) {
            let mut failed: Vec<(String, String)> = Vec::new();
            let busy = c.vs_busy(r).is_some();
            for n in r.nodes.iter().filter(|n| n.state == NodeState::Ready) {
                let key = (r.name.clone(), n.vm.clone());
                let row = node_row(&status, &r.name, &n.vm).map(|x| x.state);
                if self.asked.contains(&key) {
                    // The repair found it well after all (it came back):
                    // it may be reported again if it fails again.
                    if !busy && row == Some(BackendState::Up) {
                        self.asked.remove(&key);
                    }
                    continue;
                }
                // A VM gone is a failed node whatever answers at its
                // address.
                if let Some(why) = vm_gone(c, &n.host, &n.vm).await {
                    failed.push((n.vm.clone(), why));
                    continue;
                }
                match row {
                    Some(BackendState::Up) => {
                        self.proven.insert(key);
                    }
                    Some(BackendState::Down) if self.proven.contains(&key) => {
                        failed.push((n.vm.clone(), "failed its health checks".into()));
                    }
                    _ => {}
                }
            }
            if failed.is_empty() {
                continue;
            }
            match c.repair_vs(&r.name, Some(OWNER)) {
                Ok(job) => {
                    for (vm, why) in failed {
                        let msg = format!("{}: node {vm} {why}; repair job {job}", r.name);
                        tracing::warn!("{msg}");
                        if let Err(e) = s.events.record(Severity::Warning, "vs.node_down", &vm, msg)
                        {
                            tracing::warn!(error = %e, "recording an event");
                        }
                        self.asked.insert((r.name.clone(), vm));
                    }
                }
                // Busy with another job: ask again next round.
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    tracing::debug!(vs = r.name, error = %e, "repair postponed")
                }
                Err(e) => tracing::warn!(vs = r.name, error = %e, "asking for a repair"),
            }
        }
    }
}

/// Why `vm` is gone from `host`, when the inventory says it is and the
/// agent confirms it. A host that does not answer proves nothing.
async fn vm_gone(c: &Coordinator, host: &str, vm: &str) -> Option<String> {
    let inv = &c.services.inventory;
    let h = inv.host(host).ok()?;
    if h.health != HostHealth::Up {
        return None;
    }
    if inv.vms_on(host).ok()?.iter().any(|v| v.name == vm) {
        return None;
    }
    let vms = inv.agent(host).ok()?.vms().await.ok()?;
    if vms.iter().any(|v| v.name == vm) {
        return None;
    }
    Some(format!("is gone from {host}"))
}
