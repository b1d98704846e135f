//! Registers the manager's providers and profiles with a server.
//!
//! 1. Build the repository with the DMTF schema in `root/vine` and compile
//!    the manager's classes into it ([`schema::compile`](crate::schema::compile)).
//! 2. Build a [`ManagerContext`] from the coordinator and the data centre's
//!    name (the manager's host name).
//! 3. Call [`install`] before `Cimom::new`: it registers every `VINE_`
//!    class in `root/vine` and adds the profiles below to the interop
//!    namespace.

use std::sync::Arc;

use vine_wbem::server::profiles::{ProfileSpec, ProfileTable, ORG_OTHER};
use vine_wbem::server::Registry;

use crate::assoc::{AssocProvider, ASSOC_CLASSES};
use crate::context::ManagerContext;
use crate::jobs::JobProvider;
use crate::paths;
use crate::policies::{PolicyProvider, POLICY_CLASSES, POLICY_RULE};
use crate::pools::PoolProvider;
use crate::service::ServiceProvider;
use crate::systems::SystemsProvider;
use crate::VINE_NS;

/// InstanceID of vine's Data Center profile (central: VINE_DataCenter).
pub const PROFILE_DATA_CENTER: &str = "VINE:Data Center:1.0.0";
/// InstanceID of vine's Virtual Server profile (central: VINE_VirtualServer).
pub const PROFILE_VIRTUAL_SERVER: &str = "VINE:Virtual Server:1.0.0";
/// InstanceID of the DSP1103 Job Control profile (central: VINE_ConcreteJob).
pub const PROFILE_JOB_CONTROL: &str = "DMTF:Job Control:1.0.0";

/// A profile vine defines itself (RegisteredOrganization 1 Other, "vine").
fn vine_profile(id: &str, name: &str, central: &str) -> ProfileSpec {
    ProfileSpec {
        instance_id: id.into(),
        organization: ORG_OTHER,
        other_organization: Some("vine".into()),
        name: name.into(),
        version: "1.0.0".into(),
        central: vec![(VINE_NS.into(), central.into())],
        references: Vec::new(),
    }
}

/// Registers every `VINE_` class of `root/vine` and the manager's profiles.
pub fn install(registry: &mut Registry, profiles: &mut ProfileTable, ctx: ManagerContext) {
    let ns = VINE_NS;
    let systems = Arc::new(SystemsProvider::new(ctx.clone()));
    for class in [paths::DATACENTER, paths::HOST, paths::VIRTUAL_SERVER] {
        registry.register_instances(ns, class, systems.clone());
    }
    registry.register_instances(ns, paths::POOL, Arc::new(PoolProvider::new(ctx.clone())));

    let jobs = Arc::new(JobProvider::new(ctx.clone()));
    registry.register_instances(ns, paths::JOB, jobs.clone());
    registry.register_methods(ns, paths::JOB, jobs);

    let service = Arc::new(ServiceProvider::new(ctx.clone()));
    registry.register_instances(ns, paths::SERVICE, service.clone());
    registry.register_methods(ns, paths::SERVICE, service);

    let policies = Arc::new(PolicyProvider::new(ctx.clone()));
    for class in POLICY_CLASSES {
        registry.register_instances(ns, class, policies.clone());
    }
    registry.register_methods(ns, POLICY_RULE, policies);

    let assoc = Arc::new(AssocProvider::new(ctx));
    for class in ASSOC_CLASSES {
        registry.register_instances(ns, class, assoc.clone());
    }

    profiles.add(vine_profile(
        PROFILE_DATA_CENTER,
        "Data Center",
        paths::DATACENTER,
    ));
    let mut vs = vine_profile(
        PROFILE_VIRTUAL_SERVER,
        "Virtual Server",
        paths::VIRTUAL_SERVER,
    );
    vs.references.push(PROFILE_DATA_CENTER.into());
    profiles.add(vs);
    profiles.add(
        ProfileSpec::dmtf(PROFILE_JOB_CONTROL, "Job Control", "1.0.0").central(ns, paths::JOB),
    );
}
