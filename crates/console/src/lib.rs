//! The manager's REST API (JSON, versioned under `/api/v1/`, described by
//! `/api/openapi.json`) and the web console's static files. Users and roles
//! are the WBEM server's: one users file, HTTP Basic, `reader` may read,
//! `admin` may change.

/// The routes, one module per collection.
mod api;
/// Who is asking.
mod auth;
/// A REST client, for the CLI and tests.
pub mod client;
mod openapi;
mod problem;
mod server;

pub use api::Api;
pub use client::{ApiClient, ApiError};
pub use problem::Problem;
pub use server::{serve, ApiConfig, RunningApi, ServeError};
