//! The manager's associations. Each is computed from the coordinator's
//! records on every request; the dispatcher filters by end and role.
//!
//! | class | from | to |
//! |---|---|---|
//! | VINE_DataCenterComponent | VINE_DataCenter | VINE_Host, VINE_VirtualServer |
//! | VINE_VirtualNode | VINE_VirtualServer | node's `<P>_ComputerSystem` on its agent |
//! | VINE_HostedVirtualNode | VINE_Host | each VM's `<P>_ComputerSystem` on the agent |
//! | VINE_HostedResourcePool | VINE_DataCenter / VINE_Host | VINE_ResourcePool |
//! | VINE_ElementAllocatedFromPool | data-centre pool | service pool |
//! | VINE_HostedService | VINE_DataCenter | VINE_VirtualServerService |
//! | VINE_AffectedJobElement | VINE_ConcreteJob | virtual server, host or VM |
//! | VINE_OwningJobElement | VINE_VirtualServerService | its vs.* jobs |

use std::collections::HashMap;

use async_trait::async_trait;
use serde_json::Value;
use vine_cim::{CimClass, CimInstance, CimInstanceName, CimResult, CimValue};
use vine_coordinator::inventory::{HostRecord, VmRecord};
use vine_coordinator::jobs::JobRecord;
use vine_coordinator::ops::vs::NodeState;
use vine_wbem::provider::{InstanceProvider, RequestContext};

use crate::context::ManagerContext;
use crate::jobs::all_jobs;
use crate::paths;
use crate::pools::{hosting_system, parent_pool, pool_path, pool_views, Resource};

pub const DATACENTER_COMPONENT: &str = "VINE_DataCenterComponent";
pub const VIRTUAL_NODE: &str = "VINE_VirtualNode";
pub const HOSTED_VIRTUAL_NODE: &str = "VINE_HostedVirtualNode";
pub const HOSTED_RESOURCE_POOL: &str = "VINE_HostedResourcePool";
pub const ALLOCATED_FROM_POOL: &str = "VINE_ElementAllocatedFromPool";
pub const HOSTED_SERVICE: &str = "VINE_HostedService";
pub const AFFECTED_JOB_ELEMENT: &str = "VINE_AffectedJobElement";
pub const OWNING_JOB_ELEMENT: &str = "VINE_OwningJobElement";

/// Every association class this module serves.
pub const ASSOC_CLASSES: [&str; 8] = [
    DATACENTER_COMPONENT,
    VIRTUAL_NODE,
    HOSTED_VIRTUAL_NODE,
    HOSTED_RESOURCE_POOL,
    ALLOCATED_FROM_POOL,
    HOSTED_SERVICE,
    AFFECTED_JOB_ELEMENT,
    OWNING_JOB_ELEMENT,
];

/// An association instance of `class` between two ends (role, path).
pub fn link(class: &str, a: (&str, CimInstanceName), b: (&str, CimInstanceName)) -> CimInstance {
    let path = CimInstanceName::new(class)
        .with_key(a.0, a.1.clone())
        .with_key(b.0, b.1.clone())
        .with_namespace(crate::VINE_NS);
    let mut inst = CimInstance::new(class)
        .with(a.0, CimValue::Reference(Box::new(a.1)))
        .with(b.0, CimValue::Reference(Box::new(b.1)));
    inst.path = Some(path);
    inst
}

/// What a job acts on, from its kind and parameters: the virtual server
/// it names, the VM it names (on its agent, when the inventory knows it)
/// and the hosts it names.
pub fn affected_elements(
    job: &JobRecord,
    hosts: &HashMap<String, HostRecord>,
    vms: &HashMap<String, VmRecord>,
) -> Vec<CimInstanceName> {
    let p = &job.params;
    let text = |k: &str| p.get(k).and_then(Value::as_str);
    let mut out = Vec::new();
    if job.kind.starts_with("vs.") {
        if let Some(n) = text("name") {
            out.push(paths::virtual_server(n));
        }
    }
    let vm = text("vm").or_else(|| p.pointer("/template/name").and_then(Value::as_str));
    if let Some(v) = vm.and_then(|v| vms.get(v)) {
        out.push(paths::remote_vm(hosts.get(&v.host), &v.name));
    }
    for k in ["host", "to"] {
        if let Some(h) = text(k).filter(|h| hosts.contains_key(*h)) {
            out.push(paths::host(h));
        }
    }
    out
}

/// Serves every association in [`ASSOC_CLASSES`].
pub struct AssocProvider {
    ctx: ManagerContext,
}

impl AssocProvider {
    pub fn new(ctx: ManagerContext) -> Self {
        AssocProvider { ctx }
    }

    fn instances(&self, class: &str) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let dc = paths::datacenter(&ctx.name);
        let mut out = Vec::new();
        if class.eq_ignore_ascii_case(DATACENTER_COMPONENT) {
            for h in ctx.hosts()? {
                out.push(link(
                    class,
                    ("GroupComponent", dc.clone()),
                    ("PartComponent", paths::host(&h.name)),
                ));
            }
            for v in ctx.vservers()? {
                out.push(link(
                    class,
                    ("GroupComponent", dc.clone()),
                    ("PartComponent", paths::virtual_server(&v.name)),
                ));
            }
        } else if class.eq_ignore_ascii_case(VIRTUAL_NODE) {
            let hosts = ctx.host_map()?;
            for v in ctx.vservers()? {
                for n in &v.nodes {
                    let mut inst = link(
                        class,
                        ("GroupComponent", paths::virtual_server(&v.name)),
                        ("PartComponent", paths::remote_vm(hosts.get(&n.host), &n.vm)),
                    );
                    inst.set("HostName", n.host.as_str());
                    inst.set(
                        "State",
                        match n.state {
                            NodeState::Creating => "creating",
                            NodeState::Ready => "ready",
                            NodeState::Removing => "removing",
                        },
                    );
                    if let Some(a) = &n.addr {
                        inst.set("Address", a.as_str());
                    }
                    out.push(inst);
                }
            }
        } else if class.eq_ignore_ascii_case(HOSTED_VIRTUAL_NODE) {
            let hosts = ctx.host_map()?;
            for vm in ctx.vms()? {
                let Some(h) = hosts.get(&vm.host) else {
                    continue;
                };
                out.push(link(
                    class,
                    ("Antecedent", paths::host(&h.name)),
                    ("Dependent", paths::remote_vm(Some(h), &vm.name)),
                ));
            }
        } else if class.eq_ignore_ascii_case(HOSTED_RESOURCE_POOL) {
            for p in pool_views(ctx)? {
                for r in Resource::ALL {
                    out.push(link(
                        class,
                        ("GroupComponent", hosting_system(&p, &ctx.name)),
                        ("PartComponent", pool_path(&p.name, r)),
                    ));
                }
            }
        } else if class.eq_ignore_ascii_case(ALLOCATED_FROM_POOL) {
            for p in pool_views(ctx)? {
                for r in Resource::ALL {
                    if let Some(parent) = parent_pool(&p, r) {
                        out.push(link(
                            class,
                            ("Antecedent", parent),
                            ("Dependent", pool_path(&p.name, r)),
                        ));
                    }
                }
            }
        } else if class.eq_ignore_ascii_case(HOSTED_SERVICE) {
            out.push(link(
                class,
                ("Antecedent", dc),
                ("Dependent", paths::service(&ctx.name)),
            ));
        } else if class.eq_ignore_ascii_case(AFFECTED_JOB_ELEMENT) {
            let hosts = ctx.host_map()?;
            let vms: HashMap<String, VmRecord> = ctx
                .vms()?
                .into_iter()
                .map(|v| (v.name.clone(), v))
                .collect();
            for j in all_jobs(ctx)? {
                for e in affected_elements(&j, &hosts, &vms) {
                    out.push(link(
                        class,
                        ("AffectedElement", e),
                        ("AffectingElement", paths::job(j.id.as_str())),
                    ));
                }
            }
        } else if class.eq_ignore_ascii_case(OWNING_JOB_ELEMENT) {
            let service = paths::service(&ctx.name);
            for j in all_jobs(ctx)? {
                if j.kind.starts_with("vs.") {
                    out.push(link(
                        class,
                        ("OwningElement", service.clone()),
                        ("OwnedElement", paths::job(j.id.as_str())),
                    ));
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl InstanceProvider for AssocProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        self.instances(class.name.as_str())
    }
}
