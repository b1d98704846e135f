//! The job kinds the manager runs and their parameters. These are what
//! the REST API, the CLI and the `root/vine` CIM methods submit; each kind
//! has one handler in this module's siblings.

use serde::{Deserialize, Serialize};

use crate::vni::VmTemplate;

/// Define a VM (placed by the pools unless a host is named) and start it.
pub const VM_CREATE: &str = "vm.create";
/// Change a VM's power state.
pub const VM_POWER: &str = "vm.power";
/// Change a VM's vCPUs and/or memory.
pub const VM_RESIZE: &str = "vm.resize";
/// Move a VM to another host.
pub const VM_MIGRATE: &str = "vm.migrate";
/// Stop and undefine a VM.
pub const VM_DELETE: &str = "vm.delete";
/// Move every VM off a host.
pub const HOST_DRAIN: &str = "host.drain";
/// Power a host off (through its agent) or on (Wake-on-LAN or a BMC).
pub const HOST_POWER: &str = "host.power";
/// Create a virtual server: its nodes and its front end.
pub const VS_CREATE: &str = "vs.create";
/// Grow or shrink a virtual server to a node count.
pub const VS_SCALE: &str = "vs.scale";
/// Remove a virtual server, its nodes and its front end.
pub const VS_DELETE: &str = "vs.delete";
/// Replace a failed node of a virtual server.
pub const VS_REPAIR: &str = "vs.repair";

/// `vm.create`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateVm {
    pub template: VmTemplate,
    /// Put it here instead of letting placement choose.
    #[serde(default)]
    pub host: Option<String>,
    /// Draw from this service pool.
    #[serde(default)]
    pub pool: Option<String>,
    /// Start it once defined (default true).
    #[serde(default = "yes")]
    pub start: bool,
}

fn yes() -> bool {
    true
}

/// Power actions of `vm.power`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerAction {
    Start,
    /// Graceful shutdown.
    Shutdown,
    /// Force off.
    Stop,
    Pause,
    Resume,
    Reboot,
    Reset,
}

impl PowerAction {
    pub fn parse(s: &str) -> Option<PowerAction> {
        Some(match s {
            "start" => PowerAction::Start,
            "shutdown" => PowerAction::Shutdown,
            "stop" | "force-off" => PowerAction::Stop,
            "pause" | "suspend" => PowerAction::Pause,
            "resume" => PowerAction::Resume,
            "reboot" => PowerAction::Reboot,
            "reset" => PowerAction::Reset,
            _ => return None,
        })
    }
}

/// `vm.power`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerVm {
    pub vm: String,
    pub action: PowerAction,
}

/// `vm.resize`: virtualizing down (or up) within the VM's host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResizeVm {
    pub vm: String,
    #[serde(default)]
    pub vcpus: Option<u32>,
    #[serde(default)]
    pub memory_mib: Option<u64>,
    /// CPU weight against the other VMs on the host (the hypervisor's CPU
    /// shares; 1024 is the usual default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u32>,
    /// The most CPU time each vCPU may use, in percent of one host core
    /// (100 = no cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_limit_pct: Option<u32>,
    /// CPU time guaranteed to each vCPU, in percent of one host core (0 =
    /// none); the host refuses it when its guests' reservations would pass
    /// its cores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_reservation_pct: Option<u32>,
}

/// The CPU shares a VM may be given: libvirt's range for qemu (Xen takes
/// up to 65,535 and refuses more itself).
pub const CPU_SHARES: std::ops::RangeInclusive<u32> = 2..=262_144;

/// A CPU limit, percent of one core per vCPU (100 = no cap).
pub const CPU_LIMIT_PCT: std::ops::RangeInclusive<u32> = 1..=100;

/// A CPU reservation, percent of one core per vCPU (0 = none).
pub const CPU_RESERVATION_PCT: std::ops::RangeInclusive<u32> = 0..=100;

/// `vm.migrate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MigrateVm {
    pub vm: String,
    /// Destination; placement chooses when absent.
    #[serde(default)]
    pub to: Option<String>,
}

/// `vm.delete`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeleteVm {
    pub vm: String,
}

/// `host.drain`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DrainHost {
    pub host: String,
}

/// `host.power`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerHost {
    pub host: String,
    pub state: HostPowerState,
}

/// What `host.power` brings a host to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostPowerState {
    On,
    Off,
}

/// `vs.create`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateVs {
    pub name: String,
    /// Every node is made from it; node names are `<vs>-<n>`.
    pub template: VmTemplate,
    pub nodes: u32,
    /// Front-end address (`127.0.0.1:8080`); a free loopback port if absent.
    #[serde(default)]
    pub bind: Option<String>,
    /// Port each node serves on (the backend port).
    #[serde(default)]
    pub node_port: Option<u16>,
    #[serde(default)]
    pub pool: Option<String>,
    /// How the balancer checks nodes (HTTP GET); its default when absent.
    #[serde(default)]
    pub health: Option<crate::cluster::HealthCheck>,
}

/// `vs.scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaleVs {
    pub name: String,
    pub nodes: u32,
}

/// `vs.delete` and `vs.repair`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NameVs {
    pub name: String,
}
