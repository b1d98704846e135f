//! `POST /api/v1/hosts/register`: an agent joins the manager
//! (`vine agent --manager URL --join-token-file FILE`).
//!
//! 1. The caller proves it may join with the manager's join token
//!    (`Authorization: Bearer <token>`, compared in constant time), not
//!    with a user's login: agents hold no user account on the manager.
//! 2. The body names the host, the agent's WBEM URL and its labels; a
//!    name already registered with another URL is moved to the new one
//!    (the agent restarted elsewhere).
//! 3. The manager resyncs the host at once and subscribes to its
//!    indications; the answer says whether the manager could reach the
//!    agent, so the agent can tell its operator when it cannot.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{header, HeaderMap, Method, StatusCode};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use serde_json::json;
use vine_coordinator::inventory::HostRecord;
use vine_coordinator::ops::Coordinator;
use vine_coordinator::vni::indications::{same_secret, Freshness};

use super::{inventory_problem, not_allowed, with_status, Reply, Spec};
use crate::problem::Problem;
use vine_coordinator::power::{format_mac, parse_mac};

/// What the register route needs besides the coordinator.
pub struct Join {
    /// The manager's join token.
    pub token: String,
    /// Resyncs the host and subscribes to its indications.
    pub freshness: Arc<Freshness>,
}

/// The body an agent sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Registration {
    name: String,
    url: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    /// The host's Wake-on-LAN MAC, when its agent found one.
    #[serde(default)]
    mac: Option<String>,
}

/// The answer.
#[derive(Debug, Serialize)]
struct Registered {
    host: HostRecord,
    /// True when the manager reached the agent at `url` just now.
    reachable: bool,
    /// Why it could not, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

fn bad(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::BAD_REQUEST, "invalid", detail)
}

fn unauthorized(detail: &str) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
}

/// Host names as the inventory keys them: 1–63 of letters, digits, `.`,
/// `_` and `-`, starting with a letter or digit.
fn check_name(n: &str) -> Result<(), Problem> {
    let ok = !n.is_empty()
        && n.len() <= 63
        && n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "name `{n}`: use 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit \
             (vine agent --host-name sets it)"
        )))
    }
}

fn check_url(u: &str) -> Result<(), Problem> {
    let uri: http::Uri = u
        .parse()
        .map_err(|_| bad(format!("url `{u}` is not a URL")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(bad(format!(
            "url `{u}` must be the agent's http:// or https:// WBEM address, e.g. http://10.0.0.5:15988"
        )));
    }
    Ok(())
}

fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), Problem> {
    for (k, v) in labels {
        let key_ok = !k.is_empty()
            && k.len() <= 63
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
        if !key_ok {
            return Err(bad(format!(
                "label key `{k}`: use 1-63 letters, digits, '.', '_', '-' or '/'"
            )));
        }
        if v.len() > 253 || v.chars().any(char::is_control) {
            return Err(bad(format!(
                "label {k}: the value must be at most 253 characters without control characters"
            )));
        }
    }
    Ok(())
}

/// The bearer token of the request, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Checks the join token; called before the body is read.
fn authorize(join: Option<&Join>, headers: &HeaderMap) -> Result<(), Problem> {
    let Some(join) = join else {
        return Err(Problem::not_found(
            "this manager takes no self-registration (it has no join token)",
        ));
    };
    let Some(token) = bearer(headers) else {
        return Err(unauthorized(
            "registering a host needs the manager's join token as `Authorization: Bearer <token>` \
             (vine agent --join-token-file)",
        ));
    };
    if !same_secret(token.as_bytes(), join.token.as_bytes()) {
        return Err(unauthorized(
            "wrong join token: use the one in the manager's state directory (join-token) or its --join-token-file",
        ));
    }
    Ok(())
}

/// Largest registration body.
const MAX_BODY: usize = 64 * 1024;

/// Answers `/api/v1/hosts/register`: the token first, then the body.
pub(crate) async fn handle(
    c: &Coordinator,
    join: Option<&Join>,
    req: http::Request<hyper::body::Incoming>,
) -> Reply {
    if req.method() != Method::POST {
        return Err(not_allowed(req.method()));
    }
    authorize(join, req.headers())?;
    let Some(join) = join else {
        return Err(Problem::internal("no join token"));
    };
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|_| {
            Problem::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("a registration is at most {MAX_BODY} bytes"),
            )
        })?
        .to_bytes();
    route(c, join, &body).await
}

/// Registers (or moves) the host the body describes.
async fn route(c: &Coordinator, join: &Join, body: &[u8]) -> Reply {
    let reg: Registration = serde_json::from_slice(body).map_err(|e| {
        bad(format!(
            "the body must be JSON {{\"name\", \"url\", \"labels\", \"mac\"}}: {e}"
        ))
    })?;
    check_name(&reg.name)?;
    check_url(&reg.url)?;
    check_labels(&reg.labels)?;
    let mac = reg
        .mac
        .as_deref()
        .map(|m| parse_mac(m).map(|b| format_mac(&b)).map_err(bad))
        .transpose()?;
    let inv = c.inventory();
    let before = inv.host(&reg.name).ok();
    inv.upsert_host(&reg.name, &reg.url)
        .map_err(inventory_problem)?;
    inv.set_labels(&reg.name, reg.labels.clone())
        .map_err(inventory_problem)?;
    // An agent that found no MAC leaves one set by an administrator.
    if mac.is_some() {
        inv.set_mac(&reg.name, mac).map_err(inventory_problem)?;
    }
    match &before {
        Some(old) if old.url != reg.url => {
            tracing::info!(host = reg.name, from = old.url, to = reg.url, "host moved")
        }
        Some(_) => tracing::info!(host = reg.name, "host registered again"),
        None => tracing::info!(host = reg.name, url = reg.url, "host joined"),
    }
    join.freshness.forget(&reg.name);
    let error = join
        .freshness
        .refresh(&reg.name)
        .await
        .err()
        .map(|e| e.to_string());
    let host = inv.host(&reg.name).map_err(inventory_problem)?;
    let status = if before.is_none() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    with_status(
        status,
        &Registered {
            host,
            reachable: error.is_none(),
            error,
        },
    )
}

pub(crate) fn spec() -> Spec {
    let mut s = Spec::default();
    let p =
        json!({"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}});
    let ok = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Registered"}}});
    s.paths.insert(
        "/api/v1/hosts/register".into(),
        json!({"post": {
            "summary": "an agent joins (or re-joins after a restart): register or move a host, resync it, subscribe to its indications",
            "security": [{"joinToken": []}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Registration"}}}},
            "responses": {
                "201": {"description": "a new host; `reachable` says whether the manager reached the agent", "content": ok},
                "200": {"description": "a known host, now at `url`", "content": ok},
                "400": {"description": "a bad name, URL or label", "content": p},
                "401": {"description": "no or wrong join token", "content": p},
                "404": {"description": "the manager takes no self-registration", "content": p}
            }}}),
    );
    s.schemas.insert(
        "Registration".into(),
        json!({"type": "object", "required": ["name", "url"], "additionalProperties": false,
            "properties": {"name": {"type": "string"}, "url": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}),
    );
    s.schemas.insert(
        "Registered".into(),
        json!({"type": "object", "required": ["host", "reachable"],
            "properties": {"host": {"$ref": "#/components/schemas/Host"},
                "reachable": {"type": "boolean"}, "error": {"type": "string"}}}),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_urls_and_labels_are_checked() {
        assert!(check_name("host-a.rack_1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("-a").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_url("http://10.0.0.5:15988").is_ok());
        assert!(check_url("ftp://h").is_err());
        assert!(check_url("10.0.0.5:15988").is_err());
        let l = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(check_labels(&l("rack", "a")).is_ok());
        assert!(check_labels(&l("", "a")).is_err());
        assert!(check_labels(&l("r k", "a")).is_err());
        assert!(check_labels(&l("rack", "a\nb")).is_err());
    }

    #[test]
    fn the_token_is_a_bearer_token() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(header::AUTHORIZATION, "Bearer abc ".parse().unwrap());
        assert_eq!(bearer(&h), Some("abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
