//! The interop namespace provider (DSP1033 Profile Registration): the
//! object manager, its namespaces, the registered profiles and the
//! associations that lead from a profile to its central instances.

use std::sync::{Arc, OnceLock, Weak};

use async_trait::async_trait;
use vine_cim::{CimClass, CimError, CimInstance, CimInstanceName, CimResult};

use crate::provider::{InstanceProvider, RequestContext};
use crate::server::profiles::{ProfileSpec, ProfileTable};
use crate::server::{Cimom, Registry};

/// The namespace the interop classes live in.
pub const INTEROP_NS: &str = "root/interop";

const OBJECT_MANAGER: &str = "CIM_ObjectManager";
const SYSTEM_CLASS: &str = "CIM_ComputerSystem";
const OM_NAME: &str = "vine";

/// Serves CIM_ObjectManager, CIM_Namespace, CIM_NamespaceInManager,
/// CIM_RegisteredProfile, CIM_ElementConformsToProfile and
/// CIM_ReferencedProfile.
pub struct InteropProvider {
    cimom: OnceLock<Weak<Cimom>>,
}

impl InteropProvider {
    /// Registers the provider for every interop class in `registry`, and
    /// adds vine's own Profile Registration profile to `profiles`.
    pub fn install(registry: &mut Registry, profiles: &mut ProfileTable) -> Arc<Self> {
        let p = Arc::new(InteropProvider {
            cimom: OnceLock::new(),
        });
        for class in [
            OBJECT_MANAGER,
            "CIM_Namespace",
            "CIM_NamespaceInManager",
            "CIM_RegisteredProfile",
            "CIM_ElementConformsToProfile",
            "CIM_ReferencedProfile",
        ] {
            registry.register_instances(INTEROP_NS, class, p.clone());
        }
        profiles.add(
            ProfileSpec::dmtf(
                "DMTF:Profile Registration:1.0.0",
                "Profile Registration",
                "1.0.0",
            )
            .central(INTEROP_NS, OBJECT_MANAGER),
        );
        p
    }

    /// Connects the provider to the object manager it describes; call once
    /// after [`Cimom::new`].
    pub fn attach(&self, cimom: &Arc<Cimom>) {
        let _ = self.cimom.set(Arc::downgrade(cimom));
    }

    fn cimom(&self) -> CimResult<Arc<Cimom>> {
        self.cimom
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| CimError::failed("the object manager is shutting down"))
    }
}

fn object_manager_path(host: &str) -> CimInstanceName {
    CimInstanceName::new(OBJECT_MANAGER)
        .with_key("SystemCreationClassName", SYSTEM_CLASS)
        .with_key("SystemName", host)
        .with_key("CreationClassName", OBJECT_MANAGER)
        .with_key("Name", OM_NAME)
        .with_namespace(INTEROP_NS)
}

fn namespace_path(host: &str, ns: &str) -> CimInstanceName {
    CimInstanceName::new("CIM_Namespace")
        .with_key("SystemCreationClassName", SYSTEM_CLASS)
        .with_key("SystemName", host)
        .with_key("ObjectManagerCreationClassName", OBJECT_MANAGER)
        .with_key("ObjectManagerName", OM_NAME)
        .with_key("CreationClassName", "CIM_Namespace")
        .with_key("Name", ns)
        .with_namespace(INTEROP_NS)
}

fn profile_path(id: &str) -> CimInstanceName {
    CimInstanceName::new("CIM_RegisteredProfile")
        .with_key("InstanceID", id)
        .with_namespace(INTEROP_NS)
}

fn with_keys(mut inst: CimInstance, path: CimInstanceName) -> CimInstance {
    for (k, v) in &path.key_bindings {
        inst.set(k.clone(), v.clone());
    }
    inst.path = Some(path);
    inst
}

fn profile_instance(p: &ProfileSpec) -> CimInstance {
    let mut inst = CimInstance::new("CIM_RegisteredProfile")
        .with("RegisteredOrganization", p.organization)
        .with("RegisteredName", p.name.as_str())
        .with("RegisteredVersion", p.version.as_str())
        .with("ElementName", p.name.as_str())
        // 3 = SLP in the DSP1033 map; vine advertises through the interop
        // namespace only, which is 2 = Not Advertised.
        .with("AdvertiseTypes", vec![2u16])
        .with("AdvertiseTypeDescriptions", vec!["Not Advertised"]);
    if let Some(o) = &p.other_organization {
        inst.set("OtherRegisteredOrganization", o.as_str());
    }
    with_keys(inst, profile_path(&p.instance_id))
}

fn association(class: &str, a: (&str, CimInstanceName), b: (&str, CimInstanceName)) -> CimInstance {
    let path = CimInstanceName::new(class)
        .with_key(a.0, a.1.clone())
        .with_key(b.0, b.1.clone())
        .with_namespace(INTEROP_NS);
    with_keys(CimInstance::new(class), path)
}

#[async_trait]
impl InstanceProvider for InteropProvider {
    async fn enumerate_instances(
        &self,
        _ctx: &RequestContext,
        class: &CimClass,
    ) -> CimResult<Vec<CimInstance>> {
        let cimom = self.cimom()?;
        let host = cimom.config().host.clone();
        let name = class.name.as_str();
        let mut out = Vec::new();
        if name.eq_ignore_ascii_case(OBJECT_MANAGER) {
            let inst = CimInstance::new(OBJECT_MANAGER)
                .with("ElementName", "vine")
                .with(
                    "Description",
                    format!("vine WBEM server version {}", env!("CARGO_PKG_VERSION")),
                )
                .with("Started", true)
                .with("EnabledState", 2u16)
                .with("RequestedState", 12u16)
                .with("EnabledDefault", 2u16)
                .with("OperationalStatus", vec![2u16]);
            out.push(with_keys(inst, object_manager_path(&host)));
        } else if name.eq_ignore_ascii_case("CIM_Namespace") {
            for ns in cimom.namespaces() {
                // ClassInfo 0 = Unknown: the schema version varies by class.
                let inst = CimInstance::new("CIM_Namespace")
                    .with("ClassInfo", 0u16)
                    .with("ElementName", ns.as_str());
                out.push(with_keys(inst, namespace_path(&host, &ns)));
            }
        } else if name.eq_ignore_ascii_case("CIM_NamespaceInManager") {
            for ns in cimom.namespaces() {
                out.push(association(
                    "CIM_NamespaceInManager",
                    ("Antecedent", object_manager_path(&host)),
                    ("Dependent", namespace_path(&host, &ns)),
                ));
            }
        } else if name.eq_ignore_ascii_case("CIM_RegisteredProfile") {
            out.extend(cimom.profiles().profiles.iter().map(profile_instance));
        } else if name.eq_ignore_ascii_case("CIM_ReferencedProfile") {
            for p in &cimom.profiles().profiles {
                for r in &p.references {
                    out.push(association(
                        "CIM_ReferencedProfile",
                        ("Antecedent", profile_path(r)),
                        ("Dependent", profile_path(&p.instance_id)),
                    ));
                }
            }
        } else if name.eq_ignore_ascii_case("CIM_ElementConformsToProfile") {
            let profiles = cimom.profiles().profiles.clone();
            for p in &profiles {
                for (ns, central) in &p.central {
                    let ctx = RequestContext {
                        namespace: ns.clone(),
                        user: String::new(),
                    };
                    // A central class with no provider yet has no instances.
                    let names = match cimom.enumerate_instance_names(&ctx, central).await {
                        Ok(n) => n,
                        Err(e) => {
                            tracing::debug!(profile = %p.name, class = %central, error = %e, "central instances unavailable");
                            continue;
                        }
                    };
                    for mut element in names {
                        element.namespace = Some(ns.clone());
                        out.push(association(
                            "CIM_ElementConformsToProfile",
                            ("ConformantStandard", profile_path(&p.instance_id)),
                            ("ManagedElement", element),
                        ));
                    }
                }
            }
        }
        Ok(out)
    }
}
