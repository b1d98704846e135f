//! Typed access to an intrinsic call's parameters, with the DSP0200 rule
//! that an unknown or ill-typed parameter is `CIM_ERR_INVALID_PARAMETER`.

use vine_cim::{CimError, CimInstance, CimInstanceName, CimName, CimResult, CimValue};
use vine_cimxml::{ObjectName, ParamValue};

/// The parameters of one intrinsic call.
pub struct Params<'a> {
    op: &'a str,
    params: &'a [(CimName, ParamValue)],
}

fn bad(op: &str, name: &str, what: &str) -> CimError {
    CimError::invalid_parameter(format!("{op}: parameter {name} {what}"))
}

impl<'a> Params<'a> {
    /// Wraps the parameters of `op`, refusing any name not in `allowed`.
    pub fn new(
        op: &'a str,
        params: &'a [(CimName, ParamValue)],
        allowed: &[&str],
    ) -> CimResult<Self> {
        for (n, _) in params {
            if !allowed.iter().any(|a| n.matches(a)) {
                return Err(bad(op, n.as_str(), "is not a parameter of this operation"));
            }
        }
        Ok(Params { op, params })
    }

    fn get(&self, name: &str) -> Option<&'a ParamValue> {
        self.params
            .iter()
            .find(|(n, _)| n.matches(name))
            .map(|(_, v)| v)
    }

    fn scalar_text(&self, name: &str) -> CimResult<Option<String>> {
        match self.get(name) {
            None | Some(ParamValue::Null) => Ok(None),
            Some(ParamValue::Value(CimValue::Array(_))) => {
                Err(bad(self.op, name, "must not be an array"))
            }
            Some(ParamValue::Value(v)) => Ok(Some(v.to_string())),
            Some(_) => Err(bad(self.op, name, "must be a plain value")),
        }
    }

    /// A boolean with its DSP0200 default.
    pub fn bool(&self, name: &str, default: bool) -> CimResult<bool> {
        match self.scalar_text(name)? {
            None => Ok(default),
            Some(t) if t.eq_ignore_ascii_case("true") => Ok(true),
            Some(t) if t.eq_ignore_ascii_case("false") => Ok(false),
            Some(t) => Err(bad(
                self.op,
                name,
                &format!("must be TRUE or FALSE, not `{t}`"),
            )),
        }
    }

    /// An optional uint32.
    pub fn u32(&self, name: &str) -> CimResult<Option<u32>> {
        match self.scalar_text(name)? {
            None => Ok(None),
            Some(t) => t
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| bad(self.op, name, &format!("must be a uint32, not `{t}`"))),
        }
    }

    /// An optional string.
    pub fn string(&self, name: &str) -> CimResult<Option<String>> {
        self.scalar_text(name)
    }

    /// A required string.
    pub fn required_string(&self, name: &str) -> CimResult<String> {
        self.string(name)?
            .ok_or_else(|| bad(self.op, name, "is required"))
    }

    /// An optional class name (given as CLASSNAME or as a string value).
    pub fn class_name(&self, name: &str) -> CimResult<Option<CimName>> {
        match self.get(name) {
            None | Some(ParamValue::Null) => Ok(None),
            Some(ParamValue::ClassName(c)) => Ok(Some(c.clone())),
            Some(ParamValue::ObjectName(ObjectName::Class(c))) => Ok(Some(c.class_name.clone())),
            Some(ParamValue::Value(CimValue::String(s))) => Ok(Some(CimName::new(s.as_str()))),
            Some(_) => Err(bad(self.op, name, "must be a class name")),
        }
    }

    /// A required class name.
    pub fn required_class_name(&self, name: &str) -> CimResult<CimName> {
        self.class_name(name)?
            .ok_or_else(|| bad(self.op, name, "is required"))
    }

    /// A required instance name.
    pub fn instance_name(&self, name: &str) -> CimResult<CimInstanceName> {
        match self.get(name) {
            Some(ParamValue::InstanceName(p))
            | Some(ParamValue::ObjectName(ObjectName::Instance(p))) => Ok(p.clone()),
            Some(ParamValue::Value(CimValue::Reference(p))) => Ok((**p).clone()),
            None | Some(ParamValue::Null) => Err(bad(self.op, name, "is required")),
            Some(_) => Err(bad(self.op, name, "must be an instance name")),
        }
    }

    /// A required ObjectName: a class or an instance path.
    pub fn object_name(&self, name: &str) -> CimResult<ObjectName> {
        match self.get(name) {
            Some(ParamValue::ObjectName(o)) => Ok(o.clone()),
            Some(ParamValue::InstanceName(p)) => Ok(ObjectName::Instance(p.clone())),
            Some(ParamValue::ClassName(c)) => {
                Ok(ObjectName::Class(vine_cim::CimClassName::new(c.clone())))
            }
            None | Some(ParamValue::Null) => Err(bad(self.op, name, "is required")),
            Some(_) => Err(bad(self.op, name, "must be a class or instance name")),
        }
    }

    /// A required instance (INSTANCE or VALUE.NAMEDINSTANCE).
    pub fn instance(&self, name: &str) -> CimResult<CimInstance> {
        match self.get(name) {
            Some(ParamValue::Instance(i)) | Some(ParamValue::NamedInstance(i)) => Ok(i.clone()),
            None | Some(ParamValue::Null) => Err(bad(self.op, name, "is required")),
            Some(_) => Err(bad(self.op, name, "must be an instance")),
        }
    }

    /// A PropertyList: `None` when absent or NULL, the names otherwise
    /// (an empty list asks for no properties).
    pub fn property_list(&self, name: &str) -> CimResult<Option<Vec<String>>> {
        match self.get(name) {
            None | Some(ParamValue::Null) => Ok(None),
            Some(ParamValue::PropertyList(v)) => Ok(Some(v.clone())),
            Some(ParamValue::Value(CimValue::Array(items))) => items
                .iter()
                .map(|v| match v {
                    CimValue::String(s) => Ok(s.clone()),
                    _ => Err(bad(self.op, name, "must list property names")),
                })
                .collect::<CimResult<Vec<_>>>()
                .map(Some),
            Some(ParamValue::Value(CimValue::String(s))) => Ok(Some(vec![s.clone()])),
            Some(_) => Err(bad(self.op, name, "must be an array of property names")),
        }
    }

    /// The raw value of a parameter (SetProperty's NewValue).
    pub fn value(&self, name: &str) -> Option<CimValue> {
        match self.get(name) {
            Some(ParamValue::Value(v)) => Some(v.clone()),
            Some(ParamValue::InstanceName(p)) => Some(CimValue::Reference(Box::new(p.clone()))),
            Some(ParamValue::Instance(i)) => Some(CimValue::Instance(Box::new(i.clone()))),
            _ => None,
        }
    }
}
