//! Turns parsed productions into repository content: follows pragmas,
//! checks declaration order (qualifiers and superclasses before use),
//! types every value, and builds classes and instances.

use std::collections::HashMap;

use super::ast::*;
use super::lexer::tokenize;
use super::parser::Parser;
use super::typing::{apply_flavor, embedded_class, Scope, Typer};
use super::{CompileSummary, MofError, MofSource};
use crate::class::CimClass;
use crate::instance::CimInstance;
use crate::name::CimName;
use crate::path::CimInstanceName;
use crate::property::{CimMethod, CimParameter, CimProperty};
use crate::qualifier::{self, CimQualifier, Flavor, QualifierDecl, Scopes};
use crate::repository::Repository;
use crate::types::CimType;

/// How deep `#pragma include` may nest; deeper is surely a mistake and
/// would otherwise recurse without bound.
const MAX_INCLUDE_DEPTH: usize = 32;

pub(crate) struct Compiler<'a> {
    repo: &'a mut Repository,
    ns: String,
    source: Option<&'a dyn MofSource>,
    /// Resolved names of the files being compiled, outermost first.
    stack: Vec<String>,
    /// Folded alias name → path of the instance declared with it.
    aliases: HashMap<String, CimInstanceName>,
    summary: CompileSummary,
}

impl<'a> Compiler<'a> {
    pub fn new(repo: &'a mut Repository, ns: &str, source: Option<&'a dyn MofSource>) -> Self {
        repo.create_namespace(ns);
        Compiler {
            repo,
            ns: ns.to_string(),
            source,
            stack: Vec::new(),
            aliases: HashMap::new(),
            summary: CompileSummary::default(),
        }
    }

    /// Compiles the top-level file `name` from the source.
    pub fn run_file(mut self, name: &str) -> Result<CompileSummary, MofError> {
        self.include(name, "", "", Pos { line: 0, col: 0 })?;
        Ok(self.summary)
    }

    /// Compiles `text` named `file`.
    pub fn run_text(mut self, file: &str, text: &str) -> Result<CompileSummary, MofError> {
        self.stack.push(file.to_string());
        self.text(file, text)?;
        Ok(self.summary)
    }

    fn include(
        &mut self,
        name: &str,
        from: &str,
        from_file: &str,
        pos: Pos,
    ) -> Result<(), MofError> {
        let at = |msg: String| MofError::new(from_file, pos.line, pos.col, msg);
        let Some(source) = self.source else {
            return Err(at(format!(
                "cannot include `{name}`: this compile reads no files"
            )));
        };
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            return Err(at(format!(
                "includes nest deeper than {MAX_INCLUDE_DEPTH} files"
            )));
        }
        let (resolved, text) = source
            .read(name, from)
            .map_err(|e| at(format!("cannot read `{name}`: {e}")))?;
        if self.stack.contains(&resolved) {
            let mut chain = self.stack.clone();
            chain.push(resolved);
            return Err(at(format!("include cycle: {}", chain.join(" -> "))));
        }
        self.stack.push(resolved.clone());
        self.text(&resolved, &text)?;
        self.stack.pop();
        Ok(())
    }

    fn text(&mut self, file: &str, text: &str) -> Result<(), MofError> {
        let toks = tokenize(file, text)?;
        let mut parser = Parser::new(file, toks);
        while let Some(p) = parser.next_production()? {
            match p {
                Production::Pragma { name, value, pos } => self.pragma(file, &name, &value, pos)?,
                Production::QualifierDecl(d) => self.qualifier_decl(file, d)?,
                Production::Class(c) => self.class(file, c)?,
                Production::Instance(i) => self.instance(file, i)?,
            }
        }
        Ok(())
    }

    fn pragma(&mut self, file: &str, name: &str, value: &str, pos: Pos) -> Result<(), MofError> {
        match name.to_ascii_lowercase().as_str() {
            "include" => self.include(value, file, file, pos),
            "namespace" => {
                let ns = value.trim_matches('/');
                if ns.is_empty() {
                    return Err(MofError::new(file, pos.line, pos.col, "empty namespace"));
                }
                self.repo.create_namespace(ns);
                self.ns = ns.to_string();
                Ok(())
            }
            // vine keeps one language; locale only matters to translators.
            "locale" => Ok(()),
            other => {
                self.summary.warnings.push(format!(
                    "{file}:{}:{}: unknown pragma `{other}` ignored",
                    pos.line, pos.col
                ));
                Ok(())
            }
        }
    }

    fn typer<'t>(&'t self, file: &'t str) -> Typer<'t> {
        Typer {
            file,
            aliases: &self.aliases,
        }
    }

    fn qualifier_decl(&mut self, file: &str, d: QualDeclAst) -> Result<(), MofError> {
        let ty = self.typer(file);
        let cim_type =
            d.ty.0
                .parse::<CimType>()
                .ok()
                .filter(|t| *t != CimType::Reference)
                .ok_or_else(|| ty.err(d.ty.1, format!("`{}` is not a qualifier type", d.ty.0)))?;
        let is_array = d.array.is_some();
        let what = format!("qualifier `{}`", d.name);
        let default = match &d.default {
            Some((lit, pos)) => ty.value(lit, *pos, cim_type, is_array, &what)?,
            None => None,
        };
        let mut scopes = Scopes::default();
        for (s, pos) in &d.scopes {
            match s.to_ascii_lowercase().as_str() {
                "any" => scopes = Scopes::any(),
                "class" => scopes.class = true,
                "association" => scopes.association = true,
                "indication" => scopes.indication = true,
                "property" => scopes.property = true,
                "reference" => scopes.reference = true,
                "method" => scopes.method = true,
                "parameter" => scopes.parameter = true,
                _ => return Err(ty.err(*pos, format!("unknown scope `{s}`"))),
            }
        }
        let mut flavor = Flavor::default();
        for (f, pos) in &d.flavors {
            apply_flavor(&mut flavor, f).map_err(|m| ty.err(*pos, m))?;
        }
        let decl = QualifierDecl {
            name: CimName::new(d.name),
            cim_type,
            is_array,
            array_size: d.array.flatten(),
            default,
            scopes,
            flavor,
        };
        self.repo
            .add_qualifier_decl(&self.ns, decl)
            .map_err(|e| MofError::new(file, d.pos.line, d.pos.col, e.description))?;
        self.summary.qualifier_decls += 1;
        Ok(())
    }

    fn class(&mut self, file: &str, c: ClassAst) -> Result<(), MofError> {
        let ty = self.typer(file);
        let ns = self.ns.as_str();
        let repo: &Repository = self.repo;
        if repo.get_class(ns, &c.name).is_ok() {
            return Err(ty.err(c.pos, format!("class `{}` is already declared", c.name)));
        }
        let parent = match &c.superclass {
            Some((sup, pos)) => Some(repo.get_class(ns, sup).map_err(|_| {
                ty.err(
                    *pos,
                    format!(
                        "superclass `{sup}` of `{}` is not declared; it must come before \
                         its subclasses",
                        c.name
                    ),
                )
            })?),
            None => None,
        };
        let flag = |kw: &str| {
            c.keyword.eq_ignore_ascii_case(kw)
                || c.quals.iter().any(|q| {
                    q.name.eq_ignore_ascii_case(kw)
                        && !matches!(q.value, Some((Lit::Bool(false), _)))
                })
        };
        let association = flag("association") || parent.is_some_and(|p| p.is_association());
        let indication = flag("indication") || parent.is_some_and(|p| p.is_indication());
        let scope = Scope::Class {
            association,
            indication,
        };
        let mut class = CimClass::new(c.name.as_str());
        class.superclass = c.superclass.as_ref().map(|(s, _)| CimName::new(s.as_str()));
        class.qualifiers = ty.qualifiers(repo, ns, &c.quals, scope)?;
        // `association X {}` (MOF 3.0) means `[Association] class X {}`.
        for kw in ["Association", "Indication"] {
            if c.keyword.eq_ignore_ascii_case(kw)
                && qualifier::find(&class.qualifiers, kw).is_none()
            {
                let flavor = repo
                    .get_qualifier_decl(ns, kw)
                    .map(|d| d.flavor)
                    .unwrap_or_default();
                class.qualifiers.push(CimQualifier {
                    flavor,
                    ..CimQualifier::new(kw, true)
                });
            }
        }
        for p in &c.props {
            if class.property(&p.name).is_some() {
                return Err(ty.err(
                    p.pos,
                    format!("property `{}` is declared twice in `{}`", p.name, c.name),
                ));
            }
            let prop = self.property(&ty, p, true)?;
            class.properties.push(prop);
        }
        for m in &c.methods {
            if class.method(&m.name).is_some() {
                return Err(ty.err(
                    m.pos,
                    format!("method `{}` is declared twice in `{}`", m.name, c.name),
                ));
            }
            let return_type = match &m.ty {
                TypeAst::Named(t, pos) => self.intrinsic(&ty, t, *pos)?,
                TypeAst::Ref(_, pos) => {
                    return Err(ty.err(*pos, "a method cannot return a reference"))
                }
            };
            let mut params: Vec<CimParameter> = Vec::new();
            for p in &m.params {
                if params.iter().any(|q| q.name.matches(&p.name)) {
                    return Err(ty.err(p.pos, format!("parameter `{}` is given twice", p.name)));
                }
                let prop = self.property(&ty, p, false)?;
                params.push(CimParameter {
                    name: prop.name,
                    cim_type: prop.cim_type,
                    is_array: prop.is_array,
                    array_size: prop.array_size,
                    reference_class: prop.reference_class,
                    embedded_class: prop.embedded_class,
                    qualifiers: prop.qualifiers,
                });
            }
            class.methods.push(CimMethod {
                name: CimName::new(m.name.as_str()),
                return_type,
                parameters: params,
                class_origin: None,
                propagated: false,
                qualifiers: ty.qualifiers(repo, ns, &m.quals, Scope::Method)?,
            });
        }
        let pos = c.pos;
        self.repo
            .add_class(&self.ns, class)
            .map_err(|e| MofError::new(file, pos.line, pos.col, e.description))?;
        self.summary.classes += 1;
        Ok(())
    }

    fn intrinsic(&self, ty: &Typer, name: &str, pos: Pos) -> Result<CimType, MofError> {
        match name.parse::<CimType>() {
            Ok(CimType::Reference) | Err(_) => Err(ty.err(
                pos,
                format!("unknown type `{name}` (a reference is written `ClassName REF name`)"),
            )),
            Ok(t) => Ok(t),
        }
    }

    /// A property (`is_property`) or parameter declaration.
    fn property(
        &self,
        ty: &Typer,
        p: &PropAst,
        is_property: bool,
    ) -> Result<CimProperty, MofError> {
        let ns = self.ns.as_str();
        let (t, reference_class, scope) = match &p.ty {
            TypeAst::Named(name, pos) => (
                self.intrinsic(ty, name, *pos)?,
                None,
                if is_property {
                    Scope::Property
                } else {
                    Scope::Parameter
                },
            ),
            TypeAst::Ref(class, pos) => {
                let target = self.repo.get_class(ns, class).map_err(|_| {
                    ty.err(
                        *pos,
                        format!(
                            "class `{class}` named by reference `{}` is not declared",
                            p.name
                        ),
                    )
                })?;
                (
                    CimType::Reference,
                    Some(target.name.clone()),
                    if is_property {
                        Scope::Reference
                    } else {
                        Scope::Parameter
                    },
                )
            }
        };
        let qualifiers = ty.qualifiers(self.repo, ns, &p.quals, scope)?;
        let cim_type = t;
        let embedded_class = embedded_class(&qualifiers);
        let is_array = p.array.is_some();
        let what = format!("`{}`", p.name);
        let value = match &p.default {
            Some((lit, pos)) => ty.value(lit, *pos, cim_type, is_array, &what)?,
            None => None,
        };
        Ok(CimProperty {
            name: CimName::new(p.name.as_str()),
            cim_type,
            is_array,
            array_size: p.array.flatten(),
            reference_class,
            embedded_class,
            value,
            class_origin: None,
            propagated: false,
            qualifiers,
        })
    }

    fn instance(&mut self, file: &str, i: InstanceAst) -> Result<(), MofError> {
        let ty = self.typer(file);
        let ns = self.ns.as_str();
        let repo: &Repository = self.repo;
        let class = repo
            .get_class(ns, &i.class)
            .map_err(|_| ty.err(i.pos, format!("class `{}` is not declared", i.class)))?;
        if class.is_abstract() {
            return Err(ty.err(
                i.pos,
                format!(
                    "class `{}` is abstract and cannot have instances",
                    class.name
                ),
            ));
        }
        if let Some(a) = &i.alias {
            if self.aliases.contains_key(&a.to_ascii_lowercase()) {
                return Err(ty.err(i.pos, format!("alias ${a} is already defined")));
            }
        }
        let mut given: Vec<CimProperty> = Vec::new();
        for pv in &i.props {
            let decl = class.property(&pv.name).ok_or_else(|| {
                ty.err(
                    pv.pos,
                    format!("class `{}` has no property `{}`", class.name, pv.name),
                )
            })?;
            if given.iter().any(|g| g.name == decl.name) {
                return Err(ty.err(pv.pos, format!("property `{}` is given twice", pv.name)));
            }
            let (lit, pos) = &pv.value;
            let what = format!("`{}`", decl.name);
            given.push(CimProperty {
                value: ty.value(lit, *pos, decl.cim_type, decl.is_array, &what)?,
                qualifiers: ty.qualifiers(repo, ns, &pv.quals, Scope::Instance)?,
                class_origin: None,
                propagated: false,
                ..decl.clone()
            });
        }
        // Every property of the class, in class order: the value given, or
        // the class default (DSP0004: unset properties take the default).
        let mut inst = CimInstance::new(class.name.clone());
        inst.qualifiers = ty.qualifiers(repo, ns, &i.quals, Scope::Instance)?;
        for decl in &class.properties {
            let prop = match given.iter().position(|g| g.name == decl.name) {
                Some(k) => given.swap_remove(k),
                None => CimProperty {
                    qualifiers: Vec::new(),
                    class_origin: None,
                    propagated: false,
                    ..decl.clone()
                },
            };
            if decl.is_key() && prop.value.is_none() {
                return Err(ty.err(
                    i.pos,
                    format!(
                        "key property `{}` of `{}` has no value",
                        decl.name, class.name
                    ),
                ));
            }
            inst.properties.push(prop);
        }
        let pos = i.pos;
        self.repo
            .add_instance(&self.ns, inst)
            .map_err(|e| MofError::new(file, pos.line, pos.col, e.description))?;
        if let Some(a) = i.alias {
            let path = self
                .repo
                .instances(&self.ns)
                .last()
                .and_then(|inst| inst.path.clone())
                .unwrap_or_else(|| CimInstanceName::new(i.class.as_str()));
            self.aliases.insert(a.to_ascii_lowercase(), path);
        }
        self.summary.instances += 1;
        Ok(())
    }
}

#[cfg(test)]
#[path = "compile_tests.rs"]
mod tests;
