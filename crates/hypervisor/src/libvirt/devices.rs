//! Resizing domains and hot-plugging disks and NICs.

use virt::domain::Domain;
use virt::sys;

use super::xmltree;
use super::{define, domains, host, xml, xml_parse, LibvirtHypervisor};
use crate::error::{HvError, HvResult};
use crate::types::{DiskSpec, DriverKind, NicSpec, Scope};

/// libvirt's modification flags for `scope`. `Both` on a shut-off domain
/// means the definition only (there is nothing live to change); `Live`
/// on one is an invalid state.
pub(crate) fn flags(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    name: &str,
    op: &str,
    scope: Scope,
) -> HvResult<u32> {
    let st = domains::state(dom).map_err(|e| hv.dom_err(e, op, name))?;
    let live = sys::VIR_DOMAIN_AFFECT_LIVE;
    let config = sys::VIR_DOMAIN_AFFECT_CONFIG;
    Ok(match (scope, st.is_active()) {
        (Scope::Live, true) => live,
        (Scope::Live, false) => {
            return Err(HvError::InvalidState {
                domain: name.into(),
                op: format!("{op} (live)"),
                state: st.as_str().into(),
            })
        }
        (Scope::Config, _) => config,
        (Scope::Both, true) => live | config,
        (Scope::Both, false) => config,
    })
}

pub(crate) fn set_vcpus(
    hv: &LibvirtHypervisor,
    name: &str,
    vcpus: u32,
    scope: Scope,
) -> HvResult<()> {
    let op = "set vCPUs of";
    let dom = hv.lookup(name, op)?;
    if vcpus == 0 {
        return Err(HvError::InvalidSpec(
            "vcpus is 0; a domain needs at least 1 vCPU".into(),
        ));
    }
    let max = dom
        .vcpus_flags(sys::VIR_DOMAIN_VCPU_MAXIMUM | sys::VIR_DOMAIN_AFFECT_CONFIG)
        .map_err(|e| hv.dom_err(e, op, name))?;
    if vcpus > max {
        return Err(HvError::InvalidSpec(format!(
            "{vcpus} vCPUs requested but {name} allows at most {max}; raise its max_vcpus (shut off) first"
        )));
    }
    let f = flags(hv, &dom, name, op, scope)?;
    dom.set_vcpus_flags(vcpus, f)
        .map_err(|e| hv.dom_err(e, op, name))
}

pub(crate) fn set_memory(
    hv: &LibvirtHypervisor,
    name: &str,
    kib: u64,
    scope: Scope,
) -> HvResult<()> {
    let op = "set memory of";
    let dom = hv.lookup(name, op)?;
    if kib == 0 {
        return Err(HvError::InvalidSpec(
            "memory is 0; give the domain some memory".into(),
        ));
    }
    let max = dom.max_memory().map_err(|e| hv.dom_err(e, op, name))?;
    if kib > max {
        return Err(HvError::InvalidSpec(format!(
            "{kib} KiB requested but {name} allows at most {max} KiB; raise its max_memory (shut off) first"
        )));
    }
    let f = flags(hv, &dom, name, op, scope)?;
    dom.set_memory_flags(kib, f)
        .map_err(|e| hv.dom_err(e, op, name))
}

/// Sets the domain's CPU weight through libvirt's scheduler parameters:
/// `cpu_shares` (qemu, LXC: cgroup shares) or `weight` (Xen's credit
/// scheduler), whichever the domain's scheduler has. The value is read
/// back: a driver that takes it yet keeps the old one (the test driver)
/// cannot carry shares, and is told so rather than believed.
pub(crate) fn set_cpu_shares(
    hv: &LibvirtHypervisor,
    name: &str,
    shares: u32,
    scope: Scope,
) -> HvResult<()> {
    let op = "set CPU shares of";
    let dom = hv.lookup(name, op)?;
    if shares == 0 {
        return Err(HvError::InvalidSpec(
            "CPU shares are 0; give a weight of at least 1".into(),
        ));
    }
    let f = flags(hv, &dom, name, op, scope)?;
    let unsupported = |what: String| HvError::Unsupported {
        driver: hv.kind().as_str().into(),
        what,
    };
    let now = dom
        .scheduler_parameters()
        .map_err(|e| hv.dom_err(e, op, name))?;
    let mut want = virt::domain::SchedulerInfo {
        scheduler_type: now.scheduler_type.clone(),
        ..Default::default()
    };
    if now.cpu_shares.is_some() {
        want.cpu_shares = Some(u64::from(shares));
    } else if now.weight.is_some() {
        want.weight = Some(shares);
    } else {
        return Err(unsupported(format!(
            "CPU shares (the {} scheduler has neither cpu_shares nor weight)",
            now.scheduler_type
        )));
    }
    let after = set_scheduler(hv, &dom, &want, f, op, name, "CPU shares")?;
    let kept = after.cpu_shares.or(after.weight.map(u64::from));
    if kept != Some(u64::from(shares)) {
        return Err(unsupported(format!(
            "CPU shares: it took {shares} for {name} but keeps {}",
            kept.map_or_else(|| "none".to_string(), |k| k.to_string())
        )));
    }
    Ok(())
}

/// Sets scheduler parameters `want` with `flags` and reads back what the
/// domain keeps (live if live was asked, else its definition), so callers
/// can check the driver did not take and ignore them. The test driver
/// refuses the live/config flags outright: that is `what` unsupported.
pub(crate) fn set_scheduler(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    want: &virt::domain::SchedulerInfo,
    flags: u32,
    op: &str,
    name: &str,
    what: &str,
) -> HvResult<virt::domain::SchedulerInfo> {
    dom.set_scheduler_parameters_flags(want, flags)
        .map_err(|e| match hv.dom_err(e, op, name) {
            HvError::InvalidSpec(m) if m.contains("unsupported flags") => HvError::Unsupported {
                driver: hv.kind().as_str().into(),
                what: format!("{what} ({m})"),
            },
            other => other,
        })?;
    dom.scheduler_parameters_flags(read_back(flags))
        .or_else(|_| dom.scheduler_parameters())
        .map_err(|e| hv.dom_err(e, op, name))
}

/// Where to read back a change made with `flags`: the live domain if it
/// was changed live, else its definition.
pub(crate) fn read_back(flags: u32) -> u32 {
    if flags & sys::VIR_DOMAIN_AFFECT_LIVE != 0 {
        sys::VIR_DOMAIN_AFFECT_LIVE
    } else {
        sys::VIR_DOMAIN_AFFECT_CONFIG
    }
}

pub(crate) fn attach_disk(
    hv: &LibvirtHypervisor,
    name: &str,
    disk: &DiskSpec,
    scope: Scope,
) -> HvResult<()> {
    let op = "attach a disk to";
    let dom = hv.lookup(name, op)?;
    let caps = host::capabilities(hv)?;
    let mut probe = crate::types::DomainSpec::new(name, 1, 1);
    probe.disks.push(disk.clone());
    define::check_disks(&probe, &caps)?;
    if current_disks(hv, &dom, name, scope)?
        .iter()
        .any(|d| d.target == disk.target)
    {
        return Err(HvError::InvalidSpec(format!(
            "{name} already has a disk at {}; choose another target",
            disk.target
        )));
    }
    let f = flags(hv, &dom, name, op, scope)?;
    change(
        hv,
        &dom,
        name,
        op,
        f,
        Change::Attach(&xml::render_disk(hv.kind(), disk)),
    )
}

pub(crate) fn detach_disk(
    hv: &LibvirtHypervisor,
    name: &str,
    target: &str,
    scope: Scope,
) -> HvResult<()> {
    let op = "detach a disk from";
    let dom = hv.lookup(name, op)?;
    let disk = current_disks(hv, &dom, name, scope)?
        .into_iter()
        .find(|d| d.target == target)
        .ok_or_else(|| HvError::NotFound(format!("disk {target} of {name}")))?;
    let f = flags(hv, &dom, name, op, scope)?;
    let same = |el: &xmltree::Element| {
        el.name == "disk" && xml_parse::parse_disk(el).is_some_and(|d| d.target == disk.target)
    };
    change(
        hv,
        &dom,
        name,
        op,
        f,
        Change::Detach(&xml::render_disk(hv.kind(), &disk), &same),
    )
}

pub(crate) fn attach_nic(
    hv: &LibvirtHypervisor,
    name: &str,
    nic: &NicSpec,
    scope: Scope,
) -> HvResult<NicSpec> {
    let op = "attach a NIC to";
    let dom = hv.lookup(name, op)?;
    let before = current_nics(hv, &dom, name, scope)?;
    if let Some(mac) = &nic.mac {
        if before.iter().any(|n| {
            n.mac
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        }) {
            return Err(HvError::InvalidSpec(format!(
                "{name} already has a NIC with MAC {mac}; choose another or leave it empty"
            )));
        }
    }
    let f = flags(hv, &dom, name, op, scope)?;
    change(hv, &dom, name, op, f, Change::Attach(&xml::render_nic(nic)))?;
    // libvirt picks the MAC when none was given: find the NIC that is new.
    let after = current_nics(hv, &dom, name, scope)?;
    let added = after
        .into_iter()
        .find(|n| !before.iter().any(|b| b.mac == n.mac) && n.source == nic.source);
    Ok(added.unwrap_or_else(|| nic.clone()))
}

pub(crate) fn detach_nic(
    hv: &LibvirtHypervisor,
    name: &str,
    mac: &str,
    scope: Scope,
) -> HvResult<()> {
    let op = "detach a NIC from";
    let dom = hv.lookup(name, op)?;
    let nic = current_nics(hv, &dom, name, scope)?
        .into_iter()
        .find(|n| {
            n.mac
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        })
        .ok_or_else(|| HvError::NotFound(format!("NIC {mac} of {name}")))?;
    let f = flags(hv, &dom, name, op, scope)?;
    let same = |el: &xmltree::Element| {
        el.name == "interface" && xml_parse::parse_nic(el).is_some_and(|n| n.mac == nic.mac)
    };
    change(
        hv,
        &dom,
        name,
        op,
        f,
        Change::Detach(&xml::render_nic(&nic), &same),
    )
}

/// A device change: the device's XML, and for detaching, how to find it
/// in the definition.
enum Change<'a> {
    Attach(&'a str),
    Detach(&'a str, &'a dyn Fn(&xmltree::Element) -> bool),
}

/// Applies `c` with libvirt's hot-plug calls, or — on the test driver,
/// which has none in libvirt 9 — by redefining the domain with the
/// device added or removed. The test driver applies a redefinition to a
/// running domain too, so there live and definition change together
/// whatever the scope.
fn change(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    name: &str,
    op: &str,
    flags: u32,
    c: Change<'_>,
) -> HvResult<()> {
    if hv.kind() != DriverKind::Test {
        return match c {
            Change::Attach(x) => dom.attach_device_flags(x, flags),
            Change::Detach(x, _) => dom.detach_device_flags(x, flags),
        }
        .map_err(|e| hv.dom_err(e, op, name));
    }
    let text = dom
        .xml_desc(sys::VIR_DOMAIN_XML_INACTIVE)
        .map_err(|e| hv.dom_err(e, op, name))?;
    let unreadable = |e: xmltree::XmlError| HvError::Libvirt {
        code: 0,
        message: format!("unreadable definition of {name}: {e}"),
    };
    let (spans, end) = xmltree::child_spans(&text, &["devices"]).map_err(unreadable)?;
    let edited = match c {
        Change::Attach(x) => match end {
            Some(at) => format!("{}{x}{}", &text[..at], &text[at..]),
            None => match text.rfind("</domain>") {
                Some(at) => format!("{}<devices>{x}</devices>{}", &text[..at], &text[at..]),
                None => return Err(unreadable(xmltree::XmlError("no </domain>".into()))),
            },
        },
        Change::Detach(_, is_it) => match spans.iter().find(|(_, el)| is_it(el)) {
            Some((range, _)) => format!("{}{}", &text[..range.start], &text[range.end..]),
            None => return Err(HvError::NotFound(format!("that device of {name}"))),
        },
    };
    hv.conn()?
        .define_domain_xml_flags(&edited, 0)
        .map(|_| ())
        .map_err(|e| hv.dom_err(e, op, name))
}

/// The domain's `<devices>` as seen by `scope`: the running domain for
/// `Live`, the definition otherwise.
fn devices(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    name: &str,
    scope: Scope,
) -> HvResult<xmltree::Element> {
    let inactive = scope != Scope::Live;
    let flags = if inactive {
        sys::VIR_DOMAIN_XML_INACTIVE
    } else {
        0
    };
    let text = dom
        .xml_desc(flags)
        .map_err(|e| hv.dom_err(e, "read definition of", name))?;
    let root = xmltree::parse(&text).map_err(|e| HvError::Libvirt {
        code: 0,
        message: format!("unreadable definition of {name}: {e}"),
    })?;
    Ok(root.child("devices").cloned().unwrap_or_default())
}

fn current_disks(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    name: &str,
    scope: Scope,
) -> HvResult<Vec<DiskSpec>> {
    let d = devices(hv, dom, name, scope)?;
    Ok(d.children_named("disk")
        .filter_map(xml_parse::parse_disk)
        .collect())
}

fn current_nics(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    name: &str,
    scope: Scope,
) -> HvResult<Vec<NicSpec>> {
    let d = devices(hv, dom, name, scope)?;
    Ok(d.children_named("interface")
        .filter_map(xml_parse::parse_nic)
        .collect())
}
