//! The manager's REST API (JSON, versioned under `/api/v1/`, described by
//! `/api/openapi.json`) and the web console's static files. Users and roles
//! are the WBEM server's: one users file, HTTP Basic (or the console's
//! session cookie), `reader` may read, `admin` may change.

/// The routes, one module per collection.
mod api;
/// The console's files, embedded in the binary.
mod assets;
/// Who is asking: HTTP Basic or a console session.
mod auth;
/// A REST client, for the CLI and tests.
pub mod client;
mod openapi;
mod problem;
mod server;
/// Console login sessions (cookie + CSRF token), in memory.
mod session;
/// `/api/v1/session`: log in, who am I, log out.
mod session_routes;

pub use api::{Api, Join};
pub use client::{ApiClient, ApiError};
pub use problem::Problem;
pub use server::{
    serve, serve_with, serve_with_join, ApiConfig, ApiExtras, RunningApi, ServeError,
};
