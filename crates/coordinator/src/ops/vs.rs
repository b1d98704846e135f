//! Virtual servers ("virtualizing up"): a named set of nodes made from one
//! template, spread over hosts with anti-affinity, behind one front end on
//! the load balancer.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::jobs::JobHandler;
use crate::vni::VmTemplate;

use super::Services;

/// A virtual server as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VsRecord {
    pub name: String,
    pub template: VmTemplate,
    /// Nodes wanted.
    pub desired: u32,
    pub nodes: Vec<NodeRecord>,
    /// The front end's address.
    pub bind: Option<String>,
    pub node_port: Option<u16>,
    pub pool: Option<String>,
}

/// One node: a VM on a host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub vm: String,
    pub host: String,
    /// Where the node serves, once known.
    pub addr: Option<String>,
}

/// The handlers of the `vs.*` kinds.
pub(crate) fn handlers(_s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    Vec::new()
}
