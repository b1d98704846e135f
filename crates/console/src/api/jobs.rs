//! `/api/v1/jobs`: every long operation as a job — list with filters, one
//! job (optionally waiting for it to change: the CLI's progress bars long-
//! poll with `?wait=<revision>`), cancel.

use std::time::Duration;

use http::{Method, StatusCode};
use serde_json::{json, Value};
use vine_coordinator::jobs::{JobFilter, JobId, JobRecord, JobState};
use vine_coordinator::ops::{Coordinator, OpsError};

use super::{no_route, not_allowed, ok, ops_problem, Reply, Req, Spec};
use crate::openapi::{one_of, problem_responses};
use crate::problem::Problem;

/// Longest a `?wait=` request is held (under common proxy timeouts).
const MAX_WAIT: Duration = Duration::from_secs(25);
/// Jobs a list returns unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 500;

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["jobs"]) => list(c, req),
        (&Method::GET, ["jobs", id]) => get(c, req, JobId::from(*id)).await,
        (&Method::POST, ["jobs", id, "cancel"]) => {
            ok(&c.cancel_job(&JobId::from(*id)).map_err(ops_problem)?)
        }
        (_, ["jobs"] | ["jobs", _] | ["jobs", _, "cancel"]) => Err(not_allowed(req.method)),
        _ => Err(no_route(&req.segs)),
    }
}

fn bad(detail: String) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid", detail)
}

fn list(c: &Coordinator, req: &Req<'_>) -> Reply {
    let state = match req.query("state") {
        None | Some("") => None,
        Some(s) => Some(
            serde_json::from_value::<JobState>(Value::String(s.into())).map_err(|_| {
                bad(format!(
                    "state `{s}` is not a job state; use queued, running, retrying, succeeded, failed or cancelled"
                ))
            })?,
        ),
    };
    let active = match req.query("active") {
        None | Some("") => None,
        Some("true" | "1") => Some(true),
        Some("false" | "0") => Some(false),
        Some(s) => return Err(bad(format!("active `{s}` must be true or false"))),
    };
    let limit = match req.query("limit") {
        None | Some("") => DEFAULT_LIMIT,
        Some(s) => s
            .parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| bad(format!("limit `{s}` must be a positive number")))?,
    };
    let filter = JobFilter {
        state,
        kind: req
            .query("kind")
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        owner: req
            .query("owner")
            .filter(|k| !k.is_empty())
            .map(str::to_string),
        active,
    };
    let jobs = c.list_jobs(&filter).map_err(ops_problem)?;
    // The newest `limit`, still oldest first.
    let skip = jobs.len().saturating_sub(limit);
    ok(&jobs.into_iter().skip(skip).collect::<Vec<JobRecord>>())
}

/// One job; with `?wait=R`, held until its revision passes R, it ends, or
/// `timeout` seconds (at most 25) pass — then answered as it is.
async fn get(c: &Coordinator, req: &Req<'_>, id: JobId) -> Reply {
    let Some(w) = req.query("wait").filter(|w| !w.is_empty()) else {
        return ok(&c.job(&id).map_err(ops_problem)?);
    };
    let after: u64 = w
        .parse()
        .map_err(|_| bad(format!("wait `{w}` must be a job revision (a number)")))?;
    let limit = match req.query("timeout") {
        None | Some("") => MAX_WAIT,
        Some(t) => t
            .parse::<u64>()
            .map(|s| Duration::from_secs(s).min(MAX_WAIT))
            .map_err(|_| bad(format!("timeout `{t}` must be seconds")))?,
    };
    let mut rx = c
        .jobs
        .watch(&id)
        .map_err(|e| ops_problem(OpsError::Jobs(e)))?;
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        {
            let job = rx.borrow_and_update();
            if job.revision > after || job.state.is_terminal() {
                return ok(&*job);
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => continue,
            // The job ended (its sender closes then) or time is up: answer
            // with the job as stored now.
            Ok(Err(_)) | Err(_) => return ok(&c.job(&id).map_err(ops_problem)?),
        }
    }
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let q = |name: &str, schema: Value, d: &str| json!({"name": name, "in": "query", "required": false, "schema": schema, "description": d});
    let mut responses = problem_responses();
    responses["200"] = json!({"description": "jobs, oldest first",
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}});
    responses["400"] = json!({"description": "a filter that is not valid", "content": p});
    s.paths.insert(
        "/api/v1/jobs".into(),
        json!({"get": {"summary": "jobs, oldest first (the newest `limit`)",
            "parameters": [
                q("state", json!({"enum": ["queued", "running", "retrying", "succeeded", "failed", "cancelled"]}), "only jobs in this state"),
                q("kind", json!({"type": "string"}), "only jobs of this kind (vm.create, host.drain, …)"),
                q("owner", json!({"type": "string"}), "only jobs this user submitted"),
                q("active", json!({"type": "boolean"}), "true: only jobs not yet final; false: only final ones"),
                q("limit", json!({"type": "integer", "minimum": 1, "default": DEFAULT_LIMIT}), "at most this many (the newest)")],
            "responses": responses}}),
    );
    let mut one = one_of("Job", "one job");
    one["get"]["parameters"] = json!([
        {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "the job id"},
        q("wait", json!({"type": "integer"}), "hold the answer until the job's revision is above this, it ends, or `timeout` passes"),
        q("timeout", json!({"type": "integer", "maximum": 25}), "seconds to hold a `wait` (at most and by default 25)")]);
    one["get"]["responses"]["400"] = json!({"description": "bad wait or timeout", "content": p});
    s.paths.insert("/api/v1/jobs/{name}".into(), one);
    let mut responses = problem_responses();
    responses["200"] = json!({"description": "the job as stored: cancelled if it had not started, else cancel_requested (it stops before its next step); a finished job is unchanged",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}});
    responses["403"] = json!({"description": "readers may not cancel jobs", "content": p});
    s.paths.insert(
        "/api/v1/jobs/{name}/cancel".into(),
        json!({"post": {"summary": "cancel a job",
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "responses": responses}}),
    );
    s.schemas.insert(
        "Job".into(),
        json!({"type": "object",
            "required": ["id", "kind", "params", "state", "step", "progress", "attempts", "max_attempts", "created_at", "updated_at", "revision"],
            "properties": {
                "id": {"type": "string"}, "kind": {"type": "string"}, "params": {},
                "state": {"enum": ["queued", "running", "retrying", "succeeded", "failed", "cancelled"]},
                "step": {"type": "string"}, "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "attempts": {"type": "integer"}, "max_attempts": {"type": "integer"},
                "next_attempt_at": {"type": ["integer", "null"]},
                "error": {"type": ["string", "null"], "description": "the last error; final when failed"},
                "result": {"description": "what the job produced when succeeded"},
                "created_at": {"type": "integer"}, "updated_at": {"type": "integer"},
                "cancel_requested": {"type": "boolean"}, "owner": {"type": ["string", "null"]},
                "idempotency_key": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]},
                "revision": {"type": "integer", "description": "grows with every stored change; pass it as `wait`"},
                "history": {"type": "array", "items": {"type": "object",
                    "properties": {"at": {"type": "integer"}, "state": {"type": "string"}, "step": {"type": "string"}, "note": {"type": "string"}}}},
                "data": {"type": "object", "description": "what earlier steps decided (the chosen host, …)"}}}),
    );
    s
}
