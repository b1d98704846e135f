use vine_cim::{CimError, CimStatus};
use vine_hypervisor::HvError;

/// The CIM error a client should see for a hypervisor failure. The message
/// is the hypervisor's, which already says what to change.
pub fn to_cim(e: &HvError) -> CimError {
    let status = match e {
        HvError::NoDomain(_) | HvError::NotFound(_) => CimStatus::NotFound,
        HvError::DomainExists(_) => CimStatus::AlreadyExists,
        HvError::InvalidSpec(_) => CimStatus::InvalidParameter,
        HvError::Unsupported { .. } => CimStatus::NotSupported,
        HvError::InvalidState { .. }
        | HvError::Busy(_)
        | HvError::ConnectionLost(_)
        | HvError::Connect { .. }
        | HvError::Migration(_)
        | HvError::Libvirt { .. } => CimStatus::Failed,
    };
    CimError::new(status, e.to_string())
}
