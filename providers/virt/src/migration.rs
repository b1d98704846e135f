//! Virtual system migration (DSP1081): `<P>_VirtualSystemMigrationService`
//! (Name `MigrationService`), its capabilities and default setting data.
//!
//! 1. The destination is a libvirt URI (`test:///abs/b.xml`,
//!    `qemu+ssh://h/system`), a peer name from the agent's `--peer NAME=URI`
//!    map ([`VirtContext::peers`]), or for qemu/xen a host name, reached as
//!    `qemu+ssh://NAME/system` (TransportType in the MigrationSettingData
//!    picks ssh, tls or tcp).
//! 2. CheckVirtualSystemIsMigratableToHost asks the hypervisor and answers
//!    IsMigratable (return 0 either way; the reason for a no is logged).
//! 3. MigrateVirtualSystemToHost takes the VM's lock, starts a
//!    `<P>_ConcreteJob` and returns 4096. The job's Name says whether the
//!    move is live or offline (libvirt live migration for qemu/xen; between
//!    test-driver hosts the definition is moved and the guest restarted). A
//!    failure ends the job in Exception with the hypervisor's message, which
//!    says where the VM is.

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue, CimResult,
    CimStatus, CimValue,
};
use vine_hypervisor::{DriverKind, HvError, MigrationMode};
use vine_wbem::provider::{
    param, InstanceProvider, MethodProvider, MethodResult, MethodTarget, RequestContext,
};

use crate::context::VirtContext;
use crate::errors::to_cim;
use crate::jobs::{JobControl, JobSpec};
use crate::paths::{instance_id_path, MIGRATION_SERVICE_NAME};

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
        // 4 CheckVirtualSystemIsMigratableToHost; ...ToSystem is not offered.
        .with("SynchronousMethodsSupported", vec![4u16])
        // 2 MigrateVirtualSystemToHost.
        .with("AsynchronousMethodsSupported", vec![2u16])
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

/// The libvirt URI of a destination (see the module doc).
pub fn resolve_destination(
    ctx: &VirtContext,
    dest: &str,
    transport: Option<u16>,
) -> CimResult<String> {
    let dest = dest.trim();
    if dest.is_empty() {
        return Err(CimError::invalid_parameter("DestinationHost is empty"));
    }
    if dest.contains("://") {
        return Ok(dest.to_string());
    }
    if let Some(uri) = ctx.peers.get(dest) {
        return Ok(uri.clone());
    }
    let (scheme, path) = match ctx.hv.driver() {
        DriverKind::Qemu => ("qemu", "/system"),
        DriverKind::Xen => ("xen", "/system"),
        DriverKind::Lxc | DriverKind::Test => {
            return Err(CimError::invalid_parameter(format!(
                "destination `{dest}` is neither a libvirt URI nor a known peer; give a URI or start the agent with --peer {dest}=URI"
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
    Ok(format!("{scheme}+{t}://{dest}{path}{query}"))
}

/// The arguments both methods share.
struct Request {
    domain: String,
    uri: String,
}

fn request(ctx: &VirtContext, params: &[CimParamValue]) -> CimResult<Request> {
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
    let dest = match param(params, "DestinationHost") {
        Some(CimValue::String(s)) => s.clone(),
        _ => {
            return Err(CimError::invalid_parameter(
                "parameter DestinationHost is required",
            ))
        }
    };
    let transport = match param(params, "MigrationSettingData") {
        Some(CimValue::Instance(msd)) => match msd.get("TransportType") {
            Some(CimValue::Uint16(t)) => Some(*t),
            _ => None,
        },
        _ => None,
    };
    if param(params, "NewSystemSettingData").is_some()
        || param(params, "NewResourceSettingData").is_some()
    {
        return Err(CimError::not_supported(
            "NewSystemSettingData and NewResourceSettingData are not supported: the VM moves with its own settings",
        ));
    }
    let uri = resolve_destination(ctx, &dest, transport)?;
    if uri == ctx.hv.uri() {
        return Err(CimError::invalid_parameter(format!(
            "{dest} is this host; choose another destination"
        )));
    }
    Ok(Request { domain, uri })
}

fn mode_word(m: MigrationMode) -> &'static str {
    match m {
        MigrationMode::Live => "Live",
        MigrationMode::Offline => "Offline",
    }
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
        let Request { domain, uri } = req;
        let d = domain.clone();
        // Unknown VM: CIM_ERR_NOT_FOUND, not "not migratable".
        self.ctx.call(move |hv| hv.domain(&d)).await?;
        let d = domain.clone();
        let u = uri.clone();
        let outcome = tokio::task::spawn_blocking({
            let hv = self.ctx.hv.clone();
            move || hv.check_migratable(&d, &u)
        })
        .await
        .map_err(|e| CimError::failed(format!("migration check did not complete: {e}")))?;
        let ok = match outcome {
            Ok(mode) => {
                tracing::info!(domain, dest = %uri, mode = mode_word(mode), "migratable");
                true
            }
            Err(e @ HvError::NoDomain(_)) => return Err(to_cim(&e)),
            Err(e) => {
                tracing::info!(domain, dest = %uri, reason = %e, "not migratable");
                false
            }
        };
        Ok(MethodResult::code(0).with_out("IsMigratable", ok))
    }

    async fn migrate(&self, req: Request) -> CimResult<MethodResult> {
        let ctx = self.ctx.clone();
        let Request { domain, uri } = req;
        let d = domain.clone();
        ctx.call(move |hv| hv.domain(&d)).await?;
        let guard = ctx.locks.try_lock(&domain).ok_or_else(|| {
            CimError::new(
                CimStatus::Failed,
                format!("{domain} is busy with another operation; try again when it has finished"),
            )
        })?;
        // The expected mode names the job; when the check already fails the
        // job still runs, so its Exception carries the hypervisor's message.
        let (d, u, hv) = (domain.clone(), uri.clone(), ctx.hv.clone());
        let expected = tokio::task::spawn_blocking(move || hv.check_migratable(&d, &u).ok())
            .await
            .ok()
            .flatten();
        let name = match expected {
            Some(m) => format!("{} migration of {domain} to {uri}", mode_word(m)),
            None => format!("Migration of {domain} to {uri}"),
        };
        let job_ctx = ctx.clone();
        // Terminate stops it before the move; once libvirt moves the VM
        // it completes (a half-moved VM is worse than a finished move).
        let spec = JobSpec::new(&name, service_path(&ctx))
            .affecting(vec![ctx.system_path(&domain)])
            .control(JobControl {
                terminate: true,
                kill: false,
            });
        let job = ctx.jobs.spawn(&ctx, spec, move |h| async move {
            let _guard = guard;
            h.checkpoint()?;
            h.progress(10, &format!("moving {domain} to {uri}"));
            let (d, u) = (domain.clone(), uri.clone());
            let mode = job_ctx.call(move |hv| hv.migrate(&d, &u)).await?;
            // The VM has left: its child-pool claims go with it.
            crate::pools::release(&job_ctx, &domain);
            if expected.is_some_and(|m| m != mode) {
                tracing::warn!(domain, dest = %uri, mode = mode_word(mode), "migration mode differs from the check's");
            }
            tracing::info!(domain, dest = %uri, mode = mode_word(mode), "migrated");
            h.progress(100, &format!("{} migration of {domain} to {uri} done", mode_word(mode)));
            Ok(())
        });
        Ok(MethodResult::code(4096).with_out("Job", job))
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
        if method.name.matches("CheckVirtualSystemIsMigratableToHost") {
            return self.check(request(&self.ctx, &params)?).await;
        }
        if method.name.matches("MigrateVirtualSystemToHost") {
            return self.migrate(request(&self.ctx, &params)?).await;
        }
        // ...ToSystem would need the destination's WBEM address; the
        // manager migrates between agents with ...ToHost.
        Ok(MethodResult::code(1))
    }
}
