//! Object paths of the manager's classes, and of the VMs they refer to on
//! the agents.

use vine_cim::CimInstanceName;
use vine_coordinator::inventory::HostRecord;

use crate::VINE_NS;

pub const DATACENTER: &str = "VINE_DataCenter";
pub const HOST: &str = "VINE_Host";
pub const VIRTUAL_SERVER: &str = "VINE_VirtualServer";
pub const POOL: &str = "VINE_ResourcePool";
pub const JOB: &str = "VINE_ConcreteJob";
pub const SERVICE: &str = "VINE_VirtualServerService";
/// `Name` of the one virtual server service.
pub const SERVICE_NAME: &str = "VirtualServerService";

/// The namespace of the virtualization model on an agent.
pub const AGENT_NS: &str = "root/virt";

/// InstanceIDs of jobs are `VINE:<job id>` (DSP0004's `<org>:<local>`).
const JOB_ID_PREFIX: &str = "VINE:";

/// A `CIM_System` subclass instance: keys CreationClassName and Name.
pub fn system(class: &str, name: &str) -> CimInstanceName {
    CimInstanceName::new(class)
        .with_key("CreationClassName", class)
        .with_key("Name", name)
        .with_namespace(VINE_NS)
}

pub fn datacenter(name: &str) -> CimInstanceName {
    system(DATACENTER, name)
}

pub fn host(name: &str) -> CimInstanceName {
    system(HOST, name)
}

pub fn virtual_server(name: &str) -> CimInstanceName {
    system(VIRTUAL_SERVER, name)
}

/// The virtual server service, scoped by the data centre `dc`.
pub fn service(dc: &str) -> CimInstanceName {
    CimInstanceName::new(SERVICE)
        .with_key("SystemCreationClassName", DATACENTER)
        .with_key("SystemName", dc)
        .with_key("CreationClassName", SERVICE)
        .with_key("Name", SERVICE_NAME)
        .with_namespace(VINE_NS)
}

pub fn instance_id(class: &str, id: &str) -> CimInstanceName {
    CimInstanceName::new(class)
        .with_key("InstanceID", id)
        .with_namespace(VINE_NS)
}

/// `VINE_ConcreteJob.InstanceID="VINE:<job id>"`.
pub fn job(job_id: &str) -> CimInstanceName {
    instance_id(JOB, &format!("{JOB_ID_PREFIX}{job_id}"))
}

/// The job id in a `VINE_ConcreteJob` InstanceID.
pub fn job_id_of(instance_id: &str) -> Option<&str> {
    instance_id
        .strip_prefix(JOB_ID_PREFIX)
        .filter(|s| !s.is_empty())
}

/// `host:port` of a WBEM URL, the form a CIM-XML `HOST` element takes.
pub fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let auth = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Credentials never belong in a path the manager hands out.
    let auth = auth.rsplit_once('@').map_or(auth, |(_, a)| a);
    (!auth.is_empty()).then_some(auth)
}

/// The VM `vm`'s `<P>_ComputerSystem` on `host`'s agent, as a full path
/// (the agent's address and `root/virt`), so a client can follow it there.
/// Before the agent's class prefix is known (or when the host is no longer
/// managed) the path names `CIM_ComputerSystem`.
pub fn remote_vm(host: Option<&HostRecord>, vm: &str) -> CimInstanceName {
    let class = match host.and_then(|h| h.prefix.as_deref()) {
        Some(p) => format!("{p}_ComputerSystem"),
        None => "CIM_ComputerSystem".to_string(),
    };
    let mut path = CimInstanceName::new(class.as_str())
        .with_key("CreationClassName", class.as_str())
        .with_key("Name", vm)
        .with_namespace(AGENT_NS);
    path.host = host.and_then(|h| authority(&h.url)).map(str::to_string);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_host_and_port_only() {
        assert_eq!(authority("http://127.0.0.1:15988"), Some("127.0.0.1:15988"));
        assert_eq!(
            authority("https://h.example:5989/cimom"),
            Some("h.example:5989")
        );
        assert_eq!(authority("http://u:p@h:1"), Some("h:1"));
        assert_eq!(authority("http://"), None);
    }

    #[test]
    fn job_ids_round_trip() {
        let p = job("job-1-ab");
        let id = p.key_str("InstanceID").unwrap();
        assert_eq!(job_id_of(id), Some("job-1-ab"));
        assert_eq!(job_id_of("job-1-ab"), None);
        assert_eq!(job_id_of("VINE:"), None);
    }
}
