//! What the manager asks an agent to create, and its DSP1042 form: one
//! VSSD and a RASD per resource, sent as embedded instances.

use serde::{Deserialize, Serialize};
use vine_cim::{CimInstance, CimValue};

/// A VM to define.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VmTemplate {
    pub name: String,
    pub vcpus: u32,
    pub memory_mib: u64,
    #[serde(default)]
    pub disks: Vec<DiskTemplate>,
    #[serde(default)]
    pub nics: Vec<NicTemplate>,
}

/// A disk backed by a host file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiskTemplate {
    /// Host path of the image.
    pub path: String,
    /// Guest device (`vda`).
    pub device: String,
}

/// A NIC on a host network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NicTemplate {
    /// libvirt network name (`default`).
    pub network: String,
    pub mac: Option<String>,
}

/// MiB, as a DSP0004 programmatic unit.
const MIB: &str = "byte*2^20";

impl VmTemplate {
    /// The VSSD for DefineSystem.
    pub fn system_settings(&self, prefix: &str) -> CimInstance {
        CimInstance::new(format!("{prefix}_VirtualSystemSettingData"))
            .with("InstanceID", format!("{prefix}:{}", self.name))
            .with("ElementName", self.name.as_str())
            .with("VirtualSystemIdentifier", self.name.as_str())
            .with("VirtualSystemType", prefix)
    }

    /// The RASDs for DefineSystem.
    pub fn resource_settings(&self, prefix: &str) -> Vec<CimInstance> {
        let mut out = vec![
            processor_rasd(prefix, &self.name, self.vcpus),
            memory_rasd(prefix, &self.name, self.memory_mib),
        ];
        for d in &self.disks {
            out.push(
                CimInstance::new(format!("{prefix}_DiskResourceAllocationSettingData"))
                    .with("InstanceID", format!("{}/{}", self.name, d.device))
                    .with("ElementName", d.device.as_str())
                    .with("ResourceType", CimValue::Uint16(17))
                    .with("VirtualDevice", d.device.as_str())
                    .with("Address", d.path.as_str()),
            );
        }
        for n in &self.nics {
            let mut i = CimInstance::new(format!("{prefix}_NetResourceAllocationSettingData"))
                .with("ElementName", n.network.as_str())
                .with("ResourceType", CimValue::Uint16(10))
                .with("NetworkType", "network")
                .with("PoolID", format!("NetworkPool/{}", n.network));
            if let Some(mac) = &n.mac {
                i.set("Address", mac.as_str());
                i.set("InstanceID", format!("{}/{mac}", self.name));
            }
            out.push(i);
        }
        out
    }
}

/// A processor RASD giving `vm` `vcpus` vCPUs.
pub(crate) fn processor_rasd(prefix: &str, vm: &str, vcpus: u32) -> CimInstance {
    CimInstance::new(format!("{prefix}_ProcResourceAllocationSettingData"))
        .with("InstanceID", format!("{vm}/proc"))
        .with("ElementName", "processors")
        .with("ResourceType", CimValue::Uint16(3))
        .with("VirtualQuantity", CimValue::Uint64(u64::from(vcpus)))
        .with("AllocationUnits", "count")
}

/// A memory RASD giving `vm` `mib` MiB.
pub(crate) fn memory_rasd(prefix: &str, vm: &str, mib: u64) -> CimInstance {
    CimInstance::new(format!("{prefix}_MemResourceAllocationSettingData"))
        .with("InstanceID", format!("{vm}/mem"))
        .with("ElementName", "memory")
        .with("ResourceType", CimValue::Uint16(4))
        .with("VirtualQuantity", CimValue::Uint64(mib))
        .with("AllocationUnits", MIB)
        .with("VirtualQuantityUnits", MIB)
}
