//! CIM settings ⇄ [`DomainSpec`]: the VSSD and RASDs a domain shows, and
//! the domain a client's VSSD and RASDs ask for.
//!
//! Units: memory is shown in KiB (`byte*2^10`, VirtualQuantity = current,
//! Limit = maximum); memory RASDs from clients may give AllocationUnits or
//! VirtualQuantityUnits as PUnits (`byte*2^20`) or libvirt-cim's words
//! (`MegaBytes`), and KiB when they give none, so a RASD read from vine
//! and written back means the same. Processor RASDs: VirtualQuantity =
//! vCPUs, Limit = the most vCPUs the VM may be given while running,
//! Weight (in ModifyResourceSettings) = the hypervisor's CPU shares,
//! CPULimit and CPUReservation = CPU time per vCPU ([`cpu`]).

/// CPU time (limit, reservation and its admission) on processor RASDs.
pub mod cpu;

use vine_cim::{CimError, CimInstance, CimResult, CimValue};
use vine_hypervisor::{
    BootDevice, Capabilities, DiskBus, DiskDevice, DiskSpec, DomainSpec, NicSource, NicSpec, OsKind,
};

use crate::context::VirtContext;
use crate::paths::{
    self, device_id, instance_id_path, network_pool_id, pool_for_disk, split_pool_id,
    NETWORK_POOL_PRIMORDIAL,
};
use crate::pools::{self, PoolKind};

/// ResourceType values (CIM_ResourceAllocationSettingData).
pub mod resource_type {
    pub const PROCESSOR: u16 = 3;
    pub const MEMORY: u16 = 4;
    pub const ETHERNET: u16 = 10;
    pub const DISK: u16 = 17;
}

/// The kinds of RASD vine understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RasdKind {
    Proc,
    Mem,
    Disk,
    Net,
}

impl RasdKind {
    /// The class base name (`ProcResourceAllocationSettingData`).
    pub fn class_base(self) -> &'static str {
        match self {
            RasdKind::Proc => "ProcResourceAllocationSettingData",
            RasdKind::Mem => "MemResourceAllocationSettingData",
            RasdKind::Disk => "DiskResourceAllocationSettingData",
            RasdKind::Net => "NetResourceAllocationSettingData",
        }
    }

    pub fn all() -> [RasdKind; 4] {
        [RasdKind::Proc, RasdKind::Mem, RasdKind::Disk, RasdKind::Net]
    }
}

/// The kind of a client's RASD: from its class name (as libvirt-cim does),
/// else from ResourceType for generic RASD classes.
pub fn kind_of(rasd: &CimInstance) -> CimResult<RasdKind> {
    let class = rasd.class_name.as_str().to_ascii_lowercase();
    for k in RasdKind::all() {
        if class.ends_with(&k.class_base().to_ascii_lowercase()) {
            return Ok(k);
        }
    }
    match uint(rasd, "ResourceType")? {
        Some(3) => Ok(RasdKind::Proc),
        Some(4) => Ok(RasdKind::Mem),
        Some(10) => Ok(RasdKind::Net),
        Some(15..=17 | 31) => Ok(RasdKind::Disk),
        Some(t) => Err(CimError::invalid_parameter(format!(
            "ResourceType {t} is not supported (use 3 processor, 4 memory, 17 disk, 10 network)"
        ))),
        None => Err(CimError::invalid_parameter(format!(
            "{} has no ResourceType: use a Proc/Mem/Disk/Net RASD class or set ResourceType",
            rasd.class_name
        ))),
    }
}

/// An unsigned integer property; strings of digits are accepted, negative
/// numbers and other text are refused with a message naming the property.
pub fn uint(inst: &CimInstance, name: &str) -> CimResult<Option<u64>> {
    let Some(v) = inst.get(name) else {
        return Ok(None);
    };
    let n = match v {
        CimValue::String(s) => s.trim().parse::<i128>().ok(),
        other => other.as_i128(),
    };
    match n {
        Some(n) if n >= 0 && n <= u64::MAX as i128 => Ok(Some(n as u64)),
        Some(n) => Err(CimError::invalid_parameter(format!(
            "{}.{name} must not be negative (got {n})",
            inst.class_name
        ))),
        None => Err(CimError::invalid_parameter(format!(
            "{}.{name} must be an unsigned integer",
            inst.class_name
        ))),
    }
}

fn string(inst: &CimInstance, name: &str) -> Option<String> {
    inst.get_str(name)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn boolean(inst: &CimInstance, name: &str) -> Option<bool> {
    match inst.get(name)? {
        CimValue::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        v => v.as_bool(),
    }
}

fn strings(inst: &CimInstance, name: &str) -> Vec<String> {
    match inst.get(name) {
        Some(CimValue::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(CimValue::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// KiB per unit of a memory unit string, `None` when unknown.
pub fn memory_unit_kib(units: &str) -> Option<(u64, u64)> {
    let u: String = units
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    // (multiply, divide) to get KiB.
    match u.as_str() {
        "byte" | "bytes" => Some((1, 1024)),
        "byte*2^10" | "kilobytes" | "kib" | "kb" => Some((1, 1)),
        "byte*2^20" | "megabytes" | "mib" | "mb" => Some((1024, 1)),
        "byte*2^30" | "gigabytes" | "gib" | "gb" => Some((1024 * 1024, 1)),
        _ => None,
    }
}

fn memory_kib(rasd: &CimInstance, value: u64) -> CimResult<u64> {
    let units = string(rasd, "VirtualQuantityUnits")
        .filter(|u| !u.eq_ignore_ascii_case("count"))
        .or_else(|| string(rasd, "AllocationUnits"));
    let (mul, div) = match &units {
        None => (1, 1),
        Some(u) => memory_unit_kib(u).ok_or_else(|| {
            CimError::invalid_parameter(format!(
                "memory unit `{u}` is not known (use byte*2^10, byte*2^20, byte*2^30)"
            ))
        })?,
    };
    value
        .checked_mul(mul)
        .map(|v| v / div)
        .ok_or_else(|| CimError::invalid_parameter("memory size is too large"))
}

// ------------------------------------------------------------ CIM → spec

/// The domain a client's VSSD describes, with no devices yet. The class
/// prefix decides the guest type: Xen guests are paravirtualized unless
/// IsFullVirt is true, LXC guests are containers.
pub fn spec_from_vssd(prefix: &str, vssd: &CimInstance) -> CimResult<DomainSpec> {
    let name = string(vssd, "VirtualSystemIdentifier")
        .or_else(|| string(vssd, "ElementName"))
        .ok_or_else(|| {
            CimError::invalid_parameter(
                "SystemSettings has no VirtualSystemIdentifier (the VM's name)",
            )
        })?;
    if name.contains('/') || name.contains(':') {
        return Err(CimError::invalid_parameter(format!(
            "VM name `{name}` must not contain `/` or `:`"
        )));
    }
    let mut spec = DomainSpec::new(&name, 1, 512);
    spec.uuid = string(vssd, "UUID");
    spec.description = strings(vssd, "Notes").into_iter().next();
    spec.os = os_from_vssd(prefix, vssd)?;
    Ok(spec)
}

fn boot_devices(vssd: &CimInstance) -> CimResult<Vec<BootDevice>> {
    let mut out = Vec::new();
    for d in strings(vssd, "BootDevices") {
        out.push(match d.to_ascii_lowercase().as_str() {
            "hd" | "disk" => BootDevice::Hd,
            "cdrom" | "cd" => BootDevice::Cdrom,
            "network" | "net" => BootDevice::Network,
            other => {
                return Err(CimError::invalid_parameter(format!(
                    "boot device `{other}` is not known (use hd, cdrom, network)"
                )))
            }
        });
    }
    if out.is_empty() {
        out.push(BootDevice::Hd);
    }
    Ok(out)
}

fn os_from_vssd(prefix: &str, vssd: &CimInstance) -> CimResult<OsKind> {
    if prefix.eq_ignore_ascii_case("LXC") {
        return Ok(OsKind::Container {
            init: string(vssd, "InitPath").unwrap_or_else(|| "/sbin/init".into()),
        });
    }
    if prefix.eq_ignore_ascii_case("Xen") && boolean(vssd, "IsFullVirt") != Some(true) {
        let pv = OsKind::XenPv {
            kernel: string(vssd, "Kernel"),
            initrd: string(vssd, "Ramdisk"),
            cmdline: string(vssd, "CommandLine"),
            bootloader: string(vssd, "Bootloader"),
        };
        if let OsKind::XenPv {
            kernel: None,
            bootloader: None,
            ..
        } = &pv
        {
            return Err(CimError::invalid_parameter(
                "a paravirtualized Xen guest needs Kernel or Bootloader (or set IsFullVirt=true)",
            ));
        }
        return Ok(pv);
    }
    Ok(OsKind::Hvm {
        boot: boot_devices(vssd)?,
    })
}

/// Applies a processor or memory RASD to `spec` (vCPUs checked against
/// `caps`).
pub fn apply_quantity(
    spec: &mut DomainSpec,
    rasd: &CimInstance,
    kind: RasdKind,
    caps: &Capabilities,
) -> CimResult<()> {
    match kind {
        RasdKind::Proc => {
            let n = uint(rasd, "VirtualQuantity")?.ok_or_else(|| {
                CimError::invalid_parameter("the processor RASD has no VirtualQuantity (vCPUs)")
            })?;
            let max = uint(rasd, "Limit")?.unwrap_or(n).max(n);
            check_vcpus(n.max(max), caps)?;
            spec.vcpus = n as u32;
            spec.max_vcpus = max as u32;
        }
        RasdKind::Mem => {
            let q = uint(rasd, "VirtualQuantity")?
                .or(uint(rasd, "Reservation")?)
                .ok_or_else(|| {
                    CimError::invalid_parameter("the memory RASD has no VirtualQuantity")
                })?;
            let kib = memory_kib(rasd, q)?;
            let max = match uint(rasd, "Limit")? {
                Some(l) => memory_kib(rasd, l)?.max(kib),
                None => kib,
            };
            check_memory(kib)?;
            spec.memory_kib = kib;
            spec.max_memory_kib = max;
        }
        RasdKind::Disk | RasdKind::Net => {}
    }
    Ok(())
}

/// A processor RASD's `Weight` (DSP1044: its priority against the other
/// VMs drawing on the host's processors), carried as the hypervisor's CPU
/// shares. `Reservation` is refused: vine's processor RASDs count vCPUs
/// and use `Limit` for the most vCPUs, so CPU time has its own properties
/// (`CPUReservation`, `CPULimit`, in [`cpu`]).
pub fn proc_weight(rasd: &CimInstance) -> CimResult<Option<u32>> {
    if uint(rasd, "Reservation")?.is_some_and(|r| r > 0) {
        return Err(CimError::not_supported(
            "a processor Reservation is not supported (this RASD counts vCPUs); give \
             CPUReservation (percent of one host core per vCPU) for guaranteed CPU time",
        ));
    }
    match uint(rasd, "Weight")? {
        None => Ok(None),
        Some(0) => Err(CimError::invalid_parameter(
            "the processor RASD's Weight is 0; give a relative CPU weight of 1 or more",
        )),
        Some(w) => u32::try_from(w)
            .map(Some)
            .map_err(|_| CimError::invalid_parameter(format!("Weight {w} does not fit a uint32"))),
    }
}

/// Refuses a vCPU count the host cannot give.
pub fn check_vcpus(n: u64, caps: &Capabilities) -> CimResult<()> {
    if n == 0 {
        return Err(CimError::invalid_parameter(
            "a VM needs at least 1 vCPU (processor RASD VirtualQuantity is 0)",
        ));
    }
    if caps.max_vcpus > 0 && n > u64::from(caps.max_vcpus) {
        return Err(CimError::invalid_parameter(format!(
            "{n} vCPUs is more than this host allows per VM ({}); ask for at most {}",
            caps.max_vcpus, caps.max_vcpus
        )));
    }
    Ok(())
}

/// Refuses memory sizes no guest can boot with.
pub fn check_memory(kib: u64) -> CimResult<()> {
    if kib < 1024 {
        return Err(CimError::invalid_parameter(format!(
            "memory of {kib} KiB is too small: give the VM at least 1 MiB \
             (memory RASD VirtualQuantity, in KiB unless AllocationUnits says otherwise)"
        )));
    }
    Ok(())
}

fn bus_for(target: &str, prefix: &str) -> DiskBus {
    if target.starts_with("vd") {
        DiskBus::Virtio
    } else if target.starts_with("hd") {
        DiskBus::Ide
    } else if target.starts_with("sd") {
        DiskBus::Scsi
    } else if target.starts_with("xvd") || prefix.eq_ignore_ascii_case("Xen") {
        DiskBus::Xen
    } else {
        DiskBus::Virtio
    }
}

/// The disk a disk RASD asks for; its path must lie in one of the host's
/// storage pools.
pub fn disk_from_rasd(
    prefix: &str,
    rasd: &CimInstance,
    caps: &Capabilities,
) -> CimResult<DiskSpec> {
    let target = string(rasd, "VirtualDevice").ok_or_else(|| {
        CimError::invalid_parameter(
            "the disk RASD has no VirtualDevice (the guest device, e.g. vdb)",
        )
    })?;
    if !target.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(CimError::invalid_parameter(format!(
            "disk VirtualDevice `{target}` must be a device name like vdb"
        )));
    }
    let device = match uint(rasd, "EmulatedType")?.unwrap_or(0) {
        0 => DiskDevice::Disk,
        1 => DiskDevice::Cdrom,
        t => {
            return Err(CimError::invalid_parameter(format!(
                "disk EmulatedType {t} is not supported (0 disk, 1 CD-ROM)"
            )))
        }
    };
    let source = string(rasd, "Address");
    match (&source, device) {
        (None, DiskDevice::Disk) => {
            return Err(CimError::invalid_parameter(format!(
                "disk {target} has no Address (the image path on the host)"
            )))
        }
        (Some(p), _) => check_disk_path(p, caps)?,
        (None, DiskDevice::Cdrom) => {}
    }
    let bus = match string(rasd, "BusType") {
        None => bus_for(&target, prefix),
        Some(b) => match b.to_ascii_lowercase().as_str() {
            "virtio" => DiskBus::Virtio,
            "ide" => DiskBus::Ide,
            "scsi" => DiskBus::Scsi,
            "sata" => DiskBus::Sata,
            "xen" => DiskBus::Xen,
            other => {
                return Err(CimError::invalid_parameter(format!(
                    "disk BusType `{other}` is not known (virtio, ide, scsi, sata, xen)"
                )))
            }
        },
    };
    Ok(DiskSpec {
        source,
        target,
        bus,
        device,
        format: string(rasd, "DriverType"),
        readonly: boolean(rasd, "readonly").unwrap_or(device == DiskDevice::Cdrom),
        capacity_bytes: None,
    })
}

/// Refuses a disk path outside every storage pool of the host.
pub fn check_disk_path(path: &str, caps: &Capabilities) -> CimResult<()> {
    if pool_for_disk(path, &caps.storage_pools).is_some() {
        return Ok(());
    }
    let dirs: Vec<String> = caps
        .storage_pools
        .iter()
        .filter_map(|p| p.path.as_ref().map(|d| format!("{} ({d})", p.name)))
        .collect();
    Err(CimError::invalid_parameter(format!(
        "disk path {path} is outside the host's storage pools; put the image in one of: {}",
        if dirs.is_empty() {
            "(this host has no storage pools)".to_string()
        } else {
            dirs.join(", ")
        }
    )))
}

/// The NIC a network RASD asks for.
pub fn nic_from_rasd(rasd: &CimInstance, caps: &Capabilities) -> CimResult<NicSpec> {
    let kind = string(rasd, "NetworkType").unwrap_or_else(|| "network".into());
    let source = match kind.to_ascii_lowercase().as_str() {
        "network" => {
            let net = match string(rasd, "PoolID") {
                Some(id) if id != NETWORK_POOL_PRIMORDIAL => match split_pool_id(&id) {
                    Some(("NetworkPool", n)) => n.to_string(),
                    _ => {
                        return Err(CimError::invalid_parameter(format!(
                            "network PoolID `{id}` is not of the form NetworkPool/<network>"
                        )))
                    }
                },
                _ => match string(rasd, "NetworkName") {
                    Some(n) => n,
                    None => default_network(caps)?,
                },
            };
            if !caps.networks.is_empty() && !caps.networks.iter().any(|n| n.name == net) {
                return Err(CimError::invalid_parameter(format!(
                    "network `{net}` does not exist on this host (networks: {})",
                    caps.networks
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            NicSource::Network(net)
        }
        "bridge" => NicSource::Bridge(string(rasd, "NetworkName").ok_or_else(|| {
            CimError::invalid_parameter("a bridged NIC needs NetworkName (the host bridge)")
        })?),
        other => {
            return Err(CimError::invalid_parameter(format!(
                "NetworkType `{other}` is not supported (network or bridge)"
            )))
        }
    };
    let mac = string(rasd, "Address");
    if let Some(m) = &mac {
        let ok = m.split(':').count() == 6
            && m.split(':')
                .all(|b| b.len() == 2 && b.chars().all(|c| c.is_ascii_hexdigit()));
        if !ok {
            return Err(CimError::invalid_parameter(format!(
                "NIC Address `{m}` is not a MAC address like 52:54:00:12:34:56"
            )));
        }
    }
    Ok(NicSpec {
        mac: mac.map(|m| m.to_ascii_lowercase()),
        source,
        model: string(rasd, "ResourceSubType"),
    })
}

fn default_network(caps: &Capabilities) -> CimResult<String> {
    caps.networks
        .iter()
        .find(|n| n.name == "default")
        .or_else(|| caps.networks.first())
        .map(|n| n.name.clone())
        .ok_or_else(|| {
            CimError::invalid_parameter(
                "the host has no virtual network; give NetworkName or PoolID",
            )
        })
}

/// A complete domain from a VSSD and RASDs (DefineSystem). With a
/// `reference` domain, its processors, memory and disks are the starting
/// point (its NICs get new MACs) and the RASDs override them.
pub fn spec_from_settings(
    prefix: &str,
    vssd: &CimInstance,
    rasds: &[CimInstance],
    caps: &Capabilities,
    reference: Option<&DomainSpec>,
) -> CimResult<DomainSpec> {
    let mut spec = spec_from_vssd(prefix, vssd)?;
    let (mut have_proc, mut have_mem) = (false, false);
    if let Some(r) = reference {
        spec.vcpus = r.vcpus;
        spec.max_vcpus = r.max_vcpus;
        spec.memory_kib = r.memory_kib;
        spec.max_memory_kib = r.max_memory_kib;
        spec.disks = r.disks.clone();
        spec.nics = r
            .nics
            .iter()
            .map(|n| NicSpec {
                mac: None,
                ..n.clone()
            })
            .collect();
        (have_proc, have_mem) = (true, true);
    }
    for r in rasds {
        let kind = kind_of(r)?;
        match kind {
            RasdKind::Proc => have_proc = true,
            RasdKind::Mem => have_mem = true,
            RasdKind::Disk => {
                let d = disk_from_rasd(prefix, r, caps)?;
                if let Some(pos) =
                    reference.and(spec.disks.iter().position(|x| x.target == d.target))
                {
                    // Overrides the reference's disk on the same device.
                    spec.disks[pos] = d;
                } else if spec.disks.iter().any(|x| x.target == d.target) {
                    return Err(CimError::invalid_parameter(format!(
                        "two disks use VirtualDevice {}",
                        d.target
                    )));
                } else {
                    spec.disks.push(d);
                }
            }
            RasdKind::Net => spec.nics.push(nic_from_rasd(r, caps)?),
        }
        apply_quantity(&mut spec, r, kind, caps)?;
    }
    if !have_proc || !have_mem {
        return Err(CimError::invalid_parameter(
            "ResourceSettings need a processor RASD and a memory RASD",
        ));
    }
    Ok(spec)
}

// ------------------------------------------------------------ spec → CIM

/// `<P>_VirtualSystemSettingData` of a domain.
pub fn vssd_instance(ctx: &VirtContext, spec: &DomainSpec, uuid: &str) -> CimInstance {
    let class = ctx.class("VirtualSystemSettingData");
    let id = ctx.vssd_id(&spec.name);
    let mut i = CimInstance::new(class.as_str())
        .with("InstanceID", id.as_str())
        .with("ElementName", spec.name.as_str())
        .with("VirtualSystemIdentifier", spec.name.as_str())
        .with("VirtualSystemType", ctx.prefix.as_str())
        .with("Caption", "Virtual System")
        .with("Description", "Virtual System")
        .with("UUID", uuid);
    if let Some(d) = &spec.description {
        i.set("Notes", vec![d.as_str()]);
    }
    match &spec.os {
        OsKind::Hvm { boot } => {
            let devs: Vec<&str> = boot
                .iter()
                .map(|b| match b {
                    BootDevice::Hd => "hd",
                    BootDevice::Cdrom => "cdrom",
                    BootDevice::Network => "network",
                })
                .collect();
            if !devs.is_empty() {
                i.set("BootDevices", devs);
            }
            if ctx.prefix.eq_ignore_ascii_case("Xen") {
                i.set("IsFullVirt", true);
            }
        }
        OsKind::XenPv {
            kernel,
            initrd,
            cmdline,
            bootloader,
        } => {
            i.set("IsFullVirt", false);
            for (k, v) in [
                ("Kernel", kernel),
                ("Ramdisk", initrd),
                ("CommandLine", cmdline),
                ("Bootloader", bootloader),
            ] {
                if let Some(v) = v {
                    i.set(k, v.as_str());
                }
            }
        }
        OsKind::Container { init } => i.set("InitPath", init.as_str()),
    }
    i.path = Some(instance_id_path(&class, &id));
    i
}

fn rasd_base(ctx: &VirtContext, kind: RasdKind, dom: &str, devid: &str, rt: u16) -> CimInstance {
    let class = ctx.class(kind.class_base());
    let id = device_id(dom, devid);
    let mut i = CimInstance::new(class.as_str())
        .with("InstanceID", id.as_str())
        .with("ResourceType", rt);
    i.path = Some(instance_id_path(&class, &id));
    i
}

/// The processor RASD of a domain.
pub fn proc_rasd(ctx: &VirtContext, spec: &DomainSpec) -> CimInstance {
    rasd_base(
        ctx,
        RasdKind::Proc,
        &spec.name,
        "proc",
        resource_type::PROCESSOR,
    )
    .with("ElementName", "Processors")
    .with("VirtualQuantity", u64::from(spec.vcpus))
    .with("VirtualQuantityUnits", "count")
    .with("AllocationUnits", "count")
    .with("Limit", u64::from(spec.max_vcpus.max(spec.vcpus)))
    .with(
        "PoolID",
        pools::pool_of(ctx, &spec.name, PoolKind::Processor),
    )
}

/// The memory RASD of a domain.
pub fn mem_rasd(ctx: &VirtContext, spec: &DomainSpec) -> CimInstance {
    rasd_base(ctx, RasdKind::Mem, &spec.name, "mem", resource_type::MEMORY)
        .with("ElementName", "Memory")
        .with("VirtualQuantity", spec.memory_kib)
        .with("Reservation", spec.memory_kib)
        .with("Limit", spec.max_memory_kib.max(spec.memory_kib))
        .with("VirtualQuantityUnits", "byte*2^10")
        .with("AllocationUnits", "byte*2^10")
        .with("PoolID", pools::pool_of(ctx, &spec.name, PoolKind::Memory))
}

/// The RASD of one disk.
pub fn disk_rasd(
    ctx: &VirtContext,
    dom: &str,
    d: &DiskSpec,
    caps: Option<&Capabilities>,
) -> CimInstance {
    let mut i = rasd_base(ctx, RasdKind::Disk, dom, &d.target, resource_type::DISK)
        .with("ElementName", format!("Disk {}", d.target))
        .with("VirtualDevice", d.target.as_str())
        .with(
            "EmulatedType",
            match d.device {
                DiskDevice::Disk => 0u16,
                DiskDevice::Cdrom => 1u16,
            },
        )
        .with(
            "BusType",
            match d.bus {
                DiskBus::Virtio => "virtio",
                DiskBus::Ide => "ide",
                DiskBus::Scsi => "scsi",
                DiskBus::Sata => "sata",
                DiskBus::Xen => "xen",
            },
        )
        .with("readonly", d.readonly);
    if let Some(src) = &d.source {
        i.set("Address", src.as_str());
        i.set("HostResource", vec![src.as_str()]);
        let pools = caps.map(|c| c.storage_pools.as_slice()).unwrap_or(&[]);
        i.set("PoolID", paths::pool_id_for_disk(src, pools));
    } else {
        i.set("PoolID", paths::DISK_POOL_PRIMORDIAL);
    }
    if let Some(f) = &d.format {
        i.set("DriverType", f.as_str());
    }
    if let Some(c) = d.capacity_bytes {
        i.set("VirtualQuantity", c);
        i.set("VirtualQuantityUnits", "byte");
        i.set("AllocationUnits", "byte");
    }
    i
}

/// The RASD of one NIC (none when libvirt has not given it a MAC yet).
pub fn net_rasd(ctx: &VirtContext, dom: &str, n: &NicSpec) -> Option<CimInstance> {
    let mac = n.mac.as_deref()?;
    let (kind, name, pool) = match &n.source {
        NicSource::Network(net) => ("network", net.as_str(), network_pool_id(net)),
        NicSource::Bridge(br) => ("bridge", br.as_str(), NETWORK_POOL_PRIMORDIAL.to_string()),
    };
    let mut i = rasd_base(ctx, RasdKind::Net, dom, mac, resource_type::ETHERNET)
        .with("ElementName", format!("NIC {mac}"))
        .with("Address", mac)
        .with("NetworkType", kind)
        .with("NetworkName", name)
        .with("PoolID", pool);
    if let Some(m) = &n.model {
        i.set("ResourceSubType", m.as_str());
    }
    Some(i)
}

/// Every RASD of a domain: processor, memory, disks, NICs.
pub fn rasd_instances(
    ctx: &VirtContext,
    spec: &DomainSpec,
    caps: Option<&Capabilities>,
) -> Vec<CimInstance> {
    let mut out = vec![proc_rasd(ctx, spec), mem_rasd(ctx, spec)];
    out.extend(
        spec.disks
            .iter()
            .map(|d| disk_rasd(ctx, &spec.name, d, caps)),
    );
    out.extend(
        spec.nics
            .iter()
            .filter_map(|n| net_rasd(ctx, &spec.name, n)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vine_hypervisor::{NetworkInfo, StoragePoolInfo};

    fn caps() -> Capabilities {
        Capabilities {
            guest_types: Vec::new(),
            max_vcpus: 8,
            storage_pools: vec![StoragePoolInfo {
                name: "images".into(),
                path: Some("/var/lib/vine/images".into()),
                capacity_bytes: 0,
                allocation_bytes: 0,
                available_bytes: 0,
                active: true,
            }],
            networks: vec![NetworkInfo {
                name: "default".into(),
                bridge: None,
                active: true,
            }],
        }
    }

    fn vssd(name: &str) -> CimInstance {
        CimInstance::new("KVM_VirtualSystemSettingData").with("VirtualSystemIdentifier", name)
    }

    fn proc(n: u64) -> CimInstance {
        CimInstance::new("KVM_ProcResourceAllocationSettingData").with("VirtualQuantity", n)
    }

    fn mem(q: CimValue, units: &str) -> CimInstance {
        CimInstance::new("KVM_MemResourceAllocationSettingData")
            .with("VirtualQuantity", q)
            .with("AllocationUnits", units)
    }

    #[test]
    fn a_full_definition_converts() {
        let disk = CimInstance::new("KVM_DiskResourceAllocationSettingData")
            .with("VirtualDevice", "vda")
            .with("Address", "/var/lib/vine/images/web.qcow2")
            .with("DriverType", "qcow2");
        let nic = CimInstance::new("CIM_ResourceAllocationSettingData")
            .with("ResourceType", 10u16)
            .with("PoolID", "NetworkPool/default");
        let spec = spec_from_settings(
            "KVM",
            &vssd("web"),
            &[proc(2), mem(CimValue::Uint64(512), "byte*2^20"), disk, nic],
            &caps(),
            None,
        )
        .unwrap();
        assert_eq!(spec.name, "web");
        assert_eq!((spec.vcpus, spec.memory_kib), (2, 512 * 1024));
        assert_eq!(spec.disks[0].bus, DiskBus::Virtio);
        assert_eq!(spec.nics[0].source, NicSource::Network("default".into()));
    }

    #[test]
    fn bad_quantities_say_what_to_fix() {
        let c = caps();
        let e = spec_from_settings(
            "KVM",
            &vssd("a"),
            &[proc(64), mem(CimValue::Uint64(512), "MegaBytes")],
            &c,
            None,
        )
        .unwrap_err();
        assert!(e.description.contains("at most 8"), "{}", e.description);
        let e = spec_from_settings(
            "KVM",
            &vssd("a"),
            &[proc(1), mem(CimValue::Sint64(-512), "MegaBytes")],
            &c,
            None,
        )
        .unwrap_err();
        assert!(e.description.contains("negative"), "{}", e.description);
        let e = spec_from_settings(
            "KVM",
            &vssd("a"),
            &[proc(1), mem(CimValue::Uint64(0), "MegaBytes")],
            &c,
            None,
        )
        .unwrap_err();
        assert!(e.description.contains("too small"), "{}", e.description);
        let e = spec_from_settings(
            "KVM",
            &vssd("a"),
            &[proc(1), mem(CimValue::Uint64(1), "parsecs")],
            &c,
            None,
        )
        .unwrap_err();
        assert!(e.description.contains("parsecs"), "{}", e.description);
    }

    #[test]
    fn disks_outside_the_pools_are_refused() {
        let disk = CimInstance::new("KVM_DiskResourceAllocationSettingData")
            .with("VirtualDevice", "vdb")
            .with("Address", "/etc/shadow");
        let e = disk_from_rasd("KVM", &disk, &caps()).unwrap_err();
        assert!(
            e.description.contains("images (/var/lib/vine/images)"),
            "{}",
            e.description
        );
    }

    #[test]
    fn xen_guests_are_paravirtualized_unless_full_virt() {
        let v = vssd("pv").with("Kernel", "/boot/vmlinuz");
        assert!(matches!(
            spec_from_vssd("Xen", &v).unwrap().os,
            OsKind::XenPv { .. }
        ));
        let v = vssd("hvm").with("IsFullVirt", true);
        assert!(matches!(
            spec_from_vssd("Xen", &v).unwrap().os,
            OsKind::Hvm { .. }
        ));
        assert!(spec_from_vssd("Xen", &vssd("nokernel")).is_err());
    }
}
