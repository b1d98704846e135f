//! The CIM object manager: class repository, provider registry and the
//! DSP0200 operations, independent of how requests arrive.
//!
//! [`Cimom`] holds the state; `ops` implements the intrinsic operations on
//! typed arguments, `assoc` the association traversals, `pull` the
//! enumeration contexts, and `dispatch` maps decoded CIM-XML requests onto
//! them for the HTTP transport.

/// Association traversal (Associators, References and their name forms).
mod assoc;
/// Decoded CIM-XML request → operation → encoded response.
pub mod dispatch;
/// Intrinsic class, qualifier and instance operations.
mod ops;
/// Typed access to intrinsic parameters.
mod params;
/// Profile registration for the interop namespace.
pub mod profiles;
/// Enumeration contexts for the pull operations.
pub mod pull;
/// Provider registration.
pub mod registry;

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use vine_cim::{CimError, CimResult, CimStatus, Repository};

pub use pull::PullTable;
pub use registry::Registry;

/// Limits and identity of one object manager.
#[derive(Clone, Debug)]
pub struct CimomConfig {
    /// The host name written into full object paths.
    pub host: String,
    /// How long an idle enumeration context lives when the client gives no
    /// OperationTimeout.
    pub default_operation_timeout: Duration,
    /// The largest OperationTimeout a client may ask for.
    pub max_operation_timeout: Duration,
    /// Open enumeration contexts allowed at once, over all clients.
    pub max_open_contexts: usize,
    /// The largest MaxObjectCount honoured in one pull.
    pub max_object_count: u32,
}

impl Default for CimomConfig {
    fn default() -> Self {
        CimomConfig {
            host: "localhost".into(),
            default_operation_timeout: Duration::from_secs(60),
            max_operation_timeout: Duration::from_secs(600),
            max_open_contexts: 1024,
            max_object_count: 100_000,
        }
    }
}

/// A CIM object manager: everything a WBEM server needs to answer.
pub struct Cimom {
    repo: RwLock<Repository>,
    registry: Registry,
    pulls: PullTable,
    profiles: profiles::ProfileTable,
    config: CimomConfig,
}

impl Cimom {
    /// An object manager over `repo` whose classes are served by `registry`.
    pub fn new(
        repo: Repository,
        registry: Registry,
        profiles: profiles::ProfileTable,
        config: CimomConfig,
    ) -> Arc<Self> {
        Arc::new(Cimom {
            repo: RwLock::new(repo),
            registry,
            pulls: PullTable::new(config.max_open_contexts),
            profiles,
            config,
        })
    }

    /// Read access to the class repository.
    pub fn repo(&self) -> RwLockReadGuard<'_, Repository> {
        // A poisoned lock means a panic mid-write; the data is still a
        // consistent Repository value, so keep serving.
        self.repo.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The provider registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registered profiles.
    pub fn profiles(&self) -> &profiles::ProfileTable {
        &self.profiles
    }

    /// This object manager's limits and identity.
    pub fn config(&self) -> &CimomConfig {
        &self.config
    }

    /// `CIM_ERR_INVALID_NAMESPACE` unless `ns` exists.
    pub fn check_namespace(&self, ns: &str) -> CimResult<()> {
        if self.repo().has_namespace(ns) {
            Ok(())
        } else {
            Err(CimError::new(
                CimStatus::InvalidNamespace,
                format!("namespace {ns} does not exist"),
            ))
        }
    }

    /// The namespaces served.
    pub fn namespaces(&self) -> Vec<String> {
        self.repo().namespaces()
    }
}
