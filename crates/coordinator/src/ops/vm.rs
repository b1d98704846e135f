//! VM jobs: create (admission, placement, define, start), power, resize,
//! migrate, delete — each a handler on the job engine whose steps look at
//! the agents before acting, so a step re-run after a manager crash never
//! does its work twice — and the checks made before any of them is
//! submitted ([`Coordinator::create_vm`](super::Coordinator::create_vm)
//! and its siblings).

use std::sync::Arc;

use crate::jobs::JobHandler;

use super::Services;

/// `vm.create`.
#[path = "vm_create.rs"]
mod create;
/// `vm.delete`.
#[path = "vm_delete.rs"]
mod delete;
/// `vm.migrate`, and the moves `host.drain` is made of.
#[path = "vm_migrate.rs"]
pub(crate) mod migrate;
/// `vm.power` and `vm.resize`.
#[path = "vm_power.rs"]
mod power;
/// Checks before submitting: `Coordinator::create_vm` and siblings.
#[path = "vm_requests.rs"]
mod requests;
/// What every VM and host job shares.
#[path = "vm_steps.rs"]
pub(crate) mod steps;

#[doc(hidden)]
pub use requests::check_template;
pub(crate) use requests::{busy_with, check_name};

/// The handlers of the `vm.*` kinds.
pub(crate) fn handlers(s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    use steps::Tracked;
    vec![
        Tracked::handler(create::Create, s),
        Tracked::handler(power::Power, s),
        Tracked::handler(power::Resize, s),
        Tracked::handler(migrate::Migrate, s),
        Tracked::handler(delete::Delete, s),
    ]
}
