//! Defining domains: checks that a spec fits this host, with messages
//! that say what to change, then libvirt's define.

use std::path::{Component, Path, PathBuf};

use super::{domains, host, xml, LibvirtHypervisor};
use crate::error::{HvError, HvResult};
use crate::types::{Capabilities, DiskSpec, DomainInfo, DomainSpec, DriverKind, NicSource, OsKind};
use crate::Hypervisor;

/// The XML this host would define for `spec`.
pub(crate) fn render(hv: &LibvirtHypervisor, spec: &DomainSpec) -> HvResult<String> {
    let caps = host::capabilities(hv)?;
    Ok(render_with(hv.kind(), &caps, spec))
}

fn render_with(driver: DriverKind, caps: &Capabilities, spec: &DomainSpec) -> String {
    let domain_type = match driver {
        // KVM only where the host offers it (caps list it and the device
        // exists); otherwise QEMU emulates.
        DriverKind::Qemu => {
            let kvm = caps
                .guest_types
                .iter()
                .any(|g| g.os_type == "hvm" && g.domain_types.iter().any(|t| t == "kvm"));
            if kvm && Path::new("/dev/kvm").exists() {
                "kvm"
            } else {
                "qemu"
            }
        }
        other => xml::default_domain_type(other),
    };
    xml::render_typed(driver, domain_type, spec, None)
}

pub(crate) fn define(hv: &LibvirtHypervisor, spec: &DomainSpec) -> HvResult<DomainInfo> {
    let caps = host::capabilities(hv)?;
    let host = hv.host_info()?;
    check(hv, spec, &caps, host.memory_kib)?;
    let xml = render_with(hv.kind(), &caps, spec);
    define_xml(hv, &xml)
}

pub(crate) fn define_xml(hv: &LibvirtHypervisor, xml: &str) -> HvResult<DomainInfo> {
    let conn = hv.conn()?;
    let name = super::xml_parse::parse(xml)
        .map(|s| s.name)
        .unwrap_or_default();
    let dom = conn
        .define_domain_xml_flags(xml, 0)
        .map_err(|e| hv.dom_err(e, "define", &name))?;
    let name = dom.name().map_err(|e| hv.dom_err(e, "define", &name))?;
    tracing::info!(uri = hv.uri(), domain = %name, "domain defined");
    domains::info(hv, &dom, &name)
}

fn invalid(msg: String) -> HvError {
    HvError::InvalidSpec(msg)
}

/// Everything `define` refuses before asking libvirt.
fn check(
    hv: &LibvirtHypervisor,
    spec: &DomainSpec,
    caps: &Capabilities,
    host_memory_kib: u64,
) -> HvResult<()> {
    check_name(&spec.name)?;
    if hv.conn()?.lookup_domain_by_name(&spec.name).is_ok() {
        return Err(HvError::DomainExists(spec.name.clone()));
    }
    check_sizes(spec, caps.max_vcpus, host_memory_kib)?;
    check_os(hv.kind(), spec, caps)?;
    check_disks(spec, caps)?;
    for n in &spec.nics {
        if let NicSource::Network(net) = &n.source {
            if !caps.networks.iter().any(|x| &x.name == net) {
                let have: Vec<&str> = caps.networks.iter().map(|x| x.name.as_str()).collect();
                return Err(invalid(format!(
                    "network {net:?} does not exist on this host; use one of: {}",
                    list_or_none(&have)
                )));
            }
        }
    }
    Ok(())
}

pub(crate) fn check_name(name: &str) -> HvResult<()> {
    if name.trim().is_empty() {
        return Err(invalid("the name is empty; give the domain a name".into()));
    }
    if name.contains('/') {
        return Err(invalid(format!(
            "the name {name:?} contains '/'; remove it"
        )));
    }
    if name.chars().any(|c| c.is_control() || !xml::is_xml_char(c)) {
        return Err(invalid(format!(
            "the name {name:?} contains control characters; remove them"
        )));
    }
    Ok(())
}

pub(crate) fn check_sizes(spec: &DomainSpec, max_vcpus: u32, host_memory_kib: u64) -> HvResult<()> {
    if spec.vcpus == 0 {
        return Err(invalid("vcpus is 0; a domain needs at least 1 vCPU".into()));
    }
    if spec.max_vcpus < spec.vcpus {
        return Err(invalid(format!(
            "max_vcpus ({}) is below vcpus ({}); raise max_vcpus to at least {}",
            spec.max_vcpus, spec.vcpus, spec.vcpus
        )));
    }
    if spec.max_vcpus > max_vcpus {
        return Err(invalid(format!(
            "{} vCPUs requested but this host allows at most {max_vcpus} per domain; lower vcpus/max_vcpus",
            spec.max_vcpus
        )));
    }
    if spec.memory_kib == 0 {
        return Err(invalid("memory is 0; give the domain some memory".into()));
    }
    if spec.max_memory_kib < spec.memory_kib {
        return Err(invalid(format!(
            "max_memory ({} KiB) is below memory ({} KiB); raise max_memory to at least {}",
            spec.max_memory_kib, spec.memory_kib, spec.memory_kib
        )));
    }
    if spec.max_memory_kib > host_memory_kib {
        return Err(invalid(format!(
            "{} KiB of memory requested but this host has {host_memory_kib} KiB; lower memory/max_memory",
            spec.max_memory_kib
        )));
    }
    Ok(())
}

fn check_os(driver: DriverKind, spec: &DomainSpec, caps: &Capabilities) -> HvResult<()> {
    let wanted = match &spec.os {
        OsKind::Hvm { .. } => "hvm",
        OsKind::XenPv { .. } => "xen",
        OsKind::Container { .. } => "exe",
    };
    if caps.guest_types.iter().any(|g| g.os_type == wanted) {
        return Ok(());
    }
    let have: Vec<&str> = caps
        .guest_types
        .iter()
        .map(|g| g.os_type.as_str())
        .collect();
    Err(invalid(format!(
        "the {} driver cannot run {wanted} guests; this host offers: {}",
        driver.as_str(),
        list_or_none(&have)
    )))
}

/// Every disk image of `spec` must lie inside one of the host's pools.
pub(crate) fn check_disks(spec: &DomainSpec, caps: &Capabilities) -> HvResult<()> {
    spec.disks.iter().try_for_each(|d| check_disk(d, caps))
}

fn check_disk(d: &DiskSpec, caps: &Capabilities) -> HvResult<()> {
    let Some(src) = &d.source else {
        return Ok(());
    };
    let Some(path) = normalize(Path::new(src)) else {
        return Err(invalid(format!(
            "disk {}: source {src:?} must be an absolute path without '..'",
            d.target
        )));
    };
    let dirs: Vec<(&str, &str)> = caps
        .storage_pools
        .iter()
        .filter_map(|p| Some((p.name.as_str(), p.path.as_deref()?)))
        .collect();
    let inside = dirs.iter().any(|(_, dir)| {
        normalize(Path::new(dir)).is_some_and(|dir| path.starts_with(&dir) && path != dir)
    });
    if inside {
        return Ok(());
    }
    let allowed: Vec<String> = dirs
        .iter()
        .map(|(pool, dir)| format!("{dir} (pool {pool})"))
        .collect();
    let allowed: Vec<&str> = allowed.iter().map(String::as_str).collect();
    Err(invalid(format!(
        "disk {}: {src} is outside this host's storage pools; put the image under one of: {}",
        d.target,
        list_or_none(&allowed)
    )))
}

/// `path` with `.` removed, or `None` when relative or climbing with `..`
/// (which could leave a pool while looking inside it).
fn normalize(path: &Path) -> Option<PathBuf> {
    if !path.is_absolute() {
        return None;
    }
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::Normal(_) => out.push(c),
            Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "(none)".into()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{DiskBus, DiskDevice, StoragePoolInfo};

    fn caps_with_pool(dir: &str) -> Capabilities {
        Capabilities {
            guest_types: vec![],
            max_vcpus: 8,
            storage_pools: vec![StoragePoolInfo {
                name: "default".into(),
                path: Some(dir.into()),
                capacity_bytes: 0,
                allocation_bytes: 0,
                available_bytes: 0,
                active: true,
            }],
            networks: vec![],
        }
    }

    fn disk(src: &str) -> DiskSpec {
        DiskSpec {
            source: Some(src.into()),
            target: "vda".into(),
            bus: DiskBus::Virtio,
            device: DiskDevice::Disk,
            format: None,
            readonly: false,
            capacity_bytes: None,
        }
    }

    #[test]
    fn disks_must_stay_inside_a_pool_directory() {
        let caps = caps_with_pool("/var/lib/vine/pool");
        assert!(check_disk(&disk("/var/lib/vine/pool/a.img"), &caps).is_ok());
        assert!(check_disk(&disk("/var/lib/vine/pool/./sub/a.img"), &caps).is_ok());
        for bad in [
            "/var/lib/vine/pool/../../etc/shadow",
            "/var/lib/vine/poolx/a.img",
            "/var/lib/vine/pool",
            "relative.img",
            "/etc/passwd",
        ] {
            let e = check_disk(&disk(bad), &caps).unwrap_err().to_string();
            assert!(e.contains("vda"), "{e}");
        }
        let e = check_disk(&disk("/etc/passwd"), &caps)
            .unwrap_err()
            .to_string();
        assert!(e.contains("/var/lib/vine/pool (pool default)"), "{e}");
    }

    #[test]
    fn sizes_are_checked_with_advice() {
        let mut s = DomainSpec::new("a", 2, 512);
        assert!(check_sizes(&s, 8, 1 << 20).is_ok());
        s.vcpus = 0;
        assert!(check_sizes(&s, 8, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("at least 1"));
        s.vcpus = 4;
        assert!(check_sizes(&s, 8, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("max_vcpus"));
        s.max_vcpus = 16;
        assert!(check_sizes(&s, 8, 1 << 20)
            .unwrap_err()
            .to_string()
            .contains("at most 8"));
        let s = DomainSpec::new("a", 1, 4096);
        assert!(check_sizes(&s, 8, 1024 * 1024)
            .unwrap_err()
            .to_string()
            .contains("this host has 1048576 KiB"));
    }

    #[test]
    fn hostile_names_are_refused_before_libvirt_sees_them() {
        assert!(check_name("web-01").is_ok());
        assert!(check_name("a<b&'\"c").is_ok(), "escaped, not refused");
        assert!(check_name("").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("a\u{7}b").is_err());
    }
}
