//! libvirt error codes → [`HvError`], in one place.

use virt::error::Error as VirtError;
use virt::sys;

use crate::error::HvError;
use crate::types::{DomainState, DriverKind};

/// What was being done when libvirt failed, so the error can name it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    pub driver: DriverKind,
    /// The operation, as a user would say it (`start`, `suspend`).
    pub op: &'a str,
    /// The domain acted on, if any.
    pub domain: Option<&'a str>,
    /// Whether the connection was found dead after the error.
    pub lost: bool,
}

impl<'a> Ctx<'a> {
    pub fn host(driver: DriverKind, op: &'a str) -> Self {
        Ctx {
            driver,
            op,
            domain: None,
            lost: false,
        }
    }

    pub fn domain(driver: DriverKind, op: &'a str, domain: &'a str) -> Self {
        Ctx {
            driver,
            op,
            domain: Some(domain),
            lost: false,
        }
    }
}

/// Whether `e` may mean the connection itself is gone. Only a hint: the
/// daemon forwards its own RPC failures (virtlogd unreachable) with the
/// same codes, so callers confirm with `virConnectIsAlive`.
pub(crate) fn is_connection_error(e: &VirtError) -> bool {
    let code = e.code().to_raw();
    let from = e.domain().to_raw();
    matches!(
        code,
        sys::VIR_ERR_NO_CONNECT | sys::VIR_ERR_INVALID_CONN | sys::VIR_ERR_RPC
    ) || (code == sys::VIR_ERR_SYSTEM_ERROR
        && matches!(from, sys::VIR_FROM_RPC | sys::VIR_FROM_REMOTE))
}

/// Maps a libvirt error to a typed one. `state` is asked for the domain's
/// current state only when the error is about an invalid state.
pub(crate) fn map(
    e: &VirtError,
    ctx: Ctx<'_>,
    state: impl FnOnce() -> Option<DomainState>,
) -> HvError {
    let code = e.code().to_raw();
    let message = e.message().to_string();
    let domain = ctx.domain.unwrap_or_default().to_string();
    if ctx.lost {
        return HvError::ConnectionLost(message);
    }
    match code {
        sys::VIR_ERR_NO_DOMAIN => HvError::NoDomain(domain),
        sys::VIR_ERR_DOM_EXIST => HvError::DomainExists(domain),
        sys::VIR_ERR_OPERATION_INVALID => match state() {
            Some(s) => HvError::InvalidState {
                domain,
                op: ctx.op.to_string(),
                state: s.as_str().to_string(),
            },
            // The domain vanished meanwhile, or the error is not about a
            // domain at all: keep libvirt's words.
            None => HvError::Libvirt {
                code: code as i32,
                message,
            },
        },
        sys::VIR_ERR_NO_SUPPORT
        | sys::VIR_ERR_OPERATION_UNSUPPORTED
        | sys::VIR_ERR_ARGUMENT_UNSUPPORTED => HvError::Unsupported {
            driver: ctx.driver.as_str().to_string(),
            what: format!("{}: {message}", ctx.op),
        },
        sys::VIR_ERR_XML_ERROR
        | sys::VIR_ERR_XML_DETAIL
        | sys::VIR_ERR_CONFIG_UNSUPPORTED
        | sys::VIR_ERR_INVALID_ARG => HvError::InvalidSpec(message),
        sys::VIR_ERR_NO_DOMAIN_SNAPSHOT | sys::VIR_ERR_DEVICE_MISSING => HvError::NotFound(message),
        // libvirt times out waiting for another job's lock on the domain.
        sys::VIR_ERR_OPERATION_TIMEOUT | sys::VIR_ERR_RESOURCE_BUSY => HvError::Busy(domain),
        sys::VIR_ERR_MIGRATE_UNSAFE => HvError::Migration(message),
        // Denied, aborted, system and internal errors: keep libvirt's code
        // and words; there is nothing a caller can do differently.
        _ => HvError::Libvirt {
            code: code as i32,
            message,
        },
    }
}
