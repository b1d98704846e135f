//! Identifiers follow libvirt-cim's conventions so that tools written for
//! it find things where they expect: VSSD `<P>:<dom>`, RASD and device
//! `<dom>/<devid>` (devid `proc`, `mem`, the disk's target, the NIC's MAC),
//! pools `ProcessorPool/0`, `DiskPool/<pool>`, services by fixed names.

use vine_cim::CimInstanceName;
use vine_hypervisor::StoragePoolInfo;

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

/// PoolID of the host's (only) processor pool.
pub const PROCESSOR_POOL_ID: &str = "ProcessorPool/0";
/// PoolID of the host's (only) memory pool.
pub const MEMORY_POOL_ID: &str = "MemoryPool/0";
/// PoolID of the primordial disk pool (disks outside every storage pool).
pub const DISK_POOL_PRIMORDIAL: &str = "DiskPool/0";
/// PoolID of the primordial network pool (bridged NICs).
pub const NETWORK_POOL_PRIMORDIAL: &str = "NetworkPool/0";

/// `DiskPool/<libvirt storage pool>`.
pub fn disk_pool_id(pool: &str) -> String {
    format!("DiskPool/{pool}")
}

/// `NetworkPool/<libvirt network>`.
pub fn network_pool_id(net: &str) -> String {
    format!("NetworkPool/{net}")
}

/// Splits a PoolID into (kind, name): `DiskPool/images` → (`DiskPool`,
/// `images`).
pub fn split_pool_id(id: &str) -> Option<(&str, &str)> {
    id.split_once('/')
        .filter(|(k, n)| k.ends_with("Pool") && !n.is_empty())
}

/// The storage pool whose directory holds `path`, if any. A path with `..`
/// components is in no pool (it could climb out of one).
pub fn pool_for_disk<'a>(path: &str, pools: &'a [StoragePoolInfo]) -> Option<&'a StoragePoolInfo> {
    if path.split('/').any(|c| c == "..") {
        return None;
    }
    pools.iter().find(|p| {
        p.path.as_deref().is_some_and(|dir| {
            let dir = dir.trim_end_matches('/');
            !dir.is_empty()
                && path.len() > dir.len() + 1
                && path.starts_with(dir)
                && path.as_bytes()[dir.len()] == b'/'
        })
    })
}

/// The PoolID a disk at `path` is allocated from: its storage pool, or the
/// primordial disk pool when it is in none.
pub fn pool_id_for_disk(path: &str, pools: &[StoragePoolInfo]) -> String {
    pool_for_disk(path, pools)
        .map(|p| disk_pool_id(&p.name))
        .unwrap_or_else(|| DISK_POOL_PRIMORDIAL.to_string())
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

    fn pool(name: &str, path: &str) -> StoragePoolInfo {
        StoragePoolInfo {
            name: name.into(),
            path: Some(path.into()),
            capacity_bytes: 0,
            allocation_bytes: 0,
            available_bytes: 0,
            active: true,
        }
    }

    #[test]
    fn disks_belong_to_the_pool_that_holds_them() {
        let pools = vec![
            pool("images", "/var/lib/vine/images/"),
            pool("iso", "/srv/iso"),
        ];
        assert_eq!(
            pool_id_for_disk("/var/lib/vine/images/a.qcow2", &pools),
            "DiskPool/images"
        );
        assert_eq!(pool_id_for_disk("/srv/iso/x.iso", &pools), "DiskPool/iso");
        assert_eq!(pool_id_for_disk("/srv/isox/x.iso", &pools), "DiskPool/0");
        assert_eq!(
            pool_id_for_disk("/srv/iso/../etc/passwd", &pools),
            "DiskPool/0"
        );
        assert_eq!(pool_id_for_disk("/srv/iso", &pools), "DiskPool/0");
        assert_eq!(
            split_pool_id("DiskPool/images"),
            Some(("DiskPool", "images"))
        );
        assert_eq!(split_pool_id("images"), None);
    }
}
