use serde::{Deserialize, Serialize};
use vine_cim::{CimInstance, CimInstanceName, CimValue};

/// A host as its agent describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostView {
    /// `Name` of the agent's host system instance.
    pub name: String,
    /// The agent's class prefix (`KVM`, `Xen`, `LXC`).
    pub prefix: String,
}

/// A host's physical processors and memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCapacity {
    pub vcpus: u64,
    pub memory_mib: u64,
}

/// A virtual machine's power state, from DSP1057's EnabledState.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VmState {
    Running,
    Paused,
    Stopped,
    ShuttingDown,
    Other(u16),
}

impl VmState {
    pub fn from_enabled_state(v: u16) -> Self {
        match v {
            2 => VmState::Running,
            9 => VmState::Paused,
            3 => VmState::Stopped,
            4 => VmState::ShuttingDown,
            other => VmState::Other(other),
        }
    }

    pub fn as_str(self) -> String {
        match self {
            VmState::Running => "running".into(),
            VmState::Paused => "paused".into(),
            VmState::Stopped => "stopped".into(),
            VmState::ShuttingDown => "shutting-down".into(),
            VmState::Other(v) => format!("state-{v}"),
        }
    }
}

/// A virtual machine on one host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmView {
    pub name: String,
    pub uuid: Option<String>,
    pub state: VmState,
    pub vcpus: Option<u32>,
    pub memory_mib: Option<u64>,
}

/// A CIM_ConcreteJob as the agent reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct JobView {
    pub path: CimInstanceName,
    /// DMTF JobState (4 Running, 7 Completed, 10 Exception, ...).
    pub state: u16,
    pub percent: u16,
    pub error: Option<String>,
    /// Free text the agent puts in the job (e.g. how a migration was done).
    pub status: Option<String>,
}

impl JobView {
    pub(crate) fn from_instance(path: CimInstanceName, i: &CimInstance) -> Self {
        let u16_of = |n: &str| match i.get(n) {
            Some(CimValue::Uint16(v)) => Some(*v),
            _ => None,
        };
        let s = |n: &str| i.get_str(n).filter(|s| !s.is_empty()).map(str::to_string);
        JobView {
            path,
            state: u16_of("JobState").unwrap_or(0),
            percent: u16_of("PercentComplete").unwrap_or(0),
            error: s("ErrorDescription"),
            status: s("JobStatus").or_else(|| s("Status")),
        }
    }

    /// Completed, Terminated, Killed or Exception.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, 7..=10)
    }
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum JobOutcome {
    Completed { status: Option<String> },
    Failed { error: String },
}

/// Whether a VM can move to a host, and why not.
#[derive(Clone, Debug, PartialEq)]
pub struct MigrationCheck {
    pub migratable: bool,
    pub reason: Option<String>,
}
