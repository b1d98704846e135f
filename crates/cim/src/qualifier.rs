//! Qualifiers, their flavors and their declarations (DSP0004 §5.6).

use crate::name::CimName;
use crate::types::CimType;
use crate::value::CimValue;

/// How a qualifier propagates and whether it may be overridden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// Passed to subclasses and instances (ToSubclass; default true).
    pub to_subclass: bool,
    /// Subclasses may change the value (EnableOverride; default true).
    pub overridable: bool,
    /// Passed to instances (ToInstance, deprecated; default false).
    pub to_instance: bool,
    /// The value is language-dependent (Translatable; default false).
    pub translatable: bool,
}

impl Default for Flavor {
    fn default() -> Self {
        Flavor {
            to_subclass: true,
            overridable: true,
            to_instance: false,
            translatable: false,
        }
    }
}

/// A qualifier applied to an element.
#[derive(Clone, Debug, PartialEq)]
pub struct CimQualifier {
    pub name: CimName,
    pub value: Option<CimValue>,
    pub cim_type: CimType,
    pub flavor: Flavor,
    /// True when inherited from a superclass rather than set here.
    pub propagated: bool,
}

impl CimQualifier {
    /// A qualifier with a value and the default flavor.
    pub fn new(name: impl Into<CimName>, value: impl Into<CimValue>) -> Self {
        let value = value.into();
        CimQualifier {
            name: name.into(),
            cim_type: value.cim_type().unwrap_or(CimType::String),
            value: Some(value),
            flavor: Flavor::default(),
            propagated: false,
        }
    }
}

/// Where a qualifier may be used (DSP0004 SCOPE).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes {
    pub class: bool,
    pub association: bool,
    pub indication: bool,
    pub property: bool,
    pub reference: bool,
    pub method: bool,
    pub parameter: bool,
}

impl Scopes {
    /// Every scope (`SCOPE(ANY)`).
    pub fn any() -> Self {
        Scopes {
            class: true,
            association: true,
            indication: true,
            property: true,
            reference: true,
            method: true,
            parameter: true,
        }
    }
}

/// A qualifier type declaration (`Qualifier Key : boolean = false, ...`).
#[derive(Clone, Debug, PartialEq)]
pub struct QualifierDecl {
    pub name: CimName,
    pub cim_type: CimType,
    pub is_array: bool,
    pub array_size: Option<u32>,
    pub default: Option<CimValue>,
    pub scopes: Scopes,
    pub flavor: Flavor,
}

/// Finds a qualifier by name in a list.
pub fn find<'a>(qualifiers: &'a [CimQualifier], name: &str) -> Option<&'a CimQualifier> {
    qualifiers.iter().find(|q| q.name.matches(name))
}

/// True when a boolean qualifier is present and not explicitly false
/// (`Key` alone means `Key(true)`).
pub fn is_set(qualifiers: &[CimQualifier], name: &str) -> bool {
    find(qualifiers, name).is_some_and(|q| !matches!(q.value, Some(CimValue::Boolean(false))))
}
