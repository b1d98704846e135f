//! `/api/v1/vs`: virtual servers. Reads answer at once with each node's
//! health from the load balancer; changes are jobs (202 with the job).

use http::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use vine_coordinator::ops::params::CreateVs;
use vine_coordinator::ops::Coordinator;

use super::{accepted, no_route, not_allowed, ok, ops_problem, Reply, Req, Spec};
use crate::openapi::{list_of, one_of, problem_responses};
use crate::problem::Problem;

/// The body of `POST /api/v1/vs/{name}/scale`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scale {
    nodes: u32,
}

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["vs"]) => ok(&c.list_vs().await.map_err(ops_problem)?),
        (&Method::POST, ["vs"]) => {
            let body = create_body(req)?;
            accepted(&c.create_vs(body, req.owner()).map_err(ops_problem)?)
        }
        (&Method::GET, ["vs", name]) => ok(&c.get_vs(name).await.map_err(ops_problem)?),
        (&Method::DELETE, ["vs", name]) => {
            accepted(&c.delete_vs(name, req.owner()).map_err(ops_problem)?)
        }
        (&Method::POST, ["vs", name, "scale"]) => {
            let body: Scale = req.json()?;
            accepted(
                &c.scale_vs(name, body.nodes, req.owner())
                    .map_err(ops_problem)?,
            )
        }
        (_, ["vs"] | ["vs", _] | ["vs", _, "scale"]) => Err(not_allowed(req.method)),
        _ => Err(no_route(&req.segs)),
    }
}

/// A `CreateVs`; the template's `name` may be left out (every node is
/// named after the virtual server).
fn create_body(req: &Req<'_>) -> Result<CreateVs, Problem> {
    let mut v: Value = req.json()?;
    if let (Some(name), Some(t)) = (
        v.get("name").cloned(),
        v.get_mut("template").and_then(Value::as_object_mut),
    ) {
        t.entry("name").or_insert(name);
    }
    serde_json::from_value(v).map_err(|e| {
        Problem::new(
            http::StatusCode::BAD_REQUEST,
            "bad-body",
            format!("the JSON body is not a virtual server: {e}"),
        )
    })
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let job = json!({"description": "the job that does it",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VsJobAccepted"}}}});
    let name_param =
        json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}]);

    let mut list = list_of("Vs", "every virtual server with its nodes' health");
    let mut r = problem_responses();
    r["202"] = job.clone();
    r["400"] = json!({"description": "bad body, name, node count or health check", "content": p});
    r["403"] = json!({"description": "readers may not create virtual servers", "content": p});
    r["409"] = json!({"description": "the name or the front-end address is taken", "content": p});
    r["422"] =
        json!({"description": "the nodes do not fit, each on a host of its own", "content": p});
    list["post"] = json!({"summary": "create a virtual server: N nodes on distinct hosts behind one front end",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VsCreate"}}}},
        "responses": r});
    s.paths.insert("/api/v1/vs".into(), list);

    let mut one = one_of(
        "Vs",
        "one virtual server: nodes, their health, the front-end address",
    );
    let mut r = problem_responses();
    r["202"] = job.clone();
    r["403"] = json!({"description": "readers may not delete virtual servers", "content": p});
    r["409"] = json!({"description": "another job is working on it", "content": p});
    one["delete"] = json!({"summary": "delete a virtual server: front end first, then its nodes",
        "parameters": name_param.clone(), "responses": r});
    s.paths.insert("/api/v1/vs/{name}".into(), one);

    let mut r = problem_responses();
    r["202"] = job;
    r["400"] = json!({"description": "bad body or node count", "content": p});
    r["403"] = json!({"description": "readers may not scale virtual servers", "content": p});
    r["409"] = json!({"description": "another job is working on it, or it is being deleted", "content": p});
    r["422"] =
        json!({"description": "the new nodes do not fit, each on a host of its own", "content": p});
    s.paths.insert(
        "/api/v1/vs/{name}/scale".into(),
        json!({"post": {"summary": "grow (new nodes on unused hosts) or shrink (newest nodes leave the front end, then are destroyed)",
            "parameters": name_param,
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["nodes"], "additionalProperties": false,
                "properties": {"nodes": {"type": "integer", "minimum": 1, "maximum": 64}}}}}},
            "responses": r}}),
    );

    let check = json!({"type": ["object", "null"], "required": ["path", "interval_ms", "fall", "rise"],
        "properties": {"path": {"type": "string"}, "interval_ms": {"type": "integer", "minimum": 100},
            "fall": {"type": "integer", "minimum": 1}, "rise": {"type": "integer", "minimum": 1}}});
    s.schemas.insert(
        "VsNodeTemplate".into(),
        json!({"type": "object", "required": ["vcpus", "memory_mib"],
            "properties": {"name": {"type": "string", "description": "ignored: nodes are named <vs>-<n>"},
                "vcpus": {"type": "integer", "minimum": 1}, "memory_mib": {"type": "integer", "minimum": 1},
                "disks": {"type": "array", "items": {"type": "object", "required": ["path", "device"],
                    "properties": {"path": {"type": "string"}, "device": {"type": "string"}}}},
                "nics": {"type": "array", "items": {"type": "object", "required": ["network"],
                    "properties": {"network": {"type": "string"}, "mac": {"type": ["string", "null"]}}}}}}),
    );
    s.schemas.insert(
        "VsCreate".into(),
        json!({"type": "object", "required": ["name", "template", "nodes"],
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,47}$"},
                "template": {"$ref": "#/components/schemas/VsNodeTemplate"},
                "nodes": {"type": "integer", "minimum": 1, "maximum": 64},
                "bind": {"type": ["string", "null"], "description": "front-end address; a free loopback port when absent"},
                "node_port": {"type": ["integer", "null"], "description": "port nodes serve on when they publish only an IP"},
                "pool": {"type": ["string", "null"]},
                "health": check.clone()}}),
    );
    s.schemas.insert(
        "VsJobAccepted".into(),
        json!({"type": "object", "required": ["job", "href"],
            "properties": {"job": {"type": "string"}, "href": {"type": "string"}}}),
    );
    s.schemas.insert(
        "Vs".into(),
        json!({"type": "object",
            "required": ["name", "desired", "template", "front_end", "nodes", "deleting", "repairs"],
            "properties": {"name": {"type": "string"}, "desired": {"type": "integer"},
                "template": {"$ref": "#/components/schemas/VsNodeTemplate"},
                "pool": {"type": ["string", "null"]}, "node_port": {"type": ["integer", "null"]},
                "front_end": {"type": "object", "required": ["state"],
                    "properties": {"address": {"type": ["string", "null"]},
                        "state": {"enum": ["serving", "pending", "removing", "none", "unknown"]},
                        "detail": {"type": ["string", "null"]}}},
                "nodes": {"type": "array", "items": {"type": "object", "required": ["vm", "host", "state", "health"],
                    "properties": {"vm": {"type": "string"}, "host": {"type": "string"},
                        "addr": {"type": ["string", "null"]},
                        "state": {"enum": ["creating", "ready", "removing"]},
                        "health": {"enum": ["up", "down", "unchecked", "maintenance", "no_address", "not_serving", "no_front_end", "unknown"]},
                        "sessions": {"type": ["integer", "null"]}}}},
                "job": {"type": ["string", "null"], "description": "the job working on it now"},
                "deleting": {"type": "boolean"},
                "repairs": {"type": "array", "items": {"type": "object",
                    "properties": {"at": {"type": "integer"}, "node": {"type": "string"}, "host": {"type": "string"},
                        "reason": {"type": "string"}, "job": {"type": "string"}}}}}}),
    );
    s
}
