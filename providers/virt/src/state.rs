//! The virtual-system state model (DSP1057 on top of libvirt's domain
//! states): how a domain state shows in EnabledState and the status
//! properties, and which RequestStateChange requests are valid from which
//! state. Both are exhaustive matches so a new state cannot slip through.

use std::collections::HashMap;
use std::sync::Mutex;

use vine_cim::CimDateTime;
use vine_hypervisor::DomainState;

/// EnabledState / RequestedState values used here (CIM_EnabledLogicalElement).
pub mod values {
    pub const UNKNOWN: u16 = 0;
    pub const ENABLED: u16 = 2;
    pub const DISABLED: u16 = 3;
    pub const SHUT_DOWN: u16 = 4;
    pub const ENABLED_OFFLINE: u16 = 6;
    pub const QUIESCE: u16 = 9;
    pub const REBOOT: u16 = 10;
    pub const RESET: u16 = 11;
    pub const NOT_APPLICABLE: u16 = 12;
}

/// RequestStateChange return codes (CIM_EnabledLogicalElement).
pub mod rc {
    pub const COMPLETED: u32 = 0;
    pub const NOT_SUPPORTED: u32 = 1;
    pub const FAILED: u32 = 4;
    pub const INVALID_PARAMETER: u32 = 5;
    pub const JOB_STARTED: u32 = 4096;
    pub const INVALID_STATE_TRANSITION: u32 = 4097;
    pub const TIMEOUT_NOT_SUPPORTED: u32 = 4098;
    pub const BUSY: u32 = 4099;
}

/// Whether a RequestStateChange `TimeoutPeriod` asks for a time limit:
/// NULL and a zero interval do not.
pub fn timeout_given(timeout: Option<&vine_cim::CimValue>) -> bool {
    use vine_cim::CimValue;
    match timeout {
        None => false,
        Some(CimValue::DateTime(d)) => d.interval_micros().is_none_or(|m| m != 0),
        Some(CimValue::String(s)) => {
            !s.trim().is_empty() && s.trim() != "00000000000000.000000:000"
        }
        Some(_) => true,
    }
}

/// How a domain state shows on `<P>_ComputerSystem`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub enabled_state: u16,
    pub health_state: u16,
    pub operational_status: u16,
    pub operating_status: u16,
}

/// The CIM status of a domain in `state` (values as libvirt-cim reports
/// them, except a running guest is OperatingStatus 16 In Service rather
/// than a vendor value).
pub fn status_of(state: DomainState) -> Status {
    let s = |enabled_state, health_state, operational_status, operating_status| Status {
        enabled_state,
        health_state,
        operational_status,
        operating_status,
    };
    match state {
        DomainState::Running | DomainState::Blocked => s(2, 5, 2, 16),
        DomainState::Paused => s(9, 5, 2, 7),
        DomainState::ShuttingDown => s(4, 5, 2, 13),
        DomainState::Shutoff => s(3, 0, 15, 5),
        DomainState::Crashed => s(3, 20, 6, 6),
        DomainState::PmSuspended => s(6, 5, 2, 7),
        DomainState::NoState => s(0, 0, 0, 0),
    }
}

/// What a valid RequestStateChange does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    Start,
    Resume,
    /// Hard power-off.
    Destroy,
    /// Orderly (ACPI) shutdown; runs as a job until the guest is off.
    Shutdown,
    Suspend,
    Reboot,
    Reset,
    /// The domain is already in the requested state.
    Nothing,
}

/// Why a RequestStateChange is refused, with the method's return code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A RequestedState outside the method's value map (rc 5).
    InvalidValue(u16),
    /// A defined state vine does not implement (rc 1).
    NotSupported(u16),
    /// Not possible from the current state (rc 4097).
    InvalidTransition { requested: u16, state: DomainState },
}

impl Refusal {
    pub fn code(&self) -> u32 {
        match self {
            Refusal::InvalidValue(_) => rc::INVALID_PARAMETER,
            Refusal::NotSupported(_) => rc::NOT_SUPPORTED,
            Refusal::InvalidTransition { .. } => rc::INVALID_STATE_TRANSITION,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Refusal::InvalidValue(v) => format!("RequestedState {v} is not a valid value"),
            Refusal::NotSupported(v) => format!(
                "RequestedState {v} is not supported (supported: 2 Enabled, 3 Disabled, \
                 4 Shut Down, 9 Quiesce, 10 Reboot, 11 Reset)"
            ),
            Refusal::InvalidTransition { requested, state } => format!(
                "RequestedState {requested} is not possible while the VM is {}",
                state.as_str()
            ),
        }
    }
}

/// The RequestedState values a VM accepts (ELEC.RequestedStatesSupported).
pub const SUPPORTED_REQUESTS: [u16; 6] = [2, 3, 4, 9, 10, 11];

/// Decides what `requested` means for a domain in `state`.
pub fn plan(requested: u16, state: DomainState) -> Result<Transition, Refusal> {
    use DomainState as S;
    use Transition as T;
    let invalid = || Err(Refusal::InvalidTransition { requested, state });
    match requested {
        values::ENABLED => match state {
            S::Shutoff | S::Crashed => Ok(T::Start),
            S::Paused => Ok(T::Resume),
            S::Running | S::Blocked => Ok(T::Nothing),
            S::ShuttingDown | S::PmSuspended | S::NoState => invalid(),
        },
        values::DISABLED => match state {
            S::Running | S::Blocked | S::Paused | S::ShuttingDown | S::PmSuspended => {
                Ok(T::Destroy)
            }
            S::Shutoff | S::Crashed => Ok(T::Nothing),
            S::NoState => invalid(),
        },
        values::SHUT_DOWN => match state {
            S::Running | S::Blocked => Ok(T::Shutdown),
            S::Shutoff | S::Crashed | S::ShuttingDown => Ok(T::Nothing),
            // A paused guest cannot answer the ACPI request.
            S::Paused | S::PmSuspended | S::NoState => invalid(),
        },
        values::QUIESCE => match state {
            S::Running | S::Blocked => Ok(T::Suspend),
            S::Paused => Ok(T::Nothing),
            S::Shutoff | S::Crashed | S::ShuttingDown | S::PmSuspended | S::NoState => invalid(),
        },
        values::REBOOT | values::RESET => match state {
            S::Running | S::Blocked | S::Paused => Ok(if requested == values::REBOOT {
                T::Reboot
            } else {
                T::Reset
            }),
            S::Shutoff | S::Crashed | S::ShuttingDown | S::PmSuspended | S::NoState => invalid(),
        },
        // In the value map but not implemented: Offline (suspend to disk),
        // Test, Defer.
        6..=8 => Err(Refusal::NotSupported(requested)),
        v if v >= 32768 => Err(Refusal::NotSupported(requested)),
        _ => Err(Refusal::InvalidValue(requested)),
    }
}

/// What clients asked of each VM and when its state last changed. Memory
/// only: after an agent restart RequestedState reads 12 (Not Applicable)
/// until the next request.
#[derive(Default)]
pub struct StateBook {
    map: Mutex<HashMap<String, Entry>>,
}

#[derive(Clone, Default)]
struct Entry {
    requested: Option<u16>,
    changed: Option<CimDateTime>,
}

impl StateBook {
    fn with<T>(&self, dom: &str, f: impl FnOnce(&mut Entry) -> T) -> T {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(dom.to_string()).or_default())
    }

    /// RequestedState of `dom`: the last request, else 12 Not Applicable.
    pub fn requested(&self, dom: &str) -> u16 {
        self.with(dom, |e| e.requested.unwrap_or(values::NOT_APPLICABLE))
    }

    /// Records a request (kept even when the transition then fails, so the
    /// client sees what it asked for).
    pub fn set_requested(&self, dom: &str, v: u16) {
        self.with(dom, |e| e.requested = Some(v));
    }

    /// Records that the domain's state changed now.
    pub fn mark_changed(&self, dom: &str) {
        self.with(dom, |e| e.changed = Some(CimDateTime::now()));
    }

    /// When the state last changed, if seen since the agent started.
    pub fn last_change(&self, dom: &str) -> Option<CimDateTime> {
        self.with(dom, |e| e.changed)
    }

    /// Forgets an undefined domain.
    pub fn forget(&self, dom: &str) {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(dom);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pausing_a_stopped_vm_is_an_invalid_transition() {
        let r = plan(9, DomainState::Shutoff).unwrap_err();
        assert_eq!(r.code(), 4097);
        assert!(r.message().contains("shut off"), "{}", r.message());
    }

    #[test]
    fn requests_map_to_libvirt_actions() {
        assert_eq!(plan(2, DomainState::Shutoff), Ok(Transition::Start));
        assert_eq!(plan(2, DomainState::Paused), Ok(Transition::Resume));
        assert_eq!(plan(2, DomainState::Running), Ok(Transition::Nothing));
        assert_eq!(plan(3, DomainState::Paused), Ok(Transition::Destroy));
        assert_eq!(plan(4, DomainState::Running), Ok(Transition::Shutdown));
        assert_eq!(plan(9, DomainState::Running), Ok(Transition::Suspend));
        assert_eq!(plan(10, DomainState::Paused), Ok(Transition::Reboot));
        assert_eq!(plan(11, DomainState::Running), Ok(Transition::Reset));
        assert_eq!(plan(4, DomainState::Paused).unwrap_err().code(), 4097);
        assert_eq!(plan(10, DomainState::Shutoff).unwrap_err().code(), 4097);
    }

    #[test]
    fn unsupported_and_invalid_values() {
        assert_eq!(plan(6, DomainState::Running).unwrap_err().code(), 1);
        assert_eq!(plan(8, DomainState::Running).unwrap_err().code(), 1);
        assert_eq!(plan(40000, DomainState::Running).unwrap_err().code(), 1);
        assert_eq!(plan(5, DomainState::Running).unwrap_err().code(), 5);
        assert_eq!(plan(12, DomainState::Running).unwrap_err().code(), 5);
        assert_eq!(plan(0, DomainState::Running).unwrap_err().code(), 5);
    }

    #[test]
    fn status_follows_the_domain_state() {
        assert_eq!(status_of(DomainState::Running).enabled_state, 2);
        assert_eq!(status_of(DomainState::Paused).enabled_state, 9);
        assert_eq!(status_of(DomainState::Shutoff).enabled_state, 3);
        let crashed = status_of(DomainState::Crashed);
        assert_eq!((crashed.enabled_state, crashed.operational_status), (3, 6));
    }

    #[test]
    fn requested_state_defaults_to_not_applicable() {
        let b = StateBook::default();
        assert_eq!(b.requested("a"), 12);
        b.set_requested("a", 9);
        assert_eq!(b.requested("a"), 9);
        b.forget("a");
        assert_eq!(b.requested("a"), 12);
    }
}
