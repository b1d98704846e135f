//! `/api/v1/metrics`, `/api/v1/hosts/{name}/metrics`,
//! `/api/v1/vms/{name}/metrics`: the manager's resource-monitor history
//! (CPU and memory percent per round, see
//! [`vine_coordinator::metrics`]). `since` (Unix ms) asks for only the
//! points after it, so a chart polls for what is new.

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};
use vine_coordinator::metrics::{MetricsHistory, SeriesView};
use vine_coordinator::ops::Coordinator;

use super::{inventory_problem, no_route, not_allowed, ok, Reply, Req, Spec};
use crate::openapi::problem_responses;
use crate::problem::Problem;

/// Busiest hosts whose series the summary carries unless `top` says.
const DEFAULT_TOP: usize = 6;
const MAX_TOP: usize = 50;

/// One element's history as answered.
#[derive(Serialize)]
struct Metrics<'a> {
    name: &'a str,
    /// Seconds between points.
    interval_s: f64,
    #[serde(flatten)]
    series: SeriesView,
}

/// Whether `segs` is a metrics route (the dispatcher asks first).
pub(crate) fn is_route(segs: &[&str]) -> bool {
    matches!(
        segs,
        ["metrics"] | ["hosts", _, "metrics"] | ["vms", _, "metrics"]
    )
}

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    if req.method != Method::GET {
        return Err(not_allowed(req.method));
    }
    let Some(history) = req.metrics else {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics-off",
            "this manager keeps no metrics history (started with --metrics-interval 0)",
        ));
    };
    let since = since(req)?;
    let inv = c.inventory();
    match &req.segs[..] {
        ["metrics"] => summary(history, req, since),
        ["hosts", name, "metrics"] => {
            inv.host(name).map_err(inventory_problem)?;
            ok(&Metrics {
                name,
                interval_s: history.config().interval.as_secs_f64(),
                series: history.host(name, since),
            })
        }
        ["vms", name, "metrics"] => {
            if inv.find_vm(name).map_err(inventory_problem)?.is_none() {
                return Err(Problem::not_found(format!(
                    "no VM named {name}; GET /api/v1/vms lists them"
                )));
            }
            ok(&Metrics {
                name,
                interval_s: history.vm_interval().as_secs_f64(),
                series: history.vm(name, since),
            })
        }
        _ => Err(no_route(&req.segs)),
    }
}

fn bad(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid", detail)
}

fn since(req: &Req<'_>) -> Result<u64, Problem> {
    match req.query("since") {
        None | Some("") => Ok(0),
        Some(s) => s.parse().map_err(|_| {
            bad(format!(
                "since `{s}` must be a time in Unix milliseconds (the last `t` you have)"
            ))
        }),
    }
}

/// The data centre over time, every host now, and the series of the
/// `top` busiest hosts (by CPU now).
fn summary(history: &MetricsHistory, req: &Req<'_>, since: u64) -> Reply {
    let top = match req.query("top") {
        None | Some("") => DEFAULT_TOP,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_TOP)
            .ok_or_else(|| bad(format!("top `{s}` must be a number from 0 to {MAX_TOP}")))?,
    };
    let s = history.summary(since);
    let mut by_cpu: Vec<_> = s.hosts.iter().collect();
    by_cpu.sort_by(|a, b| {
        b.cpu_pct
            .unwrap_or(-1.0)
            .total_cmp(&a.cpu_pct.unwrap_or(-1.0))
            .then_with(|| a.name.cmp(&b.name))
    });
    let busiest: Vec<Value> = by_cpu
        .iter()
        .take(top)
        .map(|h| {
            let mut v = serde_json::to_value(history.host(&h.name, since)).unwrap_or_default();
            v["name"] = json!(h.name);
            v
        })
        .collect();
    let mut body = serde_json::to_value(&s)
        .map_err(|e| Problem::internal(format!("encoding the answer: {e}")))?;
    body["busiest"] = Value::Array(busiest);
    ok(&body)
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let since = json!({"name": "since", "in": "query", "required": false, "schema": {"type": "integer", "minimum": 0},
        "description": "Unix milliseconds: only the points after this (the last `t` you have)"});
    let name =
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    let responses = |schema: &str, what: &str| {
        let mut r = problem_responses();
        r["200"] = json!({"description": what,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        r["400"] = json!({"description": "a `since` or `top` that is not valid", "content": p});
        r["503"] = json!({"description": "the manager keeps no metrics history", "content": p});
        r
    };
    s.paths.insert(
        "/api/v1/hosts/{name}/metrics".into(),
        json!({"get": {"summary": "a host's CPU and memory use over the last hour (the manager's resource-monitor history)",
            "parameters": [name, since], "responses": responses("Metrics", "the host's history, oldest first")}}),
    );
    s.paths.insert(
        "/api/v1/vms/{name}/metrics".into(),
        json!({"get": {"summary": "a VM's CPU and memory use over the last half hour",
            "parameters": [name, since], "responses": responses("Metrics", "the VM's history, oldest first")}}),
    );
    s.paths.insert(
        "/api/v1/metrics".into(),
        json!({"get": {"summary": "the data centre's CPU and memory use over time, every host's newest values, and the busiest hosts' history",
            "parameters": [since, {"name": "top", "in": "query", "required": false,
                "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TOP, "default": DEFAULT_TOP},
                "description": "how many of the busiest hosts (by CPU now) to give series for"}],
            "responses": responses("MetricsSummary", "the summary")}}),
    );
    let series = json!({
        "t": {"type": "array", "items": {"type": "integer"}, "description": "round times, Unix milliseconds"},
        "cpu_pct": {"type": "array", "items": {"type": ["number", "null"]}, "description": "percent of the CPUs busy; null where not measured"},
        "memory_pct": {"type": "array", "items": {"type": ["number", "null"]}, "description": "percent of the memory in use; null where not measured"}});
    let mut metrics = series.clone();
    metrics["name"] = json!({"type": "string"});
    metrics["interval_s"] = json!({"type": "number", "description": "seconds between points"});
    s.schemas.insert(
        "Metrics".into(),
        json!({"type": "object", "required": ["name", "interval_s", "t", "cpu_pct", "memory_pct"], "properties": metrics}),
    );
    let mut busiest = series.clone();
    busiest["name"] = json!({"type": "string"});
    s.schemas.insert(
        "MetricsSummary".into(),
        json!({"type": "object", "required": ["interval_s", "datacenter", "hosts", "busiest"],
            "properties": {
                "interval_s": {"type": "number"},
                "datacenter": {"type": "object", "required": ["t", "cpu_pct", "memory_pct"], "properties": series,
                    "description": "CPU % over all hosts (weighted by their CPUs), memory % of all hosts' memory"},
                "hosts": {"type": "array", "items": {"type": "object", "required": ["name"],
                    "properties": {"name": {"type": "string"}, "cpu_pct": {"type": ["number", "null"]}, "memory_pct": {"type": ["number", "null"]}}}},
                "busiest": {"type": "array", "items": {"type": "object", "properties": busiest}}}}),
    );
    s
}
