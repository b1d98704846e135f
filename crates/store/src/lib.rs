//! Persistence for the manager: typed collections on sled.
