//! Intrinsic operations on classes, qualifiers and instances, with the
//! DSP0200 parameter semantics applied here once for every provider.

use vine_cim::{
    CimClass, CimError, CimInstance, CimInstanceName, CimName, CimResult, CimStatus, CimValue,
    QualifierDecl,
};

use super::Cimom;
use crate::provider::RequestContext;

/// The options shared by operations that return instances.
#[derive(Clone, Debug, Default)]
pub struct InstanceOptions {
    pub include_class_origin: bool,
    /// `None` = all properties; `Some(vec![])` = none.
    pub property_list: Option<Vec<String>>,
}

/// The options of GetClass and EnumerateClasses.
#[derive(Clone, Debug)]
pub struct ClassOptions {
    pub local_only: bool,
    pub include_qualifiers: bool,
    pub include_class_origin: bool,
    pub property_list: Option<Vec<String>>,
}

impl Cimom {
    // ---- classes and qualifiers -------------------------------------

    /// GetClass.
    pub fn get_class(&self, ns: &str, name: &str, opts: &ClassOptions) -> CimResult<CimClass> {
        self.check_namespace(ns)?;
        let repo = self.repo();
        let class = if opts.local_only {
            repo.local_class(ns, name)?
        } else {
            repo.get_class(ns, name)?
        };
        Ok(shape_class(class.clone(), opts))
    }

    /// EnumerateClasses.
    pub fn enumerate_classes(
        &self,
        ns: &str,
        parent: Option<&str>,
        deep: bool,
        opts: &ClassOptions,
    ) -> CimResult<Vec<CimClass>> {
        self.check_namespace(ns)?;
        let names = self.class_names_checked(ns, parent, deep)?;
        let repo = self.repo();
        names
            .iter()
            .map(|n| {
                let c = if opts.local_only {
                    repo.local_class(ns, n.as_str())?
                } else {
                    repo.get_class(ns, n.as_str())?
                };
                Ok(shape_class(c.clone(), opts))
            })
            .collect()
    }

    /// EnumerateClassNames.
    pub fn enumerate_class_names(
        &self,
        ns: &str,
        parent: Option<&str>,
        deep: bool,
    ) -> CimResult<Vec<CimName>> {
        self.check_namespace(ns)?;
        self.class_names_checked(ns, parent, deep)
    }

    fn class_names_checked(
        &self,
        ns: &str,
        parent: Option<&str>,
        deep: bool,
    ) -> CimResult<Vec<CimName>> {
        self.repo()
            .class_names(ns, parent, deep)
            .map_err(|e| match e.status {
                // DSP0200: an unknown ClassName here is INVALID_CLASS.
                CimStatus::NotFound => CimError::new(CimStatus::InvalidClass, e.description),
                _ => e,
            })
    }

    /// GetQualifier.
    pub fn get_qualifier(&self, ns: &str, name: &str) -> CimResult<QualifierDecl> {
        self.check_namespace(ns)?;
        self.repo().get_qualifier_decl(ns, name).cloned()
    }

    /// EnumerateQualifiers.
    pub fn enumerate_qualifiers(&self, ns: &str) -> CimResult<Vec<QualifierDecl>> {
        self.check_namespace(ns)?;
        Ok(self
            .repo()
            .qualifier_decls(ns)?
            .into_iter()
            .cloned()
            .collect())
    }

    /// The resolved class `name`, or `CIM_ERR_INVALID_CLASS` (the code
    /// instance operations use for an unknown class).
    pub(crate) fn class_for_instances(&self, ns: &str, name: &str) -> CimResult<CimClass> {
        self.check_namespace(ns)?;
        self.repo()
            .get_class(ns, name)
            .cloned()
            .map_err(|e| match e.status {
                CimStatus::NotFound => CimError::new(
                    CimStatus::InvalidClass,
                    format!("class {name} does not exist in {ns}"),
                ),
                _ => e,
            })
    }

    /// `class` and every subclass, resolved, in repository order.
    pub(crate) fn class_and_descendants(&self, ns: &str, class: &CimClass) -> Vec<CimClass> {
        let repo = self.repo();
        let mut out = vec![class.clone()];
        for n in repo.descendants(ns, class.name.as_str()) {
            if let Ok(c) = repo.get_class(ns, n.as_str()) {
                out.push(c.clone());
            }
        }
        out
    }

    // ---- instances ---------------------------------------------------

    /// EnumerateInstances: instances of `class` and its subclasses.
    pub async fn enumerate_instances(
        &self,
        ctx: &RequestContext,
        class_name: &str,
        deep_inheritance: bool,
        opts: &InstanceOptions,
    ) -> CimResult<Vec<CimInstance>> {
        let class = self.class_for_instances(&ctx.namespace, class_name)?;
        let mut out = Vec::new();
        for c in self.class_and_descendants(&ctx.namespace, &class) {
            let Some(p) = self
                .registry
                .instance_provider(&ctx.namespace, c.name.as_str())
            else {
                continue;
            };
            for inst in p.enumerate_instances(ctx, &c).await? {
                out.push(self.shape_instance(
                    ctx,
                    inst,
                    &c,
                    (!deep_inheritance).then_some(&class),
                    opts,
                ));
            }
        }
        Ok(out)
    }

    /// EnumerateInstanceNames.
    pub async fn enumerate_instance_names(
        &self,
        ctx: &RequestContext,
        class_name: &str,
    ) -> CimResult<Vec<CimInstanceName>> {
        let class = self.class_for_instances(&ctx.namespace, class_name)?;
        let mut out = Vec::new();
        for c in self.class_and_descendants(&ctx.namespace, &class) {
            let Some(p) = self
                .registry
                .instance_provider(&ctx.namespace, c.name.as_str())
            else {
                continue;
            };
            for mut path in p.enumerate_instance_names(ctx, &c).await? {
                path.namespace = Some(ctx.namespace.clone());
                out.push(path);
            }
        }
        Ok(out)
    }

    /// GetInstance.
    pub async fn get_instance(
        &self,
        ctx: &RequestContext,
        name: &CimInstanceName,
        opts: &InstanceOptions,
    ) -> CimResult<CimInstance> {
        let class = self.class_for_instances(&ctx.namespace, name.class_name.as_str())?;
        self.check_keys(&class, name)?;
        let Some(p) = self
            .registry
            .instance_provider(&ctx.namespace, class.name.as_str())
        else {
            return Err(CimError::not_found(name.local()));
        };
        let inst = p.get_instance(ctx, &class, name).await?;
        Ok(self.shape_instance(ctx, inst, &class, None, opts))
    }

    /// CreateInstance.
    pub async fn create_instance(
        &self,
        ctx: &RequestContext,
        mut inst: CimInstance,
    ) -> CimResult<CimInstanceName> {
        let class = self.class_for_instances(&ctx.namespace, inst.class_name.as_str())?;
        if class.is_abstract() {
            return Err(CimError::new(
                CimStatus::InvalidClass,
                format!("{} is abstract", class.name),
            ));
        }
        type_properties(&class, &mut inst)?;
        let Some(p) = self
            .registry
            .instance_provider(&ctx.namespace, class.name.as_str())
        else {
            return Err(CimError::not_supported(format!(
                "instances of {} cannot be created",
                class.name
            )));
        };
        let mut path = p.create_instance(ctx, &class, inst).await?;
        path.namespace = Some(ctx.namespace.clone());
        Ok(path)
    }

    /// ModifyInstance.
    pub async fn modify_instance(
        &self,
        ctx: &RequestContext,
        mut inst: CimInstance,
        property_list: Option<&[String]>,
    ) -> CimResult<()> {
        let path = inst
            .path
            .clone()
            .ok_or_else(|| CimError::invalid_parameter("ModifiedInstance has no instance name"))?;
        let class = self.class_for_instances(&ctx.namespace, path.class_name.as_str())?;
        self.check_keys(&class, &path)?;
        type_properties(&class, &mut inst)?;
        if let Some(list) = property_list {
            for n in list {
                if class.property(n).is_none() {
                    return Err(CimError::invalid_parameter(format!(
                        "{} has no property {n}",
                        class.name
                    )));
                }
            }
        }
        let Some(p) = self
            .registry
            .instance_provider(&ctx.namespace, class.name.as_str())
        else {
            return Err(CimError::not_found(path.local()));
        };
        p.modify_instance(ctx, &class, inst, property_list).await
    }

    /// DeleteInstance.
    pub async fn delete_instance(
        &self,
        ctx: &RequestContext,
        name: &CimInstanceName,
    ) -> CimResult<()> {
        let class = self.class_for_instances(&ctx.namespace, name.class_name.as_str())?;
        self.check_keys(&class, name)?;
        let Some(p) = self
            .registry
            .instance_provider(&ctx.namespace, class.name.as_str())
        else {
            return Err(CimError::not_found(name.local()));
        };
        p.delete_instance(ctx, &class, name).await
    }

    /// GetProperty.
    pub async fn get_property(
        &self,
        ctx: &RequestContext,
        name: &CimInstanceName,
        property: &str,
    ) -> CimResult<Option<CimValue>> {
        let class = self.class_for_instances(&ctx.namespace, name.class_name.as_str())?;
        if class.property(property).is_none() {
            return Err(CimError::new(
                CimStatus::NoSuchProperty,
                format!("{} has no property {property}", class.name),
            ));
        }
        let inst = self
            .get_instance(ctx, name, &InstanceOptions::default())
            .await?;
        Ok(inst.get(property).cloned())
    }

    /// SetProperty: a ModifyInstance of one property.
    pub async fn set_property(
        &self,
        ctx: &RequestContext,
        name: &CimInstanceName,
        property: &str,
        value: Option<CimValue>,
    ) -> CimResult<()> {
        let class = self.class_for_instances(&ctx.namespace, name.class_name.as_str())?;
        let decl = class.property(property).ok_or_else(|| {
            CimError::new(
                CimStatus::NoSuchProperty,
                format!("{} has no property {property}", class.name),
            )
        })?;
        let mut inst = CimInstance::new(class.name.clone());
        let mut prop = decl.clone();
        prop.value = value;
        inst.set_property(prop);
        inst.path = Some(name.clone());
        self.modify_instance(ctx, inst, Some(&[property.to_string()]))
            .await
    }

    /// `CIM_ERR_INVALID_PARAMETER` unless `name` binds exactly the class's keys.
    pub(crate) fn check_keys(&self, class: &CimClass, name: &CimInstanceName) -> CimResult<()> {
        for key in class.keys() {
            if name.key(key.name.as_str()).is_none() {
                return Err(CimError::invalid_parameter(format!(
                    "instance name {} lacks key {} of {}",
                    name.local(),
                    key.name,
                    class.name
                )));
            }
        }
        for (k, _) in &name.key_bindings {
            if !class.property(k.as_str()).is_some_and(|p| p.is_key()) {
                return Err(CimError::invalid_parameter(format!(
                    "{k} is not a key of {}",
                    class.name
                )));
            }
        }
        Ok(())
    }

    /// Applies DeepInheritance (`only_of`), IncludeClassOrigin and
    /// PropertyList to a provider's instance, and qualifies its path.
    pub(crate) fn shape_instance(
        &self,
        ctx: &RequestContext,
        mut inst: CimInstance,
        class: &CimClass,
        only_of: Option<&CimClass>,
        opts: &InstanceOptions,
    ) -> CimInstance {
        if let Some(base) = only_of {
            inst.properties
                .retain(|p| base.property(p.name.as_str()).is_some());
        }
        inst.filter_properties(opts.property_list.as_deref());
        for p in &mut inst.properties {
            p.class_origin = if opts.include_class_origin {
                class
                    .property(p.name.as_str())
                    .and_then(|d| d.class_origin.clone())
            } else {
                None
            };
            p.qualifiers.clear();
        }
        inst.qualifiers.clear();
        let mut path = inst.path.take().unwrap_or_else(|| inst.build_path(class));
        path.namespace = Some(ctx.namespace.clone());
        inst.path = Some(path);
        inst
    }
}

/// Types the properties of a client's instance from the class: untyped
/// CIM-XML values arrive as strings or wide integers.
pub(crate) fn type_properties(class: &CimClass, inst: &mut CimInstance) -> CimResult<()> {
    for p in &mut inst.properties {
        let decl = class.property(p.name.as_str()).ok_or_else(|| {
            CimError::new(
                CimStatus::NoSuchProperty,
                format!("{} has no property {}", class.name, p.name),
            )
        })?;
        if let Some(v) = p.value.take() {
            let typed = if matches!(
                decl.cim_type,
                vine_cim::CimType::Reference | vine_cim::CimType::Instance
            ) {
                v
            } else {
                v.coerce(decl.cim_type).map_err(|e| {
                    CimError::new(CimStatus::TypeMismatch, format!("property {}: {e}", p.name))
                })?
            };
            p.value = Some(typed);
        }
        p.cim_type = decl.cim_type;
        p.is_array = decl.is_array;
        p.name = decl.name.clone();
    }
    Ok(())
}

/// Applies IncludeQualifiers, IncludeClassOrigin and PropertyList to a class.
fn shape_class(mut c: CimClass, opts: &ClassOptions) -> CimClass {
    if let Some(list) = &opts.property_list {
        c.properties
            .retain(|p| list.iter().any(|n| p.name.matches(n)));
    }
    if !opts.include_qualifiers {
        c.qualifiers.clear();
        for p in &mut c.properties {
            p.qualifiers.clear();
        }
        for m in &mut c.methods {
            m.qualifiers.clear();
            for prm in &mut m.parameters {
                prm.qualifiers.clear();
            }
        }
    }
    if !opts.include_class_origin {
        for p in &mut c.properties {
            p.class_origin = None;
        }
        for m in &mut c.methods {
            m.class_origin = None;
        }
    }
    c
}
