//! The `vs.*` jobs. Every step reads the stored record, does one thing
//! (place, create or remove one node; apply the front end) and stores what
//! it did, so a step re-run after a crash finds the work done or half done
//! and finishes it:
//!
//! - a node `Creating` is defined only if its host does not have it yet,
//!   and started only if it is not running;
//! - a node `Removing` is out of the front end before its VM is stopped
//!   and destroyed, and a VM already gone is not an error.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use crate::cluster::LbError;
use crate::events::Severity;
use crate::jobs::{JobContext, JobHandler, JobRecord, StepOutcome, FIRST_STEP};
use crate::placement::PlacementError;
use crate::pools::PoolError;
use crate::vni::{RequestedState, VmState, VniError};

use super::front::{is_down, sync_lb};
use super::{
    demand, now_ms, placement_may_pass, push_repair, NodeRecord, NodeState, Repair, VsRecord,
};
use crate::ops::params::{VS_CREATE, VS_DELETE, VS_REPAIR, VS_SCALE};
use crate::ops::Services;

/// Repeated until the nodes match the record.
const NODES: &str = "nodes";
/// Put the nodes behind the front end.
const FRONT_END: &str = "front_end";
/// `vs.delete`: forget the record.
const FORGET: &str = "forget";

pub(super) fn handlers(s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    [VS_CREATE, VS_SCALE, VS_DELETE, VS_REPAIR]
        .into_iter()
        .map(|kind| Arc::new(VsJob { kind, s: s.clone() }) as Arc<dyn JobHandler>)
        .collect()
}

struct VsJob {
    kind: &'static str,
    s: Arc<Services>,
}

/// Why a step stopped.
enum Halt {
    Retry(String),
    Fail(String),
}

impl From<Halt> for StepOutcome {
    fn from(h: Halt) -> Self {
        match h {
            Halt::Retry(m) => StepOutcome::Retry(m),
            Halt::Fail(m) => StepOutcome::Fail(m),
        }
    }
}

/// An agent that did not answer may answer later; one that said no will
/// say it again.
fn vni(e: VniError, what: &str) -> Halt {
    if e.is_transient() {
        Halt::Retry(format!("{what}: {e}"))
    } else {
        Halt::Fail(format!("{what}: {e}"))
    }
}

fn store(e: impl std::fmt::Display) -> Halt {
    Halt::Retry(format!("store: {e}"))
}

fn cont(progress: u8, note: String) -> StepOutcome {
    StepOutcome::Continue {
        step: NODES.into(),
        progress,
        note,
    }
}

#[async_trait]
impl JobHandler for VsJob {
    fn kind(&self) -> &str {
        self.kind
    }

    async fn step(&self, ctx: &JobContext, job: &JobRecord) -> StepOutcome {
        let Some(name) = job.params.get("name").and_then(Value::as_str) else {
            return StepOutcome::Fail("the job's parameters name no virtual server".into());
        };
        let out = match (self.kind, job.step.as_str()) {
            (VS_REPAIR, FIRST_STEP) => self.choose_failed(ctx, name).await,
            (VS_DELETE, FIRST_STEP) => self.unpublish(name).await,
            (_, FIRST_STEP | NODES) => self.converge(name, job).await,
            (VS_DELETE, FORGET) => self.forget(name).await,
            (_, FRONT_END) => self.publish(name).await,
            (_, other) => Err(Halt::Fail(format!("{} has no step {other}", self.kind))),
        };
        out.unwrap_or_else(StepOutcome::from)
    }
}

impl VsJob {
    fn record(&self, name: &str) -> Result<VsRecord, Halt> {
        self.s
            .vservers
            .get(name)
            .map_err(store)?
            .ok_or_else(|| Halt::Fail(format!("no virtual server named {name}")))
    }

    fn update(&self, name: &str, f: impl Fn(&mut VsRecord)) -> Result<(), Halt> {
        self.s
            .vservers
            .update(name, |old| -> Result<_, vine_store::StoreError> {
                Ok(old.map(|mut r| {
                    f(&mut r);
                    r
                }))
            })
            .map_err(store)?;
        Ok(())
    }

    fn event(&self, severity: Severity, kind: &str, subject: &str, msg: String) {
        if let Err(e) = self.s.events.record(severity, kind, subject, msg) {
            tracing::warn!(error = %e, "recording an event");
        }
    }

    /// One move towards the record: finish a node being created, remove a
    /// node being removed, mark a surplus node for removal, or place a
    /// missing one. When nothing is left to do, on to the front end.
    async fn converge(&self, name: &str, job: &JobRecord) -> Result<StepOutcome, Halt> {
        let rec = self.record(name)?;
        if let Some(n) = rec.nodes.iter().find(|n| n.state == NodeState::Creating) {
            return self.create_node(&rec, n.clone()).await;
        }
        if let Some(n) = rec.nodes.iter().find(|n| n.state == NodeState::Removing) {
            return self.remove_node(&rec, n.clone()).await;
        }
        let ready: Vec<&NodeRecord> = rec
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Ready)
            .collect();
        let want = rec.desired as usize;
        if ready.len() > want {
            // The newest go first: the oldest have proved themselves.
            let vm = ready[ready.len() - 1].vm.clone();
            let v = vm.clone();
            self.update(name, move |r| {
                if let Some(n) = r.nodes.iter_mut().find(|n| n.vm == v) {
                    n.state = NodeState::Removing;
                }
            })?;
            return Ok(cont(
                progress(ready.len() - 1, want),
                format!("{vm}: taking it out of the front end"),
            ));
        }
        if ready.len() < want {
            return self.place_node(&rec, job);
        }
        let next = if self.kind == VS_DELETE {
            FORGET
        } else {
            FRONT_END
        };
        Ok(StepOutcome::Continue {
            step: next.into(),
            progress: 90,
            note: format!("{name}: {} nodes ready", ready.len()),
        })
    }

    /// Picks a host for a new node (none the other nodes use, nor, for a
    /// repair, the failed nodes' hosts while others fit) and records the
    /// node before anything is defined.
    fn place_node(&self, rec: &VsRecord, job: &JobRecord) -> Result<StepOutcome, Halt> {
        let s = &self.s;
        let used: HashSet<String> = rec.nodes.iter().map(|n| n.host.clone()).collect();
        let failed_hosts: HashSet<String> = job
            .data
            .get("avoid")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let mut index = rec.next_node;
        let vm = loop {
            index += 1;
            let vm = format!("{}-{index}", rec.name);
            let taken = rec.nodes.iter().any(|n| n.vm == vm)
                || s.inventory.find_vm(&vm).map_err(store)?.is_some();
            if !taken {
                break vm;
            }
        };
        let d = demand(&rec.template);
        let pool = rec.pool.as_deref();
        let avoid: HashSet<String> = used.union(&failed_hosts).cloned().collect();
        let placed = match s.pools.reserve(&vm, pool, d, None, &avoid) {
            Err(PoolError::Placement(PlacementError::AntiAffinity { .. }))
                if !failed_hosts.is_empty() =>
            {
                // No spare host: a failed node's host (its VM is gone by
                // now) is better than no replacement.
                s.pools.reserve(&vm, pool, d, None, &used)
            }
            other => other,
        };
        let host = match placed {
            Ok(h) => h,
            Err(e) if placement_may_pass(&e) => {
                return Err(Halt::Retry(format!("placing node {vm}: {e}")))
            }
            Err(e) => return Err(Halt::Fail(format!("placing node {vm}: {e}"))),
        };
        let node = NodeRecord {
            vm: vm.clone(),
            host: host.clone(),
            addr: None,
            state: NodeState::Creating,
        };
        if let Err(e) = self.update(&rec.name, move |r| {
            r.nodes.push(node.clone());
            r.next_node = r.next_node.max(index);
        }) {
            s.pools.settle(&vm);
            return Err(e);
        }
        let ready = rec
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Ready)
            .count();
        Ok(cont(
            progress(ready, rec.desired as usize),
            format!("{vm}: placed on {host}"),
        ))
    }

    /// Defines and starts a placed node (each only if not done yet), then
    /// marks it ready with its address.
    async fn create_node(&self, rec: &VsRecord, n: NodeRecord) -> Result<StepOutcome, Halt> {
        let s = &self.s;
        let agent = match s.inventory.agent(&n.host) {
            Ok(a) => a,
            Err(e) => {
                self.drop_node(&rec.name, &n.vm);
                return Err(Halt::Fail(format!("node {}: {e}", n.vm)));
            }
        };
        let what = format!("node {} on {}", n.vm, n.host);
        let vms = agent.vms().await.map_err(|e| vni(e, &what))?;
        let state = vms.iter().find(|v| v.name == n.vm).map(|v| v.state);
        let failed = |e: VniError, step: &str| {
            let h = vni(e, &format!("{step} {what}"));
            if matches!(h, Halt::Fail(_)) {
                self.drop_node(&rec.name, &n.vm);
            }
            h
        };
        if state.is_none() {
            let mut t = rec.template.clone();
            t.name = n.vm.clone();
            agent
                .define_vm(&t)
                .await
                .map_err(|e| failed(e, "defining"))?;
        }
        if state != Some(VmState::Running) {
            agent
                .request_state(&n.vm, RequestedState::Start)
                .await
                .map_err(|e| failed(e, "starting"))?;
        }
        if let Err(e) = s.inventory.resync_host(&n.host).await {
            tracing::warn!(host = n.host, error = %e, "resync after creating a node");
        }
        s.pools.settle(&n.vm);
        let addr =
            s.vs.addrs
                .resolve(&n.host, &n.vm, rec.node_port)
                .await
                .map(|a| a.to_string());
        let (vm, a) = (n.vm.clone(), addr.clone());
        self.update(&rec.name, move |r| {
            if let Some(x) = r.nodes.iter_mut().find(|x| x.vm == vm) {
                x.state = NodeState::Ready;
                x.addr = a.clone();
            }
        })?;
        let ready = rec
            .nodes
            .iter()
            .filter(|x| x.state == NodeState::Ready)
            .count()
            + 1;
        let serves = match &addr {
            Some(a) => format!("serving on {a}"),
            None => "no address published yet".into(),
        };
        Ok(cont(
            progress(ready, rec.desired as usize),
            format!("{}: running on {}, {serves}", n.vm, n.host),
        ))
    }

    /// A node that could not be created leaves the record (and its held
    /// room), so the next job places it afresh.
    fn drop_node(&self, name: &str, vm: &str) {
        let v = vm.to_string();
        let _ = self.update(name, move |r| r.nodes.retain(|x| x.vm != v));
        if let Err(e) = self.s.pools.remove_member(vm) {
            tracing::warn!(vm, error = %e, "forgetting a node in its pool");
        }
    }

    /// Takes a node out of the front end, then stops and destroys it.
    async fn remove_node(&self, rec: &VsRecord, n: NodeRecord) -> Result<StepOutcome, Halt> {
        let s = &self.s;
        // A virtual server being deleted lost its front end already.
        if !rec.deleting {
            sync_lb(s)
                .await
                .map_err(|e| Halt::Retry(format!("taking {} out of the front end: {e}", n.vm)))?;
        }
        let what = format!("node {} on {}", n.vm, n.host);
        let mut note = format!("{}: stopped and destroyed on {}", n.vm, n.host);
        match s.inventory.agent(&n.host) {
            // The host was removed from the inventory: nothing to destroy.
            Err(_) => note = format!("{}: its host {} is gone", n.vm, n.host),
            Ok(agent) => match agent.vms().await {
                Ok(vms) => {
                    if let Some(v) = vms.iter().find(|v| v.name == n.vm) {
                        if matches!(v.state, VmState::Running | VmState::Paused) {
                            match agent.request_state(&n.vm, RequestedState::Stop).await {
                                Ok(()) | Err(VniError::NoVm { .. }) => {}
                                Err(e) => return Err(vni(e, &format!("stopping {what}"))),
                            }
                        }
                        match agent.destroy_vm(&n.vm).await {
                            Ok(()) | Err(VniError::NoVm { .. }) => {}
                            Err(e) => return Err(vni(e, &format!("destroying {what}"))),
                        }
                    }
                    if let Err(e) = s.inventory.resync_host(&n.host).await {
                        tracing::warn!(host = n.host, error = %e, "resync after removing a node");
                    }
                }
                // A repair replaces nodes on hosts that may be dead; the
                // node is out of the front end, so it is forgotten.
                Err(e) if self.kind == VS_REPAIR && e.is_transient() => {
                    note = format!("{}: host {} does not answer ({e}); forgotten", n.vm, n.host);
                    self.event(Severity::Warning, "vs.node_forgotten", &n.vm, note.clone());
                }
                Err(e) => return Err(vni(e, &what)),
            },
        }
        if let Err(e) = s.pools.remove_member(&n.vm) {
            tracing::warn!(vm = n.vm, error = %e, "forgetting a node in its pool");
        }
        let vm = n.vm.clone();
        self.update(&rec.name, move |r| r.nodes.retain(|x| x.vm != vm))?;
        let ready = rec
            .nodes
            .iter()
            .filter(|x| x.state == NodeState::Ready)
            .count();
        Ok(cont(progress(ready, rec.desired as usize), note))
    }

    /// `vs.repair`, first step: which nodes failed — the balancer saw them
    /// fail their checks, or their VM is gone or stopped — marked for
    /// removal; their hosts are remembered so replacements go elsewhere.
    async fn choose_failed(&self, ctx: &JobContext, name: &str) -> Result<StepOutcome, Halt> {
        let s = &self.s;
        let rec = self.record(name)?;
        if rec.deleting {
            return Err(Halt::Fail(format!(
                "virtual server {name} is being deleted"
            )));
        }
        let status = match &s.lb {
            Some(lb) => lb.status().await.unwrap_or_else(|e| {
                tracing::warn!(error = %e, "load balancer status for a repair");
                Vec::new()
            }),
            None => Vec::new(),
        };
        let mut failed: Vec<(NodeRecord, String)> = Vec::new();
        for n in rec.nodes.iter().filter(|n| n.state == NodeState::Ready) {
            if is_down(&status, name, &n.vm) {
                failed.push((n.clone(), "failed its health checks".into()));
                continue;
            }
            let Ok(agent) = s.inventory.agent(&n.host) else {
                failed.push((n.clone(), format!("its host {} is gone", n.host)));
                continue;
            };
            // An agent that does not answer is no proof either way; the
            // balancer's checks are.
            if let Ok(vms) = agent.vms().await {
                match vms.iter().find(|v| v.name == n.vm).map(|v| v.state) {
                    None => failed.push((n.clone(), format!("its VM is gone from {}", n.host))),
                    Some(VmState::Running | VmState::Paused) => {}
                    Some(st) => failed.push((n.clone(), format!("its VM is {}", st.as_str()))),
                }
            }
        }
        // Nodes a re-run of this step marked already.
        let mut avoid: Vec<String> = rec
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Removing)
            .map(|n| n.host.clone())
            .collect();
        if failed.is_empty() && avoid.is_empty() {
            return Ok(StepOutcome::Done(
                json!({"name": name, "replaced": [], "note": "no node has failed"}),
            ));
        }
        let names: Vec<String> = failed.iter().map(|(n, _)| n.vm.clone()).collect();
        let at = now_ms();
        let job = ctx.job_id().clone();
        let marked = failed.clone();
        self.update(name, move |r| {
            for (f, reason) in &marked {
                if let Some(x) = r.nodes.iter_mut().find(|x| x.vm == f.vm) {
                    x.state = NodeState::Removing;
                    push_repair(
                        &mut r.repairs,
                        Repair {
                            at,
                            node: f.vm.clone(),
                            host: f.host.clone(),
                            reason: reason.clone(),
                            job: job.clone(),
                        },
                    );
                }
            }
        })?;
        for (n, reason) in &failed {
            self.event(
                Severity::Warning,
                "vs.node_replaced",
                &n.vm,
                format!("{name}: node {} on {} {reason}; replacing it", n.vm, n.host),
            );
            avoid.push(n.host.clone());
        }
        let mut data = Map::new();
        data.insert("avoid".into(), json!(avoid));
        data.insert("replaced".into(), json!(names));
        Ok(StepOutcome::ContinueWith {
            step: NODES.into(),
            progress: 10,
            note: format!("replacing {}", names.join(", ")),
            data,
        })
    }

    /// `vs.delete`, first step: the front end goes before any node.
    async fn unpublish(&self, name: &str) -> Result<StepOutcome, Halt> {
        let rec = self.record(name)?;
        if !rec.deleting {
            self.update(name, |r| {
                r.deleting = true;
                r.desired = 0;
            })?;
        }
        sync_lb(&self.s)
            .await
            .map_err(|e| Halt::Retry(format!("removing the front end of {name}: {e}")))?;
        Ok(cont(10, format!("{name}: front end removed")))
    }

    /// `vs.delete`, last step.
    async fn forget(&self, name: &str) -> Result<StepOutcome, Halt> {
        self.s.vservers.delete(name).map_err(store)?;
        self.event(
            Severity::Info,
            "vs.deleted",
            name,
            format!("virtual server {name} deleted"),
        );
        Ok(StepOutcome::Done(json!({"name": name, "deleted": true})))
    }

    /// Puts every ready node behind the front end.
    async fn publish(&self, name: &str) -> Result<StepOutcome, Halt> {
        let rec = self.record(name)?;
        if let Err(e) = sync_lb(&self.s).await {
            return Err(match e {
                LbError::Invalid(_) | LbError::Rejected(_) | LbError::Missing(_) => {
                    Halt::Fail(format!("front end of {name}: {e}"))
                }
                LbError::Runtime(_) | LbError::Io { .. } => {
                    Halt::Retry(format!("front end of {name}: {e}"))
                }
            });
        }
        let nodes: Vec<Value> = rec
            .nodes
            .iter()
            .map(|n| json!({"vm": n.vm, "host": n.host, "addr": n.addr}))
            .collect();
        let front_end = self.s.lb.as_ref().and(rec.bind.clone());
        let msg = match &front_end {
            Some(b) => format!("{name}: {} nodes behind {b}", nodes.len()),
            None => format!("{name}: {} nodes, no load balancer", nodes.len()),
        };
        self.event(Severity::Info, "vs.ready", name, msg);
        Ok(StepOutcome::Done(json!({
            "name": name,
            "nodes": nodes,
            "front_end": front_end,
        })))
    }
}

/// Progress of a node count towards `want`, kept in 10..=90 (the first
/// and last steps own the ends).
fn progress(have: usize, want: usize) -> u8 {
    if want == 0 {
        return 50;
    }
    (10 + 80 * have.min(want) / want) as u8
}
