//! The host: identity, capabilities, storage pools and networks.

use virt::connect::Connect;

use super::xmltree::{self, Element};
use super::LibvirtHypervisor;
use crate::error::{HvError, HvResult};
use crate::types::{Capabilities, DriverKind, GuestType, HostInfo, NetworkInfo, StoragePoolInfo};
use crate::Hypervisor;

/// `major.minor.release` from libvirt's packed version number.
pub(crate) fn version_string(v: u32) -> String {
    format!("{}.{}.{}", v / 1_000_000, (v / 1_000) % 1_000, v % 1_000)
}

fn bad_xml(what: &str, e: impl std::fmt::Display) -> HvError {
    HvError::Libvirt {
        code: 0,
        message: format!("libvirt returned {what} vine cannot read: {e}"),
    }
}

fn caps_xml(hv: &LibvirtHypervisor, conn: &Connect) -> HvResult<Element> {
    let xml = conn
        .capabilities()
        .map_err(|e| hv.host_err(e, "read capabilities"))?;
    xmltree::parse(&xml).map_err(|e| bad_xml("capabilities", e))
}

pub(crate) fn host_info(hv: &LibvirtHypervisor) -> HvResult<HostInfo> {
    let conn = hv.conn()?;
    let err = |e| hv.host_err(e, "read host information");
    let node = conn.node_info().map_err(err)?;
    let caps = caps_xml(hv, &conn)?;
    let hostname = match &hv.test_host_name {
        Some(n) => n.clone(),
        None => conn.hostname().map_err(err)?,
    };
    let hyp_version = conn.hyp_version().map(version_string).unwrap_or_default();
    let lib_version = conn.lib_version().map(version_string).map_err(err)?;
    let uuid = match caps.text_at("host/uuid") {
        Some(u) if !u.is_empty() => u.to_string(),
        // The test driver has no host UUID: derive a stable one from
        // the URI, which names the host file.
        _ => uuid_from(hv.uri()),
    };
    let free = free_memory_kib(hv, &conn, node.memory)?;
    Ok(HostInfo {
        hostname,
        arch: caps
            .text_at("host/cpu/arch")
            .unwrap_or_default()
            .to_string(),
        cpu_model: node.model.clone(),
        cpus: node.cpus,
        mhz: node.mhz,
        sockets: node.sockets.saturating_mul(node.nodes.max(1)),
        cores_per_socket: node.cores,
        threads_per_core: node.threads,
        memory_kib: node.memory,
        free_memory_kib: free,
        hypervisor_type: match hv.kind() {
            DriverKind::Qemu => "QEMU",
            DriverKind::Xen => "Xen",
            DriverKind::Lxc => "LXC",
            DriverKind::Test => "Test",
        }
        .to_string(),
        hypervisor_version: hyp_version,
        libvirt_version: lib_version,
        uuid,
    })
}

/// Free host memory. The test driver's hosts have no real memory, so
/// there it is the host's memory minus what running domains hold.
pub(crate) fn free_memory_kib(
    hv: &LibvirtHypervisor,
    conn: &Connect,
    total_kib: u64,
) -> HvResult<u64> {
    if hv.kind() != DriverKind::Test {
        if let Ok(bytes) = conn.free_memory() {
            return Ok(bytes / 1024);
        }
    }
    let doms = conn
        .list_all_domains(virt::sys::VIR_CONNECT_LIST_DOMAINS_ACTIVE)
        .map_err(|e| hv.host_err(e, "list domains"))?;
    let used: u64 = doms
        .iter()
        .filter_map(|d| d.info().ok())
        .map(|i| i.memory)
        .sum();
    Ok(total_kib.saturating_sub(used))
}

pub(crate) fn capabilities(hv: &LibvirtHypervisor) -> HvResult<Capabilities> {
    let conn = hv.conn()?;
    let caps = caps_xml(hv, &conn)?;
    let guest_types = guest_types(&caps);
    let node = conn
        .node_info()
        .map_err(|e| hv.host_err(e, "read host information"))?;
    let domain_type = guest_types
        .iter()
        .flat_map(|g| g.domain_types.iter())
        .next()
        .cloned();
    let driver_max = conn.max_vcpus(domain_type.as_deref()).unwrap_or(node.cpus);
    Ok(Capabilities {
        guest_types,
        // More vCPUs than the host has CPUs would only time-slice one
        // guest against itself.
        max_vcpus: driver_max.min(node.cpus).max(1),
        storage_pools: storage_pools(hv, &conn)?,
        networks: networks(hv, &conn)?,
    })
}

fn guest_types(caps: &Element) -> Vec<GuestType> {
    caps.children_named("guest")
        .map(|g| {
            let arch = g.child("arch");
            let mut domain_types: Vec<String> = arch
                .into_iter()
                .flat_map(|a| a.children_named("domain"))
                .filter_map(|d| d.attr("type").map(str::to_string))
                .collect();
            domain_types.dedup();
            GuestType {
                os_type: g.text_at("os_type").unwrap_or_default().to_string(),
                arch: arch
                    .and_then(|a| a.attr("name"))
                    .unwrap_or_default()
                    .to_string(),
                domain_types,
            }
        })
        .collect()
}

fn storage_pools(hv: &LibvirtHypervisor, conn: &Connect) -> HvResult<Vec<StoragePoolInfo>> {
    let err = |e| hv.host_err(e, "list storage pools");
    let pools = match conn.list_all_storage_pools(0) {
        Ok(p) => p,
        // Hosts without a storage driver (LXC setups) simply have none.
        Err(e) if e.code().to_raw() == virt::sys::VIR_ERR_NO_SUPPORT => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut out = Vec::new();
    for p in &pools {
        let info = p.info().map_err(err)?;
        let xml = p.xml_desc(0).map_err(err)?;
        let root = xmltree::parse(&xml).map_err(|e| bad_xml("a storage pool", e))?;
        out.push(StoragePoolInfo {
            name: p.name().map_err(err)?,
            path: root.text_at("target/path").map(str::to_string),
            capacity_bytes: info.capacity,
            allocation_bytes: info.allocation,
            available_bytes: info.available,
            active: p.is_active().map_err(err)?,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn networks(hv: &LibvirtHypervisor, conn: &Connect) -> HvResult<Vec<NetworkInfo>> {
    let err = |e| hv.host_err(e, "list networks");
    let nets = match conn.list_all_networks(0) {
        Ok(n) => n,
        Err(e) if e.code().to_raw() == virt::sys::VIR_ERR_NO_SUPPORT => return Ok(Vec::new()),
        Err(e) => return Err(err(e)),
    };
    let mut out = Vec::new();
    for n in &nets {
        out.push(NetworkInfo {
            name: n.name().map_err(err)?,
            bridge: n.bridge_name().ok(),
            active: n.is_active().map_err(err)?,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// A UUID-shaped, stable identifier derived from `s` (two FNV-1a
/// hashes), for hosts libvirt gives no UUID.
pub(crate) fn uuid_from(s: &str) -> String {
    let h = |seed: u64| {
        s.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let a = h(0xcbf2_9ce4_8422_2325);
    let b = h(0x84222325_cbf29ce4);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        ((a as u16) & 0x0fff) | 0x8000,
        ((b >> 48) as u16 & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_unpack() {
        assert_eq!(version_string(9_000_000), "9.0.0");
        assert_eq!(version_string(2_012_003), "2.12.3");
    }

    #[test]
    fn derived_uuids_are_stable_and_distinct() {
        let a = uuid_from("test:///a.xml");
        assert_eq!(a, uuid_from("test:///a.xml"));
        assert_ne!(a, uuid_from("test:///b.xml"));
        assert_eq!(a.len(), 36);
    }
}
