//! Base metrics (DSP1053) over the resource monitor's history:
//!
//! - `<P>_BaseMetricDefinition`, one per [`Metric`], Id `<P>:<Metric>`;
//! - `<P>_BaseMetricValue`, one per kept sample and metric, InstanceID
//!   `<element>/<Metric>/<µs since the epoch>` with element `host:<name>`
//!   or `vm:<domain>` (neither contains `/`);
//! - `<P>_MetricDefForME` (host/VM → definitions), `<P>_MetricForME`
//!   (host/VM → values), `<P>_MetricInstance` (definition → values).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use vine_cim::{CimClass, CimDateTime, CimError, CimInstance, CimInstanceName, CimResult};
use vine_wbem::provider::{AssociationProvider, InstanceProvider, RequestContext};

use crate::context::VirtContext;
use crate::monitor::{Element, Metric, Monitor, Sample};
use crate::pool_assoc::link;

/// `<P>:<Metric>`.
pub fn definition_id(ctx: &VirtContext, m: Metric) -> String {
    format!("{}:{}", ctx.prefix, m.name())
}

pub fn definition_path(ctx: &VirtContext, m: Metric) -> CimInstanceName {
    let class = ctx.class("BaseMetricDefinition");
    CimInstanceName::new(class.as_str())
        .with_key("Id", definition_id(ctx, m))
        .with_namespace(crate::VIRT_NS)
}

fn element_key(el: &Element) -> String {
    match el {
        Element::Host => "host".to_string(),
        Element::Domain(d) => format!("vm:{d}"),
    }
}

fn element_path(ctx: &VirtContext, el: &Element) -> CimInstanceName {
    match el {
        Element::Host => ctx.host_path(),
        Element::Domain(d) => ctx.system_path(d),
    }
}

fn micros(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

/// InstanceID of one value.
pub fn value_id(el: &Element, m: Metric, at: SystemTime) -> String {
    format!("{}/{}/{}", element_key(el), m.name(), micros(at))
}

/// (element, metric, µs) of a value InstanceID.
pub fn split_value_id(id: &str) -> Option<(Element, Metric, u128)> {
    let (el, rest) = id.split_once('/')?;
    let (m, t) = rest.split_once('/')?;
    let el = if el == "host" {
        Element::Host
    } else {
        Element::Domain(el.strip_prefix("vm:")?.to_string())
    };
    Some((el, Metric::parse(m)?, t.parse().ok()?))
}

pub fn value_path(ctx: &VirtContext, el: &Element, m: Metric, at: SystemTime) -> CimInstanceName {
    crate::paths::instance_id_path(&ctx.class("BaseMetricValue"), &value_id(el, m, at))
}

/// (DataType, Calculable, Units, ProgrammaticUnits, TimeScope) of a metric.
fn shape(m: Metric) -> (u16, u16, &'static str, &'static str, u16) {
    // DataType 5 real64, 13 uint64; Calculable 2 Summable, 3 Non-summable;
    // TimeScope 2 Point, 3 Interval.
    match m {
        Metric::CpuUtilization => (5, 3, "Percent", "percent", 3),
        Metric::MemoryUsed => (13, 2, "KiB", "byte*2^10", 2),
        _ => (5, 2, "Bytes per second", "byte/second", 3),
    }
}

pub fn definition_instance(ctx: &VirtContext, m: Metric) -> CimInstance {
    let (data_type, calculable, units, punits, scope) = shape(m);
    let path = definition_path(ctx, m);
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("Id", definition_id(ctx, m))
        .with("Name", m.name())
        .with("ElementName", m.name())
        .with("DataType", data_type)
        .with("Calculable", calculable)
        .with("Units", units)
        .with("ProgrammaticUnits", punits)
        .with("IsContinuous", true)
        // 4 Gauge; 3 Periodic.
        .with("ChangeType", 4u16)
        .with("TimeScope", scope)
        .with("GatheringType", 3u16);
    inst.path = Some(path);
    inst
}

fn format_value(m: Metric, v: f64) -> String {
    match m {
        Metric::MemoryUsed => format!("{}", v.round() as u64),
        _ => format!("{v:.2}"),
    }
}

fn element_name(ctx: &VirtContext, el: &Element) -> String {
    match el {
        Element::Host => ctx.host_name.clone(),
        Element::Domain(d) => d.clone(),
    }
}

pub fn value_instance(
    ctx: &VirtContext,
    el: &Element,
    s: &Sample,
    m: Metric,
    v: f64,
) -> CimInstance {
    let path = value_path(ctx, el, m, s.at);
    let mut inst = CimInstance::new(path.class_name.clone())
        .with("InstanceID", value_id(el, m, s.at))
        .with("MetricDefinitionId", definition_id(ctx, m))
        .with("MeasuredElementName", element_name(ctx, el))
        .with(
            "ElementName",
            format!("{} of {}", m.name(), element_name(ctx, el)),
        )
        .with("TimeStamp", CimDateTime::from_system_time(s.at))
        .with("Duration", CimDateTime::interval(s.duration))
        .with("MetricValue", format_value(m, v))
        .with("Volatile", true);
    inst.path = Some(path);
    inst
}

/// Serves the metric classes from a [`Monitor`].
pub struct MetricsProvider {
    ctx: VirtContext,
    monitor: Arc<Monitor>,
}

impl MetricsProvider {
    pub fn new(ctx: VirtContext, monitor: Arc<Monitor>) -> Self {
        MetricsProvider { ctx, monitor }
    }

    pub fn classes(ctx: &VirtContext) -> Vec<String> {
        [
            "BaseMetricDefinition",
            "BaseMetricValue",
            "MetricDefForME",
            "MetricForME",
            "MetricInstance",
        ]
        .iter()
        .map(|b| ctx.class(b))
        .collect()
    }

    /// The association classes (served from either end by
    /// [`AssociationProvider`] too).
    pub fn association_classes(ctx: &VirtContext) -> Vec<String> {
        ["MetricDefForME", "MetricForME", "MetricInstance"]
            .iter()
            .map(|b| ctx.class(b))
            .collect()
    }

    /// (element, sample, metric, value) of every kept value, optionally of
    /// one element only.
    fn values(&self, only: Option<&Element>) -> Vec<(Element, Sample, Metric, f64)> {
        let all = match only {
            Some(el) => vec![(el.clone(), self.monitor.history(el))],
            None => self.monitor.all(),
        };
        let mut out = Vec::new();
        for (el, samples) in all {
            for s in samples {
                for (m, v) in &s.values {
                    out.push((el.clone(), s.clone(), *m, *v));
                }
            }
        }
        out
    }

    fn value_instances(&self, only: Option<&Element>) -> Vec<CimInstance> {
        self.values(only)
            .iter()
            .map(|(el, s, m, v)| value_instance(&self.ctx, el, s, *m, *v))
            .collect()
    }

    /// MetricDefForME for the host and every defined domain.
    async fn def_links(&self, only: Option<&Element>) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let class = ctx.class("MetricDefForME");
        let elements: Vec<Element> = match only {
            Some(el) => vec![el.clone()],
            None => {
                let doms = ctx.call(|hv| hv.domains()).await?;
                std::iter::once(Element::Host)
                    .chain(doms.into_iter().map(|d| Element::Domain(d.name)))
                    .collect()
            }
        };
        let mut out = Vec::new();
        for el in elements {
            let metrics: &[Metric] = match el {
                Element::Host => &Metric::HOST,
                Element::Domain(_) => &Metric::ALL,
            };
            for m in metrics {
                let mut i = link(
                    &class,
                    ("Antecedent", element_path(ctx, &el)),
                    ("Dependent", definition_path(ctx, *m)),
                );
                i.set("MetricCollectionEnabled", 2u16);
                out.push(i);
            }
        }
        Ok(out)
    }

    fn value_links(
        &self,
        base: &str,
        only: Option<&Element>,
        metric: Option<Metric>,
    ) -> Vec<CimInstance> {
        let ctx = &self.ctx;
        let class = ctx.class(base);
        self.values(only)
            .iter()
            .filter(|(_, _, m, _)| metric.is_none_or(|x| x == *m))
            .map(|(el, s, m, _)| {
                let value = value_path(ctx, el, *m, s.at);
                let from = if base == "MetricForME" {
                    element_path(ctx, el)
                } else {
                    definition_path(ctx, *m)
                };
                link(&class, ("Antecedent", from), ("Dependent", value))
            })
            .collect()
    }

    /// The monitored element an object path names, if any.
    fn element_of(&self, p: &CimInstanceName) -> Option<Element> {
        let ctx = &self.ctx;
        if p.class_name.matches(&ctx.class("HostSystem")) {
            return (p.key_str("Name") == Some(ctx.host_name.as_str())).then_some(Element::Host);
        }
        if p.class_name.matches(&ctx.class("ComputerSystem")) {
            return p.key_str("Name").map(|n| Element::Domain(n.to_string()));
        }
        None
    }
}

#[async_trait]
impl InstanceProvider for MetricsProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let is = |base: &str| class.name.matches(&ctx.class(base));
        if is("BaseMetricDefinition") {
            return Ok(Metric::ALL
                .iter()
                .map(|m| definition_instance(ctx, *m))
                .collect());
        }
        if is("BaseMetricValue") {
            return Ok(self.value_instances(None));
        }
        if is("MetricDefForME") {
            return self.def_links(None).await;
        }
        if is("MetricForME") {
            return Ok(self.value_links("MetricForME", None, None));
        }
        Ok(self.value_links("MetricInstance", None, None))
    }

    async fn get_instance(
        &self,
        rc: &RequestContext,
        class: &CimClass,
        name: &CimInstanceName,
    ) -> CimResult<CimInstance> {
        if !class.name.matches(&self.ctx.class("BaseMetricValue")) {
            return self
                .enumerate_instances(rc, class)
                .await?
                .into_iter()
                .find(|i| i.path.as_ref().is_some_and(|p| p.same_object(name)))
                .ok_or_else(|| CimError::not_found(name.local()));
        }
        // Straight to the element's history instead of every value.
        let (el, m, t) = name
            .key_str("InstanceID")
            .and_then(split_value_id)
            .ok_or_else(|| CimError::not_found(name.local()))?;
        self.monitor
            .history(&el)
            .iter()
            .filter(|s| micros(s.at) == t)
            .find_map(|s| s.value(m).map(|v| value_instance(&self.ctx, &el, s, m, v)))
            .ok_or_else(|| CimError::not_found(name.local()))
    }
}

#[async_trait]
impl AssociationProvider for MetricsProvider {
    async fn references(
        &self,
        _rc: &RequestContext,
        assoc_class: &CimClass,
        object: &CimInstanceName,
        _role: Option<&str>,
    ) -> CimResult<Vec<CimInstance>> {
        // The dispatcher filters by role and end; this only narrows the
        // candidates to the object's own links.
        let ctx = &self.ctx;
        let is = |base: &str| assoc_class.name.matches(&ctx.class(base));
        let element = self.element_of(object);
        let value = object
            .class_name
            .matches(&ctx.class("BaseMetricValue"))
            .then(|| object.key_str("InstanceID").and_then(split_value_id))
            .flatten();
        let metric = object
            .class_name
            .matches(&ctx.class("BaseMetricDefinition"))
            .then(|| {
                object
                    .key_str("Id")
                    .and_then(|id| id.split_once(':'))
                    .and_then(|(_, m)| Metric::parse(m))
            })
            .flatten();
        if is("MetricDefForME") {
            return match (&element, metric) {
                (Some(el), _) => self.def_links(Some(el)).await,
                (None, Some(_)) => self.def_links(None).await,
                _ => Ok(Vec::new()),
            };
        }
        let base = if is("MetricForME") {
            "MetricForME"
        } else {
            "MetricInstance"
        };
        Ok(match (element, value, metric) {
            (Some(el), _, _) => self.value_links(base, Some(&el), None),
            (None, Some((el, m, _)), _) => self.value_links(base, Some(&el), Some(m)),
            (None, None, Some(m)) => self.value_links(base, None, Some(m)),
            _ => Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ids_round_trip() {
        let at = UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456);
        let el = Element::Domain("web:1".into());
        let id = value_id(&el, Metric::DiskWriteRate, at);
        assert_eq!(id, "vm:web:1/DiskWriteRate/1700000000123456");
        assert_eq!(
            split_value_id(&id),
            Some((el, Metric::DiskWriteRate, 1_700_000_000_123_456))
        );
        assert_eq!(
            split_value_id("host/MemoryUsed/5"),
            Some((Element::Host, Metric::MemoryUsed, 5))
        );
        assert_eq!(split_value_id("web/MemoryUsed/5"), None);
        assert_eq!(split_value_id("host/Bogus/5"), None);
    }
}
