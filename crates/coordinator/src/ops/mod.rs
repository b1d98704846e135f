//! The coordinator: every change the manager makes to the data centre —
//! create, power, resize, migrate and delete VMs, drain hosts, create,
//! scale and delete virtual servers — is a durable job submitted here and
//! run by a handler in this module's siblings through the Virtual Node
//! Interface. The REST API, the CLI (through the API) and the `root/vine`
//! CIM provider all call [`Coordinator`]; none of them talks to agents.
//!
//! Requests are checked before a job is stored (an unknown VM is a 404 at
//! once, not a failed job later); what can only be found out on the way
//! (an agent down, no room after all) fails or retries the job with the
//! reason.

use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use thiserror::Error;
use vine_store::{names, Collection, Store, StoreError};

use crate::cluster::LoadBalancer;
use crate::events::{EventLog, Severity};
use crate::inventory::{Inventory, InventoryError};
use crate::jobs::{
    EngineConfig, JobEngine, JobError, JobFilter, JobHandler, JobId, JobRecord, JobState, NewJob,
};
use crate::placement::Overcommit;
use crate::policies::{Policies, PolicyError};
use crate::pools::{PoolError, Pools};
use crate::power::PowerConfig;

/// Host jobs: drain.
pub mod host;
/// Host jobs: power off and on.
pub mod host_power;
/// Job kinds and their parameters.
pub mod params;
/// VM jobs: create, power, resize, migrate, delete.
pub mod vm;
/// Virtual servers: records, jobs, load-balancer front ends.
pub mod vs;

pub use vs::VsRecord;

/// What a request to the coordinator can fail with. [`OpsError::kind`]
/// tells front ends which HTTP status or CIM error to answer with.
#[derive(Debug, Error)]
pub enum OpsError {
    /// A named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It exists already, or is busy with another job.
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong; the message says what to write.
    #[error("{0}")]
    Invalid(String),
    /// No room for it (a resize the host cannot take, a drain with
    /// nowhere to go); the message names the room there is.
    #[error("{0}")]
    NoRoom(String),
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Jobs(#[from] JobError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The class of an [`OpsError`], for mapping to HTTP and CIM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Conflict,
    Invalid,
    /// Refused by admission control or placement.
    NoRoom,
    Internal,
}

impl OpsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpsError::NotFound(_)
            | OpsError::Inventory(InventoryError::NoHost(_))
            | OpsError::Pool(PoolError::NoPool(_))
            | OpsError::Jobs(JobError::NotFound { .. })
            | OpsError::Policy(PolicyError::NoPolicy(_) | PolicyError::NoVersion { .. }) => {
                ErrorKind::NotFound
            }
            OpsError::Conflict(_)
            | OpsError::Inventory(InventoryError::HostExists(_))
            | OpsError::Pool(PoolError::Exists(_) | PoolError::InUse { .. })
            | OpsError::Jobs(
                JobError::IdempotencyConflict { .. } | JobError::IllegalTransition { .. },
            ) => ErrorKind::Conflict,
            OpsError::Invalid(_)
            | OpsError::Pool(PoolError::BadName(_) | PoolError::ReservationOverLimit { .. })
            | OpsError::Policy(PolicyError::Invalid { .. })
            | OpsError::Jobs(JobError::UnknownKind { .. }) => ErrorKind::Invalid,
            OpsError::NoRoom(_)
            | OpsError::Pool(
                PoolError::OverLimit { .. } | PoolError::NoRoom { .. } | PoolError::Placement(_),
            ) => ErrorKind::NoRoom,
            _ => ErrorKind::Internal,
        }
    }
}

pub type Result<T> = std::result::Result<T, OpsError>;

/// How the coordinator is set up.
#[derive(Default)]
pub struct CoordinatorConfig {
    pub overcommit: Overcommit,
    pub engine: EngineConfig,
    /// The virtual servers' load balancer; `None` when HAProxy is absent
    /// (virtual servers then have nodes but no front end, and say so).
    pub lb: Option<Arc<dyn LoadBalancer>>,
    /// Where virtual servers' nodes serve; nodes get no traffic until it
    /// knows their address (none known when `None`).
    pub node_addrs: Option<Arc<dyn vs::NodeAddrs>>,
    /// Waking powered-off hosts (Wake-on-LAN target, BMC command) and the
    /// power-change time limit.
    pub power: PowerConfig,
}

/// What handlers work with: the stored state and the ways to act.
pub struct Services {
    pub store: Store,
    pub inventory: Arc<Inventory>,
    pub pools: Arc<Pools>,
    pub events: Arc<EventLog>,
    pub lb: Option<Arc<dyn LoadBalancer>>,
    pub vservers: Collection<VsRecord>,
    /// Node addresses and the locks virtual-server changes take.
    pub vs: vs::VsShared,
    /// Workload policies, versioned.
    pub policies: Arc<Policies>,
    /// How hosts are woken, and how long power changes may take.
    pub power: PowerConfig,
}

/// The coordinator. Build with [`Coordinator::open`], then spawn
/// [`Coordinator::run`].
pub struct Coordinator {
    pub services: Arc<Services>,
    pub jobs: JobEngine,
}

impl Coordinator {
    /// Opens pools, events, virtual servers and the job engine on `store`
    /// (recovering jobs a previous process left running).
    pub fn open(
        store: &Store,
        inventory: Arc<Inventory>,
        config: CoordinatorConfig,
    ) -> Result<Arc<Coordinator>> {
        let services = Arc::new(Services {
            store: store.clone(),
            pools: Arc::new(Pools::open(store, inventory.clone(), config.overcommit)?),
            events: Arc::new(EventLog::open(store)?),
            lb: config.lb,
            vservers: store.collection(names::VIRTUAL_SERVERS)?,
            vs: vs::VsShared::new(config.node_addrs),
            policies: Arc::new(Policies::open(store)?),
            power: config.power,
            inventory,
        });
        let mut handlers: Vec<Arc<dyn JobHandler>> = Vec::new();
        handlers.extend(vm::handlers(&services));
        handlers.extend(host::handlers(&services));
        handlers.extend(host_power::handlers(&services));
        handlers.extend(vs::handlers(&services));
        let jobs = JobEngine::new(store, handlers, config.engine)?;
        for r in jobs.recovery_report() {
            let sev = match r.state {
                JobState::Cancelled => Severity::Warning,
                _ => Severity::Error,
            };
            let kind = match r.state {
                JobState::Cancelled => "job.cancelled",
                JobState::Failed => "job.failed",
                _ => "job.recovery_failed",
            };
            let msg = format!(
                "{} {} was not resumed at manager start: {}",
                r.kind, r.job, r.why
            );
            if let Err(e) = services.events.record(sev, kind, r.job.as_str(), msg) {
                tracing::warn!(job = %r.job, error = %e, "cannot record a recovery event");
            }
        }
        Ok(Arc::new(Coordinator { services, jobs }))
    }

    /// Runs jobs until `shutdown` resolves; jobs in flight pause between
    /// steps and resume at the next start.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        self.jobs.run(shutdown).await
    }

    pub fn inventory(&self) -> &Arc<Inventory> {
        &self.services.inventory
    }

    pub fn pools(&self) -> &Arc<Pools> {
        &self.services.pools
    }

    pub fn events(&self) -> &Arc<EventLog> {
        &self.services.events
    }

    /// Stores a job of `kind` with `params`, submitted by `owner`.
    pub fn submit<P: Serialize>(
        &self,
        kind: &str,
        params: &P,
        owner: Option<&str>,
        idempotency_key: Option<String>,
    ) -> Result<JobId> {
        let params = serde_json::to_value(params)
            .map_err(|e| OpsError::Invalid(format!("parameters of {kind}: {e}")))?;
        Ok(self.jobs.submit_job(NewJob {
            kind: kind.into(),
            params,
            idempotency_key,
            owner: owner.map(str::to_string),
            max_attempts: None,
        })?)
    }

    pub fn job(&self, id: &JobId) -> Result<JobRecord> {
        Ok(self.jobs.get(id)?)
    }

    pub fn list_jobs(&self, filter: &JobFilter) -> Result<Vec<JobRecord>> {
        Ok(self.jobs.list(filter)?)
    }

    pub fn cancel_job(&self, id: &JobId) -> Result<JobRecord> {
        Ok(self.jobs.cancel(id)?)
    }
}
