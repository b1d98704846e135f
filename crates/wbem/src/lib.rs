//! The WBEM server and client of vine (DSP0200 CIM-XML over HTTP/HTTPS).
//!
//! Start with [`server::Cimom`] (class repository + providers + the
//! operations), [`server::dispatch::Dispatcher`] (CIM-XML in, CIM-XML out)
//! and [`transport::serve`] (the HTTP(S) listener). Providers implement the
//! traits in [`provider`]; [`interop`] is the built-in root/interop provider.

/// Users, roles and HTTP Basic authentication.
pub mod auth;
/// DSP0200 HTTP(S) transport.
pub mod transport;

/// Provider traits: instance, association, method and indication providers.
pub mod provider;

/// The object manager: repository, registry, operations, dispatch.
pub mod server;

/// The root/interop provider (DSP1033).
pub mod interop;

/// The CIM-XML client.
pub mod client;

/// An in-memory sample provider for tests.
pub mod sample;

/// WQL and CQL queries.
pub mod query;

/// Indication subscriptions and export delivery.
pub mod indication;
