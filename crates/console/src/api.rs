use std::sync::Arc;

use http::{Method, StatusCode};
use serde::Serialize;
use vine_coordinator::inventory::{Inventory, InventoryError};

use crate::problem::Problem;

/// What the API serves. Holds the manager's services; each route is one
/// method here so the routing table stays a table.
pub struct Api {
    pub inventory: Arc<Inventory>,
}

/// A handler's answer: a JSON value and its status.
pub(crate) type Reply = Result<(StatusCode, serde_json::Value), Problem>;

fn ok<T: Serialize>(v: &T) -> Reply {
    serde_json::to_value(v)
        .map(|j| (StatusCode::OK, j))
        .map_err(|e| Problem::internal(format!("encoding the answer: {e}")))
}

fn inventory_problem(e: InventoryError) -> Problem {
    match e {
        InventoryError::NoHost(_) => Problem::not_found(e.to_string()),
        InventoryError::HostExists(_) => {
            Problem::new(StatusCode::CONFLICT, "exists", e.to_string())
        }
        other => Problem::internal(other.to_string()),
    }
}

impl Api {
    /// Routes `method path` (path below `/api/v1`, already split into
    /// decoded segments).
    pub(crate) async fn route(&self, method: &Method, segs: &[String]) -> Reply {
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        match (method, segs.as_slice()) {
            (&Method::GET, ["hosts"]) => ok(&self.inventory.hosts().map_err(inventory_problem)?),
            (&Method::GET, ["hosts", name]) => {
                ok(&self.inventory.host(name).map_err(inventory_problem)?)
            }
            (&Method::GET, ["hosts", name, "vms"]) => {
                self.inventory.host(name).map_err(inventory_problem)?;
                ok(&self.inventory.vms_on(name).map_err(inventory_problem)?)
            }
            (&Method::GET, ["vms"]) => ok(&self.inventory.vms().map_err(inventory_problem)?),
            (&Method::GET, ["vms", name]) => {
                match self.inventory.find_vm(name).map_err(inventory_problem)? {
                    Some(v) => ok(&v),
                    None => Err(Problem::not_found(format!(
                        "no VM named {name}; GET /api/v1/vms lists them"
                    ))),
                }
            }
            (_, ["hosts"] | ["hosts", _] | ["hosts", _, "vms"] | ["vms"] | ["vms", _]) => {
                Err(Problem::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method-not-allowed",
                    format!("{method} is not supported here"),
                ))
            }
            _ => Err(Problem::not_found(format!(
                "no such resource /api/v1/{}; /api/openapi.json lists them",
                segs.join("/")
            ))),
        }
    }
}
