//! Looking at the live data centre: every agent's utilization (asked of
//! all at once), the inventory reread where an agent disagrees with it,
//! the VMs some job is acting on and the virtual servers' nodes, joined
//! into a [`Snapshot`] by [`snapshot::build`](super::snapshot::build).
//! The loop does this every round; `POST /api/v1/policies/explain` does
//! it once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use vine_workload::Snapshot;

use super::snapshot;
use crate::inventory::{HostPower, HostRecord};
use crate::jobs::JobFilter;
use crate::ops::Coordinator;
use crate::vni::Utilization;

/// Reads every agent's utilization and the inventory into a snapshot. An
/// agent that does not answer within `report_timeout` has no report, so
/// the engine holds its host.
pub async fn observe(c: &Coordinator, report_timeout: Duration) -> Result<Snapshot, String> {
    let inv = c.inventory();
    let hosts = inv.hosts().map_err(|e| e.to_string())?;
    let mut usage = reports(c, &hosts, report_timeout).await;
    let mut vms = inv.vms().map_err(|e| e.to_string())?;
    let stale = snapshot::disagreeing(&vms, &usage);
    if !stale.is_empty() {
        for h in &stale {
            if let Err(e) = inv.resync_host(h).await {
                tracing::warn!(host = %h, error = %e, "resync before planning failed");
                usage.remove(h);
            }
        }
        vms = inv.vms().map_err(|e| e.to_string())?;
    }
    let busy = busy_vms(c);
    let services: HashMap<String, String> = c
        .services
        .vservers
        .list()
        .map(|l| {
            l.into_iter()
                .flat_map(|(_, vs)| {
                    let name = vs.name.clone();
                    vs.nodes.into_iter().map(move |n| (n.vm, name.clone()))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(snapshot::build(&snapshot::Observed {
        now: SystemTime::now(),
        hosts: &hosts,
        vms: &vms,
        usage: &usage,
        busy: &busy,
        services: &services,
        wake_by_command: c.services.power.on_command.is_some(),
    }))
}

/// Each reachable host's report, asked of all agents at once.
async fn reports(
    c: &Coordinator,
    hosts: &[HostRecord],
    limit: Duration,
) -> HashMap<String, Utilization> {
    let inv = c.inventory();
    let mut set = tokio::task::JoinSet::new();
    // A host powered off (or on its way) has no agent to ask.
    for h in hosts.iter().filter(|h| h.power == HostPower::On) {
        let name = h.name.clone();
        let agent = inv.agent(&h.name);
        set.spawn(async move {
            let r = match agent {
                Ok(a) => match tokio::time::timeout(limit, a.utilization()).await {
                    Ok(r) => r.map_err(|e| e.to_string()),
                    Err(_) => Err(format!("no answer in {} s", limit.as_secs())),
                },
                Err(e) => Err(e.to_string()),
            };
            (name, r)
        });
    }
    let mut out = HashMap::new();
    while let Some(j) = set.join_next().await {
        match j {
            Ok((name, Ok(u))) => {
                out.insert(name, u);
            }
            Ok((name, Err(e))) => {
                tracing::debug!(host = %name, error = %e, "no utilization report")
            }
            Err(e) => tracing::warn!(error = %e, "utilization task failed"),
        }
    }
    out
}

/// VMs some active job is acting on.
fn busy_vms(c: &Coordinator) -> HashSet<String> {
    let jobs = c
        .list_jobs(&JobFilter {
            active: Some(true),
            ..JobFilter::default()
        })
        .unwrap_or_default();
    jobs.iter()
        .filter_map(|j| {
            j.params
                .get("vm")
                .or_else(|| j.params.pointer("/template/name"))
                .or_else(|| j.data.get("vm"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect()
}
