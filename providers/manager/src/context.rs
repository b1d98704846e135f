use std::collections::HashMap;
use std::sync::Arc;

use vine_cim::CimResult;
use vine_coordinator::inventory::{HostRecord, VmRecord};
use vine_coordinator::ops::{Coordinator, OpsError, VsRecord};

use crate::errors::to_cim;

/// What every manager provider needs.
#[derive(Clone)]
pub struct ManagerContext {
    pub coordinator: Arc<Coordinator>,
    /// `Name` of the `VINE_DataCenter` instance (the manager's host name);
    /// also the `SystemName` of the virtual server service.
    pub name: String,
}

impl ManagerContext {
    pub fn new(coordinator: Arc<Coordinator>, name: &str) -> Self {
        ManagerContext {
            coordinator,
            name: name.to_string(),
        }
    }

    pub fn hosts(&self) -> CimResult<Vec<HostRecord>> {
        self.coordinator
            .inventory()
            .hosts()
            .map_err(|e| to_cim(&e.into()))
    }

    /// Hosts by name.
    pub fn host_map(&self) -> CimResult<HashMap<String, HostRecord>> {
        Ok(self
            .hosts()?
            .into_iter()
            .map(|h| (h.name.clone(), h))
            .collect())
    }

    pub fn vms(&self) -> CimResult<Vec<VmRecord>> {
        self.coordinator
            .inventory()
            .vms()
            .map_err(|e| to_cim(&e.into()))
    }

    pub fn vservers(&self) -> CimResult<Vec<VsRecord>> {
        self.coordinator
            .services
            .vservers
            .list()
            .map(|v| v.into_iter().map(|(_, r)| r).collect())
            .map_err(|e| to_cim(&OpsError::from(e)))
    }

    /// Whether a job is working on virtual server `v` now.
    pub fn busy(&self, v: &VsRecord) -> bool {
        v.job
            .as_ref()
            .and_then(|id| self.coordinator.job(id).ok())
            .is_some_and(|j| !j.state.is_terminal())
    }

    pub fn vserver(&self, name: &str) -> CimResult<Option<VsRecord>> {
        self.coordinator
            .services
            .vservers
            .get(name)
            .map_err(|e| to_cim(&OpsError::from(e)))
    }
}
