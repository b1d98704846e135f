//! How a virtual server is shown: the stored record with the balancer's
//! view of each node, and why there is no front end when there is none.

use serde::{Deserialize, Serialize};

use crate::cluster::{BackendState, ServerStatus};
use crate::jobs::JobId;
use crate::ops::{Coordinator, Result};
use crate::vni::VmTemplate;

use super::front;
use super::{NodeState, Repair, VsRecord};

/// A virtual server as the API shows it: the record with the balancer's
/// view of each node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VsView {
    pub name: String,
    pub desired: u32,
    pub template: VmTemplate,
    pub pool: Option<String>,
    pub node_port: Option<u16>,
    pub front_end: FrontEndView,
    pub nodes: Vec<NodeView>,
    /// The job working on it now, if any.
    pub job: Option<JobId>,
    pub deleting: bool,
    pub repairs: Vec<Repair>,
}

/// The front end's address and whether it serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrontEndView {
    pub address: Option<String>,
    pub state: FrontEndState,
    /// Why it is not serving, when it is not.
    pub detail: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontEndState {
    /// The balancer has it.
    Serving,
    /// Not on the balancer yet.
    Pending,
    /// Being deleted.
    Removing,
    /// There is no balancer.
    None,
    /// The balancer did not answer.
    Unknown,
}

/// One node with its health.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    pub vm: String,
    pub host: String,
    pub addr: Option<String>,
    pub state: NodeState,
    pub health: NodeHealth,
    /// Requests the balancer sent it.
    pub sessions: Option<u64>,
}

/// A node's health as the balancer sees it, or why it has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeHealth {
    Up,
    Down,
    Unchecked,
    Maintenance,
    /// It has published no address yet.
    NoAddress,
    /// Being created or removed, or not on the balancer yet.
    NotServing,
    /// There is no balancer.
    NoFrontEnd,
    /// The balancer did not answer.
    Unknown,
}

/// Why a virtual server has no front end when HAProxy is absent.
const NO_BALANCER: &str = "no load balancer: haproxy was not found when the manager started (deploy/setup.sh installs it) or was turned off with --haproxy off; the nodes run but nothing balances them";

impl Coordinator {
    /// Every virtual server with its nodes' health.
    pub async fn list_vs(&self) -> Result<Vec<VsView>> {
        let recs: Vec<VsRecord> = self
            .services
            .vservers
            .list()?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let status = self.lb_status().await;
        Ok(recs.into_iter().map(|r| self.view(r, &status)).collect())
    }

    /// One virtual server with its nodes' health and front-end address.
    pub async fn get_vs(&self, name: &str) -> Result<VsView> {
        let rec = self.vs_record(name)?;
        let status = self.lb_status().await;
        Ok(self.view(rec, &status))
    }

    /// `None` without a balancer.
    async fn lb_status(&self) -> Option<std::result::Result<Vec<ServerStatus>, String>> {
        let lb = self.services.lb.as_ref()?;
        Some(lb.status().await.map_err(|e| e.to_string()))
    }

    fn view(
        &self,
        rec: VsRecord,
        status: &Option<std::result::Result<Vec<ServerStatus>, String>>,
    ) -> VsView {
        let job = self.vs_busy(&rec);
        let serving_nodes = rec
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Ready && n.addr.is_some())
            .count();
        let (state, detail) = match status {
            _ if rec.deleting => (FrontEndState::Removing, None),
            None => (FrontEndState::None, Some(NO_BALANCER.to_string())),
            Some(Err(e)) => (FrontEndState::Unknown, Some(e.clone())),
            Some(Ok(rows)) => {
                if serving_nodes == 0 || rows.iter().any(|r| r.frontend == rec.name) {
                    (FrontEndState::Serving, None)
                } else {
                    (
                        FrontEndState::Pending,
                        Some("not on the load balancer yet".into()),
                    )
                }
            }
        };
        let nodes = rec
            .nodes
            .iter()
            .map(|n| {
                let row = match status {
                    Some(Ok(rows)) => front::node_row(rows, &rec.name, &n.vm),
                    _ => None,
                };
                let health = if n.state != NodeState::Ready || rec.deleting {
                    NodeHealth::NotServing
                } else if n.addr.is_none() {
                    NodeHealth::NoAddress
                } else {
                    match (status, row) {
                        (None, _) => NodeHealth::NoFrontEnd,
                        (Some(Err(_)), _) => NodeHealth::Unknown,
                        (Some(Ok(_)), None) => NodeHealth::NotServing,
                        (Some(Ok(_)), Some(r)) => match r.state {
                            BackendState::Up => NodeHealth::Up,
                            BackendState::Down => NodeHealth::Down,
                            BackendState::Unchecked => NodeHealth::Unchecked,
                            BackendState::Maintenance => NodeHealth::Maintenance,
                        },
                    }
                };
                NodeView {
                    vm: n.vm.clone(),
                    host: n.host.clone(),
                    addr: n.addr.clone(),
                    state: n.state,
                    health,
                    sessions: row.map(|r| r.sessions),
                }
            })
            .collect();
        VsView {
            name: rec.name,
            desired: rec.desired,
            template: rec.template,
            pool: rec.pool,
            node_port: rec.node_port,
            front_end: FrontEndView {
                address: rec.bind,
                state,
                detail,
            },
            nodes,
            job,
            deleting: rec.deleting,
            repairs: rec.repairs,
        }
    }
}
