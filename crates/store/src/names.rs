//! The manager's collections, one sled tree each. The record types belong
//! to the crates that own them (mostly `vine-coordinator`).

/// Physical hosts (agents) the manager knows.
pub const HOSTS: &str = "hosts";
/// Virtual machines (the inventory view the manager keeps of them).
pub const VMS: &str = "vms";
/// Virtual servers: one per service, a set of virtual nodes behind a front end.
pub const VIRTUAL_SERVERS: &str = "virtual_servers";
/// Resource pools: data-centre, per-host and service pools.
pub const POOLS: &str = "pools";
/// Workload policies.
pub const POLICIES: &str = "policies";
/// What the policy loop decided and did, round by round.
pub const POLICY_AUDIT: &str = "policy_audit";
/// Durable jobs (one record per job).
pub const JOBS: &str = "jobs";
/// Idempotency keys of jobs: key → job id.
pub const JOB_KEYS: &str = "job_keys";
/// The event log.
pub const EVENTS: &str = "events";

/// Every collection the manager uses, for tools that walk them all.
pub const ALL: &[&str] = &[
    HOSTS,
    VMS,
    VIRTUAL_SERVERS,
    POOLS,
    POLICIES,
    POLICY_AUDIT,
    JOBS,
    JOB_KEYS,
    EVENTS,
];
