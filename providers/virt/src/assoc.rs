//! The associations between the host, its virtual systems, their settings,
//! devices, services and capabilities:
//!
//! | class | from → to |
//! |---|---|
//! | SystemDevice | ComputerSystem → Processor, Memory, LogicalDisk, NetworkPort; HostSystem → HostProcessor, HostMemory |
//! | HostedDependency | HostSystem → ComputerSystem |
//! | SettingsDefineState | ComputerSystem ↔ VSSD, each device ↔ its RASD |
//! | VirtualSystemSettingDataComponent | VSSD → RASDs |
//! | ElementSettingData | ComputerSystem → VSSD |
//! | HostedService | HostSystem → every service in [`StaticLinks`] |
//! | ElementCapabilities | ComputerSystem → ELEC, plus the pairs in [`StaticLinks`] |
//!
//! Other providers join HostedService and ElementCapabilities by declaring
//! their services and capabilities in `ctx.links` when installed; this
//! provider serves them all.
//!
//! [`StaticLinks`]: crate::context::StaticLinks

use async_trait::async_trait;
use vine_cim::{CimClass, CimInstance, CimInstanceName, CimResult};
use vine_wbem::provider::{AssociationProvider, InstanceProvider, RequestContext};

use crate::context::VirtContext;
use crate::devices;
use crate::paths::{device_id, instance_id_path, split_device_id, split_vssd_id};
use crate::rasd::RasdKind;
use crate::view::{self, DomainView};

/// The association classes this module serves, by base name.
pub const ASSOC_CLASSES: [&str; 7] = [
    "SystemDevice",
    "HostedDependency",
    "SettingsDefineState",
    "VirtualSystemSettingDataComponent",
    "ElementSettingData",
    "HostedService",
    "ElementCapabilities",
];

/// An association instance of `class` joining two references.
pub fn link(class: &str, a: (&str, CimInstanceName), b: (&str, CimInstanceName)) -> CimInstance {
    let path = CimInstanceName::new(class)
        .with_key(a.0, a.1.clone())
        .with_key(b.0, b.1.clone())
        .with_namespace(crate::VIRT_NS);
    let mut i = CimInstance::new(class).with(a.0, a.1).with(b.0, b.1);
    i.path = Some(path);
    i
}

/// Serves the association classes in [`ASSOC_CLASSES`].
pub struct AssocProvider {
    ctx: VirtContext,
}

impl AssocProvider {
    pub fn new(ctx: VirtContext) -> Self {
        AssocProvider { ctx }
    }

    fn rasd_path(&self, kind: RasdKind, dom: &str, devid: &str) -> CimInstanceName {
        instance_id_path(&self.ctx.class(kind.class_base()), &device_id(dom, devid))
    }

    fn rasd_paths(&self, v: &DomainView) -> Vec<CimInstanceName> {
        let dom = v.name();
        let mut out = vec![
            self.rasd_path(RasdKind::Proc, dom, "proc"),
            self.rasd_path(RasdKind::Mem, dom, "mem"),
        ];
        out.extend(
            v.spec
                .disks
                .iter()
                .map(|d| self.rasd_path(RasdKind::Disk, dom, &d.target)),
        );
        out.extend(
            v.spec
                .nics
                .iter()
                .filter_map(|n| n.mac.as_deref())
                .map(|m| self.rasd_path(RasdKind::Net, dom, m)),
        );
        out
    }

    /// The instances of association `base` that involve domain `v`.
    fn for_domain(&self, base: &str, v: &DomainView) -> Vec<CimInstance> {
        let ctx = &self.ctx;
        let class = ctx.class(base);
        let dom = v.name();
        let system = ctx.system_path(dom);
        let device_paths = |b: &str| -> Vec<CimInstanceName> {
            devices::devices_of(ctx, b, v)
                .into_iter()
                .filter_map(|i| i.path)
                .collect()
        };
        match base {
            "SystemDevice" => devices::DEVICE_CLASSES
                .iter()
                .flat_map(|b| device_paths(b))
                .map(|d| {
                    link(
                        &class,
                        ("GroupComponent", system.clone()),
                        ("PartComponent", d),
                    )
                })
                .collect(),
            "HostedDependency" => vec![link(
                &class,
                ("Antecedent", ctx.host_path()),
                ("Dependent", system),
            )],
            "SettingsDefineState" => {
                let mut out = vec![link(
                    &class,
                    ("ManagedElement", system),
                    ("SettingData", ctx.vssd_path(dom)),
                )];
                let pair = |dev: CimInstanceName, rasd: CimInstanceName| {
                    link(&class, ("ManagedElement", dev), ("SettingData", rasd))
                };
                for p in device_paths("Processor") {
                    out.push(pair(p, self.rasd_path(RasdKind::Proc, dom, "proc")));
                }
                for p in device_paths("Memory") {
                    out.push(pair(p, self.rasd_path(RasdKind::Mem, dom, "mem")));
                }
                for p in device_paths("LogicalDisk")
                    .into_iter()
                    .chain(device_paths("NetworkPort"))
                {
                    let devid = p
                        .key_str("DeviceID")
                        .and_then(split_device_id)
                        .map(|(_, d)| d.to_string())
                        .unwrap_or_default();
                    let kind = if p.class_name.matches(&ctx.class("LogicalDisk")) {
                        RasdKind::Disk
                    } else {
                        RasdKind::Net
                    };
                    out.push(pair(p, self.rasd_path(kind, dom, &devid)));
                }
                out
            }
            "VirtualSystemSettingDataComponent" => self
                .rasd_paths(v)
                .into_iter()
                .map(|r| {
                    link(
                        &class,
                        ("GroupComponent", ctx.vssd_path(dom)),
                        ("PartComponent", r),
                    )
                })
                .collect(),
            "ElementSettingData" => {
                let mut l = link(
                    &class,
                    ("ManagedElement", system),
                    ("SettingData", ctx.vssd_path(dom)),
                );
                // 1 = Is Default / Is Current / Is Next: a VM has one
                // configuration.
                l.set("IsDefault", 1u16);
                l.set("IsCurrent", 1u16);
                l.set("IsNext", 1u16);
                vec![l]
            }
            "ElementCapabilities" => vec![link(
                &class,
                ("ManagedElement", system),
                (
                    "Capabilities",
                    instance_id_path(&ctx.class("EnabledLogicalElementCapabilities"), dom),
                ),
            )],
            _ => Vec::new(),
        }
    }

    /// The instances of association `base` that involve no domain.
    async fn host_level(&self, base: &str) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let class = ctx.class(base);
        if base == "ElementCapabilities" {
            // Pools that come and go are asked for each time; the
            // primordial pools' pairs are in `ctx.links`.
            let pairs = crate::capabilities::pool_capability_links(ctx).await?;
            return Ok(ctx
                .links
                .capabilities()
                .into_iter()
                .chain(pairs)
                .map(|(e, c)| link(&class, ("ManagedElement", e), ("Capabilities", c)))
                .collect());
        }
        Ok(match base {
            "SystemDevice" => {
                let h = ctx.call(|hv| hv.host_info()).await?;
                crate::host_resources::system_device_links(ctx, &h)
            }
            "HostedService" => ctx
                .links
                .hosted_services()
                .into_iter()
                .map(|s| link(&class, ("Antecedent", ctx.host_path()), ("Dependent", s)))
                .collect(),
            _ => Vec::new(),
        })
    }

    fn base<'a>(&self, class: &'a CimClass) -> &'a str {
        let n = class.name.as_str();
        n.split_once('_').map_or(n, |(_, b)| b)
    }

    /// The domain an object path belongs to, when it belongs to one.
    fn domain_of(&self, object: &CimInstanceName) -> Option<String> {
        let ctx = &self.ctx;
        let class = &object.class_name;
        if class.matches(&ctx.class("ComputerSystem")) {
            return object.key_str("Name").map(str::to_string);
        }
        if class.matches(&ctx.class("VirtualSystemSettingData")) {
            return object
                .key_str("InstanceID")
                .and_then(split_vssd_id)
                .map(|(_, d)| d.to_string());
        }
        if class.matches(&ctx.class("EnabledLogicalElementCapabilities")) {
            return object.key_str("InstanceID").map(str::to_string);
        }
        if RasdKind::all()
            .iter()
            .any(|k| class.matches(&ctx.class(k.class_base())))
        {
            return object
                .key_str("InstanceID")
                .and_then(split_device_id)
                .map(|(d, _)| d.to_string());
        }
        if devices::DEVICE_CLASSES
            .iter()
            .any(|b| class.matches(&ctx.class(b)))
        {
            return object.key_str("SystemName").map(str::to_string);
        }
        None
    }
}

#[async_trait]
impl InstanceProvider for AssocProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let base = self.base(class);
        let mut out = self.host_level(base).await?;
        if !matches!(base, "HostedService") {
            for v in view::load_all(&self.ctx).await? {
                out.extend(self.for_domain(base, &v));
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl AssociationProvider for AssocProvider {
    async fn references(
        &self,
        rc: &RequestContext,
        assoc_class: &CimClass,
        object: &CimInstanceName,
        _role: Option<&str>,
    ) -> CimResult<Vec<CimInstance>> {
        // Objects of one VM only need that VM read; the host's own devices
        // are linked to the host alone; anything else (the host, services)
        // may be linked to every VM.
        if crate::host_resources::is_host_resource(&self.ctx, object) {
            return self.host_level(self.base(assoc_class)).await;
        }
        let Some(dom) = self.domain_of(object) else {
            return self.enumerate_instances(rc, assoc_class).await;
        };
        let base = self.base(assoc_class);
        // A VM's devices are its own; the host's never name a VM object.
        let mut out = if base == "SystemDevice" {
            Vec::new()
        } else {
            self.host_level(base).await?
        };
        match view::load(&self.ctx, &dom).await {
            Ok(v) => out.extend(self.for_domain(base, &v)),
            Err(e) if e.status == vine_cim::CimStatus::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(out)
    }
}
