//! Instances.

use crate::class::CimClass;
use crate::name::CimName;
use crate::path::CimInstanceName;
use crate::property::CimProperty;
use crate::qualifier::CimQualifier;
use crate::value::CimValue;

/// An instance: a class name, property values and, when it has been
/// addressed, its path.
#[derive(Clone, Debug, PartialEq)]
pub struct CimInstance {
    pub class_name: CimName,
    pub properties: Vec<CimProperty>,
    pub qualifiers: Vec<CimQualifier>,
    pub path: Option<CimInstanceName>,
}

impl CimInstance {
    /// An instance of `class_name` with no properties.
    pub fn new(class_name: impl Into<CimName>) -> Self {
        CimInstance {
            class_name: class_name.into(),
            properties: Vec::new(),
            qualifiers: Vec::new(),
            path: None,
        }
    }

    /// Sets a property (builder style).
    pub fn with(mut self, name: impl Into<CimName>, value: impl Into<CimValue>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets or replaces the value of a property, typed by the value.
    pub fn set(&mut self, name: impl Into<CimName>, value: impl Into<CimValue>) {
        let prop = CimProperty::new(name, value);
        self.set_property(prop);
    }

    /// Sets or replaces a whole property (use for typed NULLs).
    pub fn set_property(&mut self, prop: CimProperty) {
        match self.properties.iter_mut().find(|p| p.name == prop.name) {
            Some(slot) => *slot = prop,
            None => self.properties.push(prop),
        }
    }

    /// The property `name`.
    pub fn property(&self, name: &str) -> Option<&CimProperty> {
        self.properties.iter().find(|p| p.name.matches(name))
    }

    /// The value of property `name`; `None` when absent or NULL.
    pub fn get(&self, name: &str) -> Option<&CimValue> {
        self.property(name).and_then(|p| p.value.as_ref())
    }

    /// The string value of property `name`.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(CimValue::as_str)
    }

    /// Removes property `name`, returning it.
    pub fn remove(&mut self, name: &str) -> Option<CimProperty> {
        let i = self.properties.iter().position(|p| p.name.matches(name))?;
        Some(self.properties.remove(i))
    }

    /// Builds the instance path from the key properties of `class`
    /// (case of the class's spelling, values from this instance).
    pub fn build_path(&self, class: &CimClass) -> CimInstanceName {
        let mut path = CimInstanceName::new(self.class_name.clone());
        for key in class.keys() {
            if let Some(v) = self.get(key.name.as_str()) {
                path.set_key(key.name.clone(), v.clone());
            }
        }
        path
    }

    /// Keeps only the properties in `list` (a PropertyList: `None` keeps
    /// all; an empty list keeps none).
    pub fn filter_properties(&mut self, list: Option<&[String]>) {
        if let Some(list) = list {
            self.properties
                .retain(|p| list.iter().any(|n| p.name.matches(n)));
        }
    }
}
