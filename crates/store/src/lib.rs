//! Persistence for the vine manager: durable, typed collections on sled.
//!
//! Start at [`Store::open`], then take a [`Collection`] per record type with
//! [`Store::collection`] (names for the manager's collections are in
//! [`names`]). Guarantees:
//!
//! 1. A write method returns `Ok` only after the record is written **and
//!    flushed** (fsync) — nothing is acknowledged before it is stored.
//! 2. [`Collection::insert_new`] and [`Collection::update`] are
//!    compare-and-swap operations: two racing creates cannot both succeed,
//!    and a read-modify-write never loses a concurrent change.
//! 3. A store written by another schema version is refused at open with a
//!    message naming both versions ([`StoreError::SchemaMismatch`]).
//! 4. Bad disks and bad data are errors, never panics: a locked, read-only
//!    or full state directory and a corrupt record each have a variant of
//!    [`StoreError`] that names the path or the record.
//!
//! Records are JSON (serde_json). Record types live in the crates that own
//! them; this crate only stores them.

/// Typed collections: get, put, insert_new, update, delete, list, scan.
mod collection;
/// The error enum of this crate.
mod error;
/// Names of the collections the manager keeps.
pub mod names;
/// Opening a store: directory, lock file, schema version.
mod store;
/// Change subscriptions on a collection or a key prefix.
mod watch;

pub use collection::Collection;
pub use error::{Result, StoreError};
pub use store::{OpenOptions, Store, SCHEMA_VERSION};
pub use watch::{Change, Watch};
