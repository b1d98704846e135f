//! Typed errors: every libvirt failure is mapped to one of these, so
//! callers (the CIM providers) can choose the right CIM error or job error
//! without parsing messages.

use thiserror::Error;

/// What went wrong talking to the hypervisor.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum HvError {
    /// No domain by that name.
    #[error("no domain named {0}")]
    NoDomain(String),
    /// A domain by that name already exists.
    #[error("a domain named {0} already exists")]
    DomainExists(String),
    /// The request does not fit the host or is malformed; the message says
    /// what to change.
    #[error("invalid domain definition: {0}")]
    InvalidSpec(String),
    /// The operation is not valid in the domain's current state (start a
    /// running domain, pause a stopped one).
    #[error("{op} is not possible while {domain} is {state}")]
    InvalidState {
        domain: String,
        op: String,
        state: String,
    },
    /// The driver cannot do this at all (live migration on the test driver,
    /// snapshots on LXC).
    #[error("not supported by the {driver} driver: {what}")]
    Unsupported { driver: String, what: String },
    /// No snapshot, disk or NIC by that name on the domain.
    #[error("{0} not found")]
    NotFound(String),
    /// Another operation holds the domain; try again.
    #[error("domain {0} is busy with another operation")]
    Busy(String),
    /// The connection to libvirt is down; it is being re-established.
    #[error("libvirt connection lost: {0}")]
    ConnectionLost(String),
    /// Could not open the URI.
    #[error("cannot connect to {uri}: {message}")]
    Connect { uri: String, message: String },
    /// Migration failed; the domain is where it was (or the message says
    /// where it is).
    #[error("migration failed: {0}")]
    Migration(String),
    /// Any other libvirt error, with libvirt's code and message.
    #[error("libvirt error {code}: {message}")]
    Libvirt { code: i32, message: String },
}

/// Result of a hypervisor call.
pub type HvResult<T> = Result<T, HvError>;
