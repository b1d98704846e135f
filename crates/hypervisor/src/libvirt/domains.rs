//! Domain listing and lifecycle: start, stop, pause, undefine.

use std::os::raw::c_int;

use virt::domain::Domain;
use virt::sys;

use super::{xml_parse, LibvirtHypervisor};
use crate::error::{HvError, HvResult};
use crate::types::{DomainInfo, DomainSpec, DomainState};

/// A domain's state, asking libvirt with error reporting (virt's
/// `Domain::state` drops the error).
pub(crate) fn state(dom: &Domain) -> Result<DomainState, virt::error::Error> {
    let mut st: c_int = -1;
    let mut reason: c_int = -1;
    // SAFETY: `dom` is a valid domain; the out-pointers live on the stack.
    let rc = unsafe { sys::virDomainGetState(dom.as_ptr(), &mut st, &mut reason, 0) };
    if rc < 0 {
        return Err(virt::error::Error::last_error());
    }
    Ok(state_from_raw(st))
}

pub(crate) fn state_from_raw(st: c_int) -> DomainState {
    match st as u32 {
        sys::VIR_DOMAIN_RUNNING => DomainState::Running,
        sys::VIR_DOMAIN_BLOCKED => DomainState::Blocked,
        sys::VIR_DOMAIN_PAUSED => DomainState::Paused,
        sys::VIR_DOMAIN_SHUTDOWN => DomainState::ShuttingDown,
        sys::VIR_DOMAIN_SHUTOFF => DomainState::Shutoff,
        sys::VIR_DOMAIN_CRASHED => DomainState::Crashed,
        sys::VIR_DOMAIN_PMSUSPENDED => DomainState::PmSuspended,
        _ => DomainState::NoState,
    }
}

/// What `domains()` and `domain()` report about one domain.
pub(crate) fn info(hv: &LibvirtHypervisor, dom: &Domain, name: &str) -> HvResult<DomainInfo> {
    let err = |e| hv.dom_err(e, "read", name);
    let i = dom.info().map_err(err)?;
    let st = state(dom).map_err(err)?;
    let max_vcpus = dom
        .vcpus_flags(sys::VIR_DOMAIN_VCPU_MAXIMUM | sys::VIR_DOMAIN_AFFECT_CURRENT)
        .unwrap_or(i.nr_virt_cpu);
    Ok(DomainInfo {
        name: dom.name().map_err(err)?,
        uuid: dom.uuid_string().map_err(err)?,
        id: dom.id(),
        state: st,
        vcpus: i.nr_virt_cpu,
        max_vcpus,
        memory_kib: i.memory,
        max_memory_kib: i.max_mem,
        persistent: dom.is_persistent().map_err(err)?,
        autostart: dom.autostart().map_err(err)?,
    })
}

pub(crate) fn list(hv: &LibvirtHypervisor) -> HvResult<Vec<DomainInfo>> {
    let conn = hv.conn()?;
    let doms = conn
        .list_all_domains(0)
        .map_err(|e| hv.host_err(e, "list domains"))?;
    let mut out = Vec::with_capacity(doms.len());
    for d in &doms {
        let name = d.name().map_err(|e| hv.host_err(e, "list domains"))?;
        match info(hv, d, &name) {
            Ok(i) => out.push(i),
            // Undefined between listing and reading: not an error.
            Err(HvError::NoDomain(_)) => {}
            Err(e) => return Err(e),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The domain's XML: the persistent definition (`inactive`) or what runs.
pub(crate) fn xml(hv: &LibvirtHypervisor, name: &str, inactive: bool) -> HvResult<String> {
    let dom = hv.lookup(name, "read definition of")?;
    let flags = if inactive {
        sys::VIR_DOMAIN_XML_INACTIVE
    } else {
        0
    };
    dom.xml_desc(flags)
        .map_err(|e| hv.dom_err(e, "read definition of", name))
}

pub(crate) fn spec(hv: &LibvirtHypervisor, name: &str) -> HvResult<DomainSpec> {
    let xml = xml(hv, name, true)?;
    xml_parse::parse(&xml).map_err(|e| HvError::Libvirt {
        code: 0,
        message: format!("libvirt returned a definition of {name} vine cannot read: {e}"),
    })
}

pub(crate) fn undefine(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    let dom = hv.lookup(name, "undefine")?;
    let st = state(&dom).map_err(|e| hv.dom_err(e, "undefine", name))?;
    if st.is_active() {
        // libvirt would quietly turn a running domain transient instead.
        return Err(HvError::InvalidState {
            domain: name.to_string(),
            op: "undefine".into(),
            state: st.as_str().into(),
        });
    }
    let mut flags =
        sys::VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | sys::VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA;
    if hv.kind() == crate::types::DriverKind::Qemu {
        flags |= sys::VIR_DOMAIN_UNDEFINE_NVRAM;
    }
    dom.undefine_flags(flags)
        .map_err(|e| hv.dom_err(e, "undefine", name))
}

/// Runs `op` on domain `name` after checking it is in one of `allowed`
/// states, so the error names the state rather than libvirt's wording.
fn guarded(
    hv: &LibvirtHypervisor,
    name: &str,
    op: &str,
    allowed: &[DomainState],
    f: impl FnOnce(&Domain) -> Result<(), virt::error::Error>,
) -> HvResult<()> {
    let dom = hv.lookup(name, op)?;
    let st = state(&dom).map_err(|e| hv.dom_err(e, op, name))?;
    if !allowed.contains(&st) {
        return Err(HvError::InvalidState {
            domain: name.to_string(),
            op: op.to_string(),
            state: st.as_str().to_string(),
        });
    }
    f(&dom).map_err(|e| hv.dom_err(e, op, name))
}

const RUNNING: &[DomainState] = &[DomainState::Running, DomainState::Blocked];
const ACTIVE: &[DomainState] = &[
    DomainState::Running,
    DomainState::Blocked,
    DomainState::Paused,
    DomainState::ShuttingDown,
    DomainState::PmSuspended,
    DomainState::NoState,
];

pub(crate) fn start(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    guarded(
        hv,
        name,
        "start",
        &[DomainState::Shutoff, DomainState::Crashed],
        |d| d.create_with_flags(0),
    )
}

pub(crate) fn shutdown(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    guarded(hv, name, "shut down", RUNNING, |d| d.shutdown_flags(0))
}

pub(crate) fn destroy(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    guarded(hv, name, "destroy", ACTIVE, |d| d.destroy_flags(0))
}

pub(crate) fn reboot(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    guarded(hv, name, "reboot", RUNNING, |d| d.reboot(0))
}

pub(crate) fn reset(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    guarded(hv, name, "reset", ACTIVE, |d| d.reset())
}

pub(crate) fn suspend(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    guarded(hv, name, "suspend", RUNNING, |d| d.suspend())
}

pub(crate) fn resume(hv: &LibvirtHypervisor, name: &str) -> HvResult<()> {
    guarded(hv, name, "resume", &[DomainState::Paused], |d| d.resume())
}
