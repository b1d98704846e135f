//! Domain snapshots (internal ones: the test driver and QEMU qcow2).

use virt::domain::Domain;
use virt::domain_snapshot::DomainSnapshot;

use super::xml::escape;
use super::{xmltree, LibvirtHypervisor};
use crate::error::{HvError, HvResult};
use crate::types::SnapshotInfo;

fn info(hv: &LibvirtHypervisor, name: &str, snap: &DomainSnapshot) -> HvResult<SnapshotInfo> {
    let op = "read snapshot of";
    let xml = snap.xml_desc(0).map_err(|e| hv.dom_err(e, op, name))?;
    let root = xmltree::parse(&xml).map_err(|e| HvError::Libvirt {
        code: 0,
        message: format!("unreadable snapshot of {name}: {e}"),
    })?;
    Ok(SnapshotInfo {
        name: root.text_at("name").unwrap_or_default().to_string(),
        created: root
            .text_at("creationTime")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        state: root.text_at("state").unwrap_or_default().to_string(),
    })
}

fn find(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    name: &str,
    snapshot: &str,
    op: &str,
) -> HvResult<DomainSnapshot> {
    Domain::lookup_snapshot_by_name(dom, snapshot, 0).map_err(|e| match hv.dom_err(e, op, name) {
        HvError::NotFound(_) => HvError::NotFound(format!("snapshot {snapshot} of {name}")),
        other => other,
    })
}

pub(crate) fn create(hv: &LibvirtHypervisor, name: &str, snapshot: &str) -> HvResult<SnapshotInfo> {
    let op = "snapshot";
    let dom = hv.lookup(name, op)?;
    if snapshot.trim().is_empty() {
        return Err(HvError::InvalidSpec(
            "the snapshot name is empty; give it a name".into(),
        ));
    }
    if Domain::lookup_snapshot_by_name(&dom, snapshot, 0).is_ok() {
        return Err(HvError::InvalidSpec(format!(
            "{name} already has a snapshot named {snapshot}; choose another name"
        )));
    }
    let xml = format!(
        "<domainsnapshot><name>{}</name></domainsnapshot>",
        escape(snapshot)
    );
    let snap = dom
        .create_snapshot_xml(&xml, 0)
        .map_err(|e| hv.dom_err(e, op, name))?;
    info(hv, name, &snap)
}

pub(crate) fn list(hv: &LibvirtHypervisor, name: &str) -> HvResult<Vec<SnapshotInfo>> {
    let op = "list snapshots of";
    let dom = hv.lookup(name, op)?;
    let snaps = dom
        .list_all_snapshots(0)
        .map_err(|e| hv.dom_err(e, op, name))?;
    let mut out = snaps
        .iter()
        .map(|s| info(hv, name, s))
        .collect::<HvResult<Vec<_>>>()?;
    out.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
    Ok(out)
}

pub(crate) fn revert(hv: &LibvirtHypervisor, name: &str, snapshot: &str) -> HvResult<()> {
    let op = "revert to a snapshot";
    let dom = hv.lookup(name, op)?;
    let snap = find(hv, &dom, name, snapshot, op)?;
    snap.revert(0).map_err(|e| hv.dom_err(e, op, name))
}

pub(crate) fn delete(hv: &LibvirtHypervisor, name: &str, snapshot: &str) -> HvResult<()> {
    let op = "delete a snapshot of";
    let dom = hv.lookup(name, op)?;
    let snap = find(hv, &dom, name, snapshot, op)?;
    snap.delete(0).map_err(|e| hv.dom_err(e, op, name))
}
