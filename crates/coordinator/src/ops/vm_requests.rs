//! The checks made before a VM job is stored, so that what can be known
//! at once is answered at once: an unknown VM or host is `NotFound`, a
//! name taken or a VM busy with another job is `Conflict`, a template
//! that fits nowhere is the pools' refusal (`NoRoom`), bad values are
//! `Invalid` — each with a message that says what to change.
//!
//! With an idempotency key already used, the checks are skipped and the
//! engine answers with the first job (or a conflict if the request
//! differs): a client retrying a create must get its job back, not "the
//! name is taken".

use std::collections::HashSet;
use std::sync::Mutex;

use crate::inventory::VmRecord;
use crate::jobs::{JobId, JobRecord};
use crate::placement::{self, Resources};
use crate::vni::VmTemplate;

use super::super::params::{
    CreateVm, DeleteVm, MigrateVm, PowerVm, ResizeVm, CPU_LIMIT_PCT, CPU_RESERVATION_PCT,
    CPU_SHARES, VM_CREATE, VM_DELETE, VM_MIGRATE, VM_POWER, VM_RESIZE,
};
use super::super::{Coordinator, OpsError, Result};
use super::create::demand;
use super::migrate::candidates;
use super::power::power_plan;

/// Checks and submits of creates run one at a time, so two creates of
/// one name cannot both pass the duplicate check.
static CREATE_GATE: Mutex<()> = Mutex::new(());

/// Names of VMs and hosts: they appear in paths and store keys.
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(OpsError::Invalid(format!(
            "{what} name `{name}` is not allowed: use 1-64 letters, digits, `-`, `_` or `.`, \
             not starting with `-` or `.`"
        )))
    }
}

/// The checks of a VM template that need no state (name, vCPUs, memory):
/// what [`Coordinator::create_vm`] asks first. Public for the fuzz targets
/// in `fuzz/`.
#[doc(hidden)]
pub fn check_template(t: &VmTemplate) -> Result<()> {
    check_name("VM", &t.name)?;
    if t.vcpus == 0 || t.memory_mib == 0 {
        return Err(OpsError::Invalid(format!(
            "VM {} needs at least 1 vCPU and 1 MiB of memory (got {} vCPU, {} MiB)",
            t.name, t.vcpus, t.memory_mib
        )));
    }
    Ok(())
}

/// The active job acting on VM `vm`, if any: a lookup in the engine's
/// index of active jobs (a create, power, resize, migrate or delete of
/// it, or a drain moving it).
pub(crate) fn busy_with(c: &Coordinator, vm: &str) -> Result<Option<JobRecord>> {
    Ok(c.jobs.active_on(&format!("vm:{vm}")).into_iter().next())
}

fn not_found(vm: &str) -> OpsError {
    OpsError::NotFound(format!("no VM named {vm}; GET /api/v1/vms lists them"))
}

impl Coordinator {
    /// `Some(key)` when a job was submitted with this idempotency key.
    pub(crate) fn known_key(&self, key: &Option<String>) -> Result<Option<String>> {
        let Some(k) = key else { return Ok(None) };
        Ok(self.jobs.key_used(k)?.then(|| k.clone()))
    }

    /// The VM as the inventory has it, and that no other job is at it.
    fn idle_vm(&self, vm: &str) -> Result<VmRecord> {
        check_name("VM", vm)?;
        let rec = self
            .services
            .inventory
            .find_vm(vm)?
            .ok_or_else(|| not_found(vm))?;
        if let Some(j) = busy_with(self, vm)? {
            return Err(OpsError::Conflict(format!(
                "VM {vm} is busy with job {} ({}); wait for it or cancel it",
                j.id, j.kind
            )));
        }
        Ok(rec)
    }

    /// Checks and submits `vm.create`.
    pub fn create_vm(
        &self,
        p: CreateVm,
        owner: Option<&str>,
        key: Option<String>,
    ) -> Result<JobId> {
        let _gate = CREATE_GATE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = self.known_key(&key)? {
            return self.submit(VM_CREATE, &p, owner, Some(k));
        }
        let s = &self.services;
        let t = &p.template;
        check_template(t)?;
        if let Some(h) = &p.host {
            s.inventory.host(h)?;
        }
        if let Some(v) = s.inventory.find_vm(&t.name)? {
            return Err(OpsError::Conflict(format!(
                "a VM named {} already exists on host {}; choose another name",
                t.name, v.host
            )));
        }
        if let Some(j) = busy_with(self, &t.name)? {
            return Err(OpsError::Conflict(format!(
                "a VM named {} is being created by job {}; choose another name",
                t.name, j.id
            )));
        }
        let d = demand(&p);
        s.pools.admit(p.pool.as_deref(), d)?;
        let loads: Vec<_> = s
            .pools
            .host_loads()?
            .into_iter()
            .filter(|l| p.host.as_ref().is_none_or(|h| *h == l.name))
            .collect();
        placement::place(d, &loads, &HashSet::new(), &s.pools.ratios())
            .map_err(crate::pools::PoolError::from)?;
        self.submit(VM_CREATE, &p, owner, key)
    }

    /// Checks and submits `vm.power`; an action the VM's state does not
    /// allow (pause a stopped VM) is a conflict saying what to do.
    pub fn power_vm(&self, p: PowerVm, owner: Option<&str>, key: Option<String>) -> Result<JobId> {
        if let Some(k) = self.known_key(&key)? {
            return self.submit(VM_POWER, &p, owner, Some(k));
        }
        let rec = self.idle_vm(&p.vm)?;
        power_plan(p.action, rec.state)
            .map_err(|why| OpsError::Conflict(format!("VM {}: {why}", p.vm)))?;
        self.submit(VM_POWER, &p, owner, key)
    }

    /// Checks and submits `vm.resize`: growth must fit in what the VM's
    /// host has free under the overcommit ratios, and in its pool's limit.
    pub fn resize_vm(
        &self,
        p: ResizeVm,
        owner: Option<&str>,
        key: Option<String>,
    ) -> Result<JobId> {
        if let Some(k) = self.known_key(&key)? {
            return self.submit(VM_RESIZE, &p, owner, Some(k));
        }
        if p.vcpus.is_none()
            && p.memory_mib.is_none()
            && p.cpu_shares.is_none()
            && p.cpu_limit_pct.is_none()
            && p.cpu_reservation_pct.is_none()
        {
            return Err(OpsError::Invalid(
                "give `vcpus` and/or `memory_mib` to resize to (or `cpu_shares`, \
                 `cpu_limit_pct`, `cpu_reservation_pct`)"
                    .into(),
            ));
        }
        if let Some(s) = p.cpu_shares.filter(|s| !CPU_SHARES.contains(s)) {
            return Err(OpsError::Invalid(format!(
                "cpu_shares {s} is out of range: give {} to {} (1024 is the usual default)",
                CPU_SHARES.start(),
                CPU_SHARES.end()
            )));
        }
        if let Some(l) = p.cpu_limit_pct.filter(|l| !CPU_LIMIT_PCT.contains(l)) {
            return Err(OpsError::Invalid(format!(
                "cpu_limit_pct {l} is out of range: give {} to {} (percent of one host core \
                 per vCPU; 100 = no cap)",
                CPU_LIMIT_PCT.start(),
                CPU_LIMIT_PCT.end()
            )));
        }
        if let Some(r) = p
            .cpu_reservation_pct
            .filter(|r| !CPU_RESERVATION_PCT.contains(r))
        {
            return Err(OpsError::Invalid(format!(
                "cpu_reservation_pct {r} is out of range: give {} to {} (percent of one host \
                 core per vCPU; 0 = none)",
                CPU_RESERVATION_PCT.start(),
                CPU_RESERVATION_PCT.end()
            )));
        }
        if p.vcpus == Some(0) || p.memory_mib == Some(0) {
            return Err(OpsError::Invalid(
                "a VM needs at least 1 vCPU and 1 MiB of memory".into(),
            ));
        }
        let rec = self.idle_vm(&p.vm)?;
        let s = &self.services;
        let now = Resources::new(
            u64::from(rec.vcpus.unwrap_or(0)),
            rec.memory_mib.unwrap_or(0),
        );
        let want = Resources::new(
            p.vcpus.map(u64::from).unwrap_or(now.vcpus),
            p.memory_mib.unwrap_or(now.memory_mib),
        );
        let growth = want.sub(now);
        if growth != Resources::default() {
            let ratios = s.pools.ratios();
            let free = s
                .pools
                .host_loads()?
                .into_iter()
                .find(|l| l.name == rec.host)
                .map(|l| l.free(&ratios))
                .unwrap_or_default();
            if !growth.fits_in(free) {
                return Err(OpsError::NoRoom(format!(
                    "host {} cannot take VM {} at {want}: it has {now} now and the host has \
                     {free} free under the overcommit ratios; migrate it to a roomier host first",
                    rec.host, p.vm
                )));
            }
            let pool = s.pools.pool_of(&p.vm)?;
            s.pools.admit(pool.as_deref(), growth)?;
        }
        self.submit(VM_RESIZE, &p, owner, key)
    }

    /// Checks and submits `vm.migrate`: the destination (when given) must
    /// exist, differ from the VM's host and have room; without one, some
    /// other host must have room.
    pub fn migrate_vm(
        &self,
        p: MigrateVm,
        owner: Option<&str>,
        key: Option<String>,
    ) -> Result<JobId> {
        if let Some(k) = self.known_key(&key)? {
            return self.submit(VM_MIGRATE, &p, owner, Some(k));
        }
        let rec = self.idle_vm(&p.vm)?;
        let s = &self.services;
        if let Some(to) = &p.to {
            s.inventory.host(to)?;
            if *to == rec.host {
                return Err(OpsError::Invalid(format!(
                    "VM {} is on host {to} already; name another host or leave `to` out",
                    p.vm
                )));
            }
        }
        let d = Resources::new(
            u64::from(rec.vcpus.unwrap_or(0)),
            rec.memory_mib.unwrap_or(0),
        );
        let loads: Vec<_> = candidates(&s.pools.host_loads()?, &rec.host, &HashSet::new())
            .into_iter()
            .filter(|l| p.to.as_ref().is_none_or(|t| *t == l.name))
            .collect();
        placement::place(d, &loads, &HashSet::new(), &s.pools.ratios()).map_err(|e| {
            OpsError::NoRoom(format!(
                "cannot move VM {} off host {}{}: {e}",
                p.vm,
                rec.host,
                p.to.as_ref()
                    .map(|t| format!(" onto host {t}"))
                    .unwrap_or_default()
            ))
        })?;
        self.submit(VM_MIGRATE, &p, owner, key)
    }

    /// Checks and submits `vm.delete`.
    pub fn delete_vm(
        &self,
        p: DeleteVm,
        owner: Option<&str>,
        key: Option<String>,
    ) -> Result<JobId> {
        if let Some(k) = self.known_key(&key)? {
            return self.submit(VM_DELETE, &p, owner, Some(k));
        }
        self.idle_vm(&p.vm)?;
        self.submit(VM_DELETE, &p, owner, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_fit_paths_and_keys() {
        for good in ["web-1", "a", "db_2.prod", "X9"] {
            assert!(check_name("VM", good).is_ok(), "{good}");
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "é", &"x".repeat(65)] {
            let e = check_name("VM", bad).unwrap_err();
            assert!(matches!(e, OpsError::Invalid(_)), "{bad}");
        }
    }
}
