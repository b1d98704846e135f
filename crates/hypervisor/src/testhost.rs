//! Host files for libvirt's test driver: a `<node>` document with the
//! host's CPUs and memory, a `default` network, a directory storage pool
//! and domains. `test:///abs/path/host.xml` then behaves as that host.
//!
//! Used by the agent tests and by `vine up` (a few hosts with a few VMs
//! each). [`LibvirtHypervisor::save_test_host`](crate::LibvirtHypervisor::save_test_host)
//! writes the same format back.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::libvirt::xml::{escape, render};
use crate::types::{
    DiskBus, DiskDevice, DiskSpec, DomainSpec, DomainState, DriverKind, NicSource, NicSpec,
};

/// The XML namespace of the test driver's extra domain elements.
pub const TEST_NS: &str = "http://libvirt.org/schemas/domain/test/1.0";

/// Marks the host's name in its file (the test driver has no field for it).
pub(crate) const NAME_MARK: &str = "vine test host: ";

/// One domain of a test host and the state it starts in.
#[derive(Clone, Debug, PartialEq)]
pub struct TestDomain {
    pub spec: DomainSpec,
    pub state: DomainState,
}

/// A test-driver host.
#[derive(Clone, Debug, PartialEq)]
pub struct TestHostSpec {
    /// Reported as the host name.
    pub name: String,
    pub cpus: u32,
    pub memory_mib: u64,
    /// Directory of the host's `default` storage pool; disk images of its
    /// domains must lie under it.
    pub pool_dir: PathBuf,
    pub domains: Vec<TestDomain>,
}

impl TestHostSpec {
    pub fn new(name: &str, cpus: u32, memory_mib: u64, pool_dir: impl Into<PathBuf>) -> Self {
        TestHostSpec {
            name: name.into(),
            cpus,
            memory_mib,
            pool_dir: pool_dir.into(),
            domains: Vec::new(),
        }
    }

    /// Adds a domain that starts in `state`.
    pub fn with_domain(mut self, spec: DomainSpec, state: DomainState) -> Self {
        self.domains.push(TestDomain { spec, state });
        self
    }

    /// Adds `count` running sample VMs, `<name>-vm1`…: 1 vCPU, 512 MiB, a
    /// disk in the pool and a NIC on `default`.
    pub fn with_sample_vms(mut self, count: u32) -> Self {
        for i in 1..=count {
            let spec = self.sample_vm(&format!("{}-vm{i}", self.name), i);
            self.domains.push(TestDomain {
                spec,
                state: DomainState::Running,
            });
        }
        self
    }

    /// A sample VM named `name` with its disk in this host's pool.
    pub fn sample_vm(&self, name: &str, index: u32) -> DomainSpec {
        let mut spec = DomainSpec::new(name, 1, 512);
        spec.disks.push(DiskSpec {
            source: Some(
                self.pool_dir
                    .join(format!("{name}.img"))
                    .display()
                    .to_string(),
            ),
            target: "vda".into(),
            bus: DiskBus::Virtio,
            device: DiskDevice::Disk,
            format: Some("raw".into()),
            readonly: false,
            capacity_bytes: Some(10 << 30),
        });
        spec.nics.push(NicSpec {
            mac: Some(format!(
                "52:54:00:{:02x}:{:02x}:{:02x}",
                name_byte(&self.name),
                index / 256 % 256,
                index % 256
            )),
            source: NicSource::Network("default".into()),
            model: Some("virtio".into()),
        });
        spec
    }
}

/// A byte that differs between hosts, so sample MACs do not collide.
fn name_byte(s: &str) -> u8 {
    s.bytes().fold(0x5au8, |h, b| h.rotate_left(3) ^ b)
}

/// The libvirt URI of the host file at `path` (made absolute).
pub fn host_uri(path: &Path) -> String {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    format!("test://{}", abs.display())
}

/// libvirt's number for a domain state, as `<test:runstate>` wants it.
pub(crate) fn runstate(state: DomainState) -> u32 {
    match state {
        DomainState::NoState => 0,
        DomainState::Running => 1,
        DomainState::Blocked => 2,
        DomainState::Paused => 3,
        DomainState::ShuttingDown => 4,
        DomainState::Shutoff => 5,
        DomainState::Crashed => 6,
        DomainState::PmSuspended => 7,
    }
}

/// `domain_xml` with test-driver elements (`<test:runstate>`, …) added
/// before its closing tag.
pub(crate) fn with_test_elements(domain_xml: &str, extra: &str) -> String {
    match domain_xml.rfind("</domain>") {
        Some(i) => format!("{}{extra}\n{}", &domain_xml[..i], &domain_xml[i..]),
        None => domain_xml.to_string(),
    }
}

/// One volume of the pool: name, capacity and allocation in bytes.
pub(crate) struct Volume {
    pub name: String,
    pub capacity: u64,
    pub allocation: u64,
    pub format: Option<String>,
}

/// Writes the `<node>` document of a host. Parts are already rendered:
/// networks and domains as XML, the pool as name/path/volumes.
pub(crate) fn node_xml(
    name: &str,
    cpus: u32,
    memory_kib: u64,
    mhz: u32,
    networks: &[String],
    pool: Option<(&str, &str, u64, &[Volume])>,
    domains: &[String],
) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "<?xml version='1.0'?>");
    let _ = writeln!(out, "<!-- {NAME_MARK}{} -->", name.replace("--", "- -"));
    let _ = writeln!(out, "<node xmlns:test='{TEST_NS}'>");
    let _ = writeln!(
        out,
        "<cpu><mhz>{mhz}</mhz><model>vine-test</model><active>{cpus}</active><nodes>1</nodes>\
         <sockets>1</sockets><cores>{cpus}</cores><threads>1</threads></cpu>"
    );
    let _ = writeln!(out, "<memory>{memory_kib}</memory>");
    for n in networks {
        let _ = writeln!(out, "{n}");
    }
    if let Some((pname, path, capacity, vols)) = pool {
        let _ = writeln!(out, "<pool type='dir'>\n<name>{}</name>", escape(pname));
        let _ = writeln!(out, "<capacity unit='bytes'>{capacity}</capacity>");
        let _ = writeln!(out, "<target><path>{}</path></target>", escape(path));
        for v in vols {
            let _ = write!(
                out,
                "<volume type='file'><name>{}</name><capacity unit='bytes'>{}</capacity>\
                 <allocation unit='bytes'>{}</allocation>",
                escape(&v.name),
                v.capacity,
                v.allocation
            );
            if let Some(f) = &v.format {
                let _ = write!(out, "<target><format type='{}'/></target>", escape(f));
            }
            let _ = writeln!(out, "</volume>");
        }
        let _ = writeln!(out, "</pool>");
    }
    for d in domains {
        let _ = writeln!(out, "{d}");
    }
    let _ = writeln!(out, "</node>");
    out
}

/// The `default` NAT network every generated host has.
pub(crate) fn default_network() -> String {
    "<network><name>default</name><bridge name='virbr0'/><forward mode='nat'/>\
     <ip address='192.168.122.1' netmask='255.255.255.0'><dhcp>\
     <range start='192.168.122.2' end='192.168.122.254'/></dhcp></ip></network>"
        .to_string()
}

/// Writes the host file for `spec` at `path` (and creates the pool
/// directory, so images can be put there).
pub fn write_host_file(path: &Path, spec: &TestHostSpec) -> std::io::Result<()> {
    std::fs::create_dir_all(&spec.pool_dir)?;
    let pool_dir = spec.pool_dir.display().to_string();
    let mut vols: Vec<Volume> = Vec::new();
    for d in &spec.domains {
        for disk in &d.spec.disks {
            let Some(src) = &disk.source else { continue };
            let p = Path::new(src);
            if p.parent() != Some(spec.pool_dir.as_path()) {
                continue;
            }
            if let Some(file) = p.file_name() {
                vols.push(Volume {
                    name: file.to_string_lossy().into_owned(),
                    capacity: disk.capacity_bytes.unwrap_or(10 << 30),
                    allocation: 1 << 30,
                    format: disk.format.clone(),
                });
            }
        }
    }
    // Spare images for new domains.
    for spare in ["spare-1.img", "spare-2.img"] {
        vols.push(Volume {
            name: spare.into(),
            capacity: 10 << 30,
            allocation: 0,
            format: Some("raw".into()),
        });
    }
    let domains: Vec<String> = spec
        .domains
        .iter()
        .map(|d| {
            let xml = render(DriverKind::Test, &d.spec, None);
            with_test_elements(
                &xml,
                &format!("  <test:runstate>{}</test:runstate>", runstate(d.state)),
            )
        })
        .collect();
    let xml = node_xml(
        &spec.name,
        spec.cpus,
        spec.memory_mib * 1024,
        2400,
        &[default_network()],
        Some(("default", &pool_dir, 1 << 40, &vols)),
        &domains,
    );
    write_atomically(path, &xml)
}

/// Writes via a temporary file and a rename, so a crash never leaves a
/// half-written host file behind.
pub(crate) fn write_atomically(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}
