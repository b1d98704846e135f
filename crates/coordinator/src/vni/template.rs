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

/// What a resize asks of a VM's CPU besides its count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuAllocation {
    /// CPU weight against the other VMs on the host (the RASD's Weight).
    pub shares: Option<u32>,
    /// The most CPU time each vCPU may use, percent of one host core
    /// (1..=100, 100 = no cap; the RASD's CPULimit).
    pub limit_pct: Option<u32>,
    /// CPU time guaranteed to each vCPU, percent of one host core (0..=100,
    /// 0 = none; the RASD's CPUReservation, admitted by the host).
    pub reservation_pct: Option<u32>,
}

impl CpuAllocation {
    pub fn is_empty(&self) -> bool {
        *self == CpuAllocation::default()
    }
}

/// A processor RASD for ModifyResourceSettings: `vcpus` when given, the
/// shares as its Weight (DSP1044), the limit and reservation as CPULimit
/// and CPUReservation. Nothing asked: `None`.
pub(crate) fn processor_change(
    prefix: &str,
    vm: &str,
    vcpus: Option<u32>,
    cpu: CpuAllocation,
) -> Option<CimInstance> {
    let mut r = match vcpus {
        Some(n) => processor_rasd(prefix, vm, n),
        None if !cpu.is_empty() => {
            CimInstance::new(format!("{prefix}_ProcResourceAllocationSettingData"))
                .with("InstanceID", format!("{vm}/proc"))
                .with("ElementName", "processors")
                .with("ResourceType", CimValue::Uint16(3))
        }
        None => return None,
    };
    for (name, v) in [
        ("Weight", cpu.shares),
        ("CPULimit", cpu.limit_pct),
        ("CPUReservation", cpu.reservation_pct),
    ] {
        if let Some(v) = v {
            r.set(name, CimValue::Uint32(v));
        }
    }
    Some(r)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_shares_and_time_travel_on_the_processor_rasd() {
        assert!(processor_change("KVM", "x", None, CpuAllocation::default()).is_none());
        let shares = |w| CpuAllocation {
            shares: Some(w),
            ..Default::default()
        };
        let both = processor_change("KVM", "x", Some(2), shares(2048)).unwrap();
        assert_eq!(
            both.class_name.as_str(),
            "KVM_ProcResourceAllocationSettingData"
        );
        assert_eq!(both.get_str("InstanceID"), Some("x/proc"));
        assert_eq!(both.get("VirtualQuantity"), Some(&CimValue::Uint64(2)));
        assert_eq!(both.get("Weight"), Some(&CimValue::Uint32(2048)));
        assert!(both.get("CPULimit").is_none() && both.get("CPUReservation").is_none());
        // Shares alone leave the vCPUs unsaid, so the agent keeps them.
        let alone = processor_change("Xen", "x", None, shares(512)).unwrap();
        assert_eq!(alone.get("Weight"), Some(&CimValue::Uint32(512)));
        assert!(alone.get("VirtualQuantity").is_none());
        let plain = processor_change("KVM", "x", Some(1), CpuAllocation::default()).unwrap();
        assert!(plain.get("Weight").is_none());
        // CPU time in percent of a core per vCPU; `Limit` keeps meaning
        // the most vCPUs, so it is not used for it.
        let time = CpuAllocation {
            shares: None,
            limit_pct: Some(50),
            reservation_pct: Some(0),
        };
        let t = processor_change("KVM", "x", None, time).unwrap();
        assert_eq!(t.get("CPULimit"), Some(&CimValue::Uint32(50)));
        assert_eq!(t.get("CPUReservation"), Some(&CimValue::Uint32(0)));
        assert!(t.get("Limit").is_none() && t.get("Weight").is_none());
    }
}
