use http::Method;
use serde_json::json;
use vine_coordinator::ops::Coordinator;

use super::{inventory_problem, no_route, not_allowed, ok, Reply, Req, Spec};
use crate::openapi::{list_of, one_of};

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    let inv = c.inventory();
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["hosts"]) => ok(&inv.hosts().map_err(inventory_problem)?),
        (&Method::GET, ["hosts", name]) => ok(&inv.host(name).map_err(inventory_problem)?),
        (&Method::GET, ["hosts", name, "vms"]) => {
            inv.host(name).map_err(inventory_problem)?;
            ok(&inv.vms_on(name).map_err(inventory_problem)?)
        }
        (_, ["hosts"] | ["hosts", _] | ["hosts", _, "vms"]) => Err(not_allowed(req.method)),
        _ => Err(no_route(&req.segs)),
    }
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    s.paths
        .insert("/api/v1/hosts".into(), list_of("Host", "every host"));
    s.paths
        .insert("/api/v1/hosts/{name}".into(), one_of("Host", "one host"));
    s.paths.insert(
        "/api/v1/hosts/{name}/vms".into(),
        json!({"get": {"summary": "the VMs of one host",
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the VMs of one host",
                "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Vm"}}}}},
                "404": {"description": "no such host"}}}}),
    );
    s.schemas.insert(
        "Host".into(),
        json!({"type": "object", "required": ["name", "url", "health"],
            "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                "prefix": {"type": ["string", "null"]}, "system_name": {"type": ["string", "null"]},
                "health": {"enum": ["Unknown", "Up", "Unreachable"]},
                "last_seen": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]},
                "capacity": {"type": ["object", "null"],
                    "properties": {"vcpus": {"type": "integer"}, "memory_mib": {"type": "integer"}}}}}),
    );
    s
}
