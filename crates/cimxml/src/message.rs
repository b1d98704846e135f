//! The DSP0200 messages in Rust shape: requests a server decodes and a
//! client encodes, and the responses going the other way.

use std::fmt;

use vine_cim::{
    CimClass, CimClassName, CimError, CimInstance, CimInstanceName, CimName, CimParamValue,
    CimValue, QualifierDecl,
};

macro_rules! intrinsic_methods {
    ($($v:ident),* $(,)?) => {
        /// An intrinsic operation (DSP0200 §5.3), named as on the wire.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum IntrinsicMethod {
            $($v,)*
            /// A name DSP0200 does not define; the dispatcher answers
            /// `CIM_ERR_NOT_SUPPORTED`.
            Other(String),
        }

        impl IntrinsicMethod {
            /// Every defined operation.
            pub const ALL: &'static [IntrinsicMethod] = &[$(IntrinsicMethod::$v,)*];

            /// The operation name (`EnumerateInstances`).
            pub fn as_str(&self) -> &str {
                match self {
                    $(IntrinsicMethod::$v => stringify!($v),)*
                    IntrinsicMethod::Other(s) => s,
                }
            }

            /// The operation called `name`; clients differ in case, so the
            /// match ignores it.
            pub fn from_name(name: &str) -> IntrinsicMethod {
                $(if name.eq_ignore_ascii_case(stringify!($v)) {
                    return IntrinsicMethod::$v;
                })*
                IntrinsicMethod::Other(name.to_string())
            }
        }
    };
}

intrinsic_methods!(
    GetClass,
    EnumerateClasses,
    EnumerateClassNames,
    CreateClass,
    ModifyClass,
    DeleteClass,
    GetInstance,
    EnumerateInstances,
    EnumerateInstanceNames,
    CreateInstance,
    ModifyInstance,
    DeleteInstance,
    GetProperty,
    SetProperty,
    Associators,
    AssociatorNames,
    References,
    ReferenceNames,
    ExecQuery,
    GetQualifier,
    SetQualifier,
    DeleteQualifier,
    EnumerateQualifiers,
    OpenEnumerateInstances,
    OpenEnumerateInstancePaths,
    OpenReferenceInstances,
    OpenReferenceInstancePaths,
    OpenAssociatorInstances,
    OpenAssociatorInstancePaths,
    OpenQueryInstances,
    PullInstancesWithPath,
    PullInstancePaths,
    PullInstances,
    CloseEnumeration,
    EnumerationCount,
);

impl fmt::Display for IntrinsicMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A class path or an instance path, where DSP0200 accepts either
/// (`ObjectName` of Associators and friends, `OBJECTPATH`).
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectName {
    Class(CimClassName),
    Instance(CimInstanceName),
}

/// The value of one `IPARAMVALUE`, by the element that carried it.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamValue {
    /// `VALUE`, `VALUE.ARRAY` or `VALUE.REFERENCE`. Intrinsic parameters are
    /// untyped on the wire, so scalars arrive as `CimValue::String` and the
    /// typed helpers in [`crate::params`] convert them.
    Value(CimValue),
    /// `CLASSNAME`.
    ClassName(CimName),
    /// `INSTANCENAME`.
    InstanceName(CimInstanceName),
    /// `ObjectName`: a `CLASSNAME` or an `INSTANCENAME`.
    ObjectName(ObjectName),
    /// `INSTANCE`.
    Instance(CimInstance),
    /// `VALUE.NAMEDINSTANCE`: the instance with its path set.
    NamedInstance(CimInstance),
    /// `CLASS`.
    Class(CimClass),
    /// `QUALIFIER.DECLARATION`.
    QualifierDecl(QualifierDecl),
    /// `PropertyList`: a `VALUE.ARRAY` of property names.
    PropertyList(Vec<String>),
    /// An `IPARAMVALUE` with no child: the parameter is NULL.
    Null,
}

/// What an extrinsic method is invoked on.
#[derive(Clone, Debug, PartialEq)]
pub enum MethodTarget {
    /// `LOCALINSTANCEPATH`: the path includes the namespace.
    Instance(CimInstanceName),
    /// `LOCALCLASSPATH`: the path includes the namespace.
    Class(CimClassName),
}

impl MethodTarget {
    /// The namespace of the target.
    pub fn namespace(&self) -> Option<&str> {
        match self {
            MethodTarget::Instance(p) => p.namespace.as_deref(),
            MethodTarget::Class(p) => p.namespace.as_deref(),
        }
    }

    /// The class of the target.
    pub fn class_name(&self) -> &CimName {
        match self {
            MethodTarget::Instance(p) => &p.class_name,
            MethodTarget::Class(p) => &p.class_name,
        }
    }
}

/// One operation request (`IMETHODCALL` or `METHODCALL`).
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    Intrinsic {
        namespace: String,
        method: IntrinsicMethod,
        params: Vec<(CimName, ParamValue)>,
    },
    Extrinsic {
        target: MethodTarget,
        method: CimName,
        params: Vec<CimParamValue>,
    },
}

impl Request {
    /// The operation or method name, as the `CIMMethod` header carries it.
    pub fn method_name(&self) -> &str {
        match self {
            Request::Intrinsic { method, .. } => method.as_str(),
            Request::Extrinsic { method, .. } => method.as_str(),
        }
    }
}

/// A `MESSAGE` holding one `SIMPLEREQ`.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestMessage {
    pub id: String,
    pub protocol_version: String,
    pub request: Request,
}

/// An element of `VALUE.OBJECTWITHPATH`: an instance with its full path
/// (in `CimInstance::path`) or a class with its class path.
#[derive(Clone, Debug, PartialEq)]
pub enum ObjectWithPath {
    Instance(CimInstance),
    Class(CimClassName, CimClass),
}

/// The contents of `IRETURNVALUE`, by element form (DSP0200 per operation).
///
/// Elements that need a full path (`VALUE.OBJECTWITHPATH`,
/// `VALUE.INSTANCEWITHPATH`, `INSTANCEPATH`, `OBJECTPATH`) take it from the
/// instance's `path`: the dispatcher sets its namespace; a missing host is
/// written as `localhost`.
#[derive(Clone, Debug, PartialEq)]
pub enum ReturnValue {
    /// No `IRETURNVALUE` (DeleteInstance, ModifyInstance, CloseEnumeration…).
    None,
    /// `CLASSNAME*` (EnumerateClassNames).
    ClassNames(Vec<CimName>),
    /// `CLASS*` (GetClass, EnumerateClasses).
    Classes(Vec<CimClass>),
    /// `INSTANCENAME*` (EnumerateInstanceNames).
    InstanceNames(Vec<CimInstanceName>),
    /// `INSTANCE` (GetInstance).
    Instance(CimInstance),
    /// `VALUE.NAMEDINSTANCE*` (EnumerateInstances); paths in `path`.
    NamedInstances(Vec<CimInstance>),
    /// `VALUE.OBJECTWITHPATH*` (Associators, References, ExecQuery).
    ObjectsWithPath(Vec<ObjectWithPath>),
    /// `OBJECTPATH*` (AssociatorNames, ReferenceNames).
    ObjectPaths(Vec<ObjectName>),
    /// `VALUE.INSTANCEWITHPATH*` (Open…Instances, PullInstancesWithPath).
    InstancesWithPath(Vec<CimInstance>),
    /// `INSTANCEPATH*` (Open…InstancePaths, PullInstancePaths).
    InstancePaths(Vec<CimInstanceName>),
    /// `INSTANCE*` (OpenQueryInstances, PullInstances).
    Instances(Vec<CimInstance>),
    /// `VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE` or nothing (GetProperty).
    /// The wire form is untyped: a decoded scalar is a `CimValue::String`.
    Value(Option<CimValue>),
    /// `INSTANCENAME` (CreateInstance).
    InstanceName(CimInstanceName),
    /// `QUALIFIER.DECLARATION*` (EnumerateQualifiers).
    QualifierDecls(Vec<QualifierDecl>),
    /// `QUALIFIER.DECLARATION` (GetQualifier).
    QualifierDecl(QualifierDecl),
}

/// A successful intrinsic response: the return value and the output
/// parameters DSP0200 1.4 puts after it as `PARAMVALUE`s (pull operations:
/// `EnumerationContext` string, `EndOfSequence` boolean; EnumerationCount:
/// `Count` uint64).
#[derive(Clone, Debug, PartialEq)]
pub struct IntrinsicResponse {
    pub ret: ReturnValue,
    pub out_params: Vec<(CimName, CimValue)>,
}

impl IntrinsicResponse {
    /// A response with a return value and no output parameters.
    pub fn new(ret: ReturnValue) -> Self {
        IntrinsicResponse {
            ret,
            out_params: Vec::new(),
        }
    }

    /// The output parameter `name`.
    pub fn out_param(&self, name: &str) -> Option<&CimValue> {
        self.out_params
            .iter()
            .find(|(n, _)| n.matches(name))
            .map(|(_, v)| v)
    }
}

/// A successful extrinsic method response.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodResponse {
    pub return_value: Option<CimValue>,
    pub out_params: Vec<CimParamValue>,
}

/// A decoded response body.
#[derive(Clone, Debug, PartialEq)]
pub enum ResponseBody {
    Intrinsic(std::result::Result<IntrinsicResponse, CimError>),
    Extrinsic(std::result::Result<MethodResponse, CimError>),
}

/// An `ExportIndication` export request (indication delivery to a listener).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportIndication {
    pub id: String,
    pub protocol_version: String,
    /// The `NewIndication` parameter.
    pub indication: CimInstance,
}
