//! Typing MOF literals against declared types, and qualifier lists
//! against their declarations (type, scope, flavor).

use std::collections::HashMap;

use super::ast::{Lit, Pos, QualAst};
use super::MofError;
use crate::name::CimName;
use crate::path::CimInstanceName;
use crate::qualifier::{CimQualifier, Flavor, QualifierDecl};
use crate::repository::Repository;
use crate::types::CimType;
use crate::value::CimValue;

/// Where a qualifier list stands, for the scope check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scope {
    Class {
        association: bool,
        indication: bool,
    },
    Property,
    Reference,
    Method,
    Parameter,
    /// Instances and instance property values: no scope to check.
    Instance,
}

impl Scope {
    fn describe(self) -> &'static str {
        match self {
            Scope::Class {
                association: true, ..
            } => "an association",
            Scope::Class {
                indication: true, ..
            } => "an indication",
            Scope::Class { .. } => "a class",
            Scope::Property => "a property",
            Scope::Reference => "a reference",
            Scope::Method => "a method",
            Scope::Parameter => "a parameter",
            Scope::Instance => "an instance",
        }
    }

    fn allowed_by(self, decl: &QualifierDecl) -> bool {
        let s = decl.scopes;
        match self {
            Scope::Class {
                association,
                indication,
            } => s.class || (association && s.association) || (indication && s.indication),
            Scope::Property => s.property,
            Scope::Reference => s.reference,
            Scope::Method => s.method,
            Scope::Parameter => s.parameter,
            Scope::Instance => true,
        }
    }
}

/// The context values are typed in: errors name this file, and aliases
/// resolve to the instances declared so far.
pub(crate) struct Typer<'a> {
    pub file: &'a str,
    pub aliases: &'a HashMap<String, CimInstanceName>,
}

fn describe(lit: &Lit) -> String {
    match lit {
        Lit::Int(n) => format!("integer {n}"),
        Lit::Real(r) => format!("real {r}"),
        Lit::Str(_) => "a string".into(),
        Lit::Char(_) => "a char16".into(),
        Lit::Bool(b) => format!("boolean {b}"),
        Lit::Null => "NULL".into(),
        Lit::Alias(a) => format!("alias ${a}"),
        Lit::Array(_) => "an array".into(),
    }
}

impl Typer<'_> {
    pub fn err(&self, pos: Pos, msg: impl Into<String>) -> MofError {
        MofError::new(self.file, pos.line, pos.col, msg)
    }

    /// Types `lit` as a value of `t` (an array of `t` when `is_array`);
    /// NULL gives `None`. `what` names the element in messages.
    pub fn value(
        &self,
        lit: &Lit,
        pos: Pos,
        t: CimType,
        is_array: bool,
        what: &str,
    ) -> Result<Option<CimValue>, MofError> {
        match lit {
            Lit::Null => Ok(None),
            Lit::Array(items) => {
                if !is_array {
                    return Err(self.err(pos, format!("{what} is not an array but the value is")));
                }
                items
                    .iter()
                    .map(|(l, p)| {
                        if *l == Lit::Null {
                            return Err(self.err(*p, "NULL is not allowed inside an array"));
                        }
                        self.scalar(l, *p, t, what)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(|v| Some(CimValue::Array(v)))
            }
            _ if is_array => Err(self.err(
                pos,
                format!("{what} is an array; write the value as `{{...}}`"),
            )),
            _ => self.scalar(lit, pos, t, what).map(Some),
        }
    }

    fn scalar(&self, lit: &Lit, pos: Pos, t: CimType, what: &str) -> Result<CimValue, MofError> {
        let mismatch = || {
            self.err(
                pos,
                format!("expected a {t} value for {what}, found {}", describe(lit)),
            )
        };
        Ok(match (lit, t) {
            (Lit::Int(n), t) if t.is_integer() => {
                let v = if let Ok(v) = i64::try_from(*n) {
                    CimValue::Sint64(v)
                } else if let Ok(v) = u64::try_from(*n) {
                    CimValue::Uint64(v)
                } else {
                    return Err(self.err(pos, format!("{n} is out of range for {t}")));
                };
                v.coerce(t)
                    .map_err(|_| self.err(pos, format!("{n} is out of range for {t}")))?
            }
            (Lit::Int(n), CimType::Real32) => CimValue::Real32(*n as f32),
            (Lit::Int(n), CimType::Real64) => CimValue::Real64(*n as f64),
            (Lit::Real(r), CimType::Real32) => CimValue::Real32(*r as f32),
            (Lit::Real(r), CimType::Real64) => CimValue::Real64(*r),
            (Lit::Bool(b), CimType::Boolean) => CimValue::Boolean(*b),
            (Lit::Char(c), CimType::Char16) => CimValue::Char16(*c),
            // Embedded objects are written as strings in MOF 2.x.
            (Lit::Str(s), CimType::String | CimType::Instance) => CimValue::String(s.clone()),
            (Lit::Str(s), CimType::Char16 | CimType::DateTime) => {
                CimValue::parse_scalar(t, s).map_err(|e| self.err(pos, format!("{what}: {e}")))?
            }
            (Lit::Str(s), CimType::Reference) => CimValue::Reference(Box::new(
                CimInstanceName::parse(s).map_err(|e| self.err(pos, format!("{what}: {e}")))?,
            )),
            (Lit::Alias(a), CimType::Reference) => {
                let path = self
                    .aliases
                    .get(&a.to_ascii_lowercase())
                    .ok_or_else(|| self.err(pos, format!("alias ${a} is not defined")))?;
                CimValue::Reference(Box::new(path.clone()))
            }
            _ => return Err(mismatch()),
        })
    }

    /// Resolves a qualifier list against the declarations in `ns`.
    pub fn qualifiers(
        &self,
        repo: &Repository,
        ns: &str,
        quals: &[QualAst],
        scope: Scope,
    ) -> Result<Vec<CimQualifier>, MofError> {
        let mut out: Vec<CimQualifier> = Vec::with_capacity(quals.len());
        for q in quals {
            let decl = repo.get_qualifier_decl(ns, &q.name).map_err(|_| {
                self.err(
                    q.pos,
                    format!(
                        "qualifier `{}` is not declared in namespace {ns}; declare it with \
                         `Qualifier {} : ...;` before using it",
                        q.name, q.name
                    ),
                )
            })?;
            if !scope.allowed_by(decl) {
                return Err(self.err(
                    q.pos,
                    format!(
                        "qualifier `{}` may not be used on {}",
                        q.name,
                        scope.describe()
                    ),
                ));
            }
            if out.iter().any(|o| o.name.matches(&q.name)) {
                return Err(self.err(q.pos, format!("qualifier `{}` is given twice", q.name)));
            }
            let what = format!("qualifier `{}`", decl.name);
            let value = match &q.value {
                None if decl.cim_type == CimType::Boolean && !decl.is_array => {
                    Some(CimValue::Boolean(true))
                }
                None => decl.default.clone(),
                // A single value for an array qualifier is taken as a
                // one-element array, as other MOF compilers do.
                Some((lit, pos)) if decl.is_array && !matches!(lit, Lit::Array(_) | Lit::Null) => {
                    self.value(
                        &Lit::Array(vec![(lit.clone(), *pos)]),
                        *pos,
                        decl.cim_type,
                        true,
                        &what,
                    )?
                }
                Some((lit, pos)) => self.value(lit, *pos, decl.cim_type, decl.is_array, &what)?,
            };
            let mut flavor = decl.flavor;
            for (f, pos) in &q.flavors {
                apply_flavor(&mut flavor, f).map_err(|m| self.err(*pos, m))?;
            }
            out.push(CimQualifier {
                name: decl.name.clone(),
                value,
                cim_type: decl.cim_type,
                flavor,
                propagated: false,
            });
        }
        Ok(out)
    }
}

/// Applies one flavor keyword.
pub(crate) fn apply_flavor(flavor: &mut Flavor, name: &str) -> Result<(), String> {
    match name.to_ascii_lowercase().as_str() {
        "enableoverride" => flavor.overridable = true,
        "disableoverride" => flavor.overridable = false,
        "tosubclass" => flavor.to_subclass = true,
        "restricted" => flavor.to_subclass = false,
        "translatable" => flavor.translatable = true,
        "toinstance" => flavor.to_instance = true,
        _ => return Err(format!("unknown flavor `{name}`")),
    }
    Ok(())
}

/// The class an `EmbeddedInstance("X")` qualifier names. The type stays
/// `string` (as DSP0004 declares it and pywbem reports it); CIM-XML encoders
/// look at this and at the qualifiers to mark the value as embedded.
pub(crate) fn embedded_class(quals: &[CimQualifier]) -> Option<CimName> {
    crate::qualifier::find(quals, "EmbeddedInstance")
        .and_then(|q| q.value.as_ref())
        .and_then(|v| v.as_str())
        .map(CimName::from)
}
