//! The class repository: namespaces holding qualifier declarations, classes
//! (each stored as declared and resolved against its superclasses) and the
//! static instances that MOF files declare.
//!
//! Inheritance is resolved once, when a class is added, so that
//! [`Repository::get_class`] — called by every WBEM operation — is a hash
//! lookup and nothing more. DSP0004 requires a superclass to be declared
//! before its subclasses, which is what makes resolve-on-add possible.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::class::CimClass;
use crate::error::{CimError, CimResult, CimStatus};
use crate::instance::CimInstance;
use crate::name::{normalize_namespace, CimName};
use crate::property::{CimMethod, CimProperty};
use crate::qualifier::{self, CimQualifier, QualifierDecl};

/// Classes, qualifier declarations and static instances, per namespace.
#[derive(Clone, Debug, Default)]
pub struct Repository {
    namespaces: Vec<Namespace>,
    /// Folded, slash-trimmed namespace name → index in `namespaces`.
    ns_index: HashMap<String, usize>,
}

#[derive(Clone, Debug)]
struct Namespace {
    name: String,
    /// In declaration order; a class always follows its superclass.
    classes: Vec<ClassEntry>,
    class_index: HashMap<String, usize>,
    qualifiers: Vec<QualifierDecl>,
    qualifier_index: HashMap<String, usize>,
    instances: Vec<CimInstance>,
}

#[derive(Clone, Debug)]
struct ClassEntry {
    local: CimClass,
    resolved: CimClass,
    parent: Option<usize>,
    /// Direct subclasses, in declaration order.
    children: Vec<usize>,
}

/// ASCII-folds a name, borrowing when it is already lower case, so that the
/// hot lookup path does not allocate for the common all-lowercase spelling.
fn fold(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

fn ns_key(ns: &str) -> String {
    ns.trim_matches('/').to_ascii_lowercase()
}

fn invalid_namespace(ns: &str) -> CimError {
    CimError::new(
        CimStatus::InvalidNamespace,
        format!("namespace {} does not exist", normalize_namespace(ns)),
    )
}

impl Namespace {
    fn new(name: String) -> Self {
        Namespace {
            name,
            classes: Vec::new(),
            class_index: HashMap::new(),
            qualifiers: Vec::new(),
            qualifier_index: HashMap::new(),
            instances: Vec::new(),
        }
    }

    fn class_idx(&self, name: &str) -> Option<usize> {
        self.class_index.get(fold(name).as_ref()).copied()
    }

    fn add_qualifier_decl(&mut self, decl: QualifierDecl) {
        let key = decl.name.folded();
        match self.qualifier_index.get(&key) {
            Some(&i) => self.qualifiers[i] = decl,
            None => {
                self.qualifier_index.insert(key, self.qualifiers.len());
                self.qualifiers.push(decl);
            }
        }
    }

    /// Descendant indices of `idx` in declaration order.
    fn descendant_indices(&self, idx: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = self.classes[idx].children.clone();
        while let Some(i) = stack.pop() {
            out.push(i);
            stack.extend_from_slice(&self.classes[i].children);
        }
        out.sort_unstable();
        out
    }
}

impl Repository {
    /// An empty repository with no namespaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Creates namespace `ns` unless it exists (compared with
    /// [`crate::name::namespace_eq`]).
    pub fn create_namespace(&mut self, ns: &str) {
        let key = ns_key(ns);
        if !self.ns_index.contains_key(&key) {
            self.ns_index.insert(key, self.namespaces.len());
            self.namespaces
                .push(Namespace::new(normalize_namespace(ns)));
        }
    }

    /// The namespaces, spelled as first created, without surrounding `/`.
    pub fn namespaces(&self) -> Vec<String> {
        self.namespaces.iter().map(|n| n.name.clone()).collect()
    }

    /// True when namespace `ns` exists.
    pub fn has_namespace(&self, ns: &str) -> bool {
        self.ns_index.contains_key(&ns_key(ns))
    }

    fn ns(&self, ns: &str) -> CimResult<&Namespace> {
        self.ns_index
            .get(fold(ns.trim_matches('/')).as_ref())
            .map(|&i| &self.namespaces[i])
            .ok_or_else(|| invalid_namespace(ns))
    }

    fn ns_mut(&mut self, ns: &str) -> CimResult<&mut Namespace> {
        match self.ns_index.get(&ns_key(ns)) {
            Some(&i) => Ok(&mut self.namespaces[i]),
            None => Err(invalid_namespace(ns)),
        }
    }

    /// Adds a class to `ns`, resolving it against its superclass (which
    /// must already be present).
    pub fn add_class(&mut self, ns: &str, mut class: CimClass) -> CimResult<()> {
        let space = self.ns_mut(ns)?;
        if !class.name.is_valid() {
            return Err(CimError::invalid_parameter(format!(
                "`{}` is not a valid class name",
                class.name
            )));
        }
        if space.class_idx(class.name.as_str()).is_some() {
            return Err(CimError::new(
                CimStatus::AlreadyExists,
                format!("class {} already exists", class.name),
            ));
        }
        let parent = match &class.superclass {
            None => None,
            Some(sup) => Some(space.class_idx(sup.as_str()).ok_or_else(|| {
                CimError::new(
                    CimStatus::InvalidSuperclass,
                    format!("superclass {sup} of {} does not exist", class.name),
                )
            })?),
        };
        let resolved = resolve(parent.map(|p| &space.classes[p].resolved), &class)?;
        // The local form answers LocalOnly requests, which may also ask for
        // class origins.
        for p in &mut class.properties {
            p.class_origin = Some(class.name.clone());
            p.propagated = false;
        }
        for m in &mut class.methods {
            m.class_origin = Some(class.name.clone());
            m.propagated = false;
        }
        let idx = space.classes.len();
        if let Some(p) = parent {
            space.classes[p].children.push(idx);
        }
        space.class_index.insert(class.name.folded(), idx);
        space.classes.push(ClassEntry {
            local: class,
            resolved,
            parent,
            children: Vec::new(),
        });
        Ok(())
    }

    /// The class `name` with everything it inherits.
    pub fn get_class(&self, ns: &str, name: &str) -> CimResult<&CimClass> {
        let space = self.ns(ns)?;
        space
            .class_idx(name)
            .map(|i| &space.classes[i].resolved)
            .ok_or_else(|| CimError::not_found(format_args!("class {name}")))
    }

    /// The class `name` as declared, without inherited elements
    /// (what `LocalOnly` asks for).
    pub fn local_class(&self, ns: &str, name: &str) -> CimResult<&CimClass> {
        let space = self.ns(ns)?;
        space
            .class_idx(name)
            .map(|i| &space.classes[i].local)
            .ok_or_else(|| CimError::not_found(format_args!("class {name}")))
    }

    /// Class names under `parent` (`None`: the top-level classes), direct
    /// subclasses only unless `deep`; in declaration order.
    pub fn class_names(
        &self,
        ns: &str,
        parent: Option<&str>,
        deep: bool,
    ) -> CimResult<Vec<CimName>> {
        let space = self.ns(ns)?;
        let name_of = |i: &usize| space.classes[*i].resolved.name.clone();
        Ok(match parent {
            None if deep => space
                .classes
                .iter()
                .map(|c| c.resolved.name.clone())
                .collect(),
            None => space
                .classes
                .iter()
                .filter(|c| c.parent.is_none())
                .map(|c| c.resolved.name.clone())
                .collect(),
            Some(p) => {
                let idx = space.class_idx(p).ok_or_else(|| {
                    CimError::new(CimStatus::InvalidClass, format!("class {p} does not exist"))
                })?;
                if deep {
                    space.descendant_indices(idx).iter().map(name_of).collect()
                } else {
                    space.classes[idx].children.iter().map(name_of).collect()
                }
            }
        })
    }

    /// Every subclass of `name` at any depth, `name` excluded; empty when the
    /// namespace or class is unknown.
    pub fn descendants(&self, ns: &str, name: &str) -> Vec<CimName> {
        let Ok(space) = self.ns(ns) else {
            return Vec::new();
        };
        match space.class_idx(name) {
            Some(idx) => space
                .descendant_indices(idx)
                .into_iter()
                .map(|i| space.classes[i].resolved.name.clone())
                .collect(),
            None => Vec::new(),
        }
    }

    /// True when `class` is `ancestor` or derives from it.
    pub fn is_subclass_of(&self, ns: &str, class: &str, ancestor: &str) -> bool {
        let Ok(space) = self.ns(ns) else {
            return false;
        };
        let (Some(mut i), Some(target)) = (space.class_idx(class), space.class_idx(ancestor))
        else {
            return false;
        };
        loop {
            if i == target {
                return true;
            }
            match space.classes[i].parent {
                Some(p) => i = p,
                None => return false,
            }
        }
    }

    /// The superclass chain of `name`, its parent first, up to the root.
    pub fn superclasses(&self, ns: &str, name: &str) -> Vec<CimName> {
        let Ok(space) = self.ns(ns) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut cur = space.class_idx(name).and_then(|i| space.classes[i].parent);
        while let Some(i) = cur {
            out.push(space.classes[i].resolved.name.clone());
            cur = space.classes[i].parent;
        }
        out
    }

    /// Adds or replaces a qualifier declaration.
    pub fn add_qualifier_decl(&mut self, ns: &str, decl: QualifierDecl) -> CimResult<()> {
        self.ns_mut(ns)?.add_qualifier_decl(decl);
        Ok(())
    }

    /// The declaration of qualifier `name`.
    pub fn get_qualifier_decl(&self, ns: &str, name: &str) -> CimResult<&QualifierDecl> {
        let space = self.ns(ns)?;
        space
            .qualifier_index
            .get(fold(name).as_ref())
            .map(|&i| &space.qualifiers[i])
            .ok_or_else(|| CimError::not_found(format_args!("qualifier {name}")))
    }

    /// All qualifier declarations of `ns`, in declaration order.
    pub fn qualifier_decls(&self, ns: &str) -> CimResult<Vec<&QualifierDecl>> {
        Ok(self.ns(ns)?.qualifiers.iter().collect())
    }

    /// Stores a static instance of an existing class, setting its path
    /// (namespace included) from the class's key properties.
    pub fn add_instance(&mut self, ns: &str, mut inst: CimInstance) -> CimResult<()> {
        let space = self.ns_mut(ns)?;
        let idx = space.class_idx(inst.class_name.as_str()).ok_or_else(|| {
            CimError::new(
                CimStatus::InvalidClass,
                format!("class {} does not exist", inst.class_name),
            )
        })?;
        let class = &space.classes[idx].resolved;
        let mut path = inst.build_path(class);
        path.namespace = Some(space.name.clone());
        if space
            .instances
            .iter()
            .any(|i| i.path.as_ref().is_some_and(|p| p.same_object(&path)))
            && class.keys().next().is_some()
        {
            return Err(CimError::new(
                CimStatus::AlreadyExists,
                format!("instance {path} already exists"),
            ));
        }
        inst.path = Some(path);
        space.instances.push(inst);
        Ok(())
    }

    /// The static instances of `ns` (empty for an unknown namespace).
    pub fn instances(&self, ns: &str) -> &[CimInstance] {
        self.ns(ns).map(|s| s.instances.as_slice()).unwrap_or(&[])
    }

    /// Copies every class and qualifier declaration of `from` into `to`
    /// (created if needed); classes `to` already has are kept as they are.
    pub fn copy_namespace(&mut self, from: &str, to: &str) -> CimResult<()> {
        let source = self.ns(from)?.clone();
        self.create_namespace(to);
        for decl in source.qualifiers {
            self.add_qualifier_decl(to, decl)?;
        }
        for entry in source.classes {
            if self.ns(to)?.class_idx(entry.local.name.as_str()).is_none() {
                self.add_class(to, entry.local)?;
            }
        }
        Ok(())
    }
}

/// Builds the resolved form of `class` from its superclass's resolved form.
fn resolve(parent: Option<&CimClass>, class: &CimClass) -> CimResult<CimClass> {
    let origin = Some(class.name.clone());
    let mut out = CimClass {
        name: class.name.clone(),
        superclass: class.superclass.clone(),
        qualifiers: merge_qualifiers(
            parent.map(|p| p.qualifiers.as_slice()).unwrap_or(&[]),
            &class.qualifiers,
            &class.name,
        )?,
        properties: Vec::new(),
        methods: Vec::new(),
    };
    if let Some(p) = parent {
        out.properties = p.properties.iter().map(inherit_property).collect();
        out.methods = p.methods.iter().map(inherit_method).collect();
    }
    for prop in &class.properties {
        let mut own = prop.clone();
        own.class_origin = origin.clone();
        own.propagated = false;
        let target = overridden_name(&prop.qualifiers).unwrap_or(prop.name.as_str());
        match out.properties.iter().position(|p| p.name.matches(target)) {
            Some(i) if out.properties[i].propagated => {
                let inherited = &out.properties[i];
                check_override(class, &prop.name, inherited, prop)?;
                own.qualifiers =
                    merge_qualifiers(&inherited.qualifiers, &prop.qualifiers, &prop.name)?;
                if own.value.is_none() {
                    own.value = inherited.value.clone();
                }
                out.properties[i] = own;
            }
            Some(_) => {
                return Err(CimError::invalid_parameter(format!(
                    "class {} declares property {} twice",
                    class.name, prop.name
                )))
            }
            None => {
                own.qualifiers = merge_qualifiers(&[], &prop.qualifiers, &prop.name)?;
                out.properties.push(own);
            }
        }
    }
    for method in &class.methods {
        let mut own = method.clone();
        own.class_origin = origin.clone();
        own.propagated = false;
        let target = overridden_name(&method.qualifiers).unwrap_or(method.name.as_str());
        match out.methods.iter().position(|m| m.name.matches(target)) {
            Some(i) if out.methods[i].propagated => {
                let inherited = &out.methods[i];
                if inherited.return_type != method.return_type {
                    return Err(CimError::new(
                        CimStatus::TypeMismatch,
                        format!(
                            "{}.{} returns {} but overrides a method returning {}",
                            class.name, method.name, method.return_type, inherited.return_type
                        ),
                    ));
                }
                own.qualifiers =
                    merge_qualifiers(&inherited.qualifiers, &method.qualifiers, &method.name)?;
                out.methods[i] = own;
            }
            Some(_) => {
                return Err(CimError::invalid_parameter(format!(
                    "class {} declares method {} twice",
                    class.name, method.name
                )))
            }
            None => out.methods.push(own),
        }
    }
    Ok(out)
}

/// The element named by an `Override("Name")` qualifier, if any.
fn overridden_name(qualifiers: &[CimQualifier]) -> Option<&str> {
    qualifier::find(qualifiers, "Override")
        .and_then(|q| q.value.as_ref())
        .and_then(|v| v.as_str())
        .filter(|s| !s.is_empty())
}

fn check_override(
    class: &CimClass,
    name: &CimName,
    inherited: &CimProperty,
    own: &CimProperty,
) -> CimResult<()> {
    if inherited.cim_type != own.cim_type || inherited.is_array != own.is_array {
        return Err(CimError::new(
            CimStatus::TypeMismatch,
            format!(
                "{}.{} has type {}{} but overrides a property of type {}{}",
                class.name,
                name,
                own.cim_type,
                if own.is_array { "[]" } else { "" },
                inherited.cim_type,
                if inherited.is_array { "[]" } else { "" },
            ),
        ));
    }
    Ok(())
}

/// Qualifiers a subclass element sees: the inherited ones that propagate
/// (ToSubclass, and always `Key`), marked propagated, with local ones
/// replacing them in place or appended. A local value that differs from a
/// DisableOverride one is an error.
fn merge_qualifiers(
    inherited: &[CimQualifier],
    local: &[CimQualifier],
    element: &CimName,
) -> CimResult<Vec<CimQualifier>> {
    let mut out: Vec<CimQualifier> = inherited
        .iter()
        .filter(|q| q.flavor.to_subclass || q.name.matches("Key"))
        .map(|q| CimQualifier {
            propagated: true,
            ..q.clone()
        })
        .collect();
    for q in local {
        match out.iter().position(|o| o.name == q.name) {
            Some(i) => {
                if !out[i].flavor.overridable && out[i].value != q.value {
                    return Err(CimError::invalid_parameter(format!(
                        "qualifier {} of {element} may not be overridden",
                        q.name
                    )));
                }
                out[i] = CimQualifier {
                    propagated: false,
                    ..q.clone()
                };
            }
            None => out.push(CimQualifier {
                propagated: false,
                ..q.clone()
            }),
        }
    }
    Ok(out)
}

fn inherit_property(p: &CimProperty) -> CimProperty {
    CimProperty {
        propagated: true,
        qualifiers: inherited_qualifiers(&p.qualifiers),
        ..p.clone()
    }
}

fn inherit_method(m: &CimMethod) -> CimMethod {
    CimMethod {
        propagated: true,
        qualifiers: inherited_qualifiers(&m.qualifiers),
        ..m.clone()
    }
}

fn inherited_qualifiers(qs: &[CimQualifier]) -> Vec<CimQualifier> {
    qs.iter()
        .filter(|q| q.flavor.to_subclass || q.name.matches("Key"))
        .map(|q| CimQualifier {
            propagated: true,
            ..q.clone()
        })
        .collect()
}

#[cfg(test)]
#[path = "repository_tests.rs"]
mod tests;
