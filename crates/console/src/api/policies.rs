use std::time::Duration;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use vine_coordinator::ops::{Coordinator, OpsError};
use vine_coordinator::policies::{self, PolicyError};
use vine_coordinator::policy_loop::{explain, PolicyAudit};

use super::{no_route, not_allowed, ok, ops_problem, with_status, Reply, Req, Spec};
use crate::problem::Problem;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text {
    text: String,
    /// Shown in messages as the file name.
    #[serde(default)]
    origin: Option<String>,
}

/// `POST /policies/explain`: a text, or a stored policy (its active
/// version unless one is named).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainReq {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    origin: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<u32>,
}

/// How long explain waits for each agent's report (as the loop does).
const EXPLAIN_REPORT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rollback {
    version: u32,
}

/// A 400 listing every finding with its line and column.
fn invalid(origin: &str, problems: &[vine_workload::policy::Problem]) -> Problem {
    let mut p = Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-policy",
        vine_workload::policy::render_problems(origin, problems)
            .trim_end()
            .to_string(),
    );
    p.problems = serde_json::to_value(problems).ok();
    p
}

fn policy_problem(e: PolicyError) -> Problem {
    match e {
        PolicyError::Invalid { origin, problems } => invalid(&origin, &problems),
        other => ops_problem(OpsError::Policy(other)),
    }
}

/// POSTs that change nothing (a check, a dry run): readers may send
/// them too. `rest` is the path after `/api/v1/`.
pub(crate) fn read_only_post(method: &Method, rest: &str) -> bool {
    method == Method::POST
        && matches!(
            rest.trim_end_matches('/'),
            "policies/check" | "policies/explain"
        )
}

pub(crate) async fn route(c: &Coordinator, req: &Req<'_>) -> Reply {
    let store = &c.services.policies;
    match (req.method, &req.segs[..]) {
        (&Method::GET, ["policies"]) => ok(&store.list().map_err(policy_problem)?),
        (&Method::POST, ["policies"]) => {
            let t: Text = req.json()?;
            let origin = t.origin.as_deref().unwrap_or("policy");
            let v = store
                .apply(&t.text, origin, req.owner())
                .map_err(policy_problem)?;
            with_status(StatusCode::CREATED, &v)
        }
        (&Method::GET, ["policies", "schema"]) => {
            let schema: serde_json::Value = serde_json::from_str(vine_workload::policy_schema())
                .map_err(|e| Problem::internal(format!("policy schema: {e}")))?;
            ok(&schema)
        }
        (&Method::POST, ["policies", "check"]) => {
            let t: Text = req.json()?;
            match policies::check(&t.text, t.origin.as_deref().unwrap_or("policy")) {
                Ok(p) => ok(&json!({"valid": true, "name": p.name, "problems": []})),
                Err(problems) => ok(&json!({"valid": false, "problems": problems})),
            }
        }
        (&Method::POST, ["policies", "explain"]) => {
            let r: ExplainReq = req.json()?;
            let (text, origin, version) = match (r.text, r.name) {
                (Some(text), None) if r.version.is_none() => {
                    let origin = r.origin.unwrap_or_else(|| "policy".into());
                    (text, origin, 0)
                }
                (None, Some(name)) => {
                    let v = match r.version {
                        Some(n) => store.version(&name, n),
                        None => store.active(&name),
                    }
                    .map_err(policy_problem)?;
                    (v.text, format!("{name} v{}", v.version), v.version)
                }
                _ => {
                    return Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "give `text` (a policy file) or `name` (a stored policy, with an \
                         optional `version`), not both"
                            .to_string(),
                    ))
                }
            };
            let p =
                policies::check(&text, &origin).map_err(|problems| invalid(&origin, &problems))?;
            let e = explain::explain(c, p, version, EXPLAIN_REPORT_TIMEOUT)
                .await
                .map_err(|e| Problem::internal(format!("observing the data centre: {e}")))?;
            ok(&e)
        }
        (&Method::GET, ["policies", "audit"]) => {
            // What the policy loop did, newest last (`?n=`, `?policy=`).
            let n = req.query("n").and_then(|n| n.parse().ok()).unwrap_or(100);
            let audit = PolicyAudit::open(&c.services.store)
                .and_then(|a| a.recent(n, req.query("policy")))
                .map_err(|e| ops_problem(OpsError::Store(e)))?;
            ok(&audit)
        }
        (&Method::GET, ["policies", name]) => ok(&store.active(name).map_err(policy_problem)?),
        (&Method::GET, ["policies", name, "versions"]) => {
            let h = store.history(name).map_err(policy_problem)?;
            if h.is_empty() {
                return Err(policy_problem(PolicyError::NoPolicy((*name).into())));
            }
            ok(&h)
        }
        (&Method::GET, ["policies", name, "versions", v]) => {
            let v: u32 = v.parse().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "invalid",
                    format!("version `{v}` is not a number"),
                )
            })?;
            ok(&store.version(name, v).map_err(policy_problem)?)
        }
        (&Method::POST, ["policies", name, "rollback"]) => {
            let r: Rollback = req.json()?;
            let v = store
                .rollback(name, r.version, req.owner())
                .map_err(policy_problem)?;
            with_status(StatusCode::CREATED, &v)
        }
        (
            _,
            ["policies"]
            | ["policies", _]
            | ["policies", _, "versions"]
            | ["policies", _, "versions", _]
            | ["policies", _, "rollback"],
        ) => Err(not_allowed(req.method)),
        _ => Err(no_route(&req.segs)),
    }
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let version = json!({"$ref": "#/components/schemas/PolicyVersion"});
    let text_body = json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object", "required": ["text"],
        "properties": {"text": {"type": "string", "description": "the policy file (TOML)"},
                       "origin": {"type": "string", "description": "file name for messages"}}}}}});
    let name =
        json!({"name": "name", "in": "path", "required": true, "schema": {"type": "string"}});
    s.paths.insert("/api/v1/policies".into(), json!({
        "get": {"summary": "the active version of every policy",
            "responses": {"200": {"description": "policies", "content": {"application/json": {"schema": {"type": "array", "items": version}}}}}},
        "post": {"summary": "apply a policy: validated, stored as its next version",
            "requestBody": text_body,
            "responses": {"201": {"description": "the stored version", "content": {"application/json": {"schema": version}}},
                          "400": {"description": "the file has problems; `problems` lists each with line and column"}}}
    }));
    s.paths.insert("/api/v1/policies/check".into(), json!({
        "post": {"summary": "validate a policy text without storing it (the console's editor); readers may too",
            "requestBody": text_body,
            "responses": {"200": {"description": "{valid, problems[{line, column, message, help}]}"}}}
    }));
    s.paths.insert("/api/v1/policies/audit".into(), json!({
        "get": {"summary": "what the policy loop decided and did, round by round, newest last",
            "parameters": [{"name": "n", "in": "query", "schema": {"type": "integer"}},
                           {"name": "policy", "in": "query", "schema": {"type": "string"}}],
            "responses": {"200": {"description": "rounds: {policy, version, round, at, dry_run, hot, cold, held, unresolved, notes, commands[{what, reason, outcome, error, job}]}"}}}
    }));
    s.paths.insert("/api/v1/policies/explain".into(), json!({
        "post": {"summary": "what a policy would do to the live data centre now: the snapshot the policy loop would build, a fresh engine run once (no usage history, cool-downs or hourly budget spent yet: the loop, which has them, may do less), nothing sent; readers may too",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": false,
                "description": "either `text` (a policy file, not stored) or `name` (a stored policy; its active version unless `version` is given)",
                "properties": {"text": {"type": "string", "description": "the policy file (TOML)"},
                               "origin": {"type": "string", "description": "file name for messages (with `text`)"},
                               "name": {"type": "string", "description": "a stored policy"},
                               "version": {"type": "integer", "minimum": 1, "description": "a stored version of `name`"}}}}}},
            "responses": {"200": {"description": "the round, shaped as an audit round", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PolicyExplain"}}}},
                          "400": {"description": "neither or both of text and name, or the policy has problems (`problems` lists each with line and column)"},
                          "404": {"description": "no such stored policy or version"}}}
    }));
    s.paths.insert("/api/v1/policies/schema".into(), json!({
        "get": {"summary": "the JSON Schema of policy files", "responses": {"200": {"description": "JSON Schema"}}}
    }));
    s.paths.insert("/api/v1/policies/{name}".into(), json!({
        "get": {"summary": "the active version", "parameters": [name],
            "responses": {"200": {"description": "version", "content": {"application/json": {"schema": version}}}, "404": {"description": "no such policy"}}}
    }));
    s.paths.insert("/api/v1/policies/{name}/versions".into(), json!({
        "get": {"summary": "every version, oldest first", "parameters": [name],
            "responses": {"200": {"description": "versions"}, "404": {"description": "no such policy"}}}
    }));
    s.paths.insert("/api/v1/policies/{name}/rollback".into(), json!({
        "post": {"summary": "apply an old version again, as a new version", "parameters": [name],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["version"], "properties": {"version": {"type": "integer"}}}}}},
            "responses": {"201": {"description": "the new version"}, "404": {"description": "no such policy or version"}}}
    }));
    let strings = json!({"type": "array", "items": {"type": "string"}});
    s.schemas.insert("PolicyExplain".into(), json!({"type": "object",
        "required": ["policy", "version", "round", "at", "dry_run", "hot", "cold", "held", "unresolved", "notes", "commands",
                     "hosts", "hosts_reporting", "vms", "warnings"],
        "properties": {
            "id": {"type": "string", "description": "empty: an explain round is not stored"},
            "policy": {"type": "string"},
            "version": {"type": "integer", "description": "the stored version explained; 0 for a text"},
            "round": {"type": "integer"}, "at": {"type": "integer", "description": "Unix ms"},
            "dry_run": {"type": "boolean", "description": "always true"},
            "hot": strings, "cold": strings,
            "held": {"type": "array", "items": {"type": "string"}, "description": "hosts whose data could not be trusted: nothing moves off or onto them"},
            "unresolved": {"type": "array", "items": {"type": "string"}, "description": "overloaded hosts no move could relieve"},
            "notes": strings,
            "commands": {"type": "array", "items": {"type": "object",
                "required": ["id", "what", "reason", "outcome", "attempts", "depends_on"],
                "properties": {"id": {"type": "integer"}, "what": {"type": "string", "description": "e.g. `migrate web-1 host-a -> host-b`"},
                    "reason": {"type": "string"},
                    "outcome": {"enum": ["dry-run", "skipped"], "description": "skipped: this manager could not carry it out, or a command it depends on (see `error`)"},
                    "attempts": {"type": "integer"}, "error": {"type": ["string", "null"]}, "job": {"type": ["string", "null"]},
                    "depends_on": {"type": "array", "items": {"type": "integer"}}}}},
            "hosts": {"type": "integer"}, "hosts_reporting": {"type": "integer"}, "vms": {"type": "integer"},
            "warnings": {"type": "array", "items": {"type": "string"}, "description": "the policy against the inventory: a scope matching no host, constraints no placement can meet"}}}));
    s.schemas.insert("PolicyVersion".into(), json!({"type": "object",
        "required": ["name", "version", "text", "applied_at", "note"],
        "properties": {"name": {"type": "string"}, "version": {"type": "integer"}, "text": {"type": "string"},
            "applied_at": {"type": "integer"}, "applied_by": {"type": ["string", "null"]}, "note": {"type": "string"}}}));
    s
}
