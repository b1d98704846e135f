//! [`DomainSpec`] → libvirt domain XML, per driver. Pure functions: the
//! hypervisor picks the domain type and emulator, this module only writes.
//! The reverse direction is [`parse`](super::xml_parse::parse).

use crate::types::{
    BootDevice, DiskBus, DiskDevice, DiskSpec, DomainSpec, DriverKind, NicSource, NicSpec, OsKind,
};

/// Xen's HVM firmware, where Debian's xen packages put it.
const XEN_HVM_LOADER: &str = "/usr/lib/xen/boot/hvmloader";

/// Renders `spec` as domain XML for `driver`. QEMU guests get domain type
/// `kvm`; use [`render_typed`] to pick `qemu` (TCG) instead.
pub fn render(driver: DriverKind, spec: &DomainSpec, emulator: Option<&str>) -> String {
    render_typed(driver, default_domain_type(driver), spec, emulator)
}

/// The libvirt domain type a driver's guests get unless told otherwise.
pub fn default_domain_type(driver: DriverKind) -> &'static str {
    match driver {
        DriverKind::Qemu => "kvm",
        DriverKind::Xen => "xen",
        DriverKind::Lxc => "lxc",
        DriverKind::Test => "test",
    }
}

/// Renders `spec` with an explicit libvirt domain type (`kvm` or `qemu`
/// for the QEMU driver).
pub fn render_typed(
    driver: DriverKind,
    domain_type: &str,
    spec: &DomainSpec,
    emulator: Option<&str>,
) -> String {
    let mut x = Xml::default();
    x.open("domain", &[("type", domain_type)]);
    x.leaf("name", &[], &spec.name);
    if let Some(uuid) = &spec.uuid {
        x.leaf("uuid", &[], uuid);
    }
    if let Some(d) = &spec.description {
        x.leaf("description", &[], d);
    }
    x.leaf(
        "memory",
        &[("unit", "KiB")],
        &spec.max_memory_kib.to_string(),
    );
    x.leaf(
        "currentMemory",
        &[("unit", "KiB")],
        &spec.memory_kib.to_string(),
    );
    x.leaf(
        "vcpu",
        &[
            ("placement", "static"),
            ("current", &spec.vcpus.to_string()),
        ],
        &spec.max_vcpus.to_string(),
    );
    if let OsKind::XenPv {
        bootloader: Some(b),
        ..
    } = &spec.os
    {
        x.leaf("bootloader", &[], b);
    }
    render_os(&mut x, driver, &spec.os);
    if matches!(spec.os, OsKind::Hvm { .. }) && driver != DriverKind::Test {
        x.open("features", &[]);
        x.empty("acpi", &[]);
        x.empty("apic", &[]);
        x.close("features");
    }
    x.leaf("on_poweroff", &[], "destroy");
    x.leaf("on_reboot", &[], "restart");
    x.leaf("on_crash", &[], "destroy");
    x.open("devices", &[]);
    if let Some(e) = emulator {
        x.leaf("emulator", &[], e);
    }
    for d in &spec.disks {
        write_disk(&mut x, driver, d);
    }
    for n in &spec.nics {
        write_nic(&mut x, n);
    }
    if driver == DriverKind::Lxc {
        // An LXC guest needs a console to be started at all.
        x.empty("console", &[("type", "pty")]);
    }
    if spec.graphics {
        x.empty(
            "graphics",
            &[("type", "vnc"), ("port", "-1"), ("autoport", "yes")],
        );
    }
    x.close("devices");
    x.close("domain");
    x.out
}

fn render_os(x: &mut Xml, driver: DriverKind, os: &OsKind) {
    x.open("os", &[]);
    match os {
        OsKind::Hvm { boot } => {
            x.leaf("type", &[], "hvm");
            if driver == DriverKind::Xen {
                x.leaf("loader", &[], XEN_HVM_LOADER);
            }
            for b in boot {
                x.empty("boot", &[("dev", boot_name(*b))]);
            }
        }
        OsKind::XenPv {
            kernel,
            initrd,
            cmdline,
            bootloader: _,
        } => {
            x.leaf("type", &[], "xen");
            if let Some(k) = kernel {
                x.leaf("kernel", &[], k);
            }
            if let Some(i) = initrd {
                x.leaf("initrd", &[], i);
            }
            if let Some(c) = cmdline {
                x.leaf("cmdline", &[], c);
            }
        }
        OsKind::Container { init } => {
            x.leaf("type", &[], "exe");
            x.leaf("init", &[], init);
        }
    }
    x.close("os");
}

/// The `<disk>` element for `disk`, for attach/detach.
pub fn render_disk(driver: DriverKind, disk: &DiskSpec) -> String {
    let mut x = Xml::default();
    write_disk(&mut x, driver, disk);
    x.out
}

/// The `<interface>` element for `nic`, for attach/detach.
pub fn render_nic(nic: &NicSpec) -> String {
    let mut x = Xml::default();
    write_nic(&mut x, nic);
    x.out
}

fn write_disk(x: &mut Xml, driver: DriverKind, d: &DiskSpec) {
    let device = match d.device {
        DiskDevice::Disk => "disk",
        DiskDevice::Cdrom => "cdrom",
    };
    let kind = match &d.source {
        Some(s) if s.starts_with("/dev/") => "block",
        _ => "file",
    };
    x.open("disk", &[("type", kind), ("device", device)]);
    if let Some(fmt) = &d.format {
        // LXC has no disk driver to name; Xen and QEMU use qemu's
        // block layer for image formats.
        if driver == DriverKind::Lxc {
            x.empty("driver", &[("type", fmt)]);
        } else {
            x.empty("driver", &[("name", "qemu"), ("type", fmt)]);
        }
    }
    if let Some(s) = &d.source {
        let attr = if kind == "block" { "dev" } else { "file" };
        x.empty("source", &[(attr, s)]);
    }
    x.empty("target", &[("dev", &d.target), ("bus", bus_name(d.bus))]);
    if d.readonly {
        x.empty("readonly", &[]);
    }
    x.close("disk");
}

fn write_nic(x: &mut Xml, n: &NicSpec) {
    let (kind, attr, value) = match &n.source {
        NicSource::Network(net) => ("network", "network", net),
        NicSource::Bridge(br) => ("bridge", "bridge", br),
    };
    x.open("interface", &[("type", kind)]);
    if let Some(mac) = &n.mac {
        x.empty("mac", &[("address", mac)]);
    }
    x.empty("source", &[(attr, value)]);
    if let Some(m) = &n.model {
        x.empty("model", &[("type", m)]);
    }
    x.close("interface");
}

pub(crate) fn bus_name(bus: DiskBus) -> &'static str {
    match bus {
        DiskBus::Virtio => "virtio",
        DiskBus::Ide => "ide",
        DiskBus::Scsi => "scsi",
        DiskBus::Sata => "sata",
        DiskBus::Xen => "xen",
    }
}

pub(crate) fn boot_name(b: BootDevice) -> &'static str {
    match b {
        BootDevice::Hd => "hd",
        BootDevice::Cdrom => "cdrom",
        BootDevice::Network => "network",
    }
}

/// Escapes text or an attribute value. Characters XML 1.0 cannot carry
/// at all (most C0 controls) become U+FFFD so the document stays
/// well-formed; `define` refuses such names before they get here.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Keep line breaks and tabs as references: attribute values
            // would otherwise be normalised to spaces by XML parsers.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// An indenting XML writer for the few shapes libvirt XML needs.
#[derive(Default)]
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("='");
            self.out.push_str(&escape(v));
            self.out.push('\'');
        }
    }

    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.tag(name, attrs);
        self.out.push_str("/>\n");
    }

    fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.tag(name, attrs);
        self.out.push('>');
        self.out.push_str(&escape(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }
}
