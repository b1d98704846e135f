//! Class declarations.

use crate::name::CimName;
use crate::property::{CimMethod, CimProperty};
use crate::qualifier::{self, CimQualifier};

/// A class: its own and (once resolved by the repository) inherited
/// properties and methods.
#[derive(Clone, Debug, PartialEq)]
pub struct CimClass {
    pub name: CimName,
    pub superclass: Option<CimName>,
    pub qualifiers: Vec<CimQualifier>,
    pub properties: Vec<CimProperty>,
    pub methods: Vec<CimMethod>,
}

impl CimClass {
    /// An empty class.
    pub fn new(name: impl Into<CimName>) -> Self {
        CimClass {
            name: name.into(),
            superclass: None,
            qualifiers: Vec::new(),
            properties: Vec::new(),
            methods: Vec::new(),
        }
    }

    /// The property `name`.
    pub fn property(&self, name: &str) -> Option<&CimProperty> {
        self.properties.iter().find(|p| p.name.matches(name))
    }

    /// The method `name`.
    pub fn method(&self, name: &str) -> Option<&CimMethod> {
        self.methods.iter().find(|m| m.name.matches(name))
    }

    /// The key properties, in declaration order.
    pub fn keys(&self) -> impl Iterator<Item = &CimProperty> {
        self.properties.iter().filter(|p| p.is_key())
    }

    /// True for a class qualified `Association`.
    pub fn is_association(&self) -> bool {
        qualifier::is_set(&self.qualifiers, "Association")
    }

    /// True for a class qualified `Indication`.
    pub fn is_indication(&self) -> bool {
        qualifier::is_set(&self.qualifiers, "Indication")
    }

    /// True for a class qualified `Abstract`.
    pub fn is_abstract(&self) -> bool {
        qualifier::is_set(&self.qualifiers, "Abstract")
    }
}
