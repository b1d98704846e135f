//! CPU time on the processor RASD: `CPULimit` and `CPUReservation`,
//! vendor properties in percent of one host core per vCPU (the RASD's
//! `Limit` already counts vCPUs), and `Weight` as CPU shares.
//!
//! A limit is the hypervisor's to enforce (a CFS quota). A reservation is
//! not something KVM can guarantee by itself, so it is admission control
//! here: the sum of the reservations of this host's guests (each
//! percent × vCPUs) may not pass the host's cores × 100 %, and the value
//! is kept with the domain (its libvirt metadata).

use std::sync::Mutex;

use vine_cim::{CimError, CimInstance, CimResult};
use vine_hypervisor::{CpuTime, HvError, Hypervisor, Scope};

use super::{proc_weight, uint};
use crate::errors::to_cim;

/// The CPU reservation property: percent of one core per vCPU, 0..=100.
pub const RESERVATION: &str = "CPUReservation";
/// The CPU limit property: percent of one core per vCPU, 1..=100.
pub const LIMIT: &str = "CPULimit";

/// Serializes admission, so two requests cannot both take the last room.
static ADMISSION: Mutex<()> = Mutex::new(());

/// What a processor RASD asks of the VM's CPU time and weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuRequest {
    pub shares: Option<u32>,
    pub limit_pct: Option<u32>,
    pub reservation_pct: Option<u32>,
}

fn pct(rasd: &CimInstance, name: &str, min: u32, what: &str) -> CimResult<Option<u32>> {
    match uint(rasd, name)? {
        None => Ok(None),
        Some(v) if v >= u64::from(min) && v <= 100 => Ok(Some(v as u32)),
        Some(v) => Err(CimError::invalid_parameter(format!(
            "{name} {v} is out of range: give {min} to 100 (percent of one host core per vCPU; \
             {what})"
        ))),
    }
}

impl CpuRequest {
    /// Reads Weight, CPULimit and CPUReservation; out of range is
    /// CIM_ERR_INVALID_PARAMETER naming the property and its range.
    pub fn from_rasd(rasd: &CimInstance) -> CimResult<Self> {
        Ok(CpuRequest {
            shares: proc_weight(rasd)?,
            limit_pct: pct(rasd, LIMIT, 1, "100 = no cap")?,
            reservation_pct: pct(rasd, RESERVATION, 0, "0 = none")?,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == CpuRequest::default()
    }
}

/// Applies `req` (and `vcpus`, when given) to `dom`, each scope of
/// `scopes` in turn. What a driver may refuse goes first (the limit, then
/// the shares), so a refused request changes nothing; the reservation is
/// admitted against the host before anything is changed.
pub fn apply(
    hv: &dyn Hypervisor,
    dom: &str,
    req: CpuRequest,
    vcpus: Option<u32>,
    scopes: &[Scope],
) -> CimResult<()> {
    let cim = |e: HvError| to_cim(&e);
    // Admission and the change under one lock: a new reservation, or
    // more vCPUs for a VM that has one, take room on the host.
    let _admission = ADMISSION.lock().unwrap_or_else(|p| p.into_inner());
    let reserved = match req.reservation_pct {
        Some(r) => Some(r),
        None if vcpus.is_some() => hv.cpu_time(dom).map_err(cim)?.reservation_pct,
        None => None,
    };
    if let Some(r) = reserved.filter(|&r| r > 0) {
        admit(hv, dom, r, vcpus)?;
    }
    for &s in scopes {
        if let Some(l) = req.limit_pct {
            hv.set_cpu_limit(dom, l, s).map_err(cim)?;
        }
        if let Some(w) = req.shares {
            hv.set_cpu_shares(dom, w, s).map_err(cim)?;
        }
        if let Some(r) = req.reservation_pct {
            hv.set_cpu_reservation(dom, r, s).map_err(cim)?;
        }
        if let Some(n) = vcpus {
            hv.set_vcpus(dom, n, s).map_err(cim)?;
        }
    }
    Ok(())
}

/// Refuses a reservation of `pct` % per vCPU for `dom` (with `vcpus`
/// vCPUs, else its own) that would take the host's guests past its
/// cores × 100 %. Every defined guest counts: a stopped one may start.
fn admit(hv: &dyn Hypervisor, dom: &str, pct: u32, vcpus: Option<u32>) -> CimResult<()> {
    let cim = |e: HvError| to_cim(&e);
    let cores = hv.host_info().map_err(cim)?.cpus;
    let capacity = u64::from(cores) * 100;
    let mut others = 0u64;
    let mut own_vcpus = vcpus;
    for d in hv.domains().map_err(cim)? {
        if d.name == dom {
            own_vcpus = own_vcpus.or(Some(d.vcpus));
            continue;
        }
        let r = match hv.cpu_time(&d.name) {
            Ok(t) => t.reservation_pct.unwrap_or(0),
            // Undefined since listed: it reserves nothing.
            Err(HvError::NoDomain(_)) => 0,
            Err(e) => return Err(cim(e)),
        };
        others += u64::from(r) * u64::from(d.vcpus);
    }
    let n = u64::from(own_vcpus.unwrap_or(1));
    let want = u64::from(pct) * n;
    if others + want > capacity {
        return Err(CimError::failed(format!(
            "CPU reservation refused: {dom} asks {pct}% of a core for each of its {n} vCPUs \
             ({want}%), but this host's {cores} cores give {capacity}% and its other guests \
             reserve {others}%, leaving {}%; lower {RESERVATION} or place the VM on another host",
            capacity.saturating_sub(others)
        )));
    }
    Ok(())
}

/// Sets CPULimit and CPUReservation on `rasd` from what the hypervisor
/// knows (nothing when it knows nothing).
pub fn report(rasd: &mut CimInstance, t: &CpuTime) {
    if let Some(l) = t.limit_pct {
        rasd.set(LIMIT, l);
    }
    if let Some(r) = t.reservation_pct {
        rasd.set(RESERVATION, r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vine_cim::CimStatus;

    fn rasd(props: &[(&str, u64)]) -> CimInstance {
        let mut r = CimInstance::new("KVM_ProcResourceAllocationSettingData");
        for (k, v) in props {
            r = r.with(*k, *v);
        }
        r
    }

    #[test]
    fn percentages_are_read_and_ranges_named() {
        let r = CpuRequest::from_rasd(&rasd(&[(LIMIT, 50), (RESERVATION, 0)])).unwrap();
        assert_eq!(
            r,
            CpuRequest {
                shares: None,
                limit_pct: Some(50),
                reservation_pct: Some(0)
            }
        );
        assert!(CpuRequest::from_rasd(&rasd(&[])).unwrap().is_empty());
        for (props, says) in [
            (
                &[(LIMIT, 0)][..],
                "CPULimit 0 is out of range: give 1 to 100",
            ),
            (
                &[(LIMIT, 101)][..],
                "CPULimit 101 is out of range: give 1 to 100",
            ),
            (
                &[(RESERVATION, 101)][..],
                "CPUReservation 101 is out of range: give 0 to 100",
            ),
        ] {
            let e = CpuRequest::from_rasd(&rasd(props)).unwrap_err();
            assert_eq!(e.status, CimStatus::InvalidParameter);
            assert!(e.to_string().contains(says), "{e}");
        }
    }
}
