//! `VINE_DataCenter` (one instance), `VINE_Host` (one per managed host)
//! and `VINE_VirtualServer` (one per virtual server), built from the
//! inventory and the stored virtual server records.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use vine_cim::{CimClass, CimDateTime, CimInstance, CimResult};
use vine_coordinator::inventory::{HostHealth, HostPower, HostRecord};
use vine_coordinator::ops::vs::NodeState;
use vine_coordinator::ops::VsRecord;
use vine_wbem::provider::{InstanceProvider, RequestContext};

use crate::context::ManagerContext;
use crate::paths;

/// HealthState 5 OK.
const HEALTH_OK: u16 = 5;
/// HealthState 10 Degraded/Warning.
const HEALTH_DEGRADED: u16 = 10;
/// HealthState 0 Unknown.
const HEALTH_UNKNOWN: u16 = 0;

/// What a host's agent health means in CIM terms: (EnabledState,
/// HealthState, CommunicationStatus, OperationalStatus).
fn host_status(h: HostHealth) -> (u16, u16, u16, Vec<u16>) {
    match h {
        HostHealth::Up => (2, HEALTH_OK, 2, vec![2]),
        // The manager cannot tell how an unreachable host is doing, only
        // that it lost contact (OperationalStatus 13 Lost Communication).
        HostHealth::Unreachable => (0, HEALTH_UNKNOWN, 3, vec![13]),
        HostHealth::Unknown => (0, HEALTH_UNKNOWN, 0, vec![0]),
    }
}

fn unix_time(secs: u64) -> CimDateTime {
    CimDateTime::from_system_time(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The `VINE_Host` of `h`, which runs `vms` VMs.
pub fn host_instance(h: &HostRecord, vms: u32) -> CimInstance {
    let path = paths::host(&h.name);
    let (enabled, health, comm, operational) = match h.power {
        // Powered off by the manager: Disabled and Stopped, not a lost
        // host.
        HostPower::Off => (3, HEALTH_UNKNOWN, 0, vec![10]),
        _ => host_status(h.health),
    };
    let mut inst = CimInstance::new(paths::HOST)
        .with("CreationClassName", paths::HOST)
        .with("Name", h.name.as_str())
        .with("NameFormat", "Other")
        .with("ElementName", h.name.as_str())
        .with("AgentURL", h.url.as_str())
        .with("EnabledState", enabled)
        .with("RequestedState", 12u16)
        .with("HealthState", health)
        .with("CommunicationStatus", comm)
        .with("OperationalStatus", operational)
        .with("VirtualMachines", vms);
    if let Some(s) = &h.system_name {
        inst.set("AgentSystemName", s.as_str());
    }
    if let Some(p) = &h.prefix {
        inst.set("ClassPrefix", p.as_str());
    }
    if let Some(c) = &h.capacity {
        inst.set("NumberOfProcessors", c.vcpus);
        inst.set("MemoryMiB", c.memory_mib);
    }
    if let Some(t) = h.last_seen {
        inst.set("LastSeen", unix_time(t));
    }
    if let Some(e) = &h.last_error {
        inst.set("LastError", e.as_str());
    }
    inst.path = Some(path);
    inst
}

/// The `VINE_VirtualServer` of `v`; `hosts` tells whether its nodes' hosts
/// answer, `busy` whether a job is working on it.
pub fn vs_instance(v: &VsRecord, hosts: &HashMap<String, HostRecord>, busy: bool) -> CimInstance {
    let ready = v
        .nodes
        .iter()
        .filter(|n| n.state == NodeState::Ready)
        .count();
    let actual = u32::try_from(ready).unwrap_or(u32::MAX);
    let nodes_reachable = v.nodes.iter().all(|n| {
        hosts
            .get(&n.host)
            .is_some_and(|h| h.health == HostHealth::Up)
    });
    // Degraded: fewer ready nodes than wanted, or a node on a host the
    // manager cannot reach.
    let healthy = actual >= v.desired && nodes_reachable;
    let enabled: u16 = if v.deleting {
        4 // Shutting Down
    } else if actual > 0 {
        2 // Enabled
    } else if busy {
        10 // Starting
    } else {
        3 // Disabled: no node serves and nothing is under way
    };
    let mut inst = CimInstance::new(paths::VIRTUAL_SERVER)
        .with("CreationClassName", paths::VIRTUAL_SERVER)
        .with("Name", v.name.as_str())
        .with("NameFormat", "Other")
        .with("ElementName", v.name.as_str())
        .with("DesiredNodes", v.desired)
        .with("ActualNodes", actual)
        .with("NodeVCPUs", v.template.vcpus)
        .with("NodeMemoryMiB", v.template.memory_mib)
        .with("EnabledState", enabled)
        .with("RequestedState", 12u16)
        .with(
            "HealthState",
            if healthy { HEALTH_OK } else { HEALTH_DEGRADED },
        )
        .with("OperationalStatus", vec![if healthy { 2u16 } else { 3u16 }]);
    if let Some(b) = &v.bind {
        inst.set("FrontEnd", b.as_str());
    }
    if let Some(p) = v.node_port {
        inst.set("NodePort", p);
    }
    if let Some(p) = &v.pool {
        inst.set("PoolID", p.as_str());
    }
    inst.path = Some(paths::virtual_server(&v.name));
    inst
}

/// Counts shown on the data centre.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DataCenterCounts {
    pub hosts: u32,
    pub hosts_up: u32,
    pub vms: u32,
    pub vservers: u32,
}

/// The one `VINE_DataCenter`, named `name`.
pub fn datacenter_instance(name: &str, c: DataCenterCounts) -> CimInstance {
    let healthy = c.hosts_up == c.hosts;
    let mut inst = CimInstance::new(paths::DATACENTER)
        .with("CreationClassName", paths::DATACENTER)
        .with("Name", name)
        .with("NameFormat", "Other")
        .with("ElementName", name)
        .with("Hosts", c.hosts)
        .with("HostsUp", c.hosts_up)
        .with("VirtualMachines", c.vms)
        .with("VirtualServers", c.vservers)
        .with("EnabledState", 2u16)
        .with("RequestedState", 12u16)
        .with(
            "HealthState",
            if healthy { HEALTH_OK } else { HEALTH_DEGRADED },
        )
        .with("OperationalStatus", vec![if healthy { 2u16 } else { 3u16 }]);
    inst.path = Some(paths::datacenter(name));
    inst
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Serves the three system classes.
pub struct SystemsProvider {
    ctx: ManagerContext,
}

impl SystemsProvider {
    pub fn new(ctx: ManagerContext) -> Self {
        SystemsProvider { ctx }
    }
}

#[async_trait]
impl InstanceProvider for SystemsProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        if class.name.matches(paths::HOST) {
            let mut per_host: HashMap<String, u32> = HashMap::new();
            for vm in ctx.vms()? {
                *per_host.entry(vm.host).or_default() += 1;
            }
            return Ok(ctx
                .hosts()?
                .iter()
                .map(|h| host_instance(h, per_host.get(&h.name).copied().unwrap_or(0)))
                .collect());
        }
        if class.name.matches(paths::VIRTUAL_SERVER) {
            let hosts = ctx.host_map()?;
            return Ok(ctx
                .vservers()?
                .iter()
                .map(|v| vs_instance(v, &hosts, ctx.busy(v)))
                .collect());
        }
        let hosts = ctx.hosts()?;
        let counts = DataCenterCounts {
            hosts: count(hosts.len()),
            hosts_up: count(hosts.iter().filter(|h| h.health == HostHealth::Up).count()),
            vms: count(ctx.vms()?.len()),
            vservers: count(ctx.vservers()?.len()),
        };
        Ok(vec![datacenter_instance(&ctx.name, counts)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use vine_coordinator::vni::HostCapacity;

    fn host(name: &str, health: HostHealth) -> HostRecord {
        HostRecord {
            name: name.into(),
            url: "http://127.0.0.1:1".into(),
            prefix: Some("KVM".into()),
            system_name: Some(name.into()),
            health,
            last_seen: Some(0),
            last_error: None,
            capacity: Some(HostCapacity {
                vcpus: 8,
                memory_mib: 16384,
            }),
            labels: Default::default(),
            maintenance: false,
            ..HostRecord::new("", "")
        }
    }

    /// A stored record, as the coordinator writes it.
    fn vs(desired: u32, on: &[(&str, &str)]) -> VsRecord {
        let nodes: Vec<_> = on
            .iter()
            .enumerate()
            .map(|(i, (h, state))| json!({"vm": format!("web-{i}"), "host": h, "addr": null, "state": state}))
            .collect();
        serde_json::from_value(json!({
            "name": "web",
            "template": {"name": "web", "vcpus": 1, "memory_mib": 256},
            "desired": desired,
            "nodes": nodes,
            "bind": "127.0.0.1:8080",
            "node_port": 80,
            "pool": null,
        }))
        .unwrap()
    }

    #[test]
    fn unreachable_host_reports_lost_communication() {
        let i = host_instance(&host("a", HostHealth::Unreachable), 2);
        assert_eq!(i.get("CommunicationStatus"), Some(&3u16.into()));
        assert_eq!(i.get("OperationalStatus"), Some(&vec![13u16].into()));
        let i = host_instance(&host("a", HostHealth::Up), 2);
        assert_eq!(i.get("HealthState"), Some(&5u16.into()));
        assert_eq!(i.get("NumberOfProcessors"), Some(&8u64.into()));
    }

    #[test]
    fn virtual_server_is_degraded_when_short_of_nodes_or_a_host_is_lost() {
        let hosts: HashMap<_, _> = [("a", HostHealth::Up), ("b", HostHealth::Unreachable)]
            .into_iter()
            .map(|(n, h)| (n.to_string(), host(n, h)))
            .collect();
        let ok = vs_instance(&vs(2, &[("a", "ready"), ("a", "ready")]), &hosts, false);
        assert_eq!(ok.get("HealthState"), Some(&5u16.into()));
        assert_eq!(ok.get("ActualNodes"), Some(&2u32.into()));
        assert_eq!(ok.get("EnabledState"), Some(&2u16.into()));
        let short = vs_instance(&vs(2, &[("a", "ready"), ("a", "creating")]), &hosts, true);
        assert_eq!(short.get("HealthState"), Some(&10u16.into()));
        assert_eq!(short.get("ActualNodes"), Some(&1u32.into()));
        let lost = vs_instance(&vs(2, &[("a", "ready"), ("b", "ready")]), &hosts, false);
        assert_eq!(lost.get("OperationalStatus"), Some(&vec![3u16].into()));
        let starting = vs_instance(&vs(2, &[]), &hosts, true);
        assert_eq!(starting.get("EnabledState"), Some(&10u16.into()));
    }
}
