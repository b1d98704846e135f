//! Virtual servers ("virtualizing up"): a named set of nodes made from one
//! template, spread over hosts with anti-affinity, behind one front end on
//! the load balancer.
//!
//! The stored [`VsRecord`] is the desired state (how many nodes, where the
//! front end listens) and what has been done so far (each node and where
//! it is in its life). Requests check and store first, then a job drives
//! reality towards the record, one node per step, so a manager restart
//! resumes where it was:
//!
//! 1. `vs.create` / `vs.scale`: place missing nodes (anti-affinity over
//!    hosts), define and start each, then put every ready node with an
//!    address behind the front end; surplus nodes — the newest — are taken
//!    out of the front end first, then stopped and destroyed.
//! 2. `vs.delete`: the front end goes first, then every node.
//! 3. `vs.repair`: nodes the balancer saw fail, or whose VM is gone, are
//!    taken out and replaced on another host.
//!
//! [`health::run`] watches the balancer and asks for repairs.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cluster::HealthCheck;
use crate::jobs::{JobHandler, JobId};
use crate::placement::{self, PlacementError, Resources};
use crate::pools::PoolError;
use crate::vni::VmTemplate;

use super::params::{CreateVs, NameVs, ScaleVs, VS_CREATE, VS_DELETE, VS_REPAIR, VS_SCALE};
use super::{Coordinator, OpsError, Result, Services};

/// Where nodes serve: the resolver trait and the address file.
pub mod addrs;
/// The balancer's configuration from the stored records.
mod front;
/// The background loop that finds failed nodes and asks for repairs.
pub mod health;
/// The `vs.*` job handlers.
mod jobs;
/// What the API shows: the record with each node's health.
mod view;

pub use addrs::{AddrFile, NoAddrs, NodeAddrs};
pub use front::VsShared;
pub use view::{FrontEndState, FrontEndView, NodeHealth, NodeView, VsView};

/// Nodes one virtual server may have.
pub const MAX_NODES: u32 = 64;
/// Repairs remembered per virtual server.
const REPAIRS_KEPT: usize = 10;

/// A virtual server as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VsRecord {
    pub name: String,
    /// What every node is made from (its `name` is replaced by the node's).
    pub template: VmTemplate,
    /// Nodes wanted.
    pub desired: u32,
    /// Oldest first.
    pub nodes: Vec<NodeRecord>,
    /// The front end's address.
    pub bind: Option<String>,
    pub node_port: Option<u16>,
    pub pool: Option<String>,
    /// How the balancer checks nodes; the default check when `None`.
    #[serde(default)]
    pub health: Option<HealthCheck>,
    /// The number in the newest node's name (`<vs>-<n>`); never reused.
    #[serde(default)]
    pub next_node: u32,
    /// A `vs.delete` is under way.
    #[serde(default)]
    pub deleting: bool,
    /// The last job submitted for it (busy while that job is not final).
    #[serde(default)]
    pub job: Option<JobId>,
    /// The latest node replacements, oldest first.
    #[serde(default)]
    pub repairs: Vec<Repair>,
}

/// One node: a VM on a host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub vm: String,
    pub host: String,
    /// Where the node serves, once known.
    pub addr: Option<String>,
    #[serde(default)]
    pub state: NodeState,
}

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Placed; being defined and started. Gets no traffic.
    Creating,
    /// Running; behind the front end once it has an address.
    #[default]
    Ready,
    /// Out of the front end; being stopped and destroyed.
    Removing,
}

/// A node taken out because it failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Repair {
    /// Unix ms.
    pub at: u64,
    pub node: String,
    pub host: String,
    pub reason: String,
    pub job: JobId,
}

/// The handlers of the `vs.*` kinds.
pub(crate) fn handlers(s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    jobs::handlers(s)
}

pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Names become VM names (`<vs>-<n>`) and balancer names.
fn check_name(name: &str) -> Result<()> {
    let ok = (1..=48).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!(
            "virtual server name `{name}` is not allowed: use 1-48 letters, digits, `-` or `_`, starting with a letter"
        )))
    }
}

fn check_count(nodes: u32) -> Result<()> {
    if nodes == 0 {
        return Err(OpsError::Invalid(
            "a virtual server needs at least 1 node (to remove it, delete it)".into(),
        ));
    }
    if nodes > MAX_NODES {
        return Err(OpsError::Invalid(format!(
            "{nodes} nodes asked; a virtual server has at most {MAX_NODES}"
        )));
    }
    Ok(())
}

fn check_health(h: &HealthCheck) -> Result<()> {
    if !h.path.starts_with('/') || h.path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(OpsError::Invalid(format!(
            "health-check path {:?} must start with '/' and have no spaces",
            h.path
        )));
    }
    if h.interval_ms < 100 || h.fall == 0 || h.rise == 0 {
        return Err(OpsError::Invalid(
            "health check: interval_ms must be at least 100, fall and rise at least 1".into(),
        ));
    }
    Ok(())
}

/// The checks of a `vs.create` that need no state (name, node count,
/// template, health check): what [`Coordinator::create_vs`] asks first.
/// Public for the fuzz targets in `fuzz/`.
#[doc(hidden)]
pub fn check_create(req: &CreateVs) -> Result<()> {
    check_name(&req.name)?;
    check_count(req.nodes)?;
    if req.template.vcpus == 0 || req.template.memory_mib == 0 {
        return Err(OpsError::Invalid(
            "the node template needs at least 1 vCPU and 1 MiB of memory".into(),
        ));
    }
    if let Some(h) = &req.health {
        check_health(h)?;
    }
    Ok(())
}

fn demand(t: &VmTemplate) -> Resources {
    Resources::new(u64::from(t.vcpus), t.memory_mib)
}

/// Whether `count` more nodes of `demand` fit, each on a host of its own
/// not in `used`: refused with the placement's reason (a 422) otherwise.
fn check_room(
    s: &Services,
    demand: Resources,
    pool: Option<&str>,
    count: u32,
    used: &HashSet<String>,
) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let n = u64::from(count);
    s.pools.admit(
        pool,
        Resources::new(
            demand.vcpus.saturating_mul(n),
            demand.memory_mib.saturating_mul(n),
        ),
    )?;
    let mut loads = s.pools.host_loads()?;
    let ratios = s.pools.ratios();
    let mut avoid = used.clone();
    for _ in 0..count {
        let host = placement::place(demand, &loads, &avoid, &ratios).map_err(PoolError::from)?;
        if let Some(l) = loads.iter_mut().find(|l| l.name == host) {
            l.allocated = l.allocated.add(demand);
        }
        avoid.insert(host);
    }
    Ok(())
}

/// A loopback port nothing listens on now.
fn free_loopback() -> Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| OpsError::Conflict(format!("no free loopback port for the front end: {e}")))
}

impl Coordinator {
    /// The stored record of virtual server `name`.
    pub fn vs_record(&self, name: &str) -> Result<VsRecord> {
        self.services.vservers.get(name)?.ok_or_else(|| {
            OpsError::NotFound(format!(
                "no virtual server named {name}; GET /api/v1/vs lists them"
            ))
        })
    }

    /// The job working on `rec` now, if any.
    fn vs_busy(&self, rec: &VsRecord) -> Option<JobId> {
        let id = rec.job.as_ref()?;
        match self.jobs.get(id) {
            Ok(j) if !j.state.is_terminal() => Some(id.clone()),
            _ => None,
        }
    }

    fn refuse_busy(&self, rec: &VsRecord) -> Result<()> {
        match self.vs_busy(rec) {
            Some(job) => Err(OpsError::Conflict(format!(
                "virtual server {} is busy with job {job}; wait for it to finish or cancel it",
                rec.name
            ))),
            None => Ok(()),
        }
    }

    /// Changes the stored record of `name` with `f`.
    fn vs_update(&self, name: &str, f: impl Fn(&mut VsRecord)) -> Result<()> {
        self.services.vservers.update(
            name,
            |old| -> std::result::Result<_, vine_store::StoreError> {
                Ok(old.map(|mut r| {
                    f(&mut r);
                    r
                }))
            },
        )?;
        Ok(())
    }

    /// Submits `kind` for `name` and records the job in the record.
    fn vs_submit<P: Serialize>(
        &self,
        name: &str,
        kind: &str,
        params: &P,
        owner: Option<&str>,
    ) -> Result<JobId> {
        let id = self.submit(kind, params, owner, None)?;
        let job = id.clone();
        self.vs_update(name, move |r| r.job = Some(job.clone()))?;
        Ok(id)
    }

    /// Checks a new virtual server (name, node count, template, room for
    /// every node on a host of its own, front-end address), stores it and
    /// submits the `vs.create` job that makes its nodes and front end.
    pub fn create_vs(&self, req: CreateVs, owner: Option<&str>) -> Result<JobId> {
        check_create(&req)?;
        let s = &self.services;
        let _turn = s.vs.submit.lock().unwrap_or_else(|e| e.into_inner());
        if s.vservers.get(&req.name)?.is_some() {
            return Err(OpsError::Conflict(format!(
                "a virtual server named {} exists already",
                req.name
            )));
        }
        let mut template = req.template.clone();
        template.name = req.name.clone();
        check_room(
            s,
            demand(&template),
            req.pool.as_deref(),
            req.nodes,
            &HashSet::new(),
        )?;
        let bind = match &req.bind {
            Some(b) => b.parse::<SocketAddr>().map_err(|_| {
                OpsError::Invalid(format!(
                    "bind `{b}` is not an address like 127.0.0.1:8080 (leave it out for a free loopback port)"
                ))
            })?,
            None => free_loopback()?,
        };
        for (_, other) in s.vservers.list()? {
            if other.bind.as_deref().and_then(|b| b.parse().ok()) == Some(bind) {
                return Err(OpsError::Conflict(format!(
                    "virtual server {} already listens on {bind}",
                    other.name
                )));
            }
        }
        if let Err(e) = std::net::TcpListener::bind(bind) {
            return Err(OpsError::Conflict(format!(
                "the front-end address {bind} cannot be used: {e}; choose another bind or leave it out"
            )));
        }
        let rec = VsRecord {
            name: req.name.clone(),
            template: template.clone(),
            desired: req.nodes,
            nodes: Vec::new(),
            bind: Some(bind.to_string()),
            node_port: req.node_port,
            pool: req.pool.clone(),
            health: req.health.clone(),
            next_node: 0,
            deleting: false,
            job: None,
            repairs: Vec::new(),
        };
        match s.vservers.insert_new(&req.name, &rec) {
            Ok(()) => {}
            Err(e) if e.is_already_exists() => {
                return Err(OpsError::Conflict(format!(
                    "a virtual server named {} exists already",
                    req.name
                )))
            }
            Err(e) => return Err(e.into()),
        }
        let params = CreateVs {
            template,
            bind: Some(bind.to_string()),
            ..req
        };
        self.vs_submit(&params.name, VS_CREATE, &params, owner)
            .inspect_err(|_| {
                let _ = s.vservers.delete(&params.name);
            })
    }

    /// Stores the new node count of `name` and submits the `vs.scale` job.
    /// Growing is refused at once when the new nodes would not each find a
    /// host of their own.
    pub fn scale_vs(&self, name: &str, nodes: u32, owner: Option<&str>) -> Result<JobId> {
        check_count(nodes)?;
        let s = &self.services;
        let _turn = s.vs.submit.lock().unwrap_or_else(|e| e.into_inner());
        let rec = self.vs_record(name)?;
        if rec.deleting {
            return Err(OpsError::Conflict(format!(
                "virtual server {name} is being deleted"
            )));
        }
        self.refuse_busy(&rec)?;
        let live: Vec<&NodeRecord> = rec
            .nodes
            .iter()
            .filter(|n| n.state != NodeState::Removing)
            .collect();
        if nodes as usize > live.len() {
            let used = live.iter().map(|n| n.host.clone()).collect();
            check_room(
                s,
                demand(&rec.template),
                rec.pool.as_deref(),
                nodes - live.len() as u32,
                &used,
            )?;
        }
        let old = rec.desired;
        self.vs_update(name, |r| r.desired = nodes)?;
        let params = ScaleVs {
            name: name.into(),
            nodes,
        };
        self.vs_submit(name, VS_SCALE, &params, owner)
            .inspect_err(|_| {
                let _ = self.vs_update(name, |r| r.desired = old);
            })
    }

    /// Marks `name` for deletion and submits the `vs.delete` job (front end
    /// first, then the nodes). Asking again while it runs returns the same
    /// job.
    pub fn delete_vs(&self, name: &str, owner: Option<&str>) -> Result<JobId> {
        let s = &self.services;
        let _turn = s.vs.submit.lock().unwrap_or_else(|e| e.into_inner());
        let rec = self.vs_record(name)?;
        if let Some(job) = self.vs_busy(&rec) {
            if rec.deleting {
                return Ok(job);
            }
        }
        self.refuse_busy(&rec)?;
        let (old_desired, old_deleting) = (rec.desired, rec.deleting);
        self.vs_update(name, |r| {
            r.deleting = true;
            r.desired = 0;
        })?;
        let params = NameVs { name: name.into() };
        self.vs_submit(name, VS_DELETE, &params, owner)
            .inspect_err(|_| {
                let _ = self.vs_update(name, |r| {
                    r.deleting = old_deleting;
                    r.desired = old_desired;
                });
            })
    }

    /// Submits a `vs.repair` job: nodes that failed are replaced.
    pub fn repair_vs(&self, name: &str, owner: Option<&str>) -> Result<JobId> {
        let s = &self.services;
        let _turn = s.vs.submit.lock().unwrap_or_else(|e| e.into_inner());
        let rec = self.vs_record(name)?;
        if rec.deleting {
            return Err(OpsError::Conflict(format!(
                "virtual server {name} is being deleted"
            )));
        }
        self.refuse_busy(&rec)?;
        self.vs_submit(name, VS_REPAIR, &NameVs { name: name.into() }, owner)
    }
}

/// Keeps the newest [`REPAIRS_KEPT`] repairs.
pub(crate) fn push_repair(list: &mut Vec<Repair>, r: Repair) {
    list.push(r);
    let extra = list.len().saturating_sub(REPAIRS_KEPT);
    list.drain(..extra);
}

/// A placement failure that may pass (no host up right now).
pub(crate) fn placement_may_pass(e: &PoolError) -> bool {
    matches!(
        e,
        PoolError::Placement(PlacementError::NoHealthyHost { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_counts_and_checks_are_validated() {
        for bad in ["", "1web", "web/1", "web 1", &"a".repeat(49)] {
            assert!(
                matches!(check_name(bad), Err(OpsError::Invalid(_))),
                "{bad}"
            );
        }
        check_name("web-a_1").unwrap();
        assert!(check_count(0)
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        assert!(check_count(MAX_NODES + 1).is_err());
        check_count(3).unwrap();
        let mut h = HealthCheck::default();
        check_health(&h).unwrap();
        h.path = "no-slash".into();
        assert!(check_health(&h).is_err());
        h.path = "/".into();
        h.interval_ms = 10;
        assert!(check_health(&h).is_err());
    }

    #[test]
    fn repairs_keep_the_newest() {
        let mut l = Vec::new();
        for i in 0..15u64 {
            push_repair(
                &mut l,
                Repair {
                    at: i,
                    node: format!("n{i}"),
                    host: "h".into(),
                    reason: "down".into(),
                    job: JobId::from("j"),
                },
            );
        }
        assert_eq!(l.len(), REPAIRS_KEPT);
        assert_eq!(l[0].at, 5);
    }
}
