//! The values that cross the [`Hypervisor`](crate::Hypervisor) seam.

use serde::{Deserialize, Serialize};

/// The libvirt driver behind a URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DriverKind {
    /// `qemu:///system`: KVM, or QEMU/TCG where /dev/kvm is absent.
    Qemu,
    /// `xen:///system`.
    Xen,
    /// `lxc:///`.
    Lxc,
    /// `test:///abs/path/host.xml` or `test:///default`: libvirt's test
    /// driver, in-memory hosts.
    Test,
}

impl DriverKind {
    /// The driver of `uri` (`qemu+ssh://h/system` is Qemu).
    pub fn from_uri(uri: &str) -> Option<DriverKind> {
        let scheme = uri.split("://").next()?;
        let base = scheme.split('+').next()?;
        match base {
            "qemu" | "kvm" => Some(DriverKind::Qemu),
            "xen" => Some(DriverKind::Xen),
            "lxc" => Some(DriverKind::Lxc),
            "test" => Some(DriverKind::Test),
            _ => None,
        }
    }

    /// The CIM class prefix libvirt-cim uses for this driver; the test
    /// driver models KVM hosts unless configured otherwise.
    pub fn class_prefix(self) -> &'static str {
        match self {
            DriverKind::Qemu | DriverKind::Test => "KVM",
            DriverKind::Xen => "Xen",
            DriverKind::Lxc => "LXC",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Qemu => "qemu",
            DriverKind::Xen => "xen",
            DriverKind::Lxc => "lxc",
            DriverKind::Test => "test",
        }
    }
}

/// The physical host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    pub hostname: String,
    /// CPU architecture (`x86_64`).
    pub arch: String,
    /// CPU model name where known.
    pub cpu_model: String,
    /// Logical CPUs.
    pub cpus: u32,
    pub mhz: u32,
    pub sockets: u32,
    pub cores_per_socket: u32,
    pub threads_per_core: u32,
    pub memory_kib: u64,
    pub free_memory_kib: u64,
    /// `QEMU`, `Xen`, `LXC`, `Test`.
    pub hypervisor_type: String,
    /// `major.minor.release`.
    pub hypervisor_version: String,
    pub libvirt_version: String,
    /// The host's UUID (SMBIOS or libvirt's), stable across restarts.
    pub uuid: String,
}

/// The operating system of the host (what libvirt runs on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOs {
    /// Distribution name (`Debian GNU/Linux 12 (bookworm)`), else the
    /// kernel name.
    pub name: String,
    /// Kernel name (`Linux`).
    pub kernel: String,
    /// Kernel release (`6.1.0-18-amd64`).
    pub release: String,
    /// Boot time, seconds since the epoch, where known.
    pub boot_time: Option<i64>,
    pub swap_total_kib: Option<u64>,
    pub swap_free_kib: Option<u64>,
    /// Processes running, where known.
    pub processes: Option<u32>,
}

/// How a guest boots.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OsKind {
    /// Fully virtualized (KVM/QEMU, Xen HVM): firmware boots a disk or CD.
    Hvm { boot: Vec<BootDevice> },
    /// Xen paravirtualized: the host gives the kernel.
    XenPv {
        kernel: Option<String>,
        initrd: Option<String>,
        cmdline: Option<String>,
        /// pygrub or another bootloader instead of a kernel path.
        bootloader: Option<String>,
    },
    /// A container (LXC): runs `init`.
    Container { init: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootDevice {
    Hd,
    Cdrom,
    Network,
}

/// One guest type the host supports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestType {
    /// `hvm`, `xen` (PV) or `exe` (container).
    pub os_type: String,
    pub arch: String,
    /// libvirt domain types usable for it (`kvm`, `qemu`, `xen`, `test`).
    pub domain_types: Vec<String>,
}

/// A storage pool of the host: where disk images may live.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoragePoolInfo {
    pub name: String,
    /// Directory (for dir pools) under which volumes live.
    pub path: Option<String>,
    pub capacity_bytes: u64,
    pub allocation_bytes: u64,
    pub available_bytes: u64,
    pub active: bool,
}

/// A virtual network of the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    pub name: String,
    pub bridge: Option<String>,
    pub active: bool,
}

/// What the host can run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capabilities {
    pub guest_types: Vec<GuestType>,
    /// The most vCPUs one guest may have on this host.
    pub max_vcpus: u32,
    pub storage_pools: Vec<StoragePoolInfo>,
    pub networks: Vec<NetworkInfo>,
}

/// A domain's run state, as libvirt reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DomainState {
    NoState,
    Running,
    Blocked,
    Paused,
    ShuttingDown,
    Shutoff,
    Crashed,
    PmSuspended,
}

impl DomainState {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainState::NoState => "no state",
            DomainState::Running => "running",
            DomainState::Blocked => "blocked",
            DomainState::Paused => "paused",
            DomainState::ShuttingDown => "shutting down",
            DomainState::Shutoff => "shut off",
            DomainState::Crashed => "crashed",
            DomainState::PmSuspended => "suspended by guest power management",
        }
    }

    /// Running in the sense that it holds host CPU and memory.
    pub fn is_active(self) -> bool {
        !matches!(self, DomainState::Shutoff | DomainState::Crashed)
    }
}

/// A domain as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainInfo {
    pub name: String,
    pub uuid: String,
    /// The running domain's id; `None` when shut off.
    pub id: Option<u32>,
    pub state: DomainState,
    pub vcpus: u32,
    pub max_vcpus: u32,
    pub memory_kib: u64,
    pub max_memory_kib: u64,
    pub persistent: bool,
    pub autostart: bool,
}

/// A disk's bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskBus {
    Virtio,
    Ide,
    Scsi,
    Sata,
    /// Xen paravirtual block device (`xvda`).
    Xen,
}

/// Whether a disk is a hard disk or a CD-ROM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiskDevice {
    Disk,
    Cdrom,
}

/// A guest disk backed by a file or block device on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskSpec {
    /// Host path of the image or device; `None` for an empty CD-ROM.
    pub source: Option<String>,
    /// Guest device name (`vda`, `hdc`, `xvdb`).
    pub target: String,
    pub bus: DiskBus,
    pub device: DiskDevice,
    /// Image format (`raw`, `qcow2`) where known.
    pub format: Option<String>,
    pub readonly: bool,
    /// Size in bytes where known (from the volume), for RASDs.
    pub capacity_bytes: Option<u64>,
}

/// Where a NIC is plugged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NicSource {
    /// A libvirt virtual network.
    Network(String),
    /// A host bridge.
    Bridge(String),
}

/// A guest network interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    /// `52:54:00:..`; `None` lets libvirt choose.
    pub mac: Option<String>,
    pub source: NicSource,
    /// Device model (`virtio`, `e1000`, `netfront`).
    pub model: Option<String>,
}

/// A domain's definition: what vine creates from CIM settings and reads
/// back from libvirt XML.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainSpec {
    pub name: String,
    /// Chosen by libvirt when `None`.
    pub uuid: Option<String>,
    pub os: OsKind,
    /// vCPUs at boot.
    pub vcpus: u32,
    /// The most vCPUs the domain can be given live; at least `vcpus`.
    pub max_vcpus: u32,
    /// Memory at boot, KiB.
    pub memory_kib: u64,
    /// The most memory the domain can be ballooned to, KiB.
    pub max_memory_kib: u64,
    pub disks: Vec<DiskSpec>,
    pub nics: Vec<NicSpec>,
    /// A VNC console where the driver has one.
    pub graphics: bool,
    /// Free-form description, kept in the XML `<description>`.
    pub description: Option<String>,
}

impl DomainSpec {
    /// A minimal HVM guest: `vcpus` CPUs and `memory_mib` MiB, no devices.
    pub fn new(name: &str, vcpus: u32, memory_mib: u64) -> Self {
        DomainSpec {
            name: name.into(),
            uuid: None,
            os: OsKind::Hvm {
                boot: vec![BootDevice::Hd],
            },
            vcpus,
            max_vcpus: vcpus,
            memory_kib: memory_mib * 1024,
            max_memory_kib: memory_mib * 1024,
            disks: Vec::new(),
            nics: Vec::new(),
            graphics: false,
            description: None,
        }
    }
}

/// Where a change applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    /// The running domain only.
    Live,
    /// The persistent definition only (takes effect at next boot).
    Config,
    /// Both; for a shut-off domain this is the same as `Config`.
    Both,
}

/// A domain's CPU time allocation, in percent of one host core per vCPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTime {
    /// The most each vCPU may run (100 = no cap); `None` when the domain
    /// has no quota set.
    pub limit_pct: Option<u32>,
    /// What each vCPU is guaranteed by the host's admission control
    /// (0 = none); `None` when none was ever recorded.
    pub reservation_pct: Option<u32>,
}

/// Cumulative usage counters of one domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DomainStats {
    /// CPU time used by all vCPUs, ns.
    pub cpu_time_ns: u64,
    pub vcpus: u32,
    /// Memory the guest currently has, KiB.
    pub memory_kib: u64,
    /// Memory the guest uses (balloon stats where available, else
    /// `memory_kib`), KiB.
    pub memory_used_kib: u64,
    pub disk_read_bytes: u64,
    pub disk_write_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
}

/// Cumulative usage counters of the host.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostStats {
    /// CPU time over all CPUs, ns.
    pub cpu_user_ns: u64,
    pub cpu_system_ns: u64,
    pub cpu_idle_ns: u64,
    pub cpu_iowait_ns: u64,
    pub memory_total_kib: u64,
    pub memory_free_kib: u64,
}

/// A snapshot of a domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    pub name: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// The domain's state when it was taken (`running`, `shutoff`).
    pub state: String,
}

/// What happened to a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DomainEventKind {
    Defined,
    Undefined,
    Started,
    Suspended,
    Resumed,
    Stopped,
    Shutdown,
    PmSuspended,
    Crashed,
}

/// A lifecycle event from libvirt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub domain: String,
    pub uuid: String,
    pub kind: DomainEventKind,
    /// libvirt's detail code for the event (e.g. started-booted vs
    /// started-migrated), kept for logs.
    pub detail: i32,
}

/// How a migration was carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MigrationMode {
    /// The guest kept running while its memory moved.
    Live,
    /// The guest was stopped, its definition moved, and restarted.
    Offline,
}
