//! The hypervisor seam: what vine needs from a virtualization host, as a
//! trait, and its libvirt implementation.
//!
//! Providers and the agent only see [`Hypervisor`]; libvirt (and its test
//! driver, which is real libvirt code with in-memory hosts) stays behind it,
//! as cloud-hypervisor's `hypervisor` crate hides KVM. Calls block (libvirt
//! is a blocking C API): async callers wrap them in `spawn_blocking`.

mod error;
/// The host's operating system, from `/etc/os-release` and `/proc`.
pub mod hostos;
/// The libvirt backend: [`LibvirtHypervisor`] and its XML helpers.
pub mod libvirt;
/// Synthetic CPU load for test-driver hosts (`vine agent --synthetic-load`).
pub mod synthetic;
/// Host files for libvirt's test driver.
pub mod testhost;
mod types;

pub use error::{HvError, HvResult};
pub use libvirt::{LibvirtHypervisor, CPU_METADATA_NS, CPU_PERIOD_US};
pub use types::*;

use std::sync::Arc;

/// Opens the hypervisor behind a libvirt URI (`qemu:///system`,
/// `xen:///system`, `lxc:///`, `test:///abs/path/host.xml`).
pub fn open(uri: &str) -> HvResult<Arc<dyn Hypervisor>> {
    Ok(LibvirtHypervisor::open(uri)?)
}

use tokio::sync::broadcast;

/// One virtualization host, reached through one connection.
pub trait Hypervisor: Send + Sync + 'static {
    /// The libvirt URI this hypervisor was opened with.
    fn uri(&self) -> &str;

    /// Which driver is behind the URI.
    fn driver(&self) -> DriverKind;

    /// The physical host: CPUs, memory, hypervisor identity.
    fn host_info(&self) -> HvResult<HostInfo>;

    /// The operating system of the host. Only a hypervisor on this
    /// machine (a URI without a host name) can tell; a remote one answers
    /// [`HvError::Unsupported`]. Test-driver hosts run on this machine's
    /// kernel, so they report it too.
    fn host_os(&self) -> HvResult<HostOs>;

    /// What guests the host can run and from which storage and networks.
    fn capabilities(&self) -> HvResult<Capabilities>;

    /// Host-wide usage counters, for the resource monitor.
    fn host_stats(&self) -> HvResult<HostStats>;

    /// Every defined domain, running or not.
    fn domains(&self) -> HvResult<Vec<DomainInfo>>;

    /// One domain by name; [`HvError::NoDomain`] when there is none.
    fn domain(&self, name: &str) -> HvResult<DomainInfo>;

    /// A domain's persistent definition, parsed.
    fn domain_spec(&self, name: &str) -> HvResult<DomainSpec>;

    /// A domain's definition as libvirt XML (for offline migration and
    /// debugging).
    fn domain_xml(&self, name: &str) -> HvResult<String>;

    /// The domain XML this hypervisor would define for `spec`, without
    /// defining it.
    fn render_xml(&self, spec: &DomainSpec) -> HvResult<String>;

    /// Defines a persistent domain from `spec`. Refuses a spec that does not
    /// fit the host (vCPUs, memory, storage outside the host's pools) with
    /// [`HvError::InvalidSpec`] saying what to change.
    fn define(&self, spec: &DomainSpec) -> HvResult<DomainInfo>;

    /// Defines a persistent domain from libvirt XML as is.
    fn define_xml(&self, xml: &str) -> HvResult<DomainInfo>;

    /// Removes a domain's definition (it must not be running).
    fn undefine(&self, name: &str) -> HvResult<()>;

    fn start(&self, name: &str) -> HvResult<()>;
    /// Asks the guest to shut down (ACPI); returns before it has.
    fn shutdown(&self, name: &str) -> HvResult<()>;
    /// Pulls the plug.
    fn destroy(&self, name: &str) -> HvResult<()>;
    fn reboot(&self, name: &str) -> HvResult<()>;
    fn reset(&self, name: &str) -> HvResult<()>;
    fn suspend(&self, name: &str) -> HvResult<()>;
    fn resume(&self, name: &str) -> HvResult<()>;

    /// Sets the number of vCPUs, live and/or in the definition.
    fn set_vcpus(&self, name: &str, vcpus: u32, scope: Scope) -> HvResult<()>;

    /// Sets the memory in KiB, live (balloon) and/or in the definition.
    fn set_memory(&self, name: &str, kib: u64, scope: Scope) -> HvResult<()>;

    /// Sets the domain's CPU weight against the others on its host
    /// (libvirt's `cpu_shares` on qemu/LXC, `weight` on Xen); a driver
    /// that cannot keep it says so with [`HvError::Unsupported`].
    fn set_cpu_shares(&self, name: &str, shares: u32, scope: Scope) -> HvResult<()>;

    /// Caps each vCPU at `pct` percent of one host core (1..=100, 100 =
    /// no cap; libvirt's `vcpu_period`/`vcpu_quota`); a driver that cannot
    /// keep it says so with [`HvError::Unsupported`].
    fn set_cpu_limit(&self, name: &str, pct: u32, scope: Scope) -> HvResult<()>;

    /// Records the domain's CPU reservation (`pct` percent of one core per
    /// vCPU, 0..=100) with the domain, in its libvirt `<metadata>`. Only
    /// records: admitting it against the host is the caller's.
    fn set_cpu_reservation(&self, name: &str, pct: u32, scope: Scope) -> HvResult<()>;

    /// The domain's CPU limit and reservation as it is now.
    fn cpu_time(&self, name: &str) -> HvResult<CpuTime>;

    fn attach_disk(&self, name: &str, disk: &DiskSpec, scope: Scope) -> HvResult<()>;
    /// Detaches the disk whose target device is `target` (`vdb`).
    fn detach_disk(&self, name: &str, target: &str, scope: Scope) -> HvResult<()>;

    /// Attaches a NIC; returns it with the MAC address libvirt chose when
    /// the spec had none.
    fn attach_nic(&self, name: &str, nic: &NicSpec, scope: Scope) -> HvResult<NicSpec>;
    /// Detaches the NIC with MAC address `mac`.
    fn detach_nic(&self, name: &str, mac: &str, scope: Scope) -> HvResult<()>;

    fn snapshot_create(&self, name: &str, snapshot: &str) -> HvResult<SnapshotInfo>;
    fn snapshots(&self, name: &str) -> HvResult<Vec<SnapshotInfo>>;
    fn snapshot_revert(&self, name: &str, snapshot: &str) -> HvResult<()>;
    fn snapshot_delete(&self, name: &str, snapshot: &str) -> HvResult<()>;

    /// Usage counters of one domain (cumulative; the monitor takes deltas).
    fn domain_stats(&self, name: &str) -> HvResult<DomainStats>;

    /// Lifecycle events of this host's domains, as libvirt reports them.
    /// A receiver that falls behind loses the oldest events (and learns how
    /// many from `RecvError::Lagged`), so subscribers resync on lag.
    fn subscribe(&self) -> broadcast::Receiver<DomainEvent>;

    /// Moves domain `name` to the host at libvirt URI `dest_uri`.
    /// Live migration where the driver can; between test-driver hosts it is
    /// offline (definition copied, source stopped and undefined, target
    /// defined and started in the source's state) and reported as such.
    fn migrate(&self, name: &str, dest_uri: &str) -> HvResult<MigrationMode>;

    /// Whether `dest_uri` could take domain `name` (same driver family, the
    /// domain's vCPUs and memory fit); `Err` says why not.
    fn check_migratable(&self, name: &str, dest_uri: &str) -> HvResult<MigrationMode>;

    /// Whether the connection is up. A lost connection is re-established
    /// in the background; calls meanwhile fail with
    /// [`HvError::ConnectionLost`].
    fn is_alive(&self) -> bool;
}
