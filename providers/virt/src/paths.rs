//! Identifiers follow libvirt-cim's conventions so that tools written for
//! it find things where they expect: VSSD `<P>:<dom>`, RASD and device
//! `<dom>/<devid>` (devid `proc`, `mem`, the disk's target, the NIC's MAC),
//! pools `ProcessorPool/0`, `DiskPool/<pool>`, services by fixed names.

use vine_cim::CimInstanceName;

use crate::context::VirtContext;
use crate::VIRT_NS;

/// Name of the management service instance.
pub const VSMS_NAME: &str = "Management Service";
/// Name of the migration service instance.
pub const MIGRATION_SERVICE_NAME: &str = "MigrationService";
/// Name of the resource pool configuration service instance.
pub const RPCS_NAME: &str = "RPCS";

impl VirtContext {
    /// `<P>_HostSystem.CreationClassName=..,Name=<host>`.
    pub fn host_path(&self) -> CimInstanceName {
        let cls = self.class("HostSystem");
        CimInstanceName::new(cls.as_str())
            .with_key("CreationClassName", cls.as_str())
            .with_key("Name", self.host_name.as_str())
            .with_namespace(VIRT_NS)
    }

    /// `<P>_ComputerSystem` of domain `dom`.
    pub fn system_path(&self, dom: &str) -> CimInstanceName {
        let cls = self.class("ComputerSystem");
        CimInstanceName::new(cls.as_str())
            .with_key("CreationClassName", cls.as_str())
            .with_key("Name", dom)
            .with_namespace(VIRT_NS)
    }

    /// The VSSD InstanceID of `dom`: `<P>:<dom>`.
    pub fn vssd_id(&self, dom: &str) -> String {
        format!("{}:{}", self.prefix, dom)
    }

    /// `<P>_VirtualSystemSettingData` of `dom`.
    pub fn vssd_path(&self, dom: &str) -> CimInstanceName {
        instance_id_path(&self.class("VirtualSystemSettingData"), &self.vssd_id(dom))
    }

    /// A service hosted on this host (`base` is `VirtualSystemManagementService`,
    /// `VirtualSystemMigrationService`, `ResourcePoolConfigurationService`).
    pub fn service_path(&self, base: &str, name: &str) -> CimInstanceName {
        let cls = self.class(base);
        CimInstanceName::new(cls.as_str())
            .with_key("SystemCreationClassName", self.class("HostSystem").as_str())
            .with_key("SystemName", self.host_name.as_str())
            .with_key("CreationClassName", cls.as_str())
            .with_key("Name", name)
            .with_namespace(VIRT_NS)
    }

    /// A logical device of domain `dom` (`base` is `Processor`, `Memory`,
    /// `LogicalDisk`, `NetworkPort`); DeviceID `<dom>/<devid>`.
    pub fn device_path(&self, base: &str, dom: &str, devid: &str) -> CimInstanceName {
        let cls = self.class(base);
        CimInstanceName::new(cls.as_str())
            .with_key(
                "SystemCreationClassName",
                self.class("ComputerSystem").as_str(),
            )
            .with_key("SystemName", dom)
            .with_key("CreationClassName", cls.as_str())
            .with_key("DeviceID", device_id(dom, devid).as_str())
            .with_namespace(VIRT_NS)
    }
}

/// A path keyed by InstanceID alone (settings, pools, capabilities, jobs).
pub fn instance_id_path(class: &str, id: &str) -> CimInstanceName {
    CimInstanceName::new(class)
        .with_key("InstanceID", id)
        .with_namespace(VIRT_NS)
}

/// `<dom>/<devid>`: RASD InstanceIDs and device DeviceIDs.
pub fn device_id(dom: &str, devid: &str) -> String {
    format!("{dom}/{devid}")
}

/// Splits a RASD InstanceID or DeviceID into (domain, devid) at the first
/// `/`; `None` when it has none.
pub fn split_device_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(d, v)| !d.is_empty() && !v.is_empty())
}

/// Splits a VSSD InstanceID `<P>:<dom>` into (prefix, domain).
pub fn split_vssd_id(id: &str) -> Option<(&str, &str)> {
    id.split_once(':')
        .filter(|(p, d)| !p.is_empty() && !d.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_split_at_the_first_separator() {
        assert_eq!(
            split_device_id("web/00:16:3e:01:02:03"),
            Some(("web", "00:16:3e:01:02:03"))
        );
        assert_eq!(split_device_id("web/"), None);
        assert_eq!(split_vssd_id("KVM:web:1"), Some(("KVM", "web:1")));
        assert_eq!(split_vssd_id("KVM"), None);
    }
}
