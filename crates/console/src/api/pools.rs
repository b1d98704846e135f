//! `/api/v1/pools`: the data-centre pool, one pool per host (`host/<name>`,
//! reachable as one `host%2F<name>` segment or as two segments) and the
//! service pools users create with a reservation and an optional limit.

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use vine_coordinator::ops::{Coordinator, OpsError};
use vine_coordinator::placement::Resources;
use vine_coordinator::pools::{PoolError, DATACENTER, HOST_POOL_PREFIX};

use super::{no_route, not_allowed, ok, ops_problem, with_status, Reply, Req, Spec};
use crate::openapi::{list_of, one_of, problem_responses};
use crate::problem::Problem;

/// The body of `POST /api/v1/pools`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePool {
    name: String,
    /// Kept free for the pool's VMs; nothing when absent.
    #[serde(default)]
    reservation: Resources,
    /// Unlimited when absent or null.
    #[serde(default)]
    limit: Option<Resources>,
}

fn pool_problem(e: PoolError) -> Problem {
    ops_problem(OpsError::Pool(e))
}

/// The pool name a path names: `["web"]`, `["host/a"]` (one encoded
/// segment) or `["host", "a"]`.
fn pool_name(rest: &[&str]) -> Option<String> {
    match rest {
        [name] => Some((*name).to_string()),
        ["host", host] => Some(format!("{HOST_POOL_PREFIX}{host}")),
        _ => None,
    }
}

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    let pools = c.pools();
    let (method, segs) = (req.method, &req.segs[..]);
    let rest = segs.get(1..).unwrap_or_default();
    if rest.is_empty() {
        return match *method {
            Method::GET => ok(&pools.list().map_err(pool_problem)?),
            Method::POST => create(c, req),
            _ => Err(not_allowed(method)),
        };
    }
    let Some(name) = pool_name(rest) else {
        return Err(no_route(segs));
    };
    match *method {
        Method::GET => ok(&pools.get(&name).map_err(pool_problem)?),
        Method::DELETE => {
            // The data-centre and host pools are views of the inventory,
            // not stored: say so rather than "no such pool".
            if name == DATACENTER || name.starts_with(HOST_POOL_PREFIX) {
                pools.get(&name).map_err(pool_problem)?;
                return Err(ops_problem(OpsError::Conflict(format!(
                    "pool {name} is computed from the hosts and cannot be deleted; only service pools can"
                ))));
            }
            pools.delete(&name).map_err(pool_problem)?;
            ok(&json!({"deleted": name}))
        }
        _ => Err(not_allowed(method)),
    }
}

fn create(c: &Coordinator, req: &Req<'_>) -> Reply {
    let body: CreatePool = req.json()?;
    if let Some(limit) = body.limit {
        // Checked here so the message names the numbers, not the name.
        if !body.reservation.fits_in(limit) {
            return Err(ops_problem(OpsError::Invalid(format!(
                "the reservation ({}) is larger than the limit ({limit}): a pool cannot keep more than it may use",
                body.reservation
            ))));
        }
    }
    let rec = c
        .pools()
        .create(&body.name, body.reservation, body.limit)
        .map_err(pool_problem)?;
    with_status(StatusCode::CREATED, &rec)
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let name_param = json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"},
        "description": "`datacenter`, `host/<host>` (the slash may be sent as %2F) or a service pool"}]);

    let mut list = list_of(
        "Pool",
        "every pool: the data centre, each host, each service pool",
    );
    let mut responses = problem_responses();
    responses["201"] = json!({"description": "the pool was created",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PoolRecord"}}}});
    responses["400"] =
        json!({"description": "bad body or name, or a reservation over the limit", "content": p});
    responses["403"] = json!({"description": "readers may not create pools", "content": p});
    responses["409"] = json!({"description": "a pool of that name exists", "content": p});
    responses["422"] =
        json!({"description": "the data centre cannot keep the reservation", "content": p});
    list["post"] = json!({"summary": "create a service pool",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PoolCreate"}}}},
        "responses": responses});
    s.paths.insert("/api/v1/pools".into(), list);

    let mut one = one_of("Pool", "one pool");
    let mut responses = problem_responses();
    responses["200"] = json!({"description": "the pool was deleted",
        "content": {"application/json": {"schema": {"type": "object", "properties": {"deleted": {"type": "string"}}}}}});
    responses["403"] = json!({"description": "readers may not delete pools", "content": p});
    responses["409"] = json!({"description": "VMs still draw from the pool, or it is the data-centre or a host pool", "content": p});
    one["get"]["parameters"] = name_param.clone();
    one["delete"] = json!({"summary": "delete an empty service pool",
        "parameters": name_param, "responses": responses});
    s.paths.insert("/api/v1/pools/{name}".into(), one);

    let res = json!({"type": "object", "required": ["vcpus", "memory_mib"],
        "properties": {"vcpus": {"type": "integer", "minimum": 0}, "memory_mib": {"type": "integer", "minimum": 0}}});
    let res_or_null =
        json!({"oneOf": [{"$ref": "#/components/schemas/Resources"}, {"type": "null"}]});
    s.schemas.insert("Resources".into(), res);
    s.schemas.insert(
        "Pool".into(),
        json!({"type": "object", "required": ["name", "kind", "allocated", "vms"],
            "properties": {"name": {"type": "string"},
                "kind": {"enum": ["datacenter", "host", "service"]},
                "capacity": res_or_null, "allowed": res_or_null,
                "allocated": {"$ref": "#/components/schemas/Resources"},
                "reservation": res_or_null,
                "vms": {"type": "integer"}}}),
    );
    s.schemas.insert(
        "PoolRecord".into(),
        json!({"type": "object", "required": ["name", "reservation", "members"],
            "properties": {"name": {"type": "string"},
                "reservation": {"$ref": "#/components/schemas/Resources"},
                "limit": res_or_null,
                "members": {"type": "array", "items": {"type": "string"}}}}),
    );
    s.schemas.insert(
        "PoolCreate".into(),
        json!({"type": "object", "required": ["name"], "additionalProperties": false,
            "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"},
                "reservation": {"$ref": "#/components/schemas/Resources"},
                "limit": res_or_null}}),
    );
    s
}
