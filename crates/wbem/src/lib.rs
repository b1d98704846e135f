//! vine-wbem

/// DSP0200 HTTP(S) transport.
pub mod transport;
/// Users, roles and HTTP Basic authentication.
pub mod auth;
