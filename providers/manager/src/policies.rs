//! The manager's workload policies as CIM policy rules (classes in
//! `schemas/vine/VINE_Policy.mof`), read from the coordinator's store:
//!
//! | class | what |
//! |---|---|
//! | VINE_PolicyRule | one per stored policy, its active version |
//! | VINE_PolicyRuleVersion | every stored version (CIM_SettingData) |
//! | VINE_PolicyRuleVersionOf | rule → its versions, IsCurrent on the active one |
//! | VINE_PolicyRuleAppliesToElement | rule → what its scope names |
//!
//! Keys: a rule is scoped by the data centre (SystemCreationClassName
//! `VINE_DataCenter`, SystemName its name), PolicyRuleName the policy's
//! name; a version's InstanceID is `VINE:<policy>/<version>`. Policies
//! are applied over REST, `vine policy apply`, or the rule's methods
//! `ApplyVersion` and `Rollback` (the same checks and store).

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use vine_cim::{
    CimClass, CimDateTime, CimError, CimInstance, CimInstanceName, CimMethod, CimParamValue,
    CimResult, CimValue,
};
use vine_coordinator::ops::OpsError;
use vine_coordinator::policies::{self, PolicyVersion};
use vine_coordinator::policy_loop::snapshot::label_strings;
use vine_coordinator::pools::PoolView;
use vine_wbem::provider::{
    required_param, InstanceProvider, MethodProvider, MethodResult, MethodTarget, RequestContext,
};
use vine_workload::model::HostState;
use vine_workload::policy::{Policy, Scope};

use crate::assoc::link;
use crate::context::ManagerContext;
use crate::errors::to_cim;
use crate::paths;
use crate::pools::{pool_path, pool_views, Resource};
use crate::VINE_NS;

pub const POLICY_RULE: &str = "VINE_PolicyRule";
pub const POLICY_VERSION: &str = "VINE_PolicyRuleVersion";
pub const APPLIES_TO: &str = "VINE_PolicyRuleAppliesToElement";
pub const VERSION_OF: &str = "VINE_PolicyRuleVersionOf";

/// Every class this module serves.
pub const POLICY_CLASSES: [&str; 4] = [POLICY_RULE, POLICY_VERSION, APPLIES_TO, VERSION_OF];

/// `VINE_PolicyRule` of policy `name` in data centre `dc`.
pub fn rule_path(dc: &str, name: &str) -> CimInstanceName {
    CimInstanceName::new(POLICY_RULE)
        .with_key("SystemCreationClassName", paths::DATACENTER)
        .with_key("SystemName", dc)
        .with_key("CreationClassName", POLICY_RULE)
        .with_key("PolicyRuleName", name)
        .with_namespace(VINE_NS)
}

/// `VINE_PolicyRuleVersion.InstanceID="VINE:<name>/<version>"`.
pub fn version_path(name: &str, version: u32) -> CimInstanceName {
    paths::instance_id(POLICY_VERSION, &format!("VINE:{name}/{version}"))
}

fn applied_at(v: &PolicyVersion) -> CimDateTime {
    CimDateTime::from_system_time(SystemTime::UNIX_EPOCH + Duration::from_millis(v.applied_at))
}

fn scope_kind(s: &Scope) -> &'static str {
    match s {
        Scope::Datacenter => "datacenter",
        Scope::Pool { .. } => "pool",
        Scope::VirtualServer { .. } => "virtual-server",
        Scope::Hosts { .. } => "hosts",
    }
}

/// The rule for the active version `v` of a policy with `count` versions.
/// A text that no longer validates gives a rule with Enabled 2 and no
/// thresholds (there are none to trust).
pub fn rule_instance(dc: &str, v: &PolicyVersion, count: usize) -> CimInstance {
    let parsed = policies::check(&v.text, &format!("{} v{}", v.name, v.version)).ok();
    let mut inst = CimInstance::new(POLICY_RULE)
        .with("SystemCreationClassName", paths::DATACENTER)
        .with("SystemName", dc)
        .with("CreationClassName", POLICY_RULE)
        .with("PolicyRuleName", v.name.as_str())
        .with("CommonName", v.name.as_str())
        .with("ElementName", v.name.as_str())
        .with("PolicyKeywords", vec!["vine-workload".to_string()])
        .with("Enabled", if parsed.is_some() { 1u16 } else { 2u16 })
        // Commands run in the prescriber's order; a failure skips only
        // what depends on it.
        .with("SequencedActions", 1u16)
        .with("ExecutionStrategy", 2u16)
        .with("Version", v.version)
        .with("Versions", u32::try_from(count).unwrap_or(u32::MAX))
        .with("AppliedAt", applied_at(v))
        .with("Note", v.note.as_str())
        .with("PolicyText", v.text.as_str());
    if let Some(by) = &v.applied_by {
        inst.set("AppliedBy", by.as_str());
    }
    if let Some(p) = parsed {
        if !p.description.is_empty() {
            inst.set("Description", p.description.as_str());
            inst.set("RuleUsage", p.description.as_str());
        }
        inst.set("ScopeKind", scope_kind(&p.scope));
        match &p.scope {
            Scope::Pool { name } | Scope::VirtualServer { name } => {
                inst.set("ScopeName", name.as_str())
            }
            Scope::Hosts { labels } if !labels.is_empty() => {
                inst.set("ScopeLabels", labels.clone())
            }
            Scope::Hosts { .. } | Scope::Datacenter => {}
        }
        inst.set("CPUUpperThreshold", p.cpu.upper);
        inst.set("CPULowerThreshold", p.cpu.lower);
        inst.set("MemoryUpperThreshold", p.memory.upper);
        inst.set("MemoryLowerThreshold", p.memory.lower);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        inst.set("MaxConcurrentMigrations", count(p.migration.max_concurrent));
        if let Some(n) = p.migration.max_per_round {
            inst.set("MaxMigrationsPerRound", count(n));
        }
        if let Some(n) = p.migration.max_per_hour {
            inst.set("MaxMigrationsPerHour", count(n));
        }
        if !p.placement.host_labels.is_empty() {
            inst.set("RequiredHostLabels", p.placement.host_labels.clone());
        }
        inst.set("Consolidate", p.power.consolidate);
        inst.set("PowerOffIdle", p.power.power_off_idle);
    }
    inst.path = Some(rule_path(dc, &v.name));
    inst
}

/// One stored version as a setting.
pub fn version_instance(v: &PolicyVersion) -> CimInstance {
    let path = version_path(&v.name, v.version);
    let mut inst = CimInstance::new(POLICY_VERSION)
        .with("InstanceID", path.key_str("InstanceID").unwrap_or_default())
        .with("ElementName", format!("{} v{}", v.name, v.version))
        .with("PolicyRuleName", v.name.as_str())
        .with("Version", v.version)
        .with("AppliedAt", applied_at(v))
        .with("Note", v.note.as_str())
        .with("PolicyText", v.text.as_str())
        // A stored version is never edited: a change is a new version.
        .with("ChangeableType", 0u16);
    if let Some(by) = &v.applied_by {
        inst.set("AppliedBy", by.as_str());
    }
    inst.path = Some(path);
    inst
}

/// What `p`'s scope names, as paths: the data centre, the pool's two CIM
/// pools (when the pool exists), the virtual server (when it exists), or
/// the hosts whose labels match now.
pub fn scoped_elements(ctx: &ManagerContext, p: &Policy) -> CimResult<Vec<CimInstanceName>> {
    Ok(match &p.scope {
        Scope::Datacenter => vec![paths::datacenter(&ctx.name)],
        Scope::Pool { name } => pool_views(ctx)?
            .iter()
            .filter(|v: &&PoolView| v.name == *name)
            .flat_map(|v| Resource::ALL.map(|r| pool_path(&v.name, r)))
            .collect(),
        Scope::VirtualServer { name } => ctx
            .vserver(name)?
            .map(|v| paths::virtual_server(&v.name))
            .into_iter()
            .collect(),
        Scope::Hosts { .. } => ctx
            .hosts()?
            .iter()
            .filter(|h| p.host_in_scope(&labelled(&h.name, label_strings(&h.labels))))
            .map(|h| paths::host(&h.name))
            .collect(),
    })
}

/// Just enough of a host for the policy's scope test: its labels.
fn labelled(name: &str, labels: Vec<String>) -> HostState {
    HostState {
        name: name.into(),
        cpu_capacity: 0.0,
        core_capacity: 0.0,
        mem_mb: 0.0,
        net_mbps: 0.0,
        idle_watts: 0.0,
        max_watts: 0.0,
        labels,
        powered_on: true,
        reported_at: None,
        maintenance: false,
        can_power_off: true,
    }
}

/// Serves every class in [`POLICY_CLASSES`].
pub struct PolicyProvider {
    ctx: ManagerContext,
}

impl PolicyProvider {
    pub fn new(ctx: ManagerContext) -> Self {
        PolicyProvider { ctx }
    }

    fn store_error(e: policies::PolicyError) -> CimError {
        match e {
            // Every problem with its place, as `vine policy check` shows them.
            policies::PolicyError::Invalid { origin, problems } => CimError::invalid_parameter(
                vine_workload::policy::render_problems(&origin, &problems)
                    .trim_end()
                    .to_string(),
            ),
            other => to_cim(&OpsError::Policy(other)),
        }
    }

    /// The policy a method was called on (`None` on the class); an
    /// instance that is not a stored policy of this data centre is
    /// NOT_FOUND.
    fn target(&self, target: &MethodTarget) -> CimResult<Option<String>> {
        let MethodTarget::Instance(p) = target else {
            return Ok(None);
        };
        let name = p.key_str("PolicyRuleName").unwrap_or_default().to_string();
        let ours = rule_path(&self.ctx.name, &name);
        let stored = self.ctx.coordinator.services.policies.active(&name).is_ok();
        if !stored || !p.same_object(&ours) {
            return Err(CimError::not_found(p.local()));
        }
        Ok(Some(name))
    }

    fn apply(
        &self,
        rc: &RequestContext,
        on: Option<&str>,
        params: &[CimParamValue],
    ) -> CimResult<MethodResult> {
        let text = match required_param(params, "PolicyText")? {
            CimValue::String(s) => s.clone(),
            _ => return Err(CimError::invalid_parameter("PolicyText must be a string")),
        };
        if let Some(name) = on {
            // Checked before storing: a file naming another policy would
            // otherwise be stored under that one.
            if let Ok(p) = policies::check(&text, "PolicyText") {
                if p.name != name {
                    return Err(CimError::invalid_parameter(format!(
                        "PolicyText names policy {:?}, not {name:?}; call ApplyVersion on \
                         that policy's rule, or on the class",
                        p.name
                    )));
                }
            }
        }
        let v = self
            .ctx
            .coordinator
            .services
            .policies
            .apply(&text, "PolicyText", Some(rc.user.as_str()))
            .map_err(Self::store_error)?;
        Ok(MethodResult::code(0)
            .with_out("Version", version_path(&v.name, v.version))
            .with_out("PolicyRule", rule_path(&self.ctx.name, &v.name)))
    }

    fn rollback(
        &self,
        rc: &RequestContext,
        name: &str,
        params: &[CimParamValue],
    ) -> CimResult<MethodResult> {
        let version = match required_param(params, "Version")? {
            CimValue::Uint32(n) => *n,
            _ => return Err(CimError::invalid_parameter("Version must be a uint32")),
        };
        let v = self
            .ctx
            .coordinator
            .services
            .policies
            .rollback(name, version, Some(rc.user.as_str()))
            .map_err(Self::store_error)?;
        Ok(MethodResult::code(0).with_out("NewVersion", version_path(&v.name, v.version)))
    }

    fn instances(&self, class: &str) -> CimResult<Vec<CimInstance>> {
        let ctx = &self.ctx;
        let store = &ctx.coordinator.services.policies;
        let active = store.list().map_err(Self::store_error)?;
        let mut out = Vec::new();
        for a in &active {
            let history = store.history(&a.name).map_err(Self::store_error)?;
            if class.eq_ignore_ascii_case(POLICY_RULE) {
                out.push(rule_instance(&ctx.name, a, history.len()));
            } else if class.eq_ignore_ascii_case(POLICY_VERSION) {
                out.extend(history.iter().map(version_instance));
            } else if class.eq_ignore_ascii_case(VERSION_OF) {
                for v in &history {
                    let mut l = link(
                        class,
                        ("ManagedElement", rule_path(&ctx.name, &a.name)),
                        ("SettingData", version_path(&v.name, v.version)),
                    );
                    l.set(
                        "IsCurrent",
                        if v.version == a.version { 1u16 } else { 2u16 },
                    );
                    out.push(l);
                }
            } else if class.eq_ignore_ascii_case(APPLIES_TO) {
                // A version that no longer validates names nothing.
                let Ok(p) = policies::check(&a.text, &a.name) else {
                    continue;
                };
                for e in scoped_elements(ctx, &p)? {
                    out.push(link(
                        class,
                        ("PolicySet", rule_path(&ctx.name, &a.name)),
                        ("ManagedElement", e),
                    ));
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl InstanceProvider for PolicyProvider {
    async fn enumerate_instances(
        &self,
        _rc: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        self.instances(class.name.as_str())
    }
}

#[async_trait]
impl MethodProvider for PolicyProvider {
    async fn invoke_method(
        &self,
        rc: &RequestContext,
        _class: &CimClass,
        target: &MethodTarget,
        method: &CimMethod,
        params: Vec<CimParamValue>,
    ) -> CimResult<MethodResult> {
        let on = self.target(target)?;
        let m = &method.name;
        if m.matches("ApplyVersion") {
            self.apply(rc, on.as_deref(), &params)
        } else if m.matches("Rollback") {
            let name = on.ok_or_else(|| {
                CimError::invalid_parameter("call Rollback on a VINE_PolicyRule instance")
            })?;
            self.rollback(rc, &name, &params)
        } else {
            Err(CimError::new(
                vine_cim::CimStatus::MethodNotAvailable,
                format!("VINE_PolicyRule has no method {m}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str, n: u32) -> PolicyVersion {
        PolicyVersion {
            name: "web".into(),
            version: n,
            text: text.into(),
            applied_at: 1_700_000_000_000,
            applied_by: Some("admin".into()),
            note: "applied".into(),
        }
    }

    #[test]
    fn a_rule_shows_the_active_version_its_scope_and_thresholds() {
        let text = "name = \"web\"\ndescription = \"keep web cool\"\n\
                    [scope]\nkind = \"hosts\"\nlabels = [\"rack=a\"]\n\
                    [thresholds.cpu]\nupper = 0.8\nlower = 0.2\n\
                    [migration]\nmax_concurrent = 3\nmax_per_hour = 10\n";
        let r = rule_instance("dc", &version(text, 2), 2);
        let path = r.path.clone().unwrap();
        assert_eq!(path.key_str("PolicyRuleName"), Some("web"));
        assert_eq!(path.key_str("SystemName"), Some("dc"));
        assert_eq!(r.get("Enabled"), Some(&1u16.into()));
        assert_eq!(r.get("Version"), Some(&2u32.into()));
        assert_eq!(r.get_str("ScopeKind"), Some("hosts"));
        assert_eq!(r.get("CPUUpperThreshold"), Some(&0.8f64.into()));
        assert_eq!(r.get("MaxConcurrentMigrations"), Some(&3u32.into()));
        assert_eq!(r.get("MaxMigrationsPerHour"), Some(&10u32.into()));
        assert!(r.get("MaxMigrationsPerRound").is_none(), "no limit");
        assert_eq!(r.get_str("Description"), Some("keep web cool"));
        assert_eq!(r.get_str("PolicyText"), Some(text));

        // A stored text the checker now refuses: shown, disabled.
        let bad = rule_instance("dc", &version("name = \"web\"\nbogus = 1\n", 3), 3);
        assert_eq!(bad.get("Enabled"), Some(&2u16.into()));
        assert!(bad.get("CPUUpperThreshold").is_none());

        let v = version_instance(&version(text, 2));
        assert_eq!(v.get_str("InstanceID"), Some("VINE:web/2"));
        assert_eq!(v.get_str("ElementName"), Some("web v2"));
    }
}
