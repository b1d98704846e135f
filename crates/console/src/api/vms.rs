use http::Method;
use serde_json::json;
use vine_coordinator::ops::Coordinator;

use super::{inventory_problem, no_route, not_allowed, ok, Reply, Req, Spec};
use crate::openapi::{list_of, one_of};
use crate::problem::Problem;

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    let inv = c.inventory();
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["vms"]) => ok(&inv.vms().map_err(inventory_problem)?),
        (&Method::GET, ["vms", name]) => match inv.find_vm(name).map_err(inventory_problem)? {
            Some(v) => ok(&v),
            None => Err(Problem::not_found(format!(
                "no VM named {name}; GET /api/v1/vms lists them"
            ))),
        },
        (_, ["vms"] | ["vms", _]) => Err(not_allowed(req.method)),
        _ => Err(no_route(&req.segs)),
    }
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    s.paths
        .insert("/api/v1/vms".into(), list_of("Vm", "every VM"));
    s.paths
        .insert("/api/v1/vms/{name}".into(), one_of("Vm", "one VM"));
    s.schemas.insert(
        "Vm".into(),
        json!({"type": "object", "required": ["name", "host", "state"],
            "properties": {"name": {"type": "string"}, "host": {"type": "string"},
                "uuid": {"type": ["string", "null"]},
                "state": {},
                "vcpus": {"type": ["integer", "null"]}, "memory_mib": {"type": ["integer", "null"]}}}),
    );
    s
}
