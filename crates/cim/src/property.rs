//! Properties, methods and parameters of classes and instances.

use crate::name::CimName;
use crate::qualifier::{self, CimQualifier};
use crate::types::CimType;
use crate::value::CimValue;

/// A property: its declaration and, in an instance or as a default, its value.
#[derive(Clone, Debug, PartialEq)]
pub struct CimProperty {
    pub name: CimName,
    pub cim_type: CimType,
    pub is_array: bool,
    pub array_size: Option<u32>,
    /// For references: the class the reference points to.
    pub reference_class: Option<CimName>,
    /// For embedded objects: the class named by `EmbeddedInstance`, if any.
    pub embedded_class: Option<CimName>,
    /// `None` is NULL.
    pub value: Option<CimValue>,
    /// The class that declared the property.
    pub class_origin: Option<CimName>,
    /// True when inherited unchanged from a superclass.
    pub propagated: bool,
    pub qualifiers: Vec<CimQualifier>,
}

impl CimProperty {
    /// A property holding `value`, typed by it.
    pub fn new(name: impl Into<CimName>, value: impl Into<CimValue>) -> Self {
        let value = value.into();
        let is_array = value.is_array();
        let cim_type = value.cim_type().unwrap_or(CimType::String);
        let reference_class = match &value {
            CimValue::Reference(r) => Some(r.class_name.clone()),
            _ => None,
        };
        CimProperty {
            name: name.into(),
            cim_type,
            is_array,
            array_size: None,
            reference_class,
            embedded_class: None,
            value: Some(value),
            class_origin: None,
            propagated: false,
            qualifiers: Vec::new(),
        }
    }

    /// A NULL property of the given type.
    pub fn null(name: impl Into<CimName>, cim_type: CimType, is_array: bool) -> Self {
        CimProperty {
            name: name.into(),
            cim_type,
            is_array,
            array_size: None,
            reference_class: None,
            embedded_class: None,
            value: None,
            class_origin: None,
            propagated: false,
            qualifiers: Vec::new(),
        }
    }

    /// True when the property carries the `Key` qualifier.
    pub fn is_key(&self) -> bool {
        qualifier::is_set(&self.qualifiers, "Key")
    }
}

/// A method parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct CimParameter {
    pub name: CimName,
    pub cim_type: CimType,
    pub is_array: bool,
    pub array_size: Option<u32>,
    pub reference_class: Option<CimName>,
    pub embedded_class: Option<CimName>,
    pub qualifiers: Vec<CimQualifier>,
}

impl CimParameter {
    /// True unless the parameter is declared `In(false)`.
    pub fn is_in(&self) -> bool {
        qualifier::find(&self.qualifiers, "In")
            .map(|q| !matches!(q.value, Some(CimValue::Boolean(false))))
            .unwrap_or(true)
    }

    /// True when declared `Out`.
    pub fn is_out(&self) -> bool {
        qualifier::is_set(&self.qualifiers, "Out")
    }
}

/// A method declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct CimMethod {
    pub name: CimName,
    pub return_type: CimType,
    pub parameters: Vec<CimParameter>,
    pub class_origin: Option<CimName>,
    pub propagated: bool,
    pub qualifiers: Vec<CimQualifier>,
}

impl CimMethod {
    /// The parameter `name`.
    pub fn parameter(&self, name: &str) -> Option<&CimParameter> {
        self.parameters.iter().find(|p| p.name.matches(name))
    }
}

/// A parameter value passed to or returned from a method
/// (`PARAMVALUE` in CIM-XML).
#[derive(Clone, Debug, PartialEq)]
pub struct CimParamValue {
    pub name: CimName,
    /// The declared type when known (CIM-XML's PARAMTYPE).
    pub cim_type: Option<CimType>,
    pub value: Option<CimValue>,
}

impl CimParamValue {
    /// A named value.
    pub fn new(name: impl Into<CimName>, value: impl Into<CimValue>) -> Self {
        let value = value.into();
        CimParamValue {
            name: name.into(),
            cim_type: value.cim_type(),
            value: Some(value),
        }
    }
}
