//! libvirt domain XML → [`DomainSpec`]: the inverse of
//! [`render`](super::xml::render), tolerant of everything libvirt adds
//! (ids, aliases, addresses, devices vine does not model).

use super::xmltree::{self, Element};
use crate::types::{
    BootDevice, DiskBus, DiskDevice, DiskSpec, DomainSpec, NicSource, NicSpec, OsKind,
};

/// Why domain XML could not be read as a [`DomainSpec`].
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error(transparent)]
    Xml(#[from] xmltree::XmlError),
    #[error("not a domain definition: {0}")]
    Shape(String),
}

/// The libvirt domain type (`kvm`, `qemu`, `xen`, `lxc`, `test`) of a
/// domain document.
pub fn domain_type(xml: &str) -> Result<String, ParseError> {
    let root = xmltree::parse(xml)?;
    Ok(root.attr("type").unwrap_or_default().to_string())
}

/// Reads a domain definition.
pub fn parse(xml: &str) -> Result<DomainSpec, ParseError> {
    let root = xmltree::parse(xml)?;
    from_element(&root)
}

/// Reads a domain definition from an already parsed `<domain>` element.
pub fn from_element(root: &Element) -> Result<DomainSpec, ParseError> {
    if root.name != "domain" {
        return Err(ParseError::Shape(format!(
            "root element is <{}>",
            root.name
        )));
    }
    let name = root
        .child("name")
        .map(|n| n.text.clone())
        .ok_or_else(|| ParseError::Shape("no <name>".into()))?;
    let max_memory_kib = match root.child("memory") {
        Some(m) => kib(m)?,
        None => return Err(ParseError::Shape("no <memory>".into())),
    };
    let memory_kib = match root.child("currentMemory") {
        Some(m) => kib(m)?,
        None => max_memory_kib,
    };
    let (vcpus, max_vcpus) = match root.child("vcpu") {
        Some(v) => {
            let max = count(v.text.trim(), "vcpu")?;
            let cur = match v.attr("current") {
                Some(c) => count(c, "vcpu current")?,
                None => max,
            };
            (cur, max)
        }
        None => (1, 1),
    };
    let os = parse_os(root)?;
    let devices = root.child("devices");
    let disks = devices
        .map(|d| d.children_named("disk").filter_map(parse_disk).collect())
        .unwrap_or_default();
    let nics = devices
        .map(|d| {
            d.children_named("interface")
                .filter_map(parse_nic)
                .collect()
        })
        .unwrap_or_default();
    let graphics = devices.is_some_and(|d| d.child("graphics").is_some());
    Ok(DomainSpec {
        name,
        uuid: root.text_at("uuid").map(str::to_string),
        os,
        vcpus,
        max_vcpus,
        memory_kib,
        max_memory_kib,
        disks,
        nics,
        graphics,
        description: root.child("description").map(|d| d.text.clone()),
    })
}

fn parse_os(root: &Element) -> Result<OsKind, ParseError> {
    let os = root
        .child("os")
        .ok_or_else(|| ParseError::Shape("no <os>".into()))?;
    let os_type = os.text_at("type").unwrap_or("hvm");
    let text = |n: &str| os.child(n).map(|e| e.text.clone());
    Ok(match os_type {
        "xen" | "linux" | "xenpvh" => OsKind::XenPv {
            kernel: text("kernel"),
            initrd: text("initrd"),
            cmdline: text("cmdline"),
            bootloader: root.child("bootloader").map(|b| b.text.clone()),
        },
        "exe" => OsKind::Container {
            init: text("init").unwrap_or_else(|| "/sbin/init".into()),
        },
        _ => OsKind::Hvm {
            boot: os
                .children_named("boot")
                .filter_map(|b| match b.attr("dev")? {
                    "hd" => Some(BootDevice::Hd),
                    "cdrom" => Some(BootDevice::Cdrom),
                    "network" => Some(BootDevice::Network),
                    _ => None,
                })
                .collect(),
        },
    })
}

/// Reads a `<disk>`; floppies and LUNs are not modelled and are skipped.
pub fn parse_disk(d: &Element) -> Option<DiskSpec> {
    let device = match d.attr("device").unwrap_or("disk") {
        "disk" => DiskDevice::Disk,
        "cdrom" => DiskDevice::Cdrom,
        _ => return None,
    };
    let target_el = d.child("target")?;
    let target = target_el.attr("dev")?.to_string();
    let bus = match target_el.attr("bus") {
        Some(b) => bus_from_name(b)?,
        None => bus_from_target(&target),
    };
    let source = d.child("source").and_then(|s| {
        s.attr("file")
            .or_else(|| s.attr("dev"))
            .or_else(|| s.attr("volume"))
            .map(str::to_string)
    });
    Some(DiskSpec {
        source,
        target,
        bus,
        device,
        format: d
            .child("driver")
            .and_then(|dr| dr.attr("type"))
            .map(str::to_string),
        readonly: d.child("readonly").is_some(),
        capacity_bytes: None,
    })
}

/// Reads an `<interface>` of type network or bridge; others are skipped.
pub fn parse_nic(n: &Element) -> Option<NicSpec> {
    let src = n.child("source");
    let source = match n.attr("type")? {
        "network" => NicSource::Network(src?.attr("network")?.to_string()),
        "bridge" => NicSource::Bridge(src?.attr("bridge")?.to_string()),
        _ => return None,
    };
    Some(NicSpec {
        mac: n
            .child("mac")
            .and_then(|m| m.attr("address"))
            .map(str::to_string),
        source,
        model: n
            .child("model")
            .and_then(|m| m.attr("type"))
            .map(str::to_string),
    })
}

fn bus_from_name(b: &str) -> Option<DiskBus> {
    Some(match b {
        "virtio" => DiskBus::Virtio,
        "ide" => DiskBus::Ide,
        "scsi" => DiskBus::Scsi,
        "sata" => DiskBus::Sata,
        "xen" => DiskBus::Xen,
        _ => return None,
    })
}

/// libvirt's own guess when a target names no bus.
fn bus_from_target(t: &str) -> DiskBus {
    if t.starts_with("xvd") {
        DiskBus::Xen
    } else if t.starts_with("vd") {
        DiskBus::Virtio
    } else if t.starts_with("sd") {
        DiskBus::Scsi
    } else {
        DiskBus::Ide
    }
}

fn number(s: &str, what: &str) -> Result<u64, ParseError> {
    s.trim()
        .parse()
        .map_err(|_| ParseError::Shape(format!("{what} is not a number: {s:?}")))
}

/// A vCPU count; one past `u32` is refused rather than wrapped.
fn count(s: &str, what: &str) -> Result<u32, ParseError> {
    u32::try_from(number(s, what)?)
        .map_err(|_| ParseError::Shape(format!("{what} is out of range: {s:?}")))
}

/// A libvirt scaled integer (`<memory unit='MiB'>512</memory>`) in KiB.
pub fn kib(el: &Element) -> Result<u64, ParseError> {
    let n = number(&el.text, &el.name)?;
    let bytes_per_unit: u64 = match el.attr("unit").unwrap_or("KiB") {
        "b" | "bytes" => 1,
        "KB" => 1_000,
        "k" | "KiB" => 1 << 10,
        "MB" => 1_000_000,
        "M" | "MiB" => 1 << 20,
        "GB" => 1_000_000_000,
        "G" | "GiB" => 1 << 30,
        "TB" => 1_000_000_000_000,
        "T" | "TiB" => 1 << 40,
        u => {
            return Err(ParseError::Shape(format!(
                "unknown unit {u:?} in <{}>",
                el.name
            )))
        }
    };
    Ok(n.saturating_mul(bytes_per_unit) / 1024)
}

/// A scaled integer in bytes (pool and volume sizes).
pub fn bytes(el: &Element) -> Result<u64, ParseError> {
    let unit = el.attr("unit").unwrap_or("bytes");
    if matches!(unit, "b" | "bytes") {
        return number(&el.text, &el.name);
    }
    Ok(kib(el)?.saturating_mul(1024))
}
