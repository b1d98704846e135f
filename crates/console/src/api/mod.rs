//! The REST API's routes. One module per collection; this one dispatches
//! on the first path segment and holds what they share: the request as
//! routes see it, replies, and the mapping of coordinator errors to
//! problem bodies.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use vine_coordinator::inventory::InventoryError;
use vine_coordinator::metrics::MetricsHistory;
use vine_coordinator::ops::{Coordinator, ErrorKind, OpsError};
use vine_wbem::auth::Principal;

use crate::problem::Problem;
pub use register::Join;

/// `/api/v1/events`.
mod events;
/// `/api/v1/hosts`.
mod hosts;
/// `/api/v1/jobs`.
mod jobs;
/// `/api/v1/metrics` and each host's and VM's `metrics`.
mod metrics;
/// `/api/v1/policies`: versions, check, apply, rollback.
mod policies;
pub(crate) use policies::read_only_post;
/// `/api/v1/pools`.
mod pools;
/// `/api/v1/hosts/register`: agents join with the join token.
pub(crate) mod register;
/// Server-sent events: `/api/v1/jobs/stream`, `/api/v1/events/stream`.
pub(crate) mod stream;
/// `/api/v1/vms`.
mod vms;
/// `/api/v1/vs` (virtual servers).
mod vs;

/// What the API serves: the manager's coordinator (inventory, pools,
/// jobs, virtual servers, events).
pub struct Api {
    pub coordinator: Arc<Coordinator>,
}

/// A request as routes see it: authenticated, path split and decoded,
/// body read (bounded).
pub(crate) struct Req<'a> {
    pub method: &'a Method,
    pub segs: Vec<&'a str>,
    pub query: HashMap<String, String>,
    pub body: Bytes,
    pub user: &'a Principal,
    /// The `Idempotency-Key` header: a change sent again with the same key
    /// answers with the first job instead of doing it twice.
    pub idempotency_key: Option<String>,
    /// The manager's metrics history, when it keeps one.
    pub metrics: Option<&'a MetricsHistory>,
}

impl Req<'_> {
    /// The body as JSON of type `T`, or a 400 saying what is wrong with it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Problem> {
        if self.body.is_empty() {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-body",
                "this request needs a JSON body; /api/openapi.json describes it",
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "bad-body",
                format!("the JSON body is not valid here: {e}"),
            )
        })
    }

    /// A query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// Who asked: recorded as the owner of the jobs they submit.
    pub fn owner(&self) -> Option<&str> {
        Some(self.user.name.as_str())
    }
}

/// A handler's answer: a JSON value and its status.
pub(crate) type Reply = Result<(StatusCode, Value), Problem>;

/// 200 with `v`.
pub(crate) fn ok<T: Serialize>(v: &T) -> Reply {
    with_status(StatusCode::OK, v)
}

/// `status` with `v`.
pub(crate) fn with_status<T: Serialize>(status: StatusCode, v: &T) -> Reply {
    serde_json::to_value(v)
        .map(|j| (status, j))
        .map_err(|e| Problem::internal(format!("encoding the answer: {e}")))
}

/// 202 with the job that will do the work: `{"job": id}`.
pub(crate) fn accepted(job: &vine_coordinator::jobs::JobId) -> Reply {
    with_status(
        StatusCode::ACCEPTED,
        &serde_json::json!({"job": job.as_str(), "href": format!("/api/v1/jobs/{job}")}),
    )
}

/// 405 for a path that exists with another method.
pub(crate) fn not_allowed(method: &Method) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        format!("{method} is not supported here; /api/openapi.json lists what is"),
    )
}

pub(crate) fn no_route(segs: &[&str]) -> Problem {
    Problem::not_found(format!(
        "no such resource /api/v1/{}; /api/openapi.json lists them",
        segs.join("/")
    ))
}

/// The problem body for a coordinator error.
pub(crate) fn ops_problem(e: OpsError) -> Problem {
    let detail = e.to_string();
    match e.kind() {
        ErrorKind::NotFound => Problem::not_found(detail),
        ErrorKind::Conflict => Problem::new(StatusCode::CONFLICT, "conflict", detail),
        ErrorKind::Invalid => Problem::new(StatusCode::BAD_REQUEST, "invalid", detail),
        ErrorKind::NoRoom => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "no-room", detail),
        ErrorKind::Internal => Problem::internal(detail),
    }
}

pub(crate) fn inventory_problem(e: InventoryError) -> Problem {
    ops_problem(OpsError::Inventory(e))
}

/// One module's part of the OpenAPI document.
#[derive(Default)]
pub(crate) struct Spec {
    pub paths: Map<String, Value>,
    pub schemas: Map<String, Value>,
}

/// Every module's paths and schemas.
pub(crate) fn specs() -> Vec<Spec> {
    vec![
        hosts::spec(),
        vms::spec(),
        jobs::spec(),
        pools::spec(),
        vs::spec(),
        events::spec(),
        policies::spec(),
        metrics::spec(),
        stream::spec(),
        register::spec(),
    ]
}

impl Api {
    /// Routes one request (path below `/api/v1`).
    pub(crate) async fn route(&self, req: Req<'_>) -> Reply {
        let c = &self.coordinator;
        if metrics::is_route(&req.segs) {
            return metrics::route(c, &req).await;
        }
        match req.segs.first().copied() {
            Some("hosts") => hosts::route(c, &req).await,
            Some("vms") => vms::route(c, &req).await,
            Some("jobs") => jobs::route(c, &req).await,
            Some("pools") => pools::route(c, &req).await,
            Some("vs") => vs::route(c, &req).await,
            Some("events") => events::route(c, &req).await,
            Some("policies") => policies::route(c, &req).await,
            _ => Err(no_route(&req.segs)),
        }
    }
}
