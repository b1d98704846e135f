//! The parameters of one intrinsic call: the DSP0200 rule that an unknown
//! parameter is `CIM_ERR_INVALID_PARAMETER`, and required parameters, on
//! top of the typed readers in [`vine_cimxml::params`].

use vine_cim::{CimError, CimInstance, CimInstanceName, CimName, CimResult, CimValue};
use vine_cimxml::params as p;
use vine_cimxml::{DecodeError, ObjectName, ParamValue};

/// The parameters of one intrinsic call.
pub struct Params<'a> {
    op: &'a str,
    params: &'a [(CimName, ParamValue)],
}

fn invalid(e: DecodeError) -> CimError {
    e.into_invalid_parameter()
}

impl<'a> Params<'a> {
    /// Wraps the parameters of `op`, refusing any name not in `allowed`.
    pub fn new(
        op: &'a str,
        params: &'a [(CimName, ParamValue)],
        allowed: &[&str],
    ) -> CimResult<Self> {
        if let Some((n, _)) = params
            .iter()
            .find(|(n, _)| !allowed.iter().any(|a| n.matches(a)))
        {
            return Err(CimError::invalid_parameter(format!(
                "{op}: {n} is not a parameter of this operation"
            )));
        }
        Ok(Params { op, params })
    }

    fn required<T>(&self, name: &str, v: Option<T>) -> CimResult<T> {
        v.ok_or_else(|| {
            CimError::invalid_parameter(format!("{}: parameter {name} is required", self.op))
        })
    }

    /// A boolean with its DSP0200 default.
    pub fn bool(&self, name: &str, default: bool) -> CimResult<bool> {
        p::param_bool(self.params, name, default).map_err(invalid)
    }

    /// An optional uint32.
    pub fn u32(&self, name: &str) -> CimResult<Option<u32>> {
        p::param_u32(self.params, name).map_err(invalid)
    }

    /// An optional string.
    pub fn string(&self, name: &str) -> CimResult<Option<String>> {
        p::param_string(self.params, name).map_err(invalid)
    }

    /// A required string.
    pub fn required_string(&self, name: &str) -> CimResult<String> {
        self.required(name, self.string(name)?)
    }

    /// An optional class name.
    pub fn class_name(&self, name: &str) -> CimResult<Option<CimName>> {
        p::param_class_name(self.params, name).map_err(invalid)
    }

    /// A required class name.
    pub fn required_class_name(&self, name: &str) -> CimResult<CimName> {
        self.required(name, self.class_name(name)?)
    }

    /// A required instance name.
    pub fn instance_name(&self, name: &str) -> CimResult<CimInstanceName> {
        self.required(
            name,
            p::param_instance_name(self.params, name).map_err(invalid)?,
        )
    }

    /// A required ObjectName: a class or an instance path.
    pub fn object_name(&self, name: &str) -> CimResult<ObjectName> {
        self.required(
            name,
            p::param_object_name(self.params, name).map_err(invalid)?,
        )
    }

    /// A required instance (INSTANCE or VALUE.NAMEDINSTANCE).
    pub fn instance(&self, name: &str) -> CimResult<CimInstance> {
        self.required(
            name,
            p::param_instance(self.params, name)
                .map_err(invalid)?
                .cloned(),
        )
    }

    /// A PropertyList: `None` when absent or NULL, the names otherwise
    /// (an empty list asks for no properties).
    pub fn property_list(&self, name: &str) -> CimResult<Option<Vec<String>>> {
        p::param_property_list(self.params, name).map_err(invalid)
    }

    /// The raw value of a parameter (SetProperty's NewValue); NULL is `None`.
    pub fn value(&self, name: &str) -> Option<CimValue> {
        p::param_value(self.params, name).cloned()
    }
}
