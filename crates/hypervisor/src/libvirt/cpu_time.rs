//! CPU time of a domain: its limit (CFS bandwidth through libvirt's
//! scheduler parameters `vcpu_period`/`vcpu_quota`) and its reservation
//! (kept in the domain's `<metadata>`, since KVM cannot guarantee CPU time
//! itself: the agent admits reservations against the host's cores).

use virt::domain::{Domain, SchedBandwidth, SchedulerInfo};
use virt::sys;

use super::{devices, xmltree, LibvirtHypervisor};
use crate::error::{HvError, HvResult};
use crate::types::{CpuTime, Scope};

/// The CFS period vine gives a capped domain's vCPUs, µs (libvirt's and
/// the kernel's default).
pub const PERIOD_US: u64 = 100_000;

/// The namespace of vine's element in a domain's `<metadata>`.
pub const METADATA_NS: &str = "https://vine.invalid/xmlns/cpu/1";
/// The prefix libvirt writes the element with.
const METADATA_KEY: &str = "vinecpu";

/// A quota at or past this is libvirt's "no limit" as read from cgroup v2
/// (`max`); a negative or zero quota is no limit too.
const UNLIMITED_QUOTA: i64 = 17_592_186_044_415;

/// The per-vCPU quota, µs per [`PERIOD_US`], for `pct` percent of a core;
/// 100 % is no cap (-1).
fn quota_for(pct: u32) -> i64 {
    if pct >= 100 {
        -1
    } else {
        i64::from(pct) * (PERIOD_US as i64) / 100
    }
}

/// The limit in percent of a core per vCPU a period and quota mean;
/// `None` when there is no quota.
pub(crate) fn limit_pct(period: Option<u64>, quota: Option<i64>) -> Option<u32> {
    let q = quota?;
    if q <= 0 || q >= UNLIMITED_QUOTA {
        return Some(100);
    }
    let p = period.filter(|&p| p > 0).unwrap_or(PERIOD_US);
    let pct = (q as u128 * 100 + p as u128 / 2) / p as u128;
    Some(pct.clamp(1, 100) as u32)
}

fn unsupported(hv: &LibvirtHypervisor, what: String) -> HvError {
    HvError::Unsupported {
        driver: hv.kind().as_str().into(),
        what,
    }
}

/// Caps each vCPU of `name` at `pct` percent of one core (100 = no cap).
/// The value is read back, as with shares: a driver that takes it and
/// keeps something else is not believed.
pub(crate) fn set_cpu_limit(
    hv: &LibvirtHypervisor,
    name: &str,
    pct: u32,
    scope: Scope,
) -> HvResult<()> {
    let op = "set the CPU limit of";
    let dom = hv.lookup(name, op)?;
    if !(1..=100).contains(&pct) {
        return Err(HvError::InvalidSpec(format!(
            "a CPU limit of {pct}% per vCPU is out of range; give 1 to 100 (100 = no cap)"
        )));
    }
    let f = devices::flags(hv, &dom, name, op, scope)?;
    let now = dom
        .scheduler_parameters()
        .map_err(|e| hv.dom_err(e, op, name))?;
    if now.vcpu_bw.quota.is_none() {
        // A scheduler without a quota caps nothing: "no cap" is already
        // so (a policy's default limit must not fail where shares work).
        if pct == 100 {
            return Ok(());
        }
        return Err(unsupported(
            hv,
            format!(
                "a CPU limit (the {} scheduler has no vcpu_quota)",
                now.scheduler_type
            ),
        ));
    }
    let quota = quota_for(pct);
    let want = SchedulerInfo {
        scheduler_type: now.scheduler_type.clone(),
        vcpu_bw: SchedBandwidth {
            period: Some(PERIOD_US),
            quota: Some(quota),
        },
        ..Default::default()
    };
    let after = devices::set_scheduler(hv, &dom, &want, f, op, name, "a CPU limit")?;
    let kept = limit_pct(after.vcpu_bw.period, after.vcpu_bw.quota);
    // No quota read back after asking for none is no cap too.
    let kept = kept.or((pct == 100).then_some(100));
    if kept != Some(pct) {
        return Err(unsupported(
            hv,
            format!(
                "a CPU limit: it took {pct}% for {name} but keeps {}",
                kept.map_or_else(|| "none".to_string(), |k| format!("{k}%"))
            ),
        ));
    }
    Ok(())
}

/// Keeps `pct` (percent of one core per vCPU, 0 = none) as the domain's
/// CPU reservation in its `<metadata>`, where it survives restarts and
/// travels with the definition. Admission against the host is the
/// caller's: this only records.
pub(crate) fn set_cpu_reservation(
    hv: &LibvirtHypervisor,
    name: &str,
    pct: u32,
    scope: Scope,
) -> HvResult<()> {
    let op = "set the CPU reservation of";
    let dom = hv.lookup(name, op)?;
    if pct > 100 {
        return Err(HvError::InvalidSpec(format!(
            "a CPU reservation of {pct}% per vCPU is out of range; give 0 to 100 (0 = none)"
        )));
    }
    let f = devices::flags(hv, &dom, name, op, scope)?;
    let element = format!("<cpu reservation=\"{pct}\"/>");
    dom.set_metadata(
        sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
        Some(&element),
        Some(METADATA_KEY),
        Some(METADATA_NS),
        f,
    )
    .map_err(|e| match hv.dom_err(e, op, name) {
        HvError::InvalidSpec(m) | HvError::Libvirt { message: m, .. }
            if m.contains("not supported") || m.contains("unsupported") =>
        {
            unsupported(hv, format!("a CPU reservation ({m})"))
        }
        other => other,
    })?;
    let kept = reservation(hv, &dom, name, devices::read_back(f))?;
    if kept != Some(pct) {
        return Err(unsupported(
            hv,
            format!("a CPU reservation: it took {pct}% for {name} but keeps {kept:?}"),
        ));
    }
    Ok(())
}

/// The reservation kept in the domain's metadata (`flags`: live, config
/// or 0 for the current state); `None` when it has none.
fn reservation(
    hv: &LibvirtHypervisor,
    dom: &Domain,
    name: &str,
    flags: u32,
) -> HvResult<Option<u32>> {
    let op = "read the CPU reservation of";
    match dom.metadata(
        sys::VIR_DOMAIN_METADATA_ELEMENT as i32,
        Some(METADATA_NS),
        flags,
    ) {
        Ok(xml) => Ok(parse_reservation(&xml)),
        Err(e) if e.code().to_raw() == sys::VIR_ERR_NO_DOMAIN_METADATA => Ok(None),
        Err(e) => Err(hv.dom_err(e, op, name)),
    }
}

/// The percentage in `<cpu reservation="N"/>`; something else (another
/// writer's element) reads as none.
fn parse_reservation(xml: &str) -> Option<u32> {
    let el = xmltree::parse(xml).ok()?;
    let pct: u32 = el.attr("reservation")?.trim().parse().ok()?;
    (pct <= 100).then_some(pct)
}

/// The domain's CPU limit and reservation as it runs now (its definition
/// when shut off).
pub(crate) fn cpu_time(hv: &LibvirtHypervisor, name: &str) -> HvResult<CpuTime> {
    let op = "read the CPU time settings of";
    let dom = hv.lookup(name, op)?;
    let xml = dom.xml_desc(0).map_err(|e| hv.dom_err(e, op, name))?;
    let limit_pct = xmltree::parse(&xml).ok().and_then(|d| {
        let tune = d.child("cputune")?;
        let quota = tune.text_at("quota")?.parse::<i64>().ok()?;
        let period = tune.text_at("period").and_then(|p| p.parse::<u64>().ok());
        limit_pct(period, Some(quota))
    });
    Ok(CpuTime {
        limit_pct,
        reservation_pct: reservation(hv, &dom, name, 0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_and_percentages_agree() {
        assert_eq!(quota_for(50), 50_000);
        assert_eq!(quota_for(1), 1_000, "libvirt's smallest quota");
        assert_eq!(quota_for(100), -1);
        assert_eq!(limit_pct(Some(100_000), Some(50_000)), Some(50));
        assert_eq!(limit_pct(Some(200_000), Some(50_000)), Some(25));
        assert_eq!(limit_pct(Some(100_000), Some(-1)), Some(100));
        assert_eq!(limit_pct(Some(100_000), Some(0)), Some(100));
        assert_eq!(
            limit_pct(Some(100_000), Some(18_446_744_073_709_551)),
            Some(100)
        );
        assert_eq!(limit_pct(Some(100_000), Some(250_000)), Some(100));
        assert_eq!(limit_pct(None, None), None);
        for pct in 1..=100 {
            assert_eq!(limit_pct(Some(PERIOD_US), Some(quota_for(pct))), Some(pct));
        }
    }

    #[test]
    fn reservations_read_from_vines_element_only() {
        assert_eq!(parse_reservation("<cpu reservation=\"40\"/>"), Some(40));
        assert_eq!(
            parse_reservation("<vinecpu:cpu xmlns:vinecpu=\"x\" reservation=\"5\"/>"),
            Some(5)
        );
        assert_eq!(parse_reservation("<cpu reservation=\"101\"/>"), None);
        assert_eq!(parse_reservation("<cpu/>"), None);
        assert_eq!(parse_reservation("not xml <"), None);
    }
}
