//! The virtual servers' front ends: the balancer's whole configuration is
//! computed from the stored records ([`frontends`]) and applied in one go
//! ([`sync_lb`]), so whatever changed — a node added, one taken out, a
//! virtual server deleted, the manager restarted — the balancer ends up
//! matching the store.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::cluster::{Backend, BackendState, Frontend, HealthCheck, LbError, ServerStatus};

use super::addrs::{NoAddrs, NodeAddrs};
use super::{NodeState, VsRecord};
use crate::ops::Services;

/// What the virtual-server code shares between jobs, the health loop and
/// requests.
pub struct VsShared {
    /// Where nodes serve.
    pub(crate) addrs: Arc<dyn NodeAddrs>,
    /// One apply at a time: each computes the configuration from the store
    /// under the lock, so the last one applied is never older than the
    /// store.
    lb_lock: tokio::sync::Mutex<()>,
    /// One request at a time checks "is this virtual server busy" and
    /// records the job it submits.
    pub(crate) submit: std::sync::Mutex<()>,
}

impl VsShared {
    pub fn new(addrs: Option<Arc<dyn NodeAddrs>>) -> Self {
        VsShared {
            addrs: addrs.unwrap_or_else(|| Arc::new(NoAddrs)),
            lb_lock: tokio::sync::Mutex::new(()),
            submit: std::sync::Mutex::new(()),
        }
    }
}

/// The health check a virtual server gets unless it asks for another.
pub(crate) fn default_check() -> HealthCheck {
    HealthCheck::default()
}

/// The front end of every virtual server that has one: those being
/// deleted are left out, and of each the nodes that are ready and have an
/// address (nodes being created or removed are not sent traffic).
pub(crate) fn frontends(records: &[VsRecord]) -> Vec<Frontend> {
    let mut out = Vec::new();
    for r in records.iter().filter(|r| !r.deleting) {
        let Some(bind) = r.bind.as_deref().and_then(|b| b.parse::<SocketAddr>().ok()) else {
            tracing::warn!(vs = r.name, bind = ?r.bind, "virtual server has no usable front-end address");
            continue;
        };
        let backends = r
            .nodes
            .iter()
            .filter(|n| n.state == NodeState::Ready)
            .filter_map(|n| {
                let addr = n.addr.as_deref()?.parse().ok()?;
                Some(Backend {
                    name: n.vm.clone(),
                    addr,
                    weight: 1,
                })
            })
            .collect();
        out.push(Frontend {
            name: r.name.clone(),
            bind,
            backends,
            health: Some(r.health.clone().unwrap_or_else(default_check)),
        });
    }
    out
}

/// Makes the balancer match the stored virtual servers. Without a
/// balancer there is nothing to do.
pub(crate) async fn sync_lb(s: &Services) -> Result<(), LbError> {
    let Some(lb) = &s.lb else {
        return Ok(());
    };
    let _turn = s.vs.lb_lock.lock().await;
    let records: Vec<VsRecord> = s
        .vservers
        .list()
        .map_err(|e| LbError::Runtime(format!("reading virtual servers: {e}")))?
        .into_iter()
        .map(|(_, r)| r)
        .collect();
    lb.apply(&frontends(&records)).await
}

/// The balancer's view of one node.
pub(crate) fn node_row<'a>(
    status: &'a [ServerStatus],
    vs: &str,
    vm: &str,
) -> Option<&'a ServerStatus> {
    status.iter().find(|r| r.frontend == vs && r.backend == vm)
}

/// Whether the balancer saw `vm` of `vs` fail its checks.
pub(crate) fn is_down(status: &[ServerStatus], vs: &str, vm: &str) -> bool {
    node_row(status, vs, vm).is_some_and(|r| r.state == BackendState::Down)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::vs::NodeRecord;
    use crate::vni::VmTemplate;

    fn rec(name: &str, port: u16, nodes: &[(&str, Option<&str>, NodeState)]) -> VsRecord {
        VsRecord {
            name: name.into(),
            template: VmTemplate {
                name: name.into(),
                vcpus: 1,
                memory_mib: 256,
                disks: vec![],
                nics: vec![],
            },
            desired: nodes.len() as u32,
            nodes: nodes
                .iter()
                .map(|(vm, addr, state)| NodeRecord {
                    vm: (*vm).into(),
                    host: "h".into(),
                    addr: addr.map(str::to_string),
                    state: *state,
                })
                .collect(),
            bind: Some(format!("127.0.0.1:{port}")),
            node_port: None,
            pool: None,
            health: None,
            next_node: 0,
            deleting: false,
            job: None,
            repairs: vec![],
        }
    }

    #[test]
    fn only_ready_nodes_with_an_address_get_traffic() {
        let mut gone = rec("old", 9001, &[]);
        gone.deleting = true;
        let fe = frontends(&[
            rec(
                "web",
                9000,
                &[
                    ("web-1", Some("127.0.0.1:1"), NodeState::Ready),
                    ("web-2", None, NodeState::Ready),
                    ("web-3", Some("127.0.0.1:3"), NodeState::Creating),
                    ("web-4", Some("127.0.0.1:4"), NodeState::Removing),
                ],
            ),
            gone,
        ]);
        assert_eq!(
            fe.len(),
            1,
            "a virtual server being deleted has no front end"
        );
        let names: Vec<&str> = fe[0].backends.iter().map(|b| b.name.as_str()).collect();
        assert_eq!(names, ["web-1"]);
        assert_eq!(fe[0].health, Some(HealthCheck::default()));
    }
}
