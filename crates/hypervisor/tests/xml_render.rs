//! Domain XML: render → parse round trips, hostile text, and libvirt's
//! own schema check (virt-xml-validate from Debian's libvirt-clients).

use std::process::Command;

use proptest::prelude::*;
use vine_hypervisor::libvirt::{xml, xml_parse};
use vine_hypervisor::*;

fn disk(source: &str, target: &str, bus: DiskBus) -> DiskSpec {
    DiskSpec {
        source: Some(source.into()),
        target: target.into(),
        bus,
        device: DiskDevice::Disk,
        format: Some("qcow2".into()),
        readonly: false,
        capacity_bytes: None,
    }
}

fn nic(model: &str) -> NicSpec {
    NicSpec {
        mac: Some("52:54:00:12:34:56".into()),
        source: NicSource::Network("default".into()),
        model: Some(model.into()),
    }
}

fn kvm_guest() -> DomainSpec {
    let mut s = DomainSpec::new("kvm-guest", 2, 1024);
    s.max_vcpus = 4;
    s.uuid = Some("0f3a8c3e-4a7b-4f59-9d4a-3a1c2b9e8f10".into());
    s.description = Some("a <web> server & \"friends\"".into());
    s.os = OsKind::Hvm {
        boot: vec![BootDevice::Cdrom, BootDevice::Hd],
    };
    s.disks.push(disk(
        "/var/lib/libvirt/images/kvm.qcow2",
        "vda",
        DiskBus::Virtio,
    ));
    s.disks.push(DiskSpec {
        source: None,
        target: "hdc".into(),
        bus: DiskBus::Ide,
        device: DiskDevice::Cdrom,
        format: None,
        readonly: true,
        capacity_bytes: None,
    });
    s.nics.push(nic("virtio"));
    s.nics.push(NicSpec {
        mac: None,
        source: NicSource::Bridge("br0".into()),
        model: None,
    });
    s.graphics = true;
    s
}

fn xen_pv(bootloader: bool) -> DomainSpec {
    let mut s = DomainSpec::new("xen-pv", 1, 512);
    s.os = if bootloader {
        OsKind::XenPv {
            kernel: None,
            initrd: None,
            cmdline: None,
            bootloader: Some("/usr/bin/pygrub".into()),
        }
    } else {
        OsKind::XenPv {
            kernel: Some("/boot/vmlinuz-6.1".into()),
            initrd: Some("/boot/initrd.img-6.1".into()),
            cmdline: Some("root=/dev/xvda1 ro console=hvc0".into()),
            bootloader: None,
        }
    };
    s.disks
        .push(disk("/var/lib/xen/images/pv.img", "xvda", DiskBus::Xen));
    s.nics.push(NicSpec {
        mac: Some("00:16:3e:00:00:01".into()),
        source: NicSource::Bridge("xenbr0".into()),
        model: None,
    });
    s
}

fn xen_hvm() -> DomainSpec {
    let mut s = DomainSpec::new("xen-hvm", 2, 2048);
    s.disks
        .push(disk("/var/lib/xen/images/hvm.img", "hda", DiskBus::Ide));
    s.nics.push(nic("e1000"));
    s.graphics = true;
    s
}

fn lxc() -> DomainSpec {
    let mut s = DomainSpec::new("lxc-box", 1, 256);
    s.os = OsKind::Container {
        init: "/sbin/init".into(),
    };
    s.nics.push(NicSpec {
        mac: None,
        source: NicSource::Network("default".into()),
        model: None,
    });
    s
}

fn validate(name: &str, doc: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.xml"));
    std::fs::write(&file, doc).unwrap();
    let out = match Command::new("virt-xml-validate")
        .arg(&file)
        .arg("domain")
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "virt-xml-validate cannot run ({e}); install it with ./deploy/setup.sh \
             (Debian package libvirt-clients)"
        ),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("not found"),
        "virt-xml-validate lacks a helper ({stderr}); run ./deploy/setup.sh (libxml2-utils)"
    );
    assert!(
        out.status.success(),
        "libvirt's schema rejects the {name} XML:\n{}{}\n{doc}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn rendered_domains_pass_libvirts_schema() {
    validate(
        "kvm",
        &xml::render(
            DriverKind::Qemu,
            &kvm_guest(),
            Some("/usr/bin/qemu-system-x86_64"),
        ),
    );
    validate(
        "qemu-tcg",
        &xml::render_typed(DriverKind::Qemu, "qemu", &kvm_guest(), None),
    );
    validate(
        "xen-pv-kernel",
        &xml::render(DriverKind::Xen, &xen_pv(false), None),
    );
    validate(
        "xen-pv-pygrub",
        &xml::render(DriverKind::Xen, &xen_pv(true), None),
    );
    validate("xen-hvm", &xml::render(DriverKind::Xen, &xen_hvm(), None));
    validate("lxc", &xml::render(DriverKind::Lxc, &lxc(), None));
    validate("test", &xml::render(DriverKind::Test, &kvm_guest(), None));
}

#[test]
fn each_driver_gets_its_domain_and_os_type() {
    let x = xml::render(DriverKind::Xen, &xen_pv(false), None);
    assert!(x.starts_with("<domain type='xen'>"), "{x}");
    assert!(
        x.contains("<type>xen</type>") && x.contains("<kernel>/boot/vmlinuz-6.1</kernel>"),
        "{x}"
    );
    let x = xml::render(DriverKind::Xen, &xen_pv(true), None);
    assert!(
        x.contains("<bootloader>/usr/bin/pygrub</bootloader>"),
        "{x}"
    );
    let x = xml::render(DriverKind::Xen, &xen_hvm(), None);
    assert!(
        x.contains("<type>hvm</type>") && x.contains("<loader>"),
        "{x}"
    );
    let x = xml::render(DriverKind::Lxc, &lxc(), None);
    assert!(
        x.contains("<type>exe</type>") && x.contains("<init>/sbin/init</init>"),
        "{x}"
    );
    let x = xml::render(DriverKind::Qemu, &kvm_guest(), None);
    assert!(x.starts_with("<domain type='kvm'>"), "{x}");
}

#[test]
fn hostile_text_is_escaped_and_reads_back_unchanged() {
    for name in [
        "</name><devices/>",
        "a&b",
        "'\"",
        "]]>",
        "x\ny\tz",
        "<!-- -->",
        "&amp;",
        "ünïcødé ✓",
    ] {
        let mut s = DomainSpec::new(name, 1, 128);
        s.description = Some(format!("{name}<script>"));
        s.disks
            .push(disk(&format!("/pool/{name}.img"), "vda", DiskBus::Virtio));
        let doc = xml::render(DriverKind::Qemu, &s, None);
        assert_eq!(doc.matches("<name>").count(), 1, "{doc}");
        assert!(!doc.contains("<script>"), "{doc}");
        assert_eq!(xml_parse::parse(&doc).unwrap(), s, "{doc}");
    }
}

#[test]
fn parse_refuses_vcpu_counts_it_cannot_hold() {
    // Seen while fuzzing (libvirt_domain_xml): 4294967297 vCPUs used to
    // wrap to 1.
    let doc = |vcpu: &str| {
        format!("<domain><name>x</name><memory>1024</memory><vcpu {vcpu}</vcpu><os/></domain>")
    };
    let e = xml_parse::parse(&doc(">4294967297")).unwrap_err();
    assert!(e.to_string().contains("vcpu is out of range"), "{e}");
    let e = xml_parse::parse(&doc("current='4294967298'>2")).unwrap_err();
    assert!(
        e.to_string().contains("vcpu current is out of range"),
        "{e}"
    );
    let s = xml_parse::parse(&doc("current='2'>4294967295")).unwrap();
    assert_eq!((s.vcpus, s.max_vcpus), (2, u32::MAX));
}

#[test]
fn parse_accepts_what_libvirt_adds_and_units() {
    let doc = "<domain type='kvm' id='3'><name>x</name><uuid>u</uuid>\
        <memory unit='GiB'>2</memory><currentMemory unit='MiB'>1024</currentMemory>\
        <vcpu placement='static' current='1'>2</vcpu><os><type arch='x86_64' machine='pc'>hvm</type><boot dev='network'/></os>\
        <devices><emulator>/usr/bin/qemu</emulator><disk type='file' device='floppy'><target dev='fda'/></disk>\
        <disk type='file' device='disk'><source file='/p/a.img'/><target dev='sda'/><alias name='x'/></disk>\
        <interface type='user'/><interface type='bridge'><source bridge='br1'/><target dev='vnet3'/></interface>\
        <controller type='usb'/></devices></domain>";
    let s = xml_parse::parse(doc).unwrap();
    assert_eq!(
        (s.memory_kib, s.max_memory_kib),
        (1024 * 1024, 2 * 1024 * 1024)
    );
    assert_eq!((s.vcpus, s.max_vcpus), (1, 2));
    assert_eq!(
        s.os,
        OsKind::Hvm {
            boot: vec![BootDevice::Network]
        }
    );
    assert_eq!(s.disks.len(), 1, "floppies are not modelled");
    assert_eq!(s.disks[0].bus, DiskBus::Scsi);
    assert_eq!(
        s.nics,
        vec![NicSpec {
            mac: None,
            source: NicSource::Bridge("br1".into()),
            model: None
        }]
    );
    assert!(
        xml_parse::parse("<domain><name>x</name></domain>").is_err(),
        "no memory"
    );
    assert!(xml_parse::parse("<network/>").is_err());
}

fn text() -> impl Strategy<Value = String> {
    // Any XML character except leading/trailing whitespace games:
    // libvirt XML carries exactly these.
    "[a-zA-Z0-9 <>&'\"\\]\\[!?/=;:#\u{e9}\u{4e2d}-]{1,24}"
}

fn path() -> impl Strategy<Value = String> {
    "[a-z0-9<>&'\"_.-]{1,12}".prop_map(|s| format!("/pool/{s}"))
}

fn disk_spec() -> impl Strategy<Value = DiskSpec> {
    (
        proptest::option::of(path()),
        "[a-z]{1,3}[a-z0-9]{0,3}",
        prop_oneof![
            Just(DiskBus::Virtio),
            Just(DiskBus::Ide),
            Just(DiskBus::Scsi),
            Just(DiskBus::Sata),
            Just(DiskBus::Xen)
        ],
        prop_oneof![Just(DiskDevice::Disk), Just(DiskDevice::Cdrom)],
        proptest::option::of(prop_oneof![
            Just("raw".to_string()),
            Just("qcow2".to_string())
        ]),
        any::<bool>(),
    )
        .prop_map(|(source, target, bus, device, format, readonly)| DiskSpec {
            source,
            target,
            bus,
            device,
            format,
            readonly,
            capacity_bytes: None,
        })
}

fn nic_spec() -> impl Strategy<Value = NicSpec> {
    (
        proptest::option::of("52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}"),
        prop_oneof![
            text().prop_map(NicSource::Network),
            text().prop_map(NicSource::Bridge)
        ],
        proptest::option::of(prop_oneof![
            Just("virtio".to_string()),
            Just("e1000".to_string())
        ]),
    )
        .prop_map(|(mac, source, model)| NicSpec { mac, source, model })
}

fn os() -> impl Strategy<Value = OsKind> {
    prop_oneof![
        proptest::collection::vec(
            prop_oneof![
                Just(BootDevice::Hd),
                Just(BootDevice::Cdrom),
                Just(BootDevice::Network)
            ],
            0..3
        )
        .prop_map(|boot| OsKind::Hvm { boot }),
        (
            proptest::option::of(path()),
            proptest::option::of(path()),
            proptest::option::of(text()),
            proptest::option::of(path())
        )
            .prop_map(|(kernel, initrd, cmdline, bootloader)| OsKind::XenPv {
                kernel,
                initrd,
                cmdline,
                bootloader
            }),
        path().prop_map(|init| OsKind::Container { init }),
    ]
}

fn spec() -> impl Strategy<Value = DomainSpec> {
    (
        text(),
        proptest::option::of("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
        os(),
        (1u32..64, 0u32..64),
        (1u64..1 << 30, 0u64..1 << 20),
        proptest::collection::vec(disk_spec(), 0..4),
        proptest::collection::vec(nic_spec(), 0..3),
        any::<bool>(),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                name,
                uuid,
                os,
                (vcpus, extra_vcpus),
                (mem, extra_mem),
                disks,
                nics,
                graphics,
                description,
            )| {
                DomainSpec {
                    name,
                    uuid,
                    os,
                    vcpus,
                    max_vcpus: vcpus + extra_vcpus,
                    memory_kib: mem,
                    max_memory_kib: mem + extra_mem,
                    disks,
                    nics,
                    graphics,
                    description,
                }
            },
        )
}

proptest! {
    #[test]
    fn render_then_parse_gives_the_spec_back(
        s in spec(),
        driver in prop_oneof![Just(DriverKind::Qemu), Just(DriverKind::Xen), Just(DriverKind::Lxc), Just(DriverKind::Test)],
    ) {
        let doc = xml::render(driver, &s, None);
        prop_assert_eq!(xml_parse::parse(&doc).unwrap(), s, "{}", doc);
    }
}
