use std::sync::Arc;

use vine_cim::CimResult;
use vine_hypervisor::{HvResult, Hypervisor};
use vine_wbem::indication::IndicationSink;

use crate::errors::to_cim;

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
}

impl VirtContext {
    pub fn new(hv: Arc<dyn Hypervisor>, prefix: &str, host_name: &str) -> Self {
        VirtContext {
            hv,
            prefix: prefix.to_string(),
            host_name: host_name.to_string(),
            sink: None,
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
