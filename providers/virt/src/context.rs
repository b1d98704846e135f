use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vine_cim::{CimInstanceName, CimResult};
use vine_hypervisor::{HvResult, Hypervisor};
use vine_wbem::indication::IndicationSink;

use crate::errors::to_cim;
use crate::jobs::JobTable;
use crate::state::StateBook;

/// What every virtualization provider needs to know.
#[derive(Clone)]
pub struct VirtContext {
    pub hv: Arc<dyn Hypervisor>,
    /// Class prefix without the underscore: `KVM`, `Xen`, `LXC`.
    pub prefix: String,
    /// `Name` of the host system instance (the host's FQDN or configured
    /// name); also the `SystemName` of services and devices.
    pub host_name: String,
    /// Where indications go; `None` when the server has no indication
    /// service (some tests).
    pub sink: Option<IndicationSink>,
    /// One lock per domain: state changes, reconfiguration and migration
    /// of one VM never overlap (a second request answers Busy).
    pub locks: Arc<DomainLocks>,
    /// What clients last asked of each VM (RequestedState) and when its
    /// state last changed; the agent keeps it in memory only.
    pub states: Arc<StateBook>,
    /// Running and recently finished jobs (`<P>_ConcreteJob`).
    pub jobs: Arc<JobTable>,
    /// Hosted services and capabilities other providers contribute to the
    /// HostedService and ElementCapabilities associations.
    pub links: Arc<StaticLinks>,
    /// Child resource pools and the guests drawing from them (in memory).
    pub pools: Arc<crate::pools::PoolBook>,
    /// Migration peers: host name → libvirt URI or vine agent URL
    /// (`vine agent --peer NAME=TARGET`).
    pub peers: Arc<HashMap<String, String>>,
    /// How this agent logs in to peer agents (`--peer-user`,
    /// `--peer-password-file`); `None`: peers by URL are refused.
    pub peer_login: Option<crate::peer::PeerLogin>,
    /// The resource monitor (samples, history, `latest()`); replace it
    /// before `install` to change its interval.
    pub monitor: Arc<crate::monitor::Monitor>,
    /// The shell command that powers this host off when the manager asks
    /// (`vine agent --power-off-command`); `None`: the host cannot be
    /// powered off through CIM (see [`crate::power`]).
    pub power_off_command: Option<String>,
}

impl VirtContext {
    pub fn new(hv: Arc<dyn Hypervisor>, prefix: &str, host_name: &str) -> Self {
        VirtContext {
            hv,
            prefix: prefix.to_string(),
            host_name: host_name.to_string(),
            sink: None,
            locks: Arc::default(),
            states: Arc::default(),
            jobs: Arc::default(),
            links: Arc::default(),
            pools: Arc::default(),
            peers: Arc::default(),
            peer_login: None,
            monitor: crate::monitor::Monitor::new(Default::default()),
            power_off_command: None,
        }
    }

    /// The prefixed class name: `class("ComputerSystem")` is
    /// `KVM_ComputerSystem`.
    pub fn class(&self, base: &str) -> String {
        format!("{}_{}", self.prefix, base)
    }

    /// Runs a blocking hypervisor call off the async runtime and maps its
    /// error to a CIM error.
    pub async fn call<T, F>(&self, f: F) -> CimResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Hypervisor) -> HvResult<T> + Send + 'static,
    {
        let hv = self.hv.clone();
        match tokio::task::spawn_blocking(move || f(hv.as_ref())).await {
            Ok(r) => r.map_err(|e| to_cim(&e)),
            Err(e) => Err(vine_cim::CimError::failed(format!(
                "hypervisor call did not complete: {e}"
            ))),
        }
    }
}

/// Per-domain async locks. A request that finds its domain locked does not
/// wait: conflicting requests on one VM are refused, not queued, so a client
/// learns at once that another operation is under way.
#[derive(Default)]
pub struct DomainLocks {
    map: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds a domain's lock until dropped (it may move into a job).
pub type DomainGuard = tokio::sync::OwnedMutexGuard<()>;

impl DomainLocks {
    /// The lock of `domain`, or `None` when another operation holds it.
    pub fn try_lock(&self, domain: &str) -> Option<DomainGuard> {
        let m = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(domain.to_string()).or_default().clone()
        };
        m.try_lock_owned().ok()
    }

    /// Waits for the lock of `domain` (for work that must not be refused,
    /// such as event bookkeeping; requests use [`DomainLocks::try_lock`]).
    pub async fn lock(&self, domain: &str) -> DomainGuard {
        let m = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(domain.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }
}

/// Association ends known at start-up that several providers contribute:
/// every service on the host (for HostedService) and element → capabilities
/// pairs (for ElementCapabilities). The pools/migration providers add
/// theirs here in their install functions; `assoc.rs` serves them.
#[derive(Default)]
pub struct StaticLinks {
    inner: Mutex<LinksInner>,
}

#[derive(Default, Clone)]
struct LinksInner {
    services: Vec<CimInstanceName>,
    capabilities: Vec<(CimInstanceName, CimInstanceName)>,
}

impl StaticLinks {
    /// Declares a service hosted on this host (`ctx.service_path(..)`).
    pub fn add_hosted_service(&self, service: CimInstanceName) {
        self.lock().services.push(service);
    }

    /// Declares that `element` has capabilities `capabilities`.
    pub fn add_capabilities(&self, element: CimInstanceName, capabilities: CimInstanceName) {
        self.lock().capabilities.push((element, capabilities));
    }

    /// The services declared so far.
    pub fn hosted_services(&self) -> Vec<CimInstanceName> {
        self.lock().services.clone()
    }

    /// The (element, capabilities) pairs declared so far.
    pub fn capabilities(&self) -> Vec<(CimInstanceName, CimInstanceName)> {
        self.lock().capabilities.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LinksInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}
