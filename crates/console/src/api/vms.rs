//! `/api/v1/vms`: the VMs as the inventory has them, and the jobs that
//! change them — create, power, resize, migrate, delete. A change answers
//! 202 with the job (`GET /api/v1/jobs/{id}` follows it); what can be
//! refused at once is refused at once, with a problem body: 400 bad body
//! or values, 404 no such VM or host, 409 name taken or VM busy, 422 no
//! room (the message names the room there is).

use http::Method;
use serde::Deserialize;
use serde_json::{json, Value};
use vine_coordinator::ops::params::{
    CreateVm, DeleteVm, MigrateVm, PowerAction, PowerVm, ResizeVm,
};
use vine_coordinator::ops::{Coordinator, OpsError};

use super::{
    accepted, inventory_problem, no_route, not_allowed, ok, ops_problem, Reply, Req, Spec,
};
use crate::openapi::{list_of, one_of, problem_responses};
use crate::problem::Problem;

/// The body of `POST /vms/{name}/power`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PowerBody {
    action: String,
}

/// The body of `POST /vms/{name}/resize`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResizeBody {
    #[serde(default)]
    vcpus: Option<u32>,
    #[serde(default)]
    memory_mib: Option<u64>,
    #[serde(default)]
    cpu_shares: Option<u32>,
    #[serde(default)]
    cpu_limit_pct: Option<u32>,
    #[serde(default)]
    cpu_reservation_pct: Option<u32>,
}

/// The body of `POST /vms/{name}/migrate` (may be empty).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MigrateBody {
    #[serde(default)]
    to: Option<String>,
}

const ACTIONS: &str = "start, shutdown, stop, pause, resume, reboot, reset";

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    let inv = c.inventory();
    let owner = req.owner();
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["vms"]) => ok(&inv.vms().map_err(inventory_problem)?),
        (&Method::POST, ["vms"]) => {
            let p = create_body(req)?;
            accepted(
                &c.create_vm(p, owner, req.idempotency_key.clone())
                    .map_err(ops_problem)?,
            )
        }
        (&Method::GET, ["vms", name]) => match inv.find_vm(name).map_err(inventory_problem)? {
            Some(v) => ok(&v),
            None => Err(Problem::not_found(format!(
                "no VM named {name}; GET /api/v1/vms lists them"
            ))),
        },
        (&Method::DELETE, ["vms", name]) => {
            let p = DeleteVm {
                vm: name.to_string(),
            };
            accepted(
                &c.delete_vm(p, owner, req.idempotency_key.clone())
                    .map_err(ops_problem)?,
            )
        }
        (&Method::POST, ["vms", name, "power"]) => {
            let b: PowerBody = req.json()?;
            let action = PowerAction::parse(&b.action).ok_or_else(|| {
                ops_problem(OpsError::Invalid(format!(
                    "`{}` is not a power action; use one of {ACTIONS}",
                    b.action
                )))
            })?;
            let p = PowerVm {
                vm: name.to_string(),
                action,
            };
            accepted(
                &c.power_vm(p, owner, req.idempotency_key.clone())
                    .map_err(ops_problem)?,
            )
        }
        (&Method::POST, ["vms", name, "resize"]) => {
            let b: ResizeBody = req.json()?;
            let p = ResizeVm {
                vm: name.to_string(),
                vcpus: b.vcpus,
                memory_mib: b.memory_mib,
                cpu_shares: b.cpu_shares,
                cpu_limit_pct: b.cpu_limit_pct,
                cpu_reservation_pct: b.cpu_reservation_pct,
            };
            accepted(
                &c.resize_vm(p, owner, req.idempotency_key.clone())
                    .map_err(ops_problem)?,
            )
        }
        (&Method::POST, ["vms", name, "migrate"]) => {
            let b: MigrateBody = if req.body.is_empty() {
                MigrateBody::default()
            } else {
                req.json()?
            };
            let p = MigrateVm {
                vm: name.to_string(),
                to: b.to,
            };
            accepted(
                &c.migrate_vm(p, owner, req.idempotency_key.clone())
                    .map_err(ops_problem)?,
            )
        }
        (_, ["vms"] | ["vms", _]) | (_, ["vms", _, "power" | "resize" | "migrate"]) => {
            Err(not_allowed(req.method))
        }
        _ => Err(no_route(&req.segs)),
    }
}

/// `CreateVm` from the body, refusing fields it does not know (a typo
/// such as `"strat": false` must not be ignored silently).
fn create_body(req: &Req<'_>) -> Result<CreateVm, Problem> {
    let v: Value = req.json()?;
    unknown_fields(&v, "", &["template", "host", "pool", "start"])?;
    unknown_fields(
        &v["template"],
        "template.",
        &["name", "vcpus", "memory_mib", "disks", "nics"],
    )?;
    serde_json::from_value(v).map_err(|e| {
        ops_problem(OpsError::Invalid(format!(
            "the JSON body is not valid here: {e}; /api/openapi.json describes VmCreate"
        )))
    })
}

fn unknown_fields(v: &Value, prefix: &str, known: &[&str]) -> Result<(), Problem> {
    let Some(m) = v.as_object() else {
        return Ok(());
    };
    match m.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ops_problem(OpsError::Invalid(format!(
            "unknown field `{prefix}{k}`; expected one of {}",
            known.join(", ")
        )))),
        None => Ok(()),
    }
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let key = json!({"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string"},
        "description": "sent again with the same key, the request answers with the first job instead of doing it twice (409 if the request differs)"});
    let name = json!([{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}, key]);
    let job_responses = |what: &str, extra: &[(&str, &str)]| {
        let mut r = problem_responses();
        r["202"] = json!({"description": format!("a job {what}; GET /api/v1/jobs/{{id}} follows it"),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobAccepted"}}}});
        r["400"] = json!({"description": "bad body or values", "content": p});
        r["403"] = json!({"description": "readers may not change VMs", "content": p});
        r["409"] = json!({"description": "the VM is busy with another job, or its state does not allow this", "content": p});
        for (code, d) in extra {
            r[*code] = json!({"description": d, "content": p});
        }
        r
    };
    let body = |schema: &str, required: bool| json!({"required": required, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}});

    let mut list = list_of("Vm", "every VM");
    list["post"] = json!({"summary": "create a VM: placed (or on `host`), defined, started unless `start` is false",
        "parameters": [key],
        "requestBody": body("VmCreate", true),
        "responses": job_responses("creates it", &[("409", "a VM of that name exists or is being created"),
            ("422", "admission or placement refused it: no room (the message names the room there is)")])});
    s.paths.insert("/api/v1/vms".into(), list);

    let mut one = one_of("Vm", "one VM");
    one["delete"] = json!({"summary": "delete a VM: forced off if running, destroyed, dropped from its pool",
        "parameters": name, "responses": job_responses("deletes it", &[])});
    s.paths.insert("/api/v1/vms/{name}".into(), one);

    s.paths.insert(
        "/api/v1/vms/{name}/power".into(),
        json!({"post": {"summary": "change a VM's power state",
            "parameters": name, "requestBody": body("VmPower", true),
            "responses": job_responses("changes it", &[])}}),
    );
    s.paths.insert(
        "/api/v1/vms/{name}/resize".into(),
        json!({"post": {"summary": "change a VM's vCPUs and/or memory within its host (virtualizing down)",
            "parameters": name, "requestBody": body("VmResize", true),
            "responses": job_responses("resizes it", &[("422", "the host (or the VM's pool) cannot take the new size")])}}),
    );
    s.paths.insert(
        "/api/v1/vms/{name}/migrate".into(),
        json!({"post": {"summary": "move a VM to another host (placement chooses when `to` is absent)",
            "parameters": name, "requestBody": body("VmMigrate", false),
            "responses": job_responses("moves it", &[("422", "no other host (or not `to`) has room")])}}),
    );

    s.schemas.insert(
        "Vm".into(),
        json!({"type": "object", "required": ["name", "host", "state"],
            "properties": {"name": {"type": "string"}, "host": {"type": "string"},
                "uuid": {"type": ["string", "null"]},
                "state": {},
                "vcpus": {"type": ["integer", "null"]}, "memory_mib": {"type": ["integer", "null"]}}}),
    );
    s.schemas.insert(
        "VmCreate".into(),
        json!({"type": "object", "required": ["template"], "additionalProperties": false,
            "properties": {
                "template": {"type": "object", "required": ["name", "vcpus", "memory_mib"], "additionalProperties": false,
                    "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$"},
                        "vcpus": {"type": "integer", "minimum": 1}, "memory_mib": {"type": "integer", "minimum": 1},
                        "disks": {"type": "array", "items": {"type": "object", "required": ["path", "device"],
                            "properties": {"path": {"type": "string"}, "device": {"type": "string"}}}},
                        "nics": {"type": "array", "items": {"type": "object", "required": ["network"],
                            "properties": {"network": {"type": "string"}, "mac": {"type": ["string", "null"]}}}}}},
                "host": {"type": ["string", "null"], "description": "put it here instead of letting placement choose"},
                "pool": {"type": ["string", "null"], "description": "draw from this service pool"},
                "start": {"type": "boolean", "default": true}}}),
    );
    s.schemas.insert(
        "VmPower".into(),
        json!({"type": "object", "required": ["action"], "additionalProperties": false,
            "properties": {"action": {"enum": ["start", "shutdown", "stop", "pause", "resume", "reboot", "reset"]}}}),
    );
    s.schemas.insert(
        "VmResize".into(),
        json!({"type": "object", "additionalProperties": false, "minProperties": 1,
            "properties": {"vcpus": {"type": "integer", "minimum": 1}, "memory_mib": {"type": "integer", "minimum": 1},
                "cpu_shares": {"type": "integer", "minimum": 2, "maximum": 262144, "description": "CPU weight against the other VMs on the host (the hypervisor's CPU shares; 1024 is the usual default)"},
                "cpu_limit_pct": {"type": "integer", "minimum": 1, "maximum": 100, "description": "The most CPU time each vCPU may use, in percent of one host core (100 = no cap; libvirt's vcpu_quota over a 100 ms vcpu_period)"},
                "cpu_reservation_pct": {"type": "integer", "minimum": 0, "maximum": 100, "description": "CPU time guaranteed to each vCPU, in percent of one host core (0 = none); the host refuses it when its guests' reservations would pass its cores"}}}),
    );
    s.schemas.insert(
        "VmMigrate".into(),
        json!({"type": "object", "additionalProperties": false,
            "properties": {"to": {"type": ["string", "null"], "description": "destination host; placement chooses when absent"}}}),
    );
    s.schemas.insert(
        "JobAccepted".into(),
        json!({"type": "object", "required": ["job", "href"],
            "properties": {"job": {"type": "string"}, "href": {"type": "string"}}}),
    );
    s
}
