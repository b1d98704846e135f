//! The libvirt backend of [`Hypervisor`].
//!
//! Start at [`LibvirtHypervisor::open`]. Test-driver hosts
//! (`test:///abs/path/host.xml`) keep their state in the connection, so
//! this module keeps a process-wide registry of them: opening the same
//! test URI twice gives the same hypervisor, which is what lets domains
//! migrate between test hosts of one process.

/// Connection, close callback and reconnection with back-off.
mod connection;
/// CPU limit (CFS quota) and reservation (domain metadata).
mod cpu_time;
/// Define-time checks: does a spec fit this host.
mod define;
/// vCPUs, memory, disks and NICs of a domain.
mod devices;
/// Lifecycle operations and domain listing.
mod domains;
/// libvirt error codes → `HvError`.
mod errors;
/// libvirt's event loop and the lifecycle callback.
mod events;
/// Host identity, capabilities, pools and networks.
mod host;
/// Offline (test driver) and live migration.
mod migrate;
/// Writing a test-driver host back to its file.
mod persist;
/// Domain snapshots.
mod snapshots;
/// Usage counters of domains and the host.
mod stats;
/// DomainSpec → domain XML.
pub mod xml;
/// Domain XML → DomainSpec.
pub mod xml_parse;
/// A small element tree over quick-xml.
pub mod xmltree;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::broadcast;
use virt::connect::Connect;
use virt::domain::Domain;

use crate::error::{HvError, HvResult};
use crate::types::*;
use crate::Hypervisor;
use connection::{Link, LinkState};
pub use cpu_time::{METADATA_NS as CPU_METADATA_NS, PERIOD_US as CPU_PERIOD_US};

/// Test-driver hypervisors open in this process, by URI.
fn registry() -> &'static Mutex<HashMap<String, Arc<LibvirtHypervisor>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<String, Arc<LibvirtHypervisor>>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(HashMap::new()))
}

/// A host reached through libvirt.
pub struct LibvirtHypervisor {
    link: Arc<Link>,
    /// What `host_info` reports as the host name for test hosts (from the
    /// host file), `None` to ask libvirt.
    test_host_name: Option<String>,
}

impl LibvirtHypervisor {
    /// Connects to `uri` (`qemu:///system`, `xen:///system`, `lxc:///`,
    /// `test:///default`, `test:///abs/path/host.xml`). Test URIs already
    /// open in this process return the same hypervisor.
    pub fn open(uri: &str) -> HvResult<Arc<Self>> {
        let driver = DriverKind::from_uri(uri).ok_or_else(|| HvError::Connect {
            uri: uri.to_string(),
            message: "unknown driver: expected qemu, xen, lxc or test".into(),
        })?;
        if driver != DriverKind::Test {
            return Ok(Arc::new(Self::connect(uri, driver)?));
        }
        // Held across the open so two threads opening the same host file
        // cannot end up with two diverging in-memory hosts.
        let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hv) = reg.get(uri) {
            return Ok(hv.clone());
        }
        let hv = Arc::new(Self::connect(uri, driver)?);
        reg.insert(uri.to_string(), hv.clone());
        Ok(hv)
    }

    /// The already open test hypervisor for `uri`, if any.
    pub fn open_test_host(uri: &str) -> Option<Arc<Self>> {
        let reg = registry().lock().unwrap_or_else(|p| p.into_inner());
        reg.get(uri).cloned()
    }

    fn connect(uri: &str, driver: DriverKind) -> HvResult<Self> {
        let link = Link::open(uri, driver)?;
        let test_host_name = (driver == DriverKind::Test).then(|| persist::test_host_name(uri));
        tracing::info!(uri, driver = driver.as_str(), "connected to libvirt");
        Ok(LibvirtHypervisor {
            link,
            test_host_name,
        })
    }

    pub(crate) fn kind(&self) -> DriverKind {
        self.link.driver
    }

    pub(crate) fn conn(&self) -> HvResult<Connect> {
        self.link.conn()
    }

    /// Maps a libvirt error about domain `domain` during `op`.
    pub(crate) fn dom_err(&self, e: virt::error::Error, op: &str, domain: &str) -> HvError {
        let ctx = errors::Ctx {
            lost: self.lost(&e),
            ..errors::Ctx::domain(self.kind(), op, domain)
        };
        errors::map(&e, ctx, || self.state_of(domain))
    }

    /// Maps a libvirt error of a host-level operation.
    pub(crate) fn host_err(&self, e: virt::error::Error, op: &str) -> HvError {
        let ctx = errors::Ctx {
            lost: self.lost(&e),
            ..errors::Ctx::host(self.kind(), op)
        };
        errors::map(&e, ctx, || None)
    }

    /// Whether `e` came from a dead connection; if so, reconnection
    /// starts (the close callback may come late, or not at all).
    fn lost(&self, e: &virt::error::Error) -> bool {
        if !errors::is_connection_error(e) {
            return false;
        }
        let alive = self.conn().is_ok_and(|c| c.is_alive().unwrap_or(false));
        if !alive {
            self.link.note_lost();
        }
        !alive
    }

    /// The domain called `name`.
    pub(crate) fn lookup(&self, name: &str, op: &str) -> HvResult<Domain> {
        let conn = self.conn()?;
        conn.lookup_domain_by_name(name)
            .map_err(|e| self.dom_err(e, op, name))
    }

    fn state_of(&self, name: &str) -> Option<DomainState> {
        let conn = self.conn().ok()?;
        let dom = conn.lookup_domain_by_name(name).ok()?;
        domains::state(&dom).ok()
    }
}

impl Hypervisor for LibvirtHypervisor {
    fn uri(&self) -> &str {
        &self.link.uri
    }

    fn driver(&self) -> DriverKind {
        self.kind()
    }

    fn host_info(&self) -> HvResult<HostInfo> {
        host::host_info(self)
    }

    fn host_os(&self) -> HvResult<HostOs> {
        crate::hostos::local_os(self.uri(), self.kind().as_str())
    }

    fn capabilities(&self) -> HvResult<Capabilities> {
        host::capabilities(self)
    }

    fn host_stats(&self) -> HvResult<HostStats> {
        stats::host_stats(self)
    }

    fn domains(&self) -> HvResult<Vec<DomainInfo>> {
        domains::list(self)
    }

    fn domain(&self, name: &str) -> HvResult<DomainInfo> {
        let dom = self.lookup(name, "look up")?;
        domains::info(self, &dom, name)
    }

    fn domain_spec(&self, name: &str) -> HvResult<DomainSpec> {
        domains::spec(self, name)
    }

    fn domain_xml(&self, name: &str) -> HvResult<String> {
        domains::xml(self, name, true)
    }

    fn render_xml(&self, spec: &DomainSpec) -> HvResult<String> {
        define::render(self, spec)
    }

    fn define(&self, spec: &DomainSpec) -> HvResult<DomainInfo> {
        define::define(self, spec)
    }

    fn define_xml(&self, xml: &str) -> HvResult<DomainInfo> {
        define::define_xml(self, xml)
    }

    fn undefine(&self, name: &str) -> HvResult<()> {
        domains::undefine(self, name)
    }

    fn start(&self, name: &str) -> HvResult<()> {
        domains::start(self, name)
    }

    fn shutdown(&self, name: &str) -> HvResult<()> {
        domains::shutdown(self, name)
    }

    fn destroy(&self, name: &str) -> HvResult<()> {
        domains::destroy(self, name)
    }

    fn reboot(&self, name: &str) -> HvResult<()> {
        domains::reboot(self, name)
    }

    fn reset(&self, name: &str) -> HvResult<()> {
        domains::reset(self, name)
    }

    fn suspend(&self, name: &str) -> HvResult<()> {
        domains::suspend(self, name)
    }

    fn resume(&self, name: &str) -> HvResult<()> {
        domains::resume(self, name)
    }

    fn set_vcpus(&self, name: &str, vcpus: u32, scope: Scope) -> HvResult<()> {
        devices::set_vcpus(self, name, vcpus, scope)
    }

    fn set_memory(&self, name: &str, kib: u64, scope: Scope) -> HvResult<()> {
        devices::set_memory(self, name, kib, scope)
    }

    fn set_cpu_shares(&self, name: &str, shares: u32, scope: Scope) -> HvResult<()> {
        devices::set_cpu_shares(self, name, shares, scope)
    }

    fn set_cpu_limit(&self, name: &str, pct: u32, scope: Scope) -> HvResult<()> {
        cpu_time::set_cpu_limit(self, name, pct, scope)
    }

    fn set_cpu_reservation(&self, name: &str, pct: u32, scope: Scope) -> HvResult<()> {
        cpu_time::set_cpu_reservation(self, name, pct, scope)
    }

    fn cpu_time(&self, name: &str) -> HvResult<CpuTime> {
        cpu_time::cpu_time(self, name)
    }

    fn attach_disk(&self, name: &str, disk: &DiskSpec, scope: Scope) -> HvResult<()> {
        devices::attach_disk(self, name, disk, scope)
    }

    fn detach_disk(&self, name: &str, target: &str, scope: Scope) -> HvResult<()> {
        devices::detach_disk(self, name, target, scope)
    }

    fn attach_nic(&self, name: &str, nic: &NicSpec, scope: Scope) -> HvResult<NicSpec> {
        devices::attach_nic(self, name, nic, scope)
    }

    fn detach_nic(&self, name: &str, mac: &str, scope: Scope) -> HvResult<()> {
        devices::detach_nic(self, name, mac, scope)
    }

    fn snapshot_create(&self, name: &str, snapshot: &str) -> HvResult<SnapshotInfo> {
        snapshots::create(self, name, snapshot)
    }

    fn snapshots(&self, name: &str) -> HvResult<Vec<SnapshotInfo>> {
        snapshots::list(self, name)
    }

    fn snapshot_revert(&self, name: &str, snapshot: &str) -> HvResult<()> {
        snapshots::revert(self, name, snapshot)
    }

    fn snapshot_delete(&self, name: &str, snapshot: &str) -> HvResult<()> {
        snapshots::delete(self, name, snapshot)
    }

    fn domain_stats(&self, name: &str) -> HvResult<DomainStats> {
        stats::domain_stats(self, name)
    }

    fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.link.subscribe()
    }

    fn migrate(&self, name: &str, dest_uri: &str) -> HvResult<MigrationMode> {
        migrate::migrate(self, name, dest_uri)
    }

    fn check_migratable(&self, name: &str, dest_uri: &str) -> HvResult<MigrationMode> {
        migrate::check_migratable(self, name, dest_uri)
    }

    fn is_alive(&self) -> bool {
        if self.link.state() != LinkState::Up {
            return false;
        }
        match self.conn() {
            Ok(c) => c.is_alive().unwrap_or(false),
            Err(_) => false,
        }
    }
}
