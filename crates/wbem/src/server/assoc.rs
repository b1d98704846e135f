//! Association traversal: References, ReferenceNames, Associators and
//! AssociatorNames over instance paths (DSP0200 §5.3.2.6–9).
//!
//! The traversal is generic: the association classes whose reference
//! properties can point at the source object's class are asked for their
//! instances (through an association provider when one is registered,
//! otherwise by enumerating and filtering), and the far ends are fetched
//! from their own providers, possibly in another namespace.

use vine_cim::{CimClass, CimError, CimInstance, CimInstanceName, CimResult, CimType, CimValue};

use super::ops::InstanceOptions;
use super::Cimom;
use crate::provider::RequestContext;

/// The filters common to the four association operations.
#[derive(Clone, Debug, Default)]
pub struct AssocFilter {
    /// AssocClass (Associators) or ResultClass (References).
    pub assoc_class: Option<String>,
    /// ResultClass of Associators.
    pub result_class: Option<String>,
    pub role: Option<String>,
    pub result_role: Option<String>,
}

impl Cimom {
    /// The association instances that refer to `object`, each paired with
    /// the name of the reference property that matched.
    async fn association_instances(
        &self,
        ctx: &RequestContext,
        object: &CimInstanceName,
        assoc_filter: Option<&str>,
        role: Option<&str>,
    ) -> CimResult<Vec<CimInstance>> {
        let ns = ctx.namespace.as_str();
        self.check_namespace(ns)?;
        let object_class = self
            .repo()
            .get_class(ns, object.class_name.as_str())
            .cloned()
            .map_err(|_| {
                CimError::invalid_parameter(format!(
                    "class {} of the object name does not exist in {ns}",
                    object.class_name
                ))
            })?;
        if let Some(a) = assoc_filter {
            if self.repo().get_class(ns, a).is_err() {
                return Err(CimError::invalid_parameter(format!(
                    "association class {a} does not exist in {ns}"
                )));
            }
        }
        let candidates = self.association_classes(ns, &object_class, assoc_filter);
        let mut out = Vec::new();
        for assoc in candidates {
            let found = if let Some(p) = self.registry.association_provider(ns, assoc.name.as_str())
            {
                p.references(ctx, &assoc, object, role).await?
            } else if let Some(p) = self.registry.instance_provider(ns, assoc.name.as_str()) {
                p.enumerate_instances(ctx, &assoc).await?
            } else {
                continue;
            };
            for inst in found {
                if refers_to(&inst, object, role) {
                    out.push(self.shape_instance(
                        ctx,
                        inst,
                        &assoc,
                        None,
                        &InstanceOptions::default(),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// The concrete association classes (optionally below `filter`) with a
    /// reference property that can point at an instance of `object_class`.
    fn association_classes(
        &self,
        ns: &str,
        object_class: &CimClass,
        filter: Option<&str>,
    ) -> Vec<CimClass> {
        let repo = self.repo();
        let mut ancestry: Vec<String> = vec![object_class.name.folded()];
        ancestry.extend(
            repo.superclasses(ns, object_class.name.as_str())
                .iter()
                .map(|n| n.folded()),
        );
        let all = match repo.class_names(ns, None, true) {
            Ok(v) => v,
            Err(_) => return Vec::new(),
        };
        all.iter()
            .filter_map(|n| repo.get_class(ns, n.as_str()).ok())
            .filter(|c| c.is_association())
            .filter(|c| filter.is_none_or(|f| repo.is_subclass_of(ns, c.name.as_str(), f)))
            .filter(|c| {
                c.properties.iter().any(|p| {
                    p.cim_type == CimType::Reference
                        && p.reference_class.as_ref().is_none_or(|rc| {
                            // The reference may point at an ancestor (any
                            // instance of ours fits) or at a subclass of
                            // ours (some instances fit).
                            ancestry.contains(&rc.folded())
                                || repo.is_subclass_of(ns, rc.as_str(), object_class.name.as_str())
                        })
                })
            })
            .cloned()
            .collect()
    }

    /// References.
    pub async fn references(
        &self,
        ctx: &RequestContext,
        object: &CimInstanceName,
        f: &AssocFilter,
        opts: &InstanceOptions,
    ) -> CimResult<Vec<CimInstance>> {
        let found = self
            .association_instances(ctx, object, f.assoc_class.as_deref(), f.role.as_deref())
            .await?;
        Ok(found
            .into_iter()
            .map(|mut i| {
                i.filter_properties(opts.property_list.as_deref());
                if !opts.include_class_origin {
                    i.properties.iter_mut().for_each(|p| p.class_origin = None);
                }
                i
            })
            .collect())
    }

    /// ReferenceNames.
    pub async fn reference_names(
        &self,
        ctx: &RequestContext,
        object: &CimInstanceName,
        f: &AssocFilter,
    ) -> CimResult<Vec<CimInstanceName>> {
        let found = self
            .association_instances(ctx, object, f.assoc_class.as_deref(), f.role.as_deref())
            .await?;
        Ok(found.into_iter().filter_map(|i| i.path).collect())
    }

    /// AssociatorNames: the far ends' paths.
    pub async fn associator_names(
        &self,
        ctx: &RequestContext,
        object: &CimInstanceName,
        f: &AssocFilter,
    ) -> CimResult<Vec<CimInstanceName>> {
        let found = self
            .association_instances(ctx, object, f.assoc_class.as_deref(), f.role.as_deref())
            .await?;
        let mut out: Vec<CimInstanceName> = Vec::new();
        for assoc in &found {
            for p in &assoc.properties {
                let Some(CimValue::Reference(target)) = &p.value else {
                    continue;
                };
                if f.result_role.as_deref().is_some_and(|r| !p.name.matches(r)) {
                    continue;
                }
                // The source end is not an associator of itself.
                if target.same_object(object) && f.role.as_deref().is_none_or(|r| p.name.matches(r))
                {
                    continue;
                }
                let mut target = (**target).clone();
                let tns = target
                    .namespace
                    .clone()
                    .unwrap_or_else(|| ctx.namespace.clone());
                if let Some(rc) = &f.result_class {
                    if !self
                        .repo()
                        .is_subclass_of(&tns, target.class_name.as_str(), rc)
                    {
                        continue;
                    }
                }
                target.namespace = Some(tns);
                if !out.contains(&target) {
                    out.push(target);
                }
            }
        }
        Ok(out)
    }

    /// Associators: the far-end instances, fetched from their providers.
    /// Ends that no longer exist, or live in a namespace this server does
    /// not have, are skipped rather than failing the call.
    pub async fn associators(
        &self,
        ctx: &RequestContext,
        object: &CimInstanceName,
        f: &AssocFilter,
        opts: &InstanceOptions,
    ) -> CimResult<Vec<CimInstance>> {
        let mut out = Vec::new();
        for name in self.associator_names(ctx, object, f).await? {
            let target_ctx = RequestContext {
                namespace: name
                    .namespace
                    .clone()
                    .unwrap_or_else(|| ctx.namespace.clone()),
                user: ctx.user.clone(),
            };
            // A far end on another WBEM server (a VM on an agent, referred
            // to from the manager) cannot be fetched here; AssociatorNames
            // and References still name it.
            if !self.repo().has_namespace(&target_ctx.namespace) {
                continue;
            }
            match self.get_instance(&target_ctx, &name, opts).await {
                Ok(i) => out.push(i),
                Err(e) if e.status == vine_cim::CimStatus::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

fn refers_to(inst: &CimInstance, object: &CimInstanceName, role: Option<&str>) -> bool {
    inst.properties.iter().any(|p| {
        role.is_none_or(|r| p.name.matches(r))
            && matches!(&p.value, Some(CimValue::Reference(r)) if r.same_object(object))
    })
}

/// One association class reachable from a class, with the far-end classes
/// its other references name (by role).
pub struct ClassLink {
    pub assoc: CimClass,
    pub far: Vec<vine_cim::CimName>,
}

impl Cimom {
    /// Class-level traversal (DSP0200: ObjectName is a class path): the
    /// association classes whose references can point at `class`, and the
    /// classes at their other ends.
    pub fn class_links(&self, ns: &str, class: &str, f: &AssocFilter) -> CimResult<Vec<ClassLink>> {
        self.check_namespace(ns)?;
        let source = self.repo().get_class(ns, class).cloned().map_err(|_| {
            CimError::invalid_parameter(format!("class {class} does not exist in {ns}"))
        })?;
        if let Some(a) = &f.assoc_class {
            if self.repo().get_class(ns, a).is_err() {
                return Err(CimError::invalid_parameter(format!(
                    "association class {a} does not exist in {ns}"
                )));
            }
        }
        let repo = self.repo();
        let fits = |rc: Option<&vine_cim::CimName>| {
            rc.is_none_or(|rc| repo.is_subclass_of(ns, source.name.as_str(), rc.as_str()))
        };
        let mut out = Vec::new();
        for assoc in self.association_classes(ns, &source, f.assoc_class.as_deref()) {
            let refs: Vec<_> = assoc
                .properties
                .iter()
                .filter(|p| p.cim_type == CimType::Reference)
                .collect();
            let near: Vec<_> = refs
                .iter()
                .filter(|p| {
                    f.role.as_deref().is_none_or(|r| p.name.matches(r))
                        && fits(p.reference_class.as_ref())
                })
                .collect();
            if near.is_empty() {
                continue;
            }
            let far = refs
                .iter()
                .filter(|p| near.len() > 1 || !near.iter().any(|n| n.name == p.name))
                .filter(|p| f.result_role.as_deref().is_none_or(|r| p.name.matches(r)))
                .filter_map(|p| p.reference_class.clone())
                .filter(|rc| {
                    f.result_class
                        .as_deref()
                        .is_none_or(|want| repo.is_subclass_of(ns, rc.as_str(), want))
                })
                .collect();
            out.push(ClassLink { assoc, far });
        }
        Ok(out)
    }
}
