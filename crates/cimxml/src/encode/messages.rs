//! Encoding of DSP0200 messages: requests (client side), responses (server
//! side) and export messages.

use vine_cim::{CimError, CimName, CimParamValue, CimType, CimValue};

use super::objects;
use super::values;
use super::writer::Writer;
use crate::message::{
    ExportIndication, IntrinsicResponse, MethodResponse, MethodTarget, ObjectName, ParamValue,
    Request, RequestMessage, ReturnValue,
};

/// The CIM and DTD versions vine speaks (DSP0201 asks for "2.0" here
/// whatever the minor version of the DTD actually used).
const CIM_VERSION: &str = "2.0";
const DTD_VERSION: &str = "2.0";
/// The protocol version vine writes into responses and requests.
pub const PROTOCOL_VERSION: &str = "1.0";

/// Writes the document up to the body element, calls `body`, and closes.
fn envelope(id: &str, protocol: &str, simple: &str, body: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut w = Writer::document();
    w.open(
        "CIM",
        &[
            ("CIMVERSION", Some(CIM_VERSION)),
            ("DTDVERSION", Some(DTD_VERSION)),
        ],
    );
    w.open(
        "MESSAGE",
        &[("ID", Some(id)), ("PROTOCOLVERSION", Some(protocol))],
    );
    w.open(simple, &[]);
    body(&mut w);
    w.close(simple);
    w.close("MESSAGE");
    w.close("CIM");
    w.into_string().into_bytes()
}

/// `ERROR`, with one `CIM_Error` instance carrying the code and message.
fn error(w: &mut Writer, e: &CimError) {
    let code = e.status.code().to_string();
    w.open(
        "ERROR",
        &[("CODE", Some(&code)), ("DESCRIPTION", Some(&e.description))],
    );
    let detail = vine_cim::CimInstance::new("CIM_Error")
        .with("CIMStatusCode", e.status.code())
        .with("Message", e.description.as_str());
    objects::instance(w, &detail);
    w.close("ERROR");
}

/// The `PARAMTYPE` and `EmbeddedObject` attributes of a parameter value.
fn param_type(
    cim_type: Option<CimType>,
    value: Option<&CimValue>,
) -> (Option<&'static str>, Option<&'static str>) {
    let t = cim_type.or_else(|| value.and_then(CimValue::cim_type));
    if t == Some(CimType::Instance) || objects::holds_instances(value) {
        return (Some("string"), Some("instance"));
    }
    (t.map(CimType::as_str), None)
}

/// `PARAMVALUE` (extrinsic parameters and intrinsic output parameters).
fn param_value(w: &mut Writer, p: &CimParamValue) {
    let (ty, embedded) = param_type(p.cim_type, p.value.as_ref());
    let attrs = [
        ("NAME", Some(p.name.as_str())),
        ("PARAMTYPE", ty),
        ("EmbeddedObject", embedded),
    ];
    match &p.value {
        Some(v) => {
            w.open("PARAMVALUE", &attrs);
            values::value(w, v);
            w.close("PARAMVALUE");
        }
        None => w.empty("PARAMVALUE", &attrs),
    }
}

/// Encodes a request (client side).
pub fn encode_request(msg: &RequestMessage) -> Vec<u8> {
    envelope(
        &msg.id,
        &msg.protocol_version,
        "SIMPLEREQ",
        |w| match &msg.request {
            Request::Intrinsic {
                namespace,
                method,
                params,
            } => {
                w.open("IMETHODCALL", &[("NAME", Some(method.as_str()))]);
                values::local_namespace_path(w, namespace);
                for (name, v) in params {
                    iparam_value(w, name, v);
                }
                w.close("IMETHODCALL");
            }
            Request::Extrinsic {
                target,
                method,
                params,
            } => {
                w.open("METHODCALL", &[("NAME", Some(method.as_str()))]);
                match target {
                    MethodTarget::Instance(p) => values::local_instance_path(w, p),
                    MethodTarget::Class(c) => values::local_class_path(w, c),
                }
                params.iter().for_each(|p| param_value(w, p));
                w.close("METHODCALL");
            }
        },
    )
}

fn iparam_value(w: &mut Writer, name: &CimName, v: &ParamValue) {
    let attrs = [("NAME", Some(name.as_str()))];
    if matches!(v, ParamValue::Null) {
        w.empty("IPARAMVALUE", &attrs);
        return;
    }
    w.open("IPARAMVALUE", &attrs);
    match v {
        ParamValue::Value(v) => values::value(w, v),
        ParamValue::ClassName(c) => values::class_name(w, c.as_str()),
        ParamValue::InstanceName(p) => values::instance_name(w, p),
        ParamValue::ObjectName(ObjectName::Class(c)) => {
            values::class_name(w, c.class_name.as_str())
        }
        ParamValue::ObjectName(ObjectName::Instance(p)) => values::instance_name(w, p),
        ParamValue::Instance(i) => objects::instance(w, i),
        ParamValue::NamedInstance(i) => objects::named_instance(w, i),
        ParamValue::Class(c) => objects::class(w, c),
        ParamValue::QualifierDecl(d) => objects::qualifier_decl(w, d),
        ParamValue::PropertyList(names) => {
            w.open("VALUE.ARRAY", &[]);
            names.iter().for_each(|n| w.text_element("VALUE", &[], n));
            w.close("VALUE.ARRAY");
        }
        ParamValue::Null => {}
    }
    w.close("IPARAMVALUE");
}

/// Writes the elements of a return value (inside `IRETURNVALUE`).
fn return_value(w: &mut Writer, ret: &ReturnValue) {
    match ret {
        ReturnValue::None | ReturnValue::Value(None) => {}
        ReturnValue::ClassNames(v) => v.iter().for_each(|c| values::class_name(w, c.as_str())),
        ReturnValue::Classes(v) => v.iter().for_each(|c| objects::class(w, c)),
        ReturnValue::InstanceNames(v) => v.iter().for_each(|p| values::instance_name(w, p)),
        ReturnValue::Instance(i) => objects::instance(w, i),
        ReturnValue::NamedInstances(v) => v.iter().for_each(|i| objects::named_instance(w, i)),
        ReturnValue::ObjectsWithPath(v) => v.iter().for_each(|o| objects::object_with_path(w, o)),
        ReturnValue::ObjectPaths(v) => v.iter().for_each(|o| {
            w.open("OBJECTPATH", &[]);
            match o {
                ObjectName::Instance(p) => values::instance_path(w, p),
                ObjectName::Class(c) => values::class_path(w, c),
            }
            w.close("OBJECTPATH");
        }),
        ReturnValue::InstancesWithPath(v) => {
            v.iter().for_each(|i| objects::instance_with_path(w, i))
        }
        ReturnValue::InstancePaths(v) => v.iter().for_each(|p| values::instance_path(w, p)),
        ReturnValue::Instances(v) => v.iter().for_each(|i| objects::instance(w, i)),
        ReturnValue::Value(Some(v)) => values::value(w, v),
        ReturnValue::InstanceName(p) => values::instance_name(w, p),
        ReturnValue::QualifierDecls(v) => v.iter().for_each(|d| objects::qualifier_decl(w, d)),
        ReturnValue::QualifierDecl(d) => objects::qualifier_decl(w, d),
    }
}

/// Encodes the response to an intrinsic operation (server side). Output
/// parameters follow `IRETURNVALUE` as `PARAMVALUE`s, as DSP0200 1.4 has it.
pub fn encode_intrinsic_response(
    id: &str,
    method: &str,
    r: &Result<IntrinsicResponse, CimError>,
) -> Vec<u8> {
    envelope(id, PROTOCOL_VERSION, "SIMPLERSP", |w| {
        w.open("IMETHODRESPONSE", &[("NAME", Some(method))]);
        match r {
            Err(e) => error(w, e),
            Ok(resp) => {
                if !matches!(resp.ret, ReturnValue::None) {
                    w.open("IRETURNVALUE", &[]);
                    return_value(w, &resp.ret);
                    w.close("IRETURNVALUE");
                }
                for (name, v) in &resp.out_params {
                    param_value(w, &CimParamValue::new(name.clone(), v.clone()));
                }
            }
        }
        w.close("IMETHODRESPONSE");
    })
}

/// Encodes the response to an extrinsic method call (server side).
pub fn encode_method_response(
    id: &str,
    method: &str,
    r: &Result<MethodResponse, CimError>,
) -> Vec<u8> {
    envelope(id, PROTOCOL_VERSION, "SIMPLERSP", |w| {
        w.open("METHODRESPONSE", &[("NAME", Some(method))]);
        match r {
            Err(e) => error(w, e),
            Ok(resp) => {
                if let Some(v) = &resp.return_value {
                    let (ty, embedded) = param_type(None, Some(v));
                    w.open(
                        "RETURNVALUE",
                        &[("PARAMTYPE", ty), ("EmbeddedObject", embedded)],
                    );
                    values::value(w, v);
                    w.close("RETURNVALUE");
                }
                resp.out_params.iter().for_each(|p| param_value(w, p));
            }
        }
        w.close("METHODRESPONSE");
    })
}

/// Encodes an `ExportIndication` request (indication sender side).
pub fn encode_export_indication(msg: &ExportIndication) -> Vec<u8> {
    envelope(&msg.id, &msg.protocol_version, "SIMPLEEXPREQ", |w| {
        w.open("EXPMETHODCALL", &[("NAME", Some("ExportIndication"))]);
        w.open("EXPPARAMVALUE", &[("NAME", Some("NewIndication"))]);
        objects::instance(w, &msg.indication);
        w.close("EXPPARAMVALUE");
        w.close("EXPMETHODCALL");
    })
}

/// Encodes the response to an export request (listener side).
pub fn encode_export_response(id: &str, r: &Result<(), CimError>) -> Vec<u8> {
    envelope(id, PROTOCOL_VERSION, "SIMPLEEXPRSP", |w| {
        w.open("EXPMETHODRESPONSE", &[("NAME", Some("ExportIndication"))]);
        match r {
            Err(e) => error(w, e),
            Ok(()) => w.empty("IRETURNVALUE", &[]),
        }
        w.close("EXPMETHODRESPONSE");
    })
}
