//! Resource pools: the data-centre pool over every host, one pool per host,
//! and service pools carved out of the data centre with a reservation (room
//! kept for them) and a limit (room they may not exceed). Admission control
//! and placement go through here so nothing overcommits beyond the ratios.
//!
//! Only service pools are stored; the data-centre and host pools are
//! computed from the inventory each time.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use thiserror::Error;
use vine_store::{names, Collection, Store, StoreError};

use crate::inventory::{HostHealth, HostPower, Inventory, InventoryError};
use crate::placement::{self, HostLoad, Overcommit, PlacementError, Resources};

/// The name of the data-centre pool.
pub const DATACENTER: &str = "datacenter";
/// Host pools are named `host/<host>`.
pub const HOST_POOL_PREFIX: &str = "host/";

/// A service pool as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolRecord {
    pub name: String,
    /// Kept free for this pool's VMs: others may not place into it.
    pub reservation: Resources,
    /// This pool's VMs together may not exceed it.
    pub limit: Option<Resources>,
    /// Names of the VMs drawing from this pool.
    pub members: BTreeSet<String>,
}

/// Which kind of pool a [`PoolView`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolKind {
    Datacenter,
    Host,
    Service,
}

/// A pool with its numbers, as the API and CLI show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PoolView {
    pub name: String,
    pub kind: PoolKind,
    /// Physical capacity (data centre and host pools).
    pub capacity: Option<Resources>,
    /// What may be allocated: capacity under the overcommit ratios, or a
    /// service pool's limit.
    pub allowed: Option<Resources>,
    /// What its VMs have been given.
    pub allocated: Resources,
    pub reservation: Option<Resources>,
    pub vms: usize,
}

/// Pool failures, each with what to do about it.
#[derive(Debug, Error)]
pub enum PoolError {
    #[error("no pool named {0}; `vine pool ls` lists them")]
    NoPool(String),
    #[error("a pool named {0} already exists")]
    Exists(String),
    #[error("pool name `{0}` is not allowed: use letters, digits, `-`, `_` or `.`, not `datacenter` or `host/…`")]
    BadName(String),
    #[error("pool {pool} would exceed its limit {limit}: it has {allocated} allocated and {demand} more was asked")]
    OverLimit {
        pool: String,
        limit: Resources,
        allocated: Resources,
        demand: Resources,
    },
    #[error("the data centre cannot take {demand}: {free} is free under the overcommit ratios once pool reservations are kept")]
    NoRoom { demand: Resources, free: Resources },
    #[error("pool {pool}: the reservation {reservation} is larger than the limit {limit}; raise the limit or lower the reservation")]
    ReservationOverLimit {
        pool: String,
        reservation: Resources,
        limit: Resources,
    },
    #[error("pool {pool} still has VMs ({vms}); delete or move them first")]
    InUse { pool: String, vms: String },
    #[error(transparent)]
    Placement(#[from] PlacementError),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T> = std::result::Result<T, PoolError>;

/// A placement made but not yet visible in the inventory (the VM is being
/// defined): counted so concurrent creates do not all take the same room.
#[derive(Clone, Debug)]
struct Pending {
    host: String,
    pool: Option<String>,
    demand: Resources,
}

/// Service pools in the store, plus the computed ones.
pub struct Pools {
    coll: Collection<PoolRecord>,
    inventory: Arc<Inventory>,
    ratios: Overcommit,
    pending: Mutex<HashMap<String, Pending>>,
}

fn valid_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n != DATACENTER
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Pools {
    pub fn open(store: &Store, inventory: Arc<Inventory>, ratios: Overcommit) -> Result<Self> {
        Ok(Pools {
            coll: store.collection(names::POOLS)?,
            inventory,
            ratios,
            pending: Mutex::new(HashMap::new()),
        })
    }

    pub fn ratios(&self) -> Overcommit {
        self.ratios
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each host's capacity and allocation (stored VMs plus pending
    /// placements), from the inventory's per-host totals.
    pub fn host_loads(&self) -> Result<Vec<HostLoad>> {
        let totals = self.inventory.host_totals()?;
        let mut alloc: HashMap<String, Resources> = totals
            .into_iter()
            .map(|(h, t)| (h, Resources::new(t.vcpus, t.memory_mib)))
            .collect();
        for p in self.pending().values() {
            let e = alloc.entry(p.host.clone()).or_default();
            *e = e.add(p.demand);
        }
        Ok(self
            .inventory
            .hosts()?
            .into_iter()
            .map(|h| HostLoad {
                capacity: h
                    .capacity
                    .map(|c| Resources::new(c.vcpus, c.memory_mib))
                    .unwrap_or_default(),
                allocated: alloc.get(&h.name).copied().unwrap_or_default(),
                // A host powered off (or on its way off or up) takes nothing.
                healthy: h.health == HostHealth::Up
                    && h.power == HostPower::On
                    && h.capacity.is_some(),
                maintenance: h.maintenance,
                name: h.name,
            })
            .collect())
    }

    /// What VM `vm` has been given: as the inventory has it, else as a
    /// placement being made holds for it.
    fn vm_size(&self, vm: &str) -> Result<Option<Resources>> {
        if let Some(v) = self.inventory.find_vm(vm)? {
            return Ok(Some(Resources::new(
                u64::from(v.vcpus.unwrap_or(0)),
                v.memory_mib.unwrap_or(0),
            )));
        }
        Ok(self.pending().get(vm).map(|p| p.demand))
    }

    /// What a service pool's members have been given together.
    fn usage(&self, rec: &PoolRecord) -> Result<Resources> {
        let mut sum = Resources::default();
        for m in &rec.members {
            if let Some(r) = self.vm_size(m)? {
                sum = sum.add(r);
            }
        }
        Ok(sum)
    }

    /// Every service pool as stored.
    pub fn records(&self) -> Result<Vec<PoolRecord>> {
        Ok(self.coll.list()?.into_iter().map(|(_, p)| p).collect())
    }

    /// Every pool: the data centre, each host, each service pool.
    pub fn list(&self) -> Result<Vec<PoolView>> {
        let loads = self.host_loads()?;
        let totals = self.inventory.host_totals()?;
        let vms = self.inventory.vm_count()?;
        let mut out = Vec::with_capacity(loads.len() + 1);
        let (cap, alloc) = loads
            .iter()
            .fold((Resources::default(), Resources::default()), |(c, a), h| {
                (c.add(h.capacity), a.add(h.allocated))
            });
        out.push(PoolView {
            name: DATACENTER.into(),
            kind: PoolKind::Datacenter,
            capacity: Some(cap),
            allowed: Some(self.ratios.allowed(cap)),
            allocated: alloc,
            reservation: None,
            vms,
        });
        for h in &loads {
            out.push(PoolView {
                name: format!("{HOST_POOL_PREFIX}{}", h.name),
                kind: PoolKind::Host,
                capacity: Some(h.capacity),
                allowed: Some(self.ratios.allowed(h.capacity)),
                allocated: h.allocated,
                reservation: None,
                vms: totals.get(&h.name).map_or(0, |t| t.vms),
            });
        }
        for rec in self.records()? {
            out.push(PoolView {
                kind: PoolKind::Service,
                capacity: None,
                allowed: rec.limit,
                allocated: self.usage(&rec)?,
                reservation: Some(rec.reservation),
                vms: rec.members.len(),
                name: rec.name,
            });
        }
        Ok(out)
    }

    /// One pool by name.
    pub fn get(&self, name: &str) -> Result<PoolView> {
        self.list()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| PoolError::NoPool(name.into()))
    }

    /// Room the data centre has for `pool`'s VMs (or for VMs in no pool):
    /// allowed minus allocated minus the unused reservations of every
    /// *other* pool.
    fn datacenter_free(&self, pool: Option<&str>) -> Result<Resources> {
        let loads = self.host_loads()?;
        let mut free = loads
            .iter()
            .fold(Resources::default(), |a, h| a.add(h.free(&self.ratios)));
        for rec in self.records()? {
            if Some(rec.name.as_str()) == pool {
                continue;
            }
            free = free.sub(rec.reservation.sub(self.usage(&rec)?));
        }
        Ok(free)
    }

    /// Creates a service pool. Refuses a reservation the data centre cannot
    /// keep (after the other pools' reservations and what is allocated).
    pub fn create(
        &self,
        name: &str,
        reservation: Resources,
        limit: Option<Resources>,
    ) -> Result<PoolRecord> {
        if !valid_name(name) {
            return Err(PoolError::BadName(name.into()));
        }
        if let Some(l) = limit {
            if !reservation.fits_in(l) {
                return Err(PoolError::ReservationOverLimit {
                    pool: name.into(),
                    reservation,
                    limit: l,
                });
            }
        }
        let free = self.datacenter_free(None)?;
        if !reservation.fits_in(free) {
            return Err(PoolError::NoRoom {
                demand: reservation,
                free,
            });
        }
        let rec = PoolRecord {
            name: name.into(),
            reservation,
            limit,
            members: BTreeSet::new(),
        };
        match self.coll.insert_new(name, &rec) {
            Ok(()) => Ok(rec),
            Err(e) if e.is_already_exists() => Err(PoolError::Exists(name.into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes an empty service pool.
    pub fn delete(&self, name: &str) -> Result<()> {
        let rec = self
            .coll
            .get(name)?
            .ok_or_else(|| PoolError::NoPool(name.into()))?;
        let mut members: Vec<&String> = Vec::new();
        for m in &rec.members {
            if self.inventory.find_vm(m)?.is_some() {
                members.push(m);
            }
        }
        if !members.is_empty() {
            return Err(PoolError::InUse {
                pool: name.into(),
                vms: members
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        self.coll.delete(name)?;
        Ok(())
    }

    /// Admission control: may `demand` more be allocated in `pool` (or in
    /// no pool)?
    pub fn admit(&self, pool: Option<&str>, demand: Resources) -> Result<()> {
        if let Some(p) = pool {
            let rec = self
                .coll
                .get(p)?
                .ok_or_else(|| PoolError::NoPool(p.into()))?;
            if let Some(limit) = rec.limit {
                let allocated = self.usage(&rec)?;
                if !allocated.add(demand).fits_in(limit) {
                    return Err(PoolError::OverLimit {
                        pool: p.into(),
                        limit,
                        allocated,
                        demand,
                    });
                }
            }
        }
        let free = self.datacenter_free(pool)?;
        if !demand.fits_in(free) {
            return Err(PoolError::NoRoom { demand, free });
        }
        Ok(())
    }

    /// Admits `demand` for VM `vm` in `pool`, picks its host (`on` if
    /// given, checked for room), and holds the room until [`Pools::settle`]
    /// — so two creates at once cannot both take the last slot. A VM that
    /// already holds a placement gets the same host again (a re-run step).
    pub fn reserve(
        &self,
        vm: &str,
        pool: Option<&str>,
        demand: Resources,
        on: Option<&str>,
        avoid: &HashSet<String>,
    ) -> Result<String> {
        if let Some(p) = self.pending().get(vm) {
            return Ok(p.host.clone());
        }
        self.admit(pool, demand)?;
        let loads = self.host_loads()?;
        let host = match on {
            Some(h) => {
                let load = loads
                    .iter()
                    .find(|l| l.name == h)
                    .ok_or_else(|| InventoryError::NoHost(h.into()))?;
                placement::place(demand, std::slice::from_ref(load), avoid, &self.ratios)?
            }
            None => placement::place(demand, &loads, avoid, &self.ratios)?,
        };
        self.pending().insert(
            vm.into(),
            Pending {
                host: host.clone(),
                pool: pool.map(str::to_string),
                demand,
            },
        );
        if let Some(p) = pool {
            self.add_member(p, vm)?;
        }
        Ok(host)
    }

    /// The VM is in the inventory now (or its creation failed): stop
    /// counting the held room.
    pub fn settle(&self, vm: &str) {
        self.pending().remove(vm);
    }

    /// Records that `vm` draws from `pool`.
    pub fn add_member(&self, pool: &str, vm: &str) -> Result<()> {
        let found = self
            .coll
            .update(pool, |old| -> std::result::Result<_, StoreError> {
                Ok(old.map(|mut r: PoolRecord| {
                    r.members.insert(vm.to_string());
                    r
                }))
            })?;
        found
            .map(|_| ())
            .ok_or_else(|| PoolError::NoPool(pool.into()))
    }

    /// Forgets `vm` in every pool (it was deleted).
    pub fn remove_member(&self, vm: &str) -> Result<()> {
        self.settle(vm);
        for rec in self.records()? {
            if rec.members.contains(vm) {
                self.coll
                    .update(&rec.name, |old| -> std::result::Result<_, StoreError> {
                        Ok(old.map(|mut r: PoolRecord| {
                            r.members.remove(vm);
                            r
                        }))
                    })?;
            }
        }
        Ok(())
    }

    /// The pool `vm` draws from, if any.
    pub fn pool_of(&self, vm: &str) -> Result<Option<String>> {
        if let Some(p) = self.pending().get(vm) {
            if p.pool.is_some() {
                return Ok(p.pool.clone());
            }
        }
        Ok(self
            .records()?
            .into_iter()
            .find(|r| r.members.contains(vm))
            .map(|r| r.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vine_wbem::client::{ClientConfig, TlsVerify};

    fn pools(dir: &std::path::Path) -> Pools {
        let store = Store::open(dir).unwrap();
        let inv = Arc::new(
            Inventory::open(
                &store,
                ClientConfig {
                    url: String::new(),
                    user: String::new(),
                    password: String::new(),
                    tls: TlsVerify::Insecure,
                    timeout: std::time::Duration::from_secs(1),
                },
            )
            .unwrap(),
        );
        Pools::open(&store, inv, Overcommit::default()).unwrap()
    }

    #[test]
    fn names_are_checked_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let p = pools(dir.path());
        assert!(matches!(
            p.create("datacenter", Resources::default(), None),
            Err(PoolError::BadName(_))
        ));
        assert!(matches!(
            p.create("a/b", Resources::default(), None),
            Err(PoolError::BadName(_))
        ));
        p.create("web", Resources::default(), None).unwrap();
        assert!(matches!(
            p.create("web", Resources::default(), None),
            Err(PoolError::Exists(_))
        ));
        assert_eq!(p.list().unwrap().len(), 2, "datacenter + web, no hosts");
    }

    #[test]
    fn a_reservation_needs_room_and_a_limit_caps_members() {
        let dir = tempfile::tempdir().unwrap();
        let p = pools(dir.path());
        // No hosts: nothing can be reserved.
        assert!(matches!(
            p.create("web", Resources::new(1, 1), None),
            Err(PoolError::NoRoom { .. })
        ));
        p.create("web", Resources::default(), Some(Resources::new(2, 1024)))
            .unwrap();
        assert!(matches!(
            p.admit(Some("web"), Resources::new(3, 512)),
            Err(PoolError::OverLimit { .. })
        ));
        assert!(matches!(
            p.admit(Some("nope"), Resources::new(1, 1)),
            Err(PoolError::NoPool(_))
        ));
    }
}
