//! Virtual system migration (DSP1081): `<P>_VirtualSystemMigrationService`
//! (Name `MigrationService`), its capabilities and default setting data.
//!
//! 1. The destination is a libvirt URI (`test:///abs/b.xml`,
//!    `qemu+ssh://h/system`), a vine agent's WBEM URL
//!    (`http://b:15988`), a peer name from the agent's `--peer NAME=TARGET`
//!    map ([`VirtContext::peers`], TARGET being either), or for qemu/xen a
//!    host name, reached as `qemu+ssh://NAME/system` (TransportType in the
//!    MigrationSettingData picks ssh, tls or tcp). The ...ToSystem methods
//!    take the destination's host system by reference and resolve its
//!    `Name` the same way.
//! 2. CheckVirtualSystemIsMigratableTo{Host,System} asks the hypervisor
//!    (or the peer agent) and answers IsMigratable (return 0 either way;
//!    the reason for a no is logged).
//! 3. MigrateVirtualSystemTo{Host,System} takes the VM's lock, starts a
//!    `<P>_ConcreteJob` and returns 4096 (...ToSystem also returns the
//!    VM's path on the destination in NewComputerSystem). The job's Name
//!    says whether the move is live or offline: libvirt live migration for
//!    qemu/xen; between test-driver hosts of this process the definition is
//!    moved and the guest restarted; to a peer agent the VM is defined
//!    there through CIM ([`crate::peer`]). A failure ends the job in
//!    Exception with a message that says where the VM is.
//! 4. NewResourceSettingData may resize the VM's processors and memory on
//!    the destination; NewSystemSettingData and disk or NIC changes are
//!    refused (CIM_ERR_NOT_SUPPORTED).

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_hypervisor::{Capabilities, DomainSpec, DriverKind, HvError, MigrationMode, Scope};
use vine_wbem::provider::{
    param, InstanceProvider, MethodProvider, MethodResult, MethodTarget, RequestContext,
};

use crate::context::VirtContext;
use crate::errors::to_cim;
use crate::jobs::{JobControl, JobSpec};
use crate::paths::{instance_id_path, MIGRATION_SERVICE_NAME};
use crate::peer::{self, PeerAgent};
use crate::rasd::{self, RasdKind};
use crate::view;
use crate::vsms::{embedded_instance, embedded_instances};

/// InstanceID of the migration capabilities (libvirt-cim's).
pub const CAPS_ID: &str = "MigrationCapabilities";
/// InstanceID of the default migration setting data (libvirt-cim's).
pub const MSD_ID: &str = "MigrationSettingData";

/// MigrationType values.
const LIVE: u16 = 2;
/// TransportType values.
const SSH: u16 = 2;
const TLS: u16 = 3;
const TLS_STRICT: u16 = 4;
const TCP: u16 = 5;

pub fn service_path(ctx: &VirtContext) -> CimInstanceName {
    ctx.service_path("VirtualSystemMigrationService", MIGRATION_SERVICE_NAME)
}

pub fn caps_path(ctx: &VirtContext) -> CimInstanceName {
    instance_id_path(&ctx.class("VirtualSystemMigrationCapabilities"), CAPS_ID)
}

pub fn msd_path(ctx: &VirtContext) -> CimInstanceName {
    instance_id_path(&ctx.class("VirtualSystemMigrationSettingData"), MSD_ID)
}

fn service_instance(ctx: &VirtContext) -> CimInstance {
    crate::host::running_service(service_path(ctx), "Virtual system migration service")
}

fn caps_instance(ctx: &VirtContext) -> CimInstance {
    let path = caps_path(ctx);
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", CAPS_ID)
        .with("ElementName", "Virtual system migration capabilities")
        // 4 CheckVirtualSystemIsMigratableToHost, 5 ...ToSystem.
        .with("SynchronousMethodsSupported", vec![4u16, 5])
        // 2 MigrateVirtualSystemToHost, 3 ...ToSystem.
        .with("AsynchronousMethodsSupported", vec![2u16, 3])
        // 2 domain name, 3 IPv4, 4 IPv6 (for qemu/xen); URIs and peer names
        // go beyond the map.
        .with("DestinationHostFormatsSupported", vec![2u16, 3, 4]);
    inst.path = Some(path);
    inst
}

fn msd_instance(ctx: &VirtContext) -> CimInstance {
    let path = msd_path(ctx);
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", MSD_ID)
        .with("ElementName", "Default migration settings")
        .with("MigrationType", LIVE)
        .with("Priority", 0u16)
        .with("TransportType", SSH);
    inst.path = Some(path);
    inst
}

/// `<P>_SettingsDefineCapabilities` from the capabilities to the default
/// setting data (ValueRole 0 Default, ValueRange 0 Point).
pub fn sdc_link(ctx: &VirtContext) -> CimInstance {
    let mut inst = crate::pool_assoc::link(
        &ctx.class("SettingsDefineCapabilities"),
        ("GroupComponent", caps_path(ctx)),
        ("PartComponent", msd_path(ctx)),
    );
    inst.set("PropertyPolicy", 0u16);
    inst.set("ValueRole", 0u16);
    inst.set("ValueRange", 0u16);
    inst
}

/// Where a VM goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A libvirt URI this process opens (`test:///b.xml`,
    /// `qemu+ssh://b/system`): libvirt migration, or an offline move
    /// between test hosts of this process.
    Libvirt(String),
    /// A vine agent's WBEM URL: an offline move through its CIM interface
    /// ([`crate::peer`]).
    Agent(String),
}

impl Destination {
    /// The URI or URL, for messages and job names.
    pub fn label(&self) -> &str {
        match self {
            Destination::Libvirt(u) | Destination::Agent(u) => u,
        }
    }

    fn of(target: &str) -> Destination {
        if peer::is_agent_url(target) {
            Destination::Agent(target.trim().to_string())
        } else {
            Destination::Libvirt(target.trim().to_string())
        }
    }
}

/// Where `dest` (see the module doc) is.
pub fn resolve_destination(
    ctx: &VirtContext,
    dest: &str,
    transport: Option<u16>,
) -> CimResult<Destination> {
    let dest = dest.trim();
    if dest.is_empty() {
        return Err(CimError::invalid_parameter("DestinationHost is empty"));
    }
    if dest.contains("://") {
        return Ok(Destination::of(dest));
    }
    if let Some(target) = ctx.peers.get(dest) {
        return Ok(Destination::of(target));
    }
    let (scheme, path) = match ctx.hv.driver() {
        DriverKind::Qemu => ("qemu", "/system"),
        DriverKind::Xen => ("xen", "/system"),
        DriverKind::Lxc | DriverKind::Test => {
            return Err(CimError::invalid_parameter(format!(
                "destination `{dest}` is neither a libvirt URI, an agent URL nor a known peer; \
                 give one, or start the agent with --peer {dest}=URI"
            )))
        }
    };
    let (t, query) = match transport.unwrap_or(SSH) {
        SSH => ("ssh", ""),
        TLS => ("tls", "?no_verify=1"),
        TLS_STRICT => ("tls", ""),
        TCP => ("tcp", ""),
        other => {
            return Err(CimError::invalid_parameter(format!(
                "TransportType {other} is not supported: use 2 (SSH), 3 (TLS), 4 (TLS Strict) or 5 (TCP)"
            )))
        }
    };
    Ok(Destination::Libvirt(format!(
        "{scheme}+{t}://{dest}{path}{query}"
    )))
}

/// The arguments the four methods share.
struct Request {
    domain: String,
    dest: Destination,
    /// The host name the destination was given by (DestinationHost, or
    /// DestinationSystem's Name).
    dest_name: String,
    /// Processor and memory RASDs to apply on the destination.
    new_resources: Vec<CimInstance>,
}

/// Which method: the destination as a host address or as a reference.
#[derive(Clone, Copy, PartialEq, Eq)]
enum To {
    Host,
    System,
}

fn request(ctx: &VirtContext, params: &[CimParamValue], to: To) -> CimResult<Request> {
    let domain = match param(params, "ComputerSystem") {
        Some(CimValue::Reference(r)) => r
            .key_str("Name")
            .ok_or_else(|| CimError::invalid_parameter("ComputerSystem has no Name key"))?
            .to_string(),
        _ => {
            return Err(CimError::invalid_parameter(
                "parameter ComputerSystem (the virtual system to move) is required",
            ))
        }
    };
    let dest_name = match to {
        To::Host => match param(params, "DestinationHost") {
            Some(CimValue::String(s)) => s.clone(),
            _ => {
                return Err(CimError::invalid_parameter(
                    "parameter DestinationHost is required",
                ))
            }
        },
        To::System => match param(params, "DestinationSystem") {
            Some(CimValue::Reference(r)) => r
                .key_str("Name")
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| {
                    CimError::invalid_parameter(
                        "DestinationSystem has no Name key: give the path of the destination's \
                         host system (its <P>_HostSystem)",
                    )
                })?
                .to_string(),
            _ => {
                return Err(CimError::invalid_parameter(
                    "parameter DestinationSystem (a reference to the destination host system) \
                     is required",
                ))
            }
        },
    };
    if dest_name.trim() == ctx.host_name {
        return Err(CimError::invalid_parameter(format!(
            "{dest_name} is this host; choose another destination"
        )));
    }
    let transport = match param(params, "MigrationSettingData") {
        Some(v) => match embedded_instance(v, "MigrationSettingData")?.get("TransportType") {
            Some(CimValue::Uint16(t)) => Some(*t),
            _ => None,
        },
        None => None,
    };
    if param(params, "NewSystemSettingData").is_some() {
        return Err(CimError::not_supported(
            "NewSystemSettingData is not supported: a VM keeps its system settings when it \
             moves; change them with ModifySystemSettings on the destination",
        ));
    }
    let new_resources = match param(params, "NewResourceSettingData") {
        Some(v) => embedded_instances(v, "NewResourceSettingData")?,
        None => Vec::new(),
    };
    for r in &new_resources {
        if !matches!(rasd::kind_of(r)?, RasdKind::Proc | RasdKind::Mem) {
            return Err(CimError::not_supported(
                "NewResourceSettingData may change only processors and memory; disks and NICs \
                 move as they are",
            ));
        }
    }
    let dest = resolve_destination(ctx, &dest_name, transport)?;
    if dest == Destination::Libvirt(ctx.hv.uri().to_string()) {
        return Err(CimError::invalid_parameter(format!(
            "{dest_name} is this host; choose another destination"
        )));
    }
    Ok(Request {
        domain,
        dest,
        dest_name,
        new_resources,
    })
}

/// `spec` with the processor and memory RASDs of `changes` applied,
/// checked against `caps` (none: the destination checks them itself).
fn resized(
    spec: &DomainSpec,
    changes: &[CimInstance],
    caps: Option<&Capabilities>,
) -> CimResult<DomainSpec> {
    let any = Capabilities {
        guest_types: Vec::new(),
        max_vcpus: 0,
        storage_pools: Vec::new(),
        networks: Vec::new(),
    };
    let mut out = spec.clone();
    for r in changes {
        rasd::apply_quantity(&mut out, r, rasd::kind_of(r)?, caps.unwrap_or(&any))?;
    }
    // The move resizes within the VM's limits; raising them is a
    // reconfiguration of its own.
    if out.vcpus > spec.max_vcpus.max(spec.vcpus) {
        return Err(CimError::invalid_parameter(format!(
            "{} vCPUs is above {}'s limit of {}: raise the limit with ModifyResourceSettings \
             before migrating",
            out.vcpus, spec.name, spec.max_vcpus
        )));
    }
    if out.memory_kib > spec.max_memory_kib.max(spec.memory_kib) {
        return Err(CimError::invalid_parameter(format!(
            "{} KiB of memory is above {}'s limit of {} KiB: raise the limit with \
             ModifyResourceSettings before migrating",
            out.memory_kib, spec.name, spec.max_memory_kib
        )));
    }
    out.max_vcpus = spec.max_vcpus.max(out.vcpus);
    out.max_memory_kib = spec.max_memory_kib.max(out.memory_kib);
    Ok(out)
}

/// Opens the libvirt destination `uri` and checks that `wanted` (the VM
/// with its new processors and memory) fits there.
fn check_quantities_at(uri: &str, wanted: &DomainSpec, active: bool) -> CimResult<()> {
    let dest = vine_hypervisor::open(uri).map_err(|e| to_cim(&e))?;
    let caps = dest.capabilities().map_err(|e| to_cim(&e))?;
    let host = dest.host_info().map_err(|e| to_cim(&e))?;
    rasd::check_vcpus(u64::from(wanted.vcpus), &caps)?;
    // A running VM needs the memory free there; a stopped one to fit.
    let room = if active {
        host.free_memory_kib
    } else {
        host.memory_kib
    };
    if wanted.memory_kib > room {
        return Err(CimError::failed(format!(
            "{} KiB of memory is more than {uri} can give ({room} KiB)",
            wanted.memory_kib
        )));
    }
    Ok(())
}

/// Applies the new processor and memory settings to `dom` on the libvirt
/// destination `uri` after the move.
fn resize_at(uri: &str, dom: &str, spec: &DomainSpec, changes: &[CimInstance]) -> CimResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let cim = |e: HvError| to_cim(&e);
    let dest = vine_hypervisor::open(uri).map_err(cim)?;
    let s = resized(spec, changes, None)?;
    let active = dest.domain(dom).map_err(cim)?.state.is_active();
    // The definition first, then the running VM (the test driver refuses
    // both in one call).
    let scopes: &[Scope] = if active {
        &[Scope::Config, Scope::Live]
    } else {
        &[Scope::Config]
    };
    for &sc in scopes {
        if s.vcpus != spec.vcpus {
            dest.set_vcpus(dom, s.vcpus, sc).map_err(cim)?;
        }
        if s.memory_kib != spec.memory_kib {
            dest.set_memory(dom, s.memory_kib, sc).map_err(cim)?;
        }
    }
    Ok(())
}

fn mode_word(m: MigrationMode) -> &'static str {
    match m {
        MigrationMode::Live => "Live",
        MigrationMode::Offline => "Offline",
    }
}

/// The path a ...ToSystem caller gets back: the VM on the destination,
/// with the destination as the path's host.
fn new_system_path(ctx: &VirtContext, req: &Request) -> CimInstanceName {
    let mut p = ctx.system_path(&req.domain);
    p.host = Some(match &req.dest {
        Destination::Agent(url) => url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .unwrap_or(url)
            .to_string(),
        Destination::Libvirt(_) => req.dest_name.clone(),
    });
    p
}

/// Serves the migration service, capabilities and setting data, and the
/// service's methods.
pub struct MigrationProvider {
    ctx: VirtContext,
}

impl MigrationProvider {
    pub fn new(ctx: VirtContext) -> Self {
        MigrationProvider { ctx }
    }

    pub fn classes(ctx: &VirtContext) -> Vec<String> {
        [
            "VirtualSystemMigrationService",
            "VirtualSystemMigrationCapabilities",
            "VirtualSystemMigrationSettingData",
        ]
        .iter()
        .map(|b| ctx.class(b))
        .collect()
    }

    async fn check(&self, req: Request) -> CimResult<MethodResult> {
        let ctx = &self.ctx;
        let domain = req.domain.clone();
        // Unknown VM: CIM_ERR_NOT_FOUND, not "not migratable".
        let v = view::load(ctx, &domain).await?;
        // Bad new settings are an error, not a "no".
        let wanted = resized(&v.spec, &req.new_resources, None)?;
        let changed = !req.new_resources.is_empty();
        let outcome: CimResult<&str> = match &req.dest {
            Destination::Libvirt(uri) => {
                let (d, u, hv) = (domain.clone(), uri.clone(), ctx.hv.clone());
                let active = v.info.state.is_active();
                tokio::task::spawn_blocking(move || {
                    let mode = hv.check_migratable(&d, &u).map_err(|e| to_cim(&e))?;
                    if changed {
                        check_quantities_at(&u, &wanted, active)?;
                    }
                    Ok(mode_word(mode))
                })
                .await
                .map_err(|e| CimError::failed(format!("migration check did not complete: {e}")))?
            }
            Destination::Agent(url) => match PeerAgent::connect(ctx, url) {
                Ok(peer) => peer.check(&wanted).await.map(|()| "Offline"),
                Err(e) => Err(e),
            },
        };
        let ok = match outcome {
            Ok(mode) => {
                tracing::info!(domain, dest = req.dest.label(), mode, "migratable");
                true
            }
            Err(e) if e.status == CimStatus::NotFound && e.description.contains(&domain) => {
                return Err(e)
            }
            Err(e) => {
                tracing::info!(domain, dest = req.dest.label(), reason = %e, "not migratable");
                false
            }
        };
        Ok(MethodResult::code(0).with_out("IsMigratable", ok))
    }

    async fn migrate(&self, req: Request, to: To) -> CimResult<MethodResult> {
        let ctx = self.ctx.clone();
        let domain = req.domain.clone();
        let v = view::load(&ctx, &domain).await?;
        // Bad new settings are refused now, not in the job.
        resized(&v.spec, &req.new_resources, None)?;
        let new_system = new_system_path(&ctx, &req);
        let guard = ctx.locks.try_lock(&domain).ok_or_else(|| {
            CimError::new(
                CimStatus::Failed,
                format!("{domain} is busy with another operation; try again when it has finished"),
            )
        })?;
        let label = req.dest.label().to_string();
        // The expected mode names the job; when the check already fails the
        // job still runs, so its Exception carries the reason.
        let expected = match &req.dest {
            Destination::Libvirt(uri) => {
                let (d, u, hv) = (domain.clone(), uri.clone(), ctx.hv.clone());
                tokio::task::spawn_blocking(move || hv.check_migratable(&d, &u).ok())
                    .await
                    .ok()
                    .flatten()
            }
            Destination::Agent(_) => Some(MigrationMode::Offline),
        };
        let name = match expected {
            Some(m) => format!("{} migration of {domain} to {label}", mode_word(m)),
            None => format!("Migration of {domain} to {label}"),
        };
        let job_ctx = ctx.clone();
        // Terminate stops it before the move; once the move has begun it
        // completes (a half-moved VM is worse than a finished move).
        let spec = JobSpec::new(&name, service_path(&ctx))
            .affecting(vec![ctx.system_path(&domain)])
            .control(JobControl {
                terminate: true,
                kill: false,
            });
        let Request {
            dest,
            new_resources,
            ..
        } = req;
        let job = ctx.jobs.spawn(&ctx, spec, move |h| async move {
            let _guard = guard;
            h.checkpoint()?;
            h.progress(10, &format!("moving {domain} to {label}"));
            let mode = match &dest {
                Destination::Libvirt(uri) => {
                    let (d, u) = (domain.clone(), uri.clone());
                    let mode = job_ctx.call(move |hv| hv.migrate(&d, &u)).await?;
                    let (d, u, spec) = (domain.clone(), uri.clone(), v.spec.clone());
                    tokio::task::spawn_blocking(move || resize_at(&u, &d, &spec, &new_resources))
                        .await
                        .map_err(|e| CimError::failed(format!("resizing did not complete: {e}")))?
                        .map_err(|e| {
                            CimError::new(
                                e.status,
                                format!("{domain} moved to {label}, but resizing it there failed: {}", e.description),
                            )
                        })?;
                    mode
                }
                Destination::Agent(url) => {
                    let peer = PeerAgent::connect(&job_ctx, url)?;
                    let spec = resized(&v.spec, &new_resources, None)?;
                    let report = |p: u16, s: &str| h.progress(p, s);
                    peer::migrate(&job_ctx, &peer, &v, &spec, &report).await?;
                    MigrationMode::Offline
                }
            };
            // The VM has left: its child-pool claims go with it.
            crate::pools::release(&job_ctx, &domain);
            if expected.is_some_and(|m| m != mode) {
                tracing::warn!(domain, dest = %label, mode = mode_word(mode), "migration mode differs from the check's");
            }
            tracing::info!(domain, dest = %label, mode = mode_word(mode), "migrated");
            h.progress(100, &format!("{} migration of {domain} to {label} done", mode_word(mode)));
            Ok(())
        });
        let mut r = MethodResult::code(4096).with_out("Job", job);
        if to == To::System {
            r = r.with_out("NewComputerSystem", new_system);
        }
        Ok(r)
    }
}

#[async_trait]
impl InstanceProvider for MigrationProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let is = |base: &str| class.name.matches(&ctx.class(base));
        Ok(if is("VirtualSystemMigrationService") {
            vec![service_instance(ctx)]
        } else if is("VirtualSystemMigrationCapabilities") {
            vec![caps_instance(ctx)]
        } else {
            vec![msd_instance(ctx)]
        })
    }
}

#[async_trait]
impl MethodProvider for MigrationProvider {
    async fn invoke_method(
        &self,
        _rc: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        if let MethodTarget::Instance(t) = target {
            if !t.same_object(&service_path(&self.ctx)) {
                return Err(CimError::not_found(t.local()));
            }
        }
        let m = method.name.as_str().to_ascii_lowercase();
        match m.as_str() {
            "checkvirtualsystemismigratabletohost" => {
                self.check(request(&self.ctx, &params, To::Host)?).await
            }
            "checkvirtualsystemismigratabletosystem" => {
                self.check(request(&self.ctx, &params, To::System)?).await
            }
            "migratevirtualsystemtohost" => {
                self.migrate(request(&self.ctx, &params, To::Host)?, To::Host)
                    .await
            }
            "migratevirtualsystemtosystem" => {
                self.migrate(request(&self.ctx, &params, To::System)?, To::System)
                    .await
            }
            _ => Err(CimError::new(
                CimStatus::MethodNotAvailable,
                format!("{} is not implemented", method.name),
            )),
        }
    }
}
