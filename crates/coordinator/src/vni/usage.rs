//! What a host and its VMs use now, read from the agent's DSP1053 base
//! metrics: the newest `CIM_BaseMetricValue` of CPU utilization and memory
//! used per measured element. Definitions are matched by their `Name`
//! (`CPUUtilization`, `MemoryUsed`), values to definitions by
//! `MetricDefinitionId`, values to elements by `MeasuredElementName`: all
//! standard properties, so any Base Metrics implementation answers.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use vine_cim::{CimInstance, CimValue};

/// Use of one element (the host or a VM) at its newest sample.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    /// Fraction of the element's CPUs busy over the sample interval
    /// (0..=1); `None` until the agent has two readings.
    pub cpu: Option<f64>,
    /// Memory in use, KiB.
    pub memory_used_kib: Option<u64>,
    /// When the newest of these values was sampled (agent clock).
    pub sampled_at: SystemTime,
}

/// A host's utilization as its agent reports it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Utilization {
    /// The host itself, when the agent measures it.
    pub host: Option<Usage>,
    /// Each VM with samples, by name.
    pub vms: HashMap<String, Usage>,
}

impl Utilization {
    /// The newest sample time of any element: how fresh the report is.
    pub fn sampled_at(&self) -> Option<SystemTime> {
        self.host
            .iter()
            .chain(self.vms.values())
            .map(|u| u.sampled_at)
            .max()
    }

    /// A CQL query for only the values [`Utilization::from_metrics`] reads
    /// (CPU and memory, not disk and network: a third of them), or `None`
    /// when the definitions do not name both or their ids need quoting.
    pub fn query(definitions: &[CimInstance]) -> Option<String> {
        let id = |name: &str| {
            definitions
                .iter()
                .find(|d| d.get_str("Name") == Some(name))
                .and_then(|d| d.get_str("Id"))
                .filter(|id| !id.contains(['\'', '\\']))
        };
        let (cpu, mem) = (id("CPUUtilization")?, id("MemoryUsed")?);
        Some(format!(
            "SELECT MeasuredElementName, MetricDefinitionId, TimeStamp, MetricValue \
             FROM CIM_BaseMetricValue \
             WHERE MetricDefinitionId = '{cpu}' OR MetricDefinitionId = '{mem}'"
        ))
    }

    /// Builds the report from metric definitions and values; `host_name`
    /// is the host system's `Name`, which its values carry as
    /// `MeasuredElementName` (everything else is a VM).
    pub fn from_metrics(
        host_name: &str,
        definitions: &[CimInstance],
        values: &[CimInstance],
    ) -> Utilization {
        #[derive(Clone, Copy)]
        enum Kind {
            Cpu,
            Memory,
        }
        let kinds: HashMap<&str, Kind> = definitions
            .iter()
            .filter_map(|d| {
                let kind = match d.get_str("Name")? {
                    "CPUUtilization" => Kind::Cpu,
                    "MemoryUsed" => Kind::Memory,
                    _ => return None,
                };
                Some((d.get_str("Id")?, kind))
            })
            .collect();
        // Per element and kind: (sample time µs, value) of the newest.
        let mut newest: HashMap<(&str, u8), (i128, f64)> = HashMap::new();
        for v in values {
            let Some(kind) = v.get_str("MetricDefinitionId").and_then(|id| kinds.get(id)) else {
                continue;
            };
            let (Some(element), Some(at), Some(value)) = (
                v.get_str("MeasuredElementName"),
                timestamp(v),
                v.get_str("MetricValue")
                    .and_then(|s| s.trim().parse::<f64>().ok())
                    .filter(|x| x.is_finite()),
            ) else {
                continue;
            };
            let slot = newest.entry((element, *kind as u8)).or_insert((at, value));
            if at > slot.0 {
                *slot = (at, value);
            }
        }
        let mut out = Utilization::default();
        for ((element, kind), (at, value)) in newest {
            let at = UNIX_EPOCH + Duration::from_micros(u64::try_from(at).unwrap_or(0));
            let u = if element == host_name {
                out.host.get_or_insert(Usage {
                    cpu: None,
                    memory_used_kib: None,
                    sampled_at: at,
                })
            } else {
                out.vms.entry(element.to_string()).or_insert(Usage {
                    cpu: None,
                    memory_used_kib: None,
                    sampled_at: at,
                })
            };
            u.sampled_at = u.sampled_at.max(at);
            if kind == Kind::Cpu as u8 {
                // The metric is a percentage of the element's CPUs.
                u.cpu = Some((value / 100.0).clamp(0.0, 1.0));
            } else {
                u.memory_used_kib = Some(value.max(0.0) as u64);
            }
        }
        out
    }
}

fn timestamp(v: &CimInstance) -> Option<i128> {
    match v.get("TimeStamp")? {
        CimValue::DateTime(d) => d.timestamp_micros(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vine_cim::CimDateTime;

    fn def(id: &str, name: &str) -> CimInstance {
        CimInstance::new("KVM_BaseMetricDefinition")
            .with("Id", id)
            .with("Name", name)
    }

    fn val(el: &str, def: &str, secs: u64, v: &str) -> CimInstance {
        CimInstance::new("KVM_BaseMetricValue")
            .with("MeasuredElementName", el)
            .with("MetricDefinitionId", def)
            .with(
                "TimeStamp",
                CimDateTime::from_system_time(UNIX_EPOCH + Duration::from_secs(secs)),
            )
            .with("MetricValue", v)
    }

    #[test]
    fn newest_value_per_element_wins_and_percent_becomes_fraction() {
        let defs = [
            def("KVM:CPUUtilization", "CPUUtilization"),
            def("KVM:MemoryUsed", "MemoryUsed"),
            def("KVM:DiskReadRate", "DiskReadRate"),
        ];
        let vals = [
            val("vm1", "KVM:CPUUtilization", 100, "10.00"),
            val("vm1", "KVM:CPUUtilization", 105, "90.00"),
            val("vm1", "KVM:MemoryUsed", 104, "524288"),
            val("vm1", "KVM:DiskReadRate", 106, "5.00"),
            val("h", "KVM:CPUUtilization", 105, "25.00"),
            val("vm2", "KVM:MemoryUsed", 105, "1024"),
            // Unparsable and unknown-definition values are ignored.
            val("vm3", "KVM:CPUUtilization", 105, "lots"),
            val("vm4", "Other:CPUUtilization", 105, "50"),
        ];
        let u = Utilization::from_metrics("h", &defs, &vals);
        let vm1 = u.vms["vm1"];
        assert_eq!(vm1.cpu, Some(0.9));
        assert_eq!(vm1.memory_used_kib, Some(524_288));
        assert_eq!(vm1.sampled_at, UNIX_EPOCH + Duration::from_secs(105));
        assert_eq!(u.host.unwrap().cpu, Some(0.25));
        assert_eq!(u.vms["vm2"].cpu, None, "one reading: memory but no CPU yet");
        assert!(!u.vms.contains_key("vm3") && !u.vms.contains_key("vm4"));
        assert_eq!(u.sampled_at(), Some(UNIX_EPOCH + Duration::from_secs(105)));
    }

    #[test]
    fn the_query_asks_for_cpu_and_memory_only() {
        let defs = [
            def("KVM:CPUUtilization", "CPUUtilization"),
            def("KVM:MemoryUsed", "MemoryUsed"),
        ];
        let q = Utilization::query(&defs).unwrap();
        assert!(q.ends_with(
            "WHERE MetricDefinitionId = 'KVM:CPUUtilization' OR MetricDefinitionId = 'KVM:MemoryUsed'"
        ), "{q}");
        assert_eq!(Utilization::query(&defs[..1]), None);
        let odd = [
            def("it's", "CPUUtilization"),
            def("KVM:MemoryUsed", "MemoryUsed"),
        ];
        assert_eq!(Utilization::query(&odd), None, "no quoting games");
    }
}
