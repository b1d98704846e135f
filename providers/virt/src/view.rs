//! One read of a domain for the providers that show it from several sides
//! (settings, devices, associations): its listing and its definition.

use vine_cim::{CimError, CimResult, CimStatus};
use vine_hypervisor::{DomainInfo, DomainSpec, HvError};

use crate::context::VirtContext;
use crate::errors::to_cim;

/// A domain as listed and as defined.
#[derive(Clone, Debug)]
pub struct DomainView {
    pub info: DomainInfo,
    pub spec: DomainSpec,
}

impl DomainView {
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// vCPUs now: the running count when active, else the defined one.
    pub fn vcpus(&self) -> u32 {
        if self.info.state.is_active() {
            self.info.vcpus
        } else {
            self.spec.vcpus
        }
    }
}

/// Domain `dom`; CIM_ERR_NOT_FOUND when there is none.
pub async fn load(ctx: &VirtContext, dom: &str) -> CimResult<DomainView> {
    let d = dom.to_string();
    ctx.call(move |hv| {
        Ok(DomainView {
            info: hv.domain(&d)?,
            spec: hv.domain_spec(&d)?,
        })
    })
    .await
}

/// Every domain; one undefined between listing and reading is skipped.
pub async fn load_all(ctx: &VirtContext) -> CimResult<Vec<DomainView>> {
    let hv = ctx.hv.clone();
    let r = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for info in hv.domains()? {
            match hv.domain_spec(&info.name) {
                Ok(spec) => out.push(DomainView { info, spec }),
                Err(HvError::NoDomain(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })
    .await;
    match r {
        Ok(r) => r.map_err(|e| to_cim(&e)),
        Err(e) => Err(CimError::new(
            CimStatus::Failed,
            format!("hypervisor call did not complete: {e}"),
        )),
    }
}
