//! `/api/v1/events`: what happened (jobs that ended, hosts that stopped
//! answering, …), oldest first. Pollers pass the last id they saw as
//! `since`.

use http::{Method, StatusCode};
use serde_json::json;
use vine_coordinator::ops::{Coordinator, OpsError};

use super::{no_route, not_allowed, ok, ops_problem, Reply, Req, Spec};
use crate::openapi::problem_responses;
use crate::problem::Problem;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["events"]) => {
            let limit = match req.query("limit") {
                None | Some("") => DEFAULT_LIMIT,
                Some(s) => s
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        Problem::new(
                            StatusCode::BAD_REQUEST,
                            "invalid",
                            format!("limit `{s}` must be a number from 1 to {MAX_LIMIT}"),
                        )
                    })?,
            };
            let store = |e| ops_problem(OpsError::Store(e));
            let events = match req.query("since").filter(|s| !s.is_empty()) {
                // The next `limit` after `since`: a poller pages forward.
                Some(since) => {
                    let mut v = c.events().since(since).map_err(store)?;
                    v.truncate(limit);
                    v
                }
                None => c.events().recent(limit).map_err(store)?,
            };
            ok(&events)
        }
        (_, ["events"]) => Err(not_allowed(req.method)),
        _ => Err(no_route(&req.segs)),
    }
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let mut responses = problem_responses();
    responses["200"] = json!({"description": "events, oldest first",
        "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Event"}}}}});
    responses["400"] = json!({"description": "a limit out of range", "content": p});
    s.paths.insert(
        "/api/v1/events".into(),
        json!({"get": {"summary": "the newest events, or the next ones after `since`",
            "parameters": [
                {"name": "since", "in": "query", "required": false, "schema": {"type": "string"},
                 "description": "an event id: answer with the events after it (the first `limit`)"},
                {"name": "limit", "in": "query", "required": false,
                 "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}],
            "responses": responses}}),
    );
    s.schemas.insert(
        "Event".into(),
        json!({"type": "object", "required": ["id", "at", "severity", "kind", "subject", "message"],
            "properties": {"id": {"type": "string", "description": "sorts by time"},
                "at": {"type": "integer", "description": "Unix milliseconds"},
                "severity": {"enum": ["info", "warning", "error"]},
                "kind": {"type": "string", "description": "job.succeeded, job.failed, …"},
                "subject": {"type": "string", "description": "the VM, host or job it is about"},
                "message": {"type": "string"}}}),
    );
    s
}
