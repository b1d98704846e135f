//! Usage counters for the resource monitor. Counters a driver cannot
//! give (the test driver has no block or interface stats) read as 0.

use std::os::raw::c_int;

use virt::connect::Connect;
use virt::sys;

use super::{host, xmltree, LibvirtHypervisor};
use crate::error::HvResult;
use crate::types::{DomainStats, HostStats};

pub(crate) fn domain_stats(hv: &LibvirtHypervisor, name: &str) -> HvResult<DomainStats> {
    let op = "read statistics of";
    let dom = hv.lookup(name, op)?;
    let info = dom.info().map_err(|e| hv.dom_err(e, op, name))?;
    let mut s = DomainStats {
        cpu_time_ns: info.cpu_time,
        vcpus: info.nr_virt_cpu,
        memory_kib: info.memory,
        memory_used_kib: info.memory,
        ..DomainStats::default()
    };
    if !dom.is_active().unwrap_or(false) {
        return Ok(s);
    }
    // Device names come from the running domain's XML: libvirt names
    // tap devices (`vnet0`) only once the domain runs.
    let xml = dom.xml_desc(0).map_err(|e| hv.dom_err(e, op, name))?;
    let devices = xmltree::parse(&xml)
        .ok()
        .and_then(|r| r.child("devices").cloned())
        .unwrap_or_default();
    for disk in devices.children_named("disk") {
        let Some(target) = disk.child("target").and_then(|t| t.attr("dev")) else {
            continue;
        };
        match dom.block_stats(target) {
            Ok(b) => {
                s.disk_read_bytes += b.rd_bytes.max(0) as u64;
                s.disk_write_bytes += b.wr_bytes.max(0) as u64;
            }
            Err(e) => tracing::trace!(domain = name, disk = target, error = %e, "no block stats"),
        }
    }
    for nic in devices.children_named("interface") {
        let Some(dev) = nic.child("target").and_then(|t| t.attr("dev")) else {
            continue;
        };
        match dom.interface_stats(dev) {
            Ok(i) => {
                s.net_rx_bytes += i.rx_bytes.max(0) as u64;
                s.net_tx_bytes += i.tx_bytes.max(0) as u64;
            }
            Err(e) => tracing::trace!(domain = name, nic = dev, error = %e, "no interface stats"),
        }
    }
    if let Ok(mem) = dom.memory_stats(0) {
        let get = |tag: u32| mem.iter().find(|m| m.tag == tag).map(|m| m.val);
        if let Some(balloon) = get(sys::VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON) {
            s.memory_kib = balloon;
        }
        s.memory_used_kib = match (
            get(sys::VIR_DOMAIN_MEMORY_STAT_AVAILABLE),
            get(sys::VIR_DOMAIN_MEMORY_STAT_UNUSED),
        ) {
            (Some(avail), Some(unused)) => avail.saturating_sub(unused),
            _ => get(sys::VIR_DOMAIN_MEMORY_STAT_RSS).unwrap_or(s.memory_kib),
        };
    }
    Ok(s)
}

pub(crate) fn host_stats(hv: &LibvirtHypervisor) -> HvResult<HostStats> {
    let conn = hv.conn()?;
    let mut s = HostStats::default();
    if let Some(cpu) = node_stats(&conn, Kind::Cpu) {
        for (field, v) in cpu {
            match field.as_str() {
                "user" => s.cpu_user_ns = v,
                "kernel" => s.cpu_system_ns = v,
                "idle" => s.cpu_idle_ns = v,
                "iowait" => s.cpu_iowait_ns = v,
                _ => {}
            }
        }
    }
    let mem = node_stats(&conn, Kind::Memory).unwrap_or_default();
    let total = mem.iter().find(|(f, _)| f == "total").map(|(_, v)| *v);
    let free = mem.iter().find(|(f, _)| f == "free").map(|(_, v)| *v);
    match (total, free) {
        (Some(t), Some(f)) => {
            s.memory_total_kib = t;
            s.memory_free_kib = f;
        }
        // The test driver has no memory stats: use the node's size and
        // what its domains hold.
        _ => {
            let node = conn
                .node_info()
                .map_err(|e| hv.host_err(e, "read host information"))?;
            s.memory_total_kib = node.memory;
            s.memory_free_kib = host::free_memory_kib(hv, &conn, node.memory)?;
        }
    }
    Ok(s)
}

enum Kind {
    Cpu,
    Memory,
}

/// virNodeGetCPUStats / virNodeGetMemoryStats over all CPUs or cells
/// (virt has no wrapper): `None` where the driver does not support them.
fn node_stats(conn: &Connect, kind: Kind) -> Option<Vec<(String, u64)>> {
    // Both calls share one layout: a field name and a value.
    let mut n: c_int = 0;
    // SAFETY: a first call with a null array asks for the count.
    let rc = unsafe {
        match kind {
            Kind::Cpu => {
                sys::virNodeGetCPUStats(conn.as_ptr(), -1, std::ptr::null_mut(), &mut n, 0)
            }
            Kind::Memory => {
                sys::virNodeGetMemoryStats(conn.as_ptr(), -1, std::ptr::null_mut(), &mut n, 0)
            }
        }
    };
    if rc < 0 || n <= 0 {
        return None;
    }
    let mut out = Vec::new();
    match kind {
        Kind::Cpu => {
            let mut buf = vec![
                sys::virNodeCPUStats {
                    field: [0; 80],
                    value: 0
                };
                n as usize
            ];
            // SAFETY: `buf` holds `n` entries as libvirt asked.
            let rc =
                unsafe { sys::virNodeGetCPUStats(conn.as_ptr(), -1, buf.as_mut_ptr(), &mut n, 0) };
            if rc < 0 {
                return None;
            }
            for p in buf.iter().take(n.max(0) as usize) {
                out.push((field_name(&p.field), p.value));
            }
        }
        Kind::Memory => {
            let mut buf = vec![
                sys::virNodeMemoryStats {
                    field: [0; 80],
                    value: 0
                };
                n as usize
            ];
            // SAFETY: as above.
            let rc = unsafe {
                sys::virNodeGetMemoryStats(conn.as_ptr(), -1, buf.as_mut_ptr(), &mut n, 0)
            };
            if rc < 0 {
                return None;
            }
            for p in buf.iter().take(n.max(0) as usize) {
                out.push((field_name(&p.field), p.value));
            }
        }
    }
    Some(out)
}

fn field_name(field: &[std::os::raw::c_char; 80]) -> String {
    // libvirt NUL-terminates within the 80 bytes; stop there.
    let bytes: Vec<u8> = field
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}
