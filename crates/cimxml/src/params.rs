//! Typed access to intrinsic parameters for the dispatcher. Names match
//! without regard to case; an absent parameter and an `IPARAMVALUE` with
//! no value both read as "not given". A value of the wrong form is a
//! `NotValid` [`DecodeError`]; DSP0200 wants it reported as
//! `CIM_ERR_INVALID_PARAMETER` ([`DecodeError::into_invalid_parameter`]).

use vine_cim::{CimClass, CimInstance, CimInstanceName, CimName, CimType, CimValue, QualifierDecl};

use crate::error::{DecodeError, Result};
use crate::message::{ObjectName, ParamValue};

/// The parameter `name` as it arrived (including `ParamValue::Null`).
pub fn param<'a>(params: &'a [(CimName, ParamValue)], name: &str) -> Option<&'a ParamValue> {
    params.iter().find(|(n, _)| n.matches(name)).map(|(_, v)| v)
}

/// The parameter `name` unless absent or NULL.
fn given<'a>(params: &'a [(CimName, ParamValue)], name: &str) -> Option<&'a ParamValue> {
    param(params, name).filter(|v| !matches!(v, ParamValue::Null))
}

fn wrong(name: &str, expected: &str, got: &ParamValue) -> DecodeError {
    DecodeError::invalid(
        format!("parameter {name} must be {expected}, got {got:?}"),
        0,
    )
}

/// A scalar value of type `t`: typed values pass, strings are parsed.
fn typed(name: &str, v: &ParamValue, t: CimType) -> Result<CimValue> {
    match v {
        ParamValue::Value(v @ CimValue::Array(_)) => {
            Err(wrong(name, t.as_str(), &ParamValue::Value(v.clone())))
        }
        ParamValue::Value(v) => v
            .clone()
            .coerce(t)
            .map_err(|e| DecodeError::invalid(format!("parameter {name}: {e}"), 0)),
        other => Err(wrong(name, t.as_str(), other)),
    }
}

/// A boolean parameter (`TRUE`/`FALSE` in any case), `default` when not given.
pub fn param_bool(params: &[(CimName, ParamValue)], name: &str, default: bool) -> Result<bool> {
    match given(params, name) {
        None => Ok(default),
        Some(v) => Ok(typed(name, v, CimType::Boolean)?
            .as_bool()
            .unwrap_or(default)),
    }
}

/// A uint32 parameter (`MaxObjectCount`, `OperationTimeout`).
pub fn param_u32(params: &[(CimName, ParamValue)], name: &str) -> Result<Option<u32>> {
    given(params, name)
        .map(|v| match typed(name, v, CimType::Uint32)? {
            CimValue::Uint32(n) => Ok(n),
            other => Err(wrong(name, "a uint32", &ParamValue::Value(other))),
        })
        .transpose()
}

/// A uint64 parameter.
pub fn param_u64(params: &[(CimName, ParamValue)], name: &str) -> Result<Option<u64>> {
    given(params, name)
        .map(|v| match typed(name, v, CimType::Uint64)? {
            CimValue::Uint64(n) => Ok(n),
            other => Err(wrong(name, "a uint64", &ParamValue::Value(other))),
        })
        .transpose()
}

/// A string parameter (`Role`, `QueryLanguage`, `EnumerationContext`…).
pub fn param_string(params: &[(CimName, ParamValue)], name: &str) -> Result<Option<String>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::Value(CimValue::String(s))) => Ok(Some(s.clone())),
        Some(other) => Err(wrong(name, "a string", other)),
    }
}

/// A class name (`CLASSNAME`; a plain string value is accepted too).
pub fn param_class_name(params: &[(CimName, ParamValue)], name: &str) -> Result<Option<CimName>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::ClassName(c)) => Ok(Some(c.clone())),
        Some(ParamValue::ObjectName(ObjectName::Class(c))) => Ok(Some(c.class_name.clone())),
        Some(ParamValue::Value(CimValue::String(s))) => Ok(Some(CimName::new(s.trim()))),
        Some(other) => Err(wrong(name, "a class name", other)),
    }
}

/// An instance name (`INSTANCENAME`).
pub fn param_instance_name(
    params: &[(CimName, ParamValue)],
    name: &str,
) -> Result<Option<CimInstanceName>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::InstanceName(p))
        | Some(ParamValue::ObjectName(ObjectName::Instance(p))) => Ok(Some(p.clone())),
        Some(ParamValue::Value(CimValue::Reference(p))) => Ok(Some((**p).clone())),
        Some(other) => Err(wrong(name, "an instance name", other)),
    }
}

/// A class or instance name (`ObjectName` of the association operations).
pub fn param_object_name(
    params: &[(CimName, ParamValue)],
    name: &str,
) -> Result<Option<ObjectName>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::ObjectName(o)) => Ok(Some(o.clone())),
        Some(ParamValue::ClassName(c)) => Ok(Some(ObjectName::Class(vine_cim::CimClassName::new(
            c.clone(),
        )))),
        Some(ParamValue::InstanceName(p)) => Ok(Some(ObjectName::Instance(p.clone()))),
        Some(other) => Err(wrong(name, "a class or instance name", other)),
    }
}

/// A `PropertyList`: `None` when not given (all properties), `Some(vec![])`
/// for an empty list (no properties).
pub fn param_property_list(
    params: &[(CimName, ParamValue)],
    name: &str,
) -> Result<Option<Vec<String>>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::PropertyList(v)) => Ok(Some(v.clone())),
        Some(ParamValue::Value(CimValue::Array(items))) => items
            .iter()
            .map(|i| match i {
                CimValue::String(s) => Ok(s.clone()),
                other => Err(wrong(
                    name,
                    "a list of names",
                    &ParamValue::Value(other.clone()),
                )),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(other) => Err(wrong(name, "a list of property names", other)),
    }
}

/// An instance (`INSTANCE` or `VALUE.NAMEDINSTANCE`; the latter has `path`).
pub fn param_instance<'a>(
    params: &'a [(CimName, ParamValue)],
    name: &str,
) -> Result<Option<&'a CimInstance>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::Instance(i)) | Some(ParamValue::NamedInstance(i)) => Ok(Some(i)),
        Some(other) => Err(wrong(name, "an instance", other)),
    }
}

/// A class (`CLASS`).
pub fn param_class<'a>(
    params: &'a [(CimName, ParamValue)],
    name: &str,
) -> Result<Option<&'a CimClass>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::Class(c)) => Ok(Some(c)),
        Some(other) => Err(wrong(name, "a class", other)),
    }
}

/// A qualifier declaration (`QUALIFIER.DECLARATION`).
pub fn param_qualifier_decl<'a>(
    params: &'a [(CimName, ParamValue)],
    name: &str,
) -> Result<Option<&'a QualifierDecl>> {
    match given(params, name) {
        None => Ok(None),
        Some(ParamValue::QualifierDecl(d)) => Ok(Some(d)),
        Some(other) => Err(wrong(name, "a qualifier declaration", other)),
    }
}

/// A value parameter as sent (`NewValue` of SetProperty): untyped text
/// arrives as `CimValue::String`; coerce with the property's type.
pub fn param_value<'a>(params: &'a [(CimName, ParamValue)], name: &str) -> Option<&'a CimValue> {
    match given(params, name) {
        Some(ParamValue::Value(v)) => Some(v),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, v: ParamValue) -> (CimName, ParamValue) {
        (CimName::new(name), v)
    }

    #[test]
    fn booleans_integers_and_lists() {
        let params = vec![
            p("LocalOnly", ParamValue::Value(CimValue::from("false"))),
            p("DeepInheritance", ParamValue::Value(CimValue::from("True"))),
            p("MaxObjectCount", ParamValue::Value(CimValue::from(" 100"))),
            p("PropertyList", ParamValue::PropertyList(vec![])),
            p("Role", ParamValue::Null),
            p("Bad", ParamValue::Value(CimValue::from("maybe"))),
        ];
        assert!(!param_bool(&params, "localonly", true).unwrap());
        assert!(param_bool(&params, "DeepInheritance", false).unwrap());
        assert!(param_bool(&params, "IncludeQualifiers", true).unwrap());
        assert!(param_bool(&params, "Bad", true).is_err());
        assert_eq!(param_u32(&params, "MaxObjectCount").unwrap(), Some(100));
        assert_eq!(param_u32(&params, "OperationTimeout").unwrap(), None);
        assert!(param_u32(&params, "Bad").is_err());
        assert_eq!(
            param_property_list(&params, "PropertyList").unwrap(),
            Some(vec![])
        );
        assert_eq!(param_property_list(&params, "Other").unwrap(), None);
        assert_eq!(param_string(&params, "Role").unwrap(), None);
        assert!(param_class_name(&params, "PropertyList").is_err());
    }
}
