//! `/api/v1/hosts`: the hosts as the inventory has them, their VMs,
//! maintenance and labels (PATCH), and draining one (a job that moves
//! every VM away).

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use vine_coordinator::ops::params::{DrainHost, HostPowerState, PowerHost};
use vine_coordinator::ops::Coordinator;

use super::{
    accepted, inventory_problem, no_route, not_allowed, ok, ops_problem, Reply, Req, Spec,
};
use crate::openapi::{list_of, one_of, problem_responses};
use crate::problem::Problem;

/// The body of `PATCH /api/v1/hosts/{name}`: what to change, at least one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostPatch {
    maintenance: Option<bool>,
    /// Replaces every label (`{}` clears them).
    labels: Option<BTreeMap<String, String>>,
    /// The Wake-on-LAN MAC (`""` clears it).
    mac: Option<String>,
}

/// The body of `POST /api/v1/hosts/{name}/power`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerBody {
    state: HostPowerState,
}

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    let inv = c.inventory();
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["hosts"]) => ok(&inv.hosts().map_err(inventory_problem)?),
        (&Method::GET, ["hosts", name]) => ok(&inv.host(name).map_err(inventory_problem)?),
        (&Method::PATCH, ["hosts", name]) => {
            inv.host(name).map_err(inventory_problem)?;
            let p: HostPatch = req.json()?;
            if p.maintenance.is_none() && p.labels.is_none() && p.mac.is_none() {
                return Err(Problem::new(
                    StatusCode::BAD_REQUEST,
                    "bad-body",
                    "give `maintenance` (true or false), `labels` (an object of strings) and/or \
                     `mac` (the Wake-on-LAN MAC, \"\" to clear it)",
                ));
            }
            ok(&c
                .update_host(name, p.maintenance, p.labels, p.mac)
                .map_err(ops_problem)?)
        }
        (&Method::GET, ["hosts", name, "vms"]) => {
            inv.host(name).map_err(inventory_problem)?;
            ok(&inv.vms_on(name).map_err(inventory_problem)?)
        }
        (&Method::POST, ["hosts", name, "drain"]) => {
            let p = DrainHost {
                host: name.to_string(),
            };
            accepted(
                &c.drain_host(p, req.owner(), req.idempotency_key.clone())
                    .map_err(ops_problem)?,
            )
        }
        (&Method::POST, ["hosts", name, "power"]) => {
            let b: PowerBody = req.json()?;
            let p = PowerHost {
                host: name.to_string(),
                state: b.state,
            };
            accepted(
                &c.power_host(p, req.owner(), req.idempotency_key.clone())
                    .map_err(ops_problem)?,
            )
        }
        (_, ["hosts"] | ["hosts", _] | ["hosts", _, "vms" | "drain" | "power"]) => {
            Err(not_allowed(req.method))
        }
        _ => Err(no_route(&req.segs)),
    }
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    s.paths
        .insert("/api/v1/hosts".into(), list_of("Host", "every host"));
    let mut one = one_of("Host", "one host");
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let mut responses = problem_responses();
    responses["200"] = json!({"description": "the host as stored after the change",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Host"}}}});
    responses["400"] = json!({"description": "the body is not a HostPatch, changes nothing, or a label is not allowed", "content": p});
    responses["403"] = json!({"description": "readers may not change hosts", "content": p});
    one["patch"] = json!({"summary": "put a host in or out of maintenance, and/or replace its labels",
        "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
        "requestBody": {"required": true,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HostPatch"}}}},
        "responses": responses});
    s.paths.insert("/api/v1/hosts/{name}".into(), one);
    s.paths.insert(
        "/api/v1/hosts/{name}/vms".into(),
        json!({"get": {"summary": "the VMs of one host",
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the VMs of one host",
                "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Vm"}}}}},
                "404": {"description": "no such host"}}}}),
    );
    let mut responses = problem_responses();
    responses["202"] = json!({"description": "a job moves every VM away, one at a time, each placed on another host; GET /api/v1/jobs/{id} follows it",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobAccepted"}}}});
    responses["403"] = json!({"description": "readers may not drain hosts", "content": p});
    responses["409"] = json!({"description": "the host is being drained already, or one of its VMs is busy with another job", "content": p});
    responses["422"] = json!({"description": "some VM has nowhere to go (the message names it and the room there is)", "content": p});
    s.paths.insert(
        "/api/v1/hosts/{name}/drain".into(),
        json!({"post": {"summary": "move every VM off a host",
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"},
                 "description": "sent again with the same key, answers with the first job"}],
            "responses": responses}}),
    );
    let mut responses = problem_responses();
    responses["202"] = json!({"description": "a job powers the host off through its agent, or wakes it (Wake-on-LAN or the manager's --power-on-command) and waits for its agent; GET /api/v1/jobs/{id} follows it",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobAccepted"}}}});
    responses["400"] = json!({"description": "the body is not {\"state\": \"on\"|\"off\"}, the agent cannot power off, or there is no way to wake the host", "content": p});
    responses["403"] = json!({"description": "readers may not power hosts", "content": p});
    responses["409"] = json!({"description": "the host is in that state already, its agent does not answer, VMs run on it, or another host job is running", "content": p});
    s.paths.insert(
        "/api/v1/hosts/{name}/power".into(),
        json!({"post": {"summary": "power a host off (no VM may run on it) or on",
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
                {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"},
                 "description": "sent again with the same key, answers with the first job"}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["state"], "additionalProperties": false,
                "properties": {"state": {"enum": ["on", "off"]}}}}}},
            "responses": responses}}),
    );
    s.schemas.insert(
        "Host".into(),
        json!({"type": "object", "required": ["name", "url", "health"],
            "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                "prefix": {"type": ["string", "null"]}, "system_name": {"type": ["string", "null"]},
                "health": {"enum": ["Unknown", "Up", "Unreachable"]},
                "last_seen": {"type": ["integer", "null"]}, "last_error": {"type": ["string", "null"]},
                "capacity": {"type": ["object", "null"],
                    "properties": {"vcpus": {"type": "integer"}, "memory_mib": {"type": "integer"}}},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "maintenance": {"type": "boolean",
                    "description": "placement and migrations put nothing new here; a drain turns it on and leaves it on"},
                "power": {"enum": ["On", "Stopping", "Off", "Starting"],
                    "description": "Off: powered off by the manager (host.power), not unreachable"},
                "mac": {"type": ["string", "null"], "description": "the Wake-on-LAN MAC"},
                "can_power_off": {"type": ["boolean", "null"],
                    "description": "whether its agent can power it off (vine agent --power-off-command); null until asked"}}}),
    );
    s.schemas.insert(
        "HostPatch".into(),
        json!({"type": "object", "additionalProperties": false, "minProperties": 1,
            "properties": {"maintenance": {"type": "boolean"},
                "mac": {"type": "string", "description": "the Wake-on-LAN MAC (aa:bb:cc:dd:ee:ff); \"\" clears it"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "replaces every label; {} clears them. Keys: 1-63 letters, digits, -, _, . or /"}}}),
    );
    s
}
