//! Moving domains between hosts: libvirt live migration for QEMU and
//! Xen; between test-driver hosts of one process an offline move
//! (definition copied, source stopped and undefined, target started in
//! the source's state) with roll-back onto the source on failure.

use std::sync::Arc;

use virt::sys;

use super::{domains, LibvirtHypervisor};
use crate::error::{HvError, HvResult};
use crate::types::{DomainInfo, DomainState, DriverKind, MigrationMode};
use crate::Hypervisor;

fn refuse(msg: String) -> HvError {
    HvError::Migration(msg)
}

/// Checks `name` could move to `dest_uri`; returns the mode it would
/// move in and the opened destination.
fn plan(
    hv: &LibvirtHypervisor,
    name: &str,
    dest_uri: &str,
) -> HvResult<(MigrationMode, Arc<LibvirtHypervisor>, DomainInfo)> {
    let src = hv.kind();
    let dst = DriverKind::from_uri(dest_uri)
        .ok_or_else(|| refuse(format!("{dest_uri} is not a libvirt URI vine knows")))?;
    if src != dst {
        return Err(refuse(format!(
            "{name} runs on a {} host and cannot move to a {} host",
            src.as_str(),
            dst.as_str()
        )));
    }
    if src == DriverKind::Lxc {
        return Err(HvError::Unsupported {
            driver: "lxc".into(),
            what: "migration".into(),
        });
    }
    if dest_uri == hv.uri() {
        return Err(refuse(format!("{name} is already on {dest_uri}")));
    }
    let info = hv.domain(name)?;
    let dest = LibvirtHypervisor::open(dest_uri)?;
    match dest.domain(name) {
        Ok(_) => {
            return Err(refuse(format!(
                "a domain named {name} already exists on {dest_uri}; rename or remove one of them"
            )))
        }
        Err(HvError::NoDomain(_)) => {}
        Err(e) => return Err(e),
    }
    let host = dest.host_info()?;
    if info.vcpus > host.cpus {
        return Err(refuse(format!(
            "{name} has {} vCPUs but {dest_uri} has only {} CPUs",
            info.vcpus, host.cpus
        )));
    }
    if info.state.is_active() && info.memory_kib > host.free_memory_kib {
        return Err(refuse(format!(
            "{name} needs {} KiB of memory but {dest_uri} has {} KiB free",
            info.memory_kib, host.free_memory_kib
        )));
    }
    let mode = match (src, info.state.is_active()) {
        (DriverKind::Test, _) | (_, false) => MigrationMode::Offline,
        _ => MigrationMode::Live,
    };
    Ok((mode, dest, info))
}

pub(crate) fn check_migratable(
    hv: &LibvirtHypervisor,
    name: &str,
    dest_uri: &str,
) -> HvResult<MigrationMode> {
    plan(hv, name, dest_uri).map(|(mode, _, _)| mode)
}

pub(crate) fn migrate(
    hv: &LibvirtHypervisor,
    name: &str,
    dest_uri: &str,
) -> HvResult<MigrationMode> {
    let (mode, dest, info) = plan(hv, name, dest_uri)?;
    tracing::info!(
        domain = name,
        from = hv.uri(),
        to = dest_uri,
        ?mode,
        "migrating"
    );
    match hv.kind() {
        DriverKind::Test => offline_move(hv, &dest, name, info.state).map(|()| mode),
        DriverKind::Qemu | DriverKind::Xen => libvirt_migrate(hv, &dest, name, mode).map(|()| mode),
        DriverKind::Lxc => Err(HvError::Unsupported {
            driver: "lxc".into(),
            what: "migration".into(),
        }),
    }
}

/// libvirt's own migration, managed by this client: live for a running
/// domain, offline (definition only) for a shut-off one. The destination
/// keeps the definition and the source loses it.
fn libvirt_migrate(
    hv: &LibvirtHypervisor,
    dest: &LibvirtHypervisor,
    name: &str,
    mode: MigrationMode,
) -> HvResult<()> {
    let op = "migrate";
    let dom = hv.lookup(name, op)?;
    let dconn = dest.conn()?;
    let mut flags = sys::VIR_MIGRATE_PERSIST_DEST | sys::VIR_MIGRATE_UNDEFINE_SOURCE;
    flags |= match mode {
        MigrationMode::Live => sys::VIR_MIGRATE_LIVE,
        MigrationMode::Offline => sys::VIR_MIGRATE_OFFLINE,
    };
    dom.migrate(&dconn, flags, None, None, 0)
        .map(|_| ())
        .map_err(|e| match hv.dom_err(e, op, name) {
            HvError::Migration(m) | HvError::Libvirt { message: m, .. } => {
                HvError::Migration(format!(
                    "{m}; libvirt leaves {name} on {} when migration fails",
                    hv.uri()
                ))
            }
            other => other,
        })
}

/// Puts domain `name` (defined from `xml`) into `state` on `hv`.
fn bring_to(hv: &LibvirtHypervisor, name: &str, state: DomainState) -> HvResult<()> {
    match state {
        DomainState::Paused => {
            hv.start(name)?;
            hv.suspend(name)
        }
        s if s.is_active() => hv.start(name),
        _ => Ok(()),
    }
}

fn offline_move(
    src: &LibvirtHypervisor,
    dest: &LibvirtHypervisor,
    name: &str,
    state: DomainState,
) -> HvResult<()> {
    let xml = domains::xml(src, name, true)?;
    if state.is_active() {
        src.destroy(name)?;
    }
    if let Err(e) = src.undefine(name) {
        // Still defined on the source: only its run state needs undoing.
        let back = bring_to(src, name, state);
        return Err(refuse(format!(
            "cannot remove {name} from {}: {e}; it stays there{}",
            src.uri(),
            describe_restore(&back, state)
        )));
    }
    let moved = dest
        .define_xml(&xml)
        .and_then(|_| match bring_to(dest, name, state) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Leave no half-started copy behind before going back.
                let _ = dest.destroy(name);
                let _ = dest.undefine(name);
                Err(e)
            }
        });
    let Err(e) = moved else {
        tracing::info!(
            domain = name,
            from = src.uri(),
            to = dest.uri(),
            "offline migration done"
        );
        return Ok(());
    };
    // Put it back where it was.
    let back = src
        .define_xml(&xml)
        .and_then(|_| bring_to(src, name, state));
    match back {
        Ok(()) => Err(refuse(format!(
            "{name} could not be set up on {}: {e}; it is back on {} ({})",
            dest.uri(),
            src.uri(),
            state.as_str()
        ))),
        Err(e2) => Err(refuse(format!(
            "{name} could not be set up on {}: {e}; putting it back on {} failed too: {e2}; \
             it is defined on neither host — its definition was:\n{xml}",
            dest.uri(),
            src.uri()
        ))),
    }
}

fn describe_restore(r: &HvResult<()>, state: DomainState) -> String {
    match r {
        Ok(()) => format!(" ({})", state.as_str()),
        Err(e) => format!(" but could not be returned to {}: {e}", state.as_str()),
    }
}
