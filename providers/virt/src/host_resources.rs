//! The host's own resources (DSP1052 Computer System): `<P>_HostProcessor`
//! (one per socket libvirt reports), `<P>_HostMemory` and
//! `<P>_OperatingSystem`, joined to `<P>_HostSystem` by `<P>_SystemDevice`
//! (served by [`crate::assoc`]), `<P>_InstalledOS` and `<P>_RunningOS`
//! (served here; the dispatcher picks the ones naming an object).
//!
//! Processors and memory come from libvirt's node information; the
//! operating system from the hypervisor's [`host_os`], which only a
//! hypervisor on this machine can answer: for a remote URI there is no
//! operating system instance, and no association to one.
//!
//! [`host_os`]: vine_hypervisor::Hypervisor::host_os

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use vine_cim::{CimClass, CimDateTime, CimInstance, CimInstanceName, CimResult};
use vine_hypervisor::{HostInfo, HostOs, HvError};
use vine_wbem::provider::{InstanceProvider, RequestContext};

use crate::assoc::link;
use crate::context::VirtContext;
use crate::errors::to_cim;
use crate::monitor::{Element, Metric};
use crate::VIRT_NS;

/// The instance classes this module serves, by base name.
pub const HOST_RESOURCE_CLASSES: [&str; 3] = ["HostProcessor", "HostMemory", "OperatingSystem"];
/// The association classes this module serves, by base name.
pub const HOST_OS_ASSOCIATIONS: [&str; 2] = ["InstalledOS", "RunningOS"];

/// DeviceID of the host's memory.
pub const MEMORY_DEVICE_ID: &str = "Memory";
/// OSType 36 = LINUX (CIM_OperatingSystem); 1 = Other.
const OS_LINUX: u16 = 36;
const OS_OTHER: u16 = 1;

/// A logical device of the host (`base` is `HostProcessor` or `HostMemory`).
pub fn device_path(ctx: &VirtContext, base: &str, device_id: &str) -> CimInstanceName {
    let cls = ctx.class(base);
    CimInstanceName::new(cls.as_str())
        .with_key("SystemCreationClassName", ctx.class("HostSystem").as_str())
        .with_key("SystemName", ctx.host_name.as_str())
        .with_key("CreationClassName", cls.as_str())
        .with_key("DeviceID", device_id)
        .with_namespace(VIRT_NS)
}

/// `<P>_OperatingSystem` named `name`, on this host.
pub fn os_path(ctx: &VirtContext, name: &str) -> CimInstanceName {
    let cls = ctx.class("OperatingSystem");
    CimInstanceName::new(cls.as_str())
        .with_key("CSCreationClassName", ctx.class("HostSystem").as_str())
        .with_key("CSName", ctx.host_name.as_str())
        .with_key("CreationClassName", cls.as_str())
        .with_key("Name", name)
        .with_namespace(VIRT_NS)
}

fn with_keys(mut i: CimInstance, path: CimInstanceName) -> CimInstance {
    for (k, v) in &path.key_bindings {
        i.set(k.clone(), v.clone());
    }
    i.path = Some(path);
    i
}

/// Word size of an architecture libvirt names, where vine knows it.
fn width(arch: &str) -> Option<u16> {
    match arch {
        "x86_64" | "aarch64" | "ppc64" | "ppc64le" | "s390x" | "riscv64" | "mips64" => Some(64),
        "i686" | "i586" | "i386" | "armv7l" | "armv6l" | "ppc" | "riscv32" => Some(32),
        _ => None,
    }
}

/// Sockets libvirt reports, at least one.
fn sockets(h: &HostInfo) -> u32 {
    h.sockets.max(1)
}

/// The host's processors: one per socket, with its cores.
pub fn processors(ctx: &VirtContext, h: &HostInfo) -> Vec<CimInstance> {
    let load = ctx
        .monitor
        .latest()
        .into_iter()
        .find(|(e, _)| *e == Element::Host)
        .and_then(|(_, s)| s.value(Metric::CpuUtilization))
        .map(|p| p.clamp(0.0, 100.0).round() as u16);
    let cores = h
        .cores_per_socket
        .max(1)
        .saturating_mul(h.threads_per_core.max(1));
    (0..sockets(h))
        .map(|n| {
            let id = format!("CPU{n}");
            let mut i = CimInstance::new(ctx.class("HostProcessor"))
                .with("ElementName", format!("Processor {n}"))
                .with("Role", "Central Processor")
                // 1 = Other: libvirt names the model, not the SMBIOS family.
                .with("Family", 1u16)
                .with("OtherFamilyDescription", h.cpu_model.as_str())
                .with("CurrentClockSpeed", h.mhz)
                .with("MaxClockSpeed", h.mhz)
                .with(
                    "NumberOfEnabledCores",
                    u16::try_from(h.cores_per_socket.max(1)).unwrap_or(u16::MAX),
                )
                // 1 = CPU Enabled.
                .with("CPUStatus", 1u16)
                .with("UniqueID", format!("{}/{id}", h.uuid))
                .with("EnabledState", 2u16)
                .with("RequestedState", 12u16)
                .with("HealthState", 5u16)
                .with("OperationalStatus", vec![2u16])
                .with(
                    "Description",
                    format!("{} {} MHz, {} logical CPUs", h.cpu_model, h.mhz, cores),
                );
            if let Some(w) = width(&h.arch) {
                i.set("DataWidth", w);
                i.set("AddressWidth", w);
            }
            if let Some(l) = load {
                i.set("LoadPercentage", l);
            }
            with_keys(i, device_path(ctx, "HostProcessor", &id))
        })
        .collect()
}

/// The host's memory as one extent of 4 KiB blocks.
pub fn memory(ctx: &VirtContext, h: &HostInfo) -> CimInstance {
    const BLOCK: u64 = 4096;
    let blocks = h.memory_kib * 1024 / BLOCK;
    let i = CimInstance::new(ctx.class("HostMemory"))
        .with("ElementName", "System memory")
        .with("Volatile", true)
        .with("BlockSize", BLOCK)
        .with("NumberOfBlocks", blocks)
        .with("ConsumableBlocks", blocks)
        .with("Primordial", true)
        .with("StartingAddress", 0u64)
        // KiB here are CIM_Memory's "KiloBytes".
        .with("EndingAddress", h.memory_kib.saturating_sub(1))
        .with("EnabledState", 2u16)
        .with("RequestedState", 12u16)
        .with("HealthState", 5u16)
        .with("OperationalStatus", vec![2u16])
        .with(
            "Description",
            format!(
                "{} MiB, {} MiB free",
                h.memory_kib / 1024,
                h.free_memory_kib / 1024
            ),
        );
    with_keys(i, device_path(ctx, "HostMemory", MEMORY_DEVICE_ID))
}

/// The operating system instance.
pub fn operating_system(ctx: &VirtContext, h: &HostInfo, os: &HostOs) -> CimInstance {
    let linux = os.kernel.eq_ignore_ascii_case("linux");
    let mut i = CimInstance::new(ctx.class("OperatingSystem"))
        .with("ElementName", os.name.as_str())
        .with("Caption", os.name.as_str())
        .with("OSType", if linux { OS_LINUX } else { OS_OTHER })
        .with("Version", os.release.as_str())
        .with("LocalDateTime", CimDateTime::now())
        .with("TotalVisibleMemorySize", h.memory_kib)
        .with("FreePhysicalMemory", h.free_memory_kib)
        .with("EnabledState", 2u16)
        .with("RequestedState", 12u16)
        .with("HealthState", 5u16)
        .with("OperationalStatus", vec![2u16])
        .with(
            "Description",
            format!("{} {} (kernel)", os.kernel, os.release),
        );
    if !linux {
        i.set("OtherTypeDescription", os.kernel.as_str());
    }
    if let Some(b) = os.boot_time.and_then(|s| u64::try_from(s).ok()) {
        i.set(
            "LastBootUpTime",
            CimDateTime::from_system_time(SystemTime::UNIX_EPOCH + Duration::from_secs(b)),
        );
    }
    if let Some(t) = os.swap_total_kib {
        i.set("TotalSwapSpaceSize", t);
        i.set("TotalVirtualMemorySize", h.memory_kib + t);
        if let Some(f) = os.swap_free_kib {
            i.set("FreeVirtualMemory", h.free_memory_kib + f);
        }
    }
    if let Some(n) = os.processes {
        i.set("NumberOfProcesses", n);
    }
    with_keys(i, os_path(ctx, &os.name))
}

/// The host's operating system, `None` when the hypervisor cannot tell
/// (a remote host).
pub async fn host_os(ctx: &VirtContext) -> CimResult<Option<HostOs>> {
    let hv = ctx.hv.clone();
    match tokio::task::spawn_blocking(move || hv.host_os()).await {
        Ok(Ok(os)) => Ok(Some(os)),
        Ok(Err(HvError::Unsupported { what, .. })) => {
            tracing::debug!(what, "no operating system instance");
            Ok(None)
        }
        Ok(Err(e)) => Err(to_cim(&e)),
        Err(e) => Err(vine_cim::CimError::failed(format!(
            "hypervisor call did not complete: {e}"
        ))),
    }
}

/// `<P>_SystemDevice` instances from the host to its processors and memory.
pub fn system_device_links(ctx: &VirtContext, h: &HostInfo) -> Vec<CimInstance> {
    let class = ctx.class("SystemDevice");
    processors(ctx, h)
        .into_iter()
        .chain([memory(ctx, h)])
        .filter_map(|d| d.path)
        .map(|d| {
            link(
                &class,
                ("GroupComponent", ctx.host_path()),
                ("PartComponent", d),
            )
        })
        .collect()
}

/// Whether `path` is one of this module's instances (a host device or the
/// operating system).
pub fn is_host_resource(ctx: &VirtContext, path: &CimInstanceName) -> bool {
    HOST_RESOURCE_CLASSES
        .iter()
        .any(|b| path.class_name.matches(&ctx.class(b)))
}

/// Serves the host's processors, memory and operating system, and the
/// InstalledOS and RunningOS associations.
pub struct HostResourceProvider {
    ctx: VirtContext,
}

impl HostResourceProvider {
    pub fn new(ctx: VirtContext) -> Self {
        HostResourceProvider { ctx }
    }

    fn base<'a>(&self, class: &'a CimClass) -> &'a str {
        let n = class.name.as_str();
        n.split_once('_').map_or(n, |(_, b)| b)
    }

    async fn os_links(&self, base: &str) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let Some(os) = host_os(ctx).await? else {
            return Ok(Vec::new());
        };
        let class = ctx.class(base);
        let os = os_path(ctx, &os.name);
        Ok(vec![match base {
            "InstalledOS" => {
                let mut l = link(
                    &class,
                    ("GroupComponent", ctx.host_path()),
                    ("PartComponent", os),
                );
                l.set("PrimaryOS", true);
                l
            }
            _ => link(&class, ("Antecedent", os), ("Dependent", ctx.host_path())),
        }])
    }
}

#[async_trait]
impl InstanceProvider for HostResourceProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let base = self.base(class);
        if HOST_OS_ASSOCIATIONS.contains(&base) {
            return self.os_links(base).await;
        }
        let h = self.ctx.call(|hv| hv.host_info()).await?;
        Ok(match base {
            "HostProcessor" => processors(&self.ctx, &h),
            "HostMemory" => vec![memory(&self.ctx, &h)],
            _ => match host_os(&self.ctx).await? {
                Some(os) => vec![operating_system(&self.ctx, &h, &os)],
                None => Vec::new(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_size_follows_the_architecture() {
        assert_eq!(width("x86_64"), Some(64));
        assert_eq!(width("i686"), Some(32));
        assert_eq!(width("sparc"), None);
    }
}
