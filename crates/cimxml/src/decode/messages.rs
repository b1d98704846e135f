//! Decoding of DSP0200 messages: the `CIM`/`MESSAGE` envelope, requests,
//! responses and export messages.

use vine_cim::{CimError, CimName, CimParamValue, CimStatus, CimType, CimValue};

use super::objects;
use super::reader::{Tag, XmlReader};
use super::values::{self, Typing};
use crate::error::{DecodeError, DecodeErrorKind, DecodeLimits, Result};
use crate::message::{
    ExportIndication, IntrinsicMethod, IntrinsicResponse, MethodResponse, MethodTarget, ParamValue,
    Request, RequestMessage, ResponseBody,
};

/// The opened envelope: the tags still to be closed and the message body.
struct Envelope {
    cim: Tag,
    message: Tag,
    id: String,
    protocol_version: String,
    body: Tag,
}

/// True when `version` reads `<major>.<digits>`.
fn has_major(version: &str, major: &str) -> bool {
    let mut parts = version.trim().splitn(2, '.');
    parts.next() == Some(major)
        && parts
            .next()
            .is_some_and(|m| !m.is_empty() && m.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads `CIM`, `MESSAGE` and the body element, which must be `simple`;
/// its `MULTI…` sibling is reported as unsupported.
fn open(r: &mut XmlReader, simple: &str) -> Result<Envelope> {
    let cim = r.root()?;
    if cim.name != "CIM" {
        return Err(DecodeError::invalid(
            format!("root element is <{}>, not <CIM>", cim.name),
            cim.pos,
        ));
    }
    let cim_version = cim.req_attr("CIMVERSION")?;
    if !has_major(cim_version, "2") {
        return Err(DecodeError::new(
            DecodeErrorKind::UnsupportedCimVersion,
            format!("CIMVERSION \"{cim_version}\" is not supported"),
            cim.pos,
        ));
    }
    let dtd_version = cim.req_attr("DTDVERSION")?;
    if !has_major(dtd_version, "2") {
        return Err(DecodeError::new(
            DecodeErrorKind::UnsupportedDtdVersion,
            format!("DTDVERSION \"{dtd_version}\" is not supported"),
            cim.pos,
        ));
    }
    let message = match r.next_child(&cim)? {
        Some(m) if m.name == "MESSAGE" => m,
        Some(other) => return Err(cim.unexpected(&other)),
        None => return Err(cim.invalid("no MESSAGE")),
    };
    let id = message.req_attr("ID")?.to_string();
    let protocol_version = message.req_attr("PROTOCOLVERSION")?.to_string();
    if !has_major(&protocol_version, "1") {
        return Err(DecodeError::new(
            DecodeErrorKind::UnsupportedProtocolVersion,
            format!("PROTOCOLVERSION \"{protocol_version}\" is not supported"),
            message.pos,
        ));
    }
    let body = match r.next_child(&message)? {
        Some(b) if b.name == simple => b,
        Some(b) if b.name.starts_with("MULTI") => {
            return Err(DecodeError::new(
                DecodeErrorKind::MultipleRequestsUnsupported,
                format!("<{}> is not supported", b.name),
                b.pos,
            ))
        }
        Some(b) => {
            return Err(DecodeError::invalid(
                format!("expected <{simple}>, found <{}>", b.name),
                b.pos,
            ))
        }
        None => return Err(message.invalid(format!("no {simple}"))),
    };
    Ok(Envelope {
        cim,
        message,
        id,
        protocol_version,
        body,
    })
}

/// Closes `MESSAGE` and `CIM` and checks nothing follows.
fn close(r: &mut XmlReader, env: &Envelope) -> Result<()> {
    r.expect_empty(&env.message)?;
    r.expect_empty(&env.cim)?;
    r.finish()
}

/// The first child of `parent` other than `CORRELATOR`s (DSP0201 2.4
/// allows correlators before the call; vine does not use them).
fn call_child(r: &mut XmlReader, parent: &Tag) -> Result<Tag> {
    loop {
        match r.next_child(parent)? {
            Some(c) if c.name == "CORRELATOR" => r.skip(&c)?,
            Some(c) => return Ok(c),
            None => return Err(parent.invalid("empty")),
        }
    }
}

/// Decodes a request document (server side).
pub fn decode_request(xml: &[u8], limits: &DecodeLimits) -> Result<RequestMessage> {
    let mut r = XmlReader::for_document(xml, limits)?;
    let env = open(&mut r, "SIMPLEREQ")?;
    let call = call_child(&mut r, &env.body)?;
    let request = match call.name.as_str() {
        "IMETHODCALL" => intrinsic_call(&mut r, &call)?,
        "METHODCALL" => extrinsic_call(&mut r, &call)?,
        _ => return Err(env.body.unexpected(&call)),
    };
    r.expect_empty(&env.body)?;
    close(&mut r, &env)?;
    Ok(RequestMessage {
        id: env.id,
        protocol_version: env.protocol_version,
        request,
    })
}

fn intrinsic_call(r: &mut XmlReader, call: &Tag) -> Result<Request> {
    let method = IntrinsicMethod::from_name(call.req_attr("NAME")?);
    let namespace = match r.next_child(call)? {
        Some(c) if c.name == "LOCALNAMESPACEPATH" => values::local_namespace_path(r, &c)?,
        Some(c) => return Err(call.unexpected(&c)),
        None => return Err(call.invalid("no LOCALNAMESPACEPATH")),
    };
    let mut params = Vec::new();
    while let Some(c) = r.next_child(call)? {
        if c.name != "IPARAMVALUE" {
            return Err(call.unexpected(&c));
        }
        let name = CimName::new(c.req_attr("NAME")?);
        let value = iparam_value(r, &c, &name)?;
        params.push((name, value));
    }
    Ok(Request::Intrinsic {
        namespace,
        method,
        params,
    })
}

fn iparam_value(r: &mut XmlReader, tag: &Tag, name: &CimName) -> Result<ParamValue> {
    let Some(c) = r.next_child(tag)? else {
        return Ok(ParamValue::Null);
    };
    let v = match c.name.as_str() {
        "VALUE" => ParamValue::Value(values::value(r, &c, Typing::Untyped)?),
        "VALUE.ARRAY" => {
            let arr = values::value_array(r, &c, Typing::Untyped)?;
            match arr {
                CimValue::Array(items) if name.matches("PropertyList") => ParamValue::PropertyList(
                    items
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect(),
                ),
                other => ParamValue::Value(other),
            }
        }
        "VALUE.REFERENCE" => ParamValue::Value(values::reference_value(r, &c)?),
        "CLASSNAME" | "INSTANCENAME" if name.matches("ObjectName") => {
            ParamValue::ObjectName(match values::any_path(r, &c)? {
                Some(p) => p,
                None => return Err(tag.unexpected(&c)),
            })
        }
        "CLASSNAME" => ParamValue::ClassName(values::class_name(r, &c)?),
        "INSTANCENAME" => ParamValue::InstanceName(values::instance_name(r, &c)?),
        "INSTANCE" => ParamValue::Instance(objects::instance(r, &c)?),
        "VALUE.NAMEDINSTANCE" => ParamValue::NamedInstance(objects::named_instance(r, &c)?),
        "CLASS" => ParamValue::Class(objects::class(r, &c)?),
        "QUALIFIER.DECLARATION" => ParamValue::QualifierDecl(objects::qualifier_decl(r, &c)?),
        _ => return Err(tag.unexpected(&c)),
    };
    r.expect_empty(tag)?;
    Ok(v)
}

fn extrinsic_call(r: &mut XmlReader, call: &Tag) -> Result<Request> {
    let method = CimName::new(call.req_attr("NAME")?);
    let target = match r.next_child(call)? {
        Some(c) if c.name == "LOCALINSTANCEPATH" => {
            MethodTarget::Instance(values::local_instance_path(r, &c)?)
        }
        Some(c) if c.name == "LOCALCLASSPATH" => {
            MethodTarget::Class(values::local_class_path(r, &c)?)
        }
        Some(c) => return Err(call.unexpected(&c)),
        None => return Err(call.invalid("no LOCALINSTANCEPATH or LOCALCLASSPATH")),
    };
    let mut params = Vec::new();
    while let Some(c) = r.next_child(call)? {
        if c.name != "PARAMVALUE" {
            return Err(call.unexpected(&c));
        }
        params.push(param_value(r, &c)?);
    }
    Ok(Request::Extrinsic {
        target,
        method,
        params,
    })
}

/// The value child of a `PARAMVALUE`/`RETURNVALUE`, read with `typing`.
fn typed_child(r: &mut XmlReader, parent: &Tag, typing: Typing) -> Result<Option<CimValue>> {
    let Some(c) = r.next_child(parent)? else {
        return Ok(None);
    };
    let v = match c.name.as_str() {
        "VALUE" => values::value(r, &c, typing)?,
        "VALUE.ARRAY" => values::value_array(r, &c, typing)?,
        "VALUE.REFERENCE" => values::reference_value(r, &c)?,
        "VALUE.REFARRAY" => values::reference_array(r, &c)?,
        "INSTANCENAME" => CimValue::Reference(Box::new(values::instance_name(r, &c)?)),
        "INSTANCE" => CimValue::Instance(Box::new(objects::instance(r, &c)?)),
        "VALUE.NAMEDINSTANCE" => CimValue::Instance(Box::new(objects::named_instance(r, &c)?)),
        _ => return Err(parent.unexpected(&c)),
    };
    r.expect_empty(parent)?;
    Ok(Some(v))
}

/// `PARAMVALUE`: typed by `PARAMTYPE`/`EmbeddedObject` when given.
fn param_value(r: &mut XmlReader, tag: &Tag) -> Result<CimParamValue> {
    let name = CimName::new(tag.req_attr("NAME")?);
    let typing = Typing::of(tag, "PARAMTYPE")?;
    let value = typed_child(r, tag, typing)?;
    let cim_type = typing.cim_type().or_else(|| match &value {
        Some(v @ (CimValue::Reference(_) | CimValue::Instance(_))) => v.cim_type(),
        Some(CimValue::Array(items)) => items.first().and_then(|v| match v {
            CimValue::Reference(_) => Some(CimType::Reference),
            _ => None,
        }),
        _ => None,
    });
    Ok(CimParamValue {
        name,
        cim_type,
        value,
    })
}

/// `ERROR CODE= DESCRIPTION=`; `INSTANCE` details are tolerated and skipped.
fn error(r: &mut XmlReader, tag: &Tag) -> Result<CimError> {
    let code = tag.req_attr("CODE")?;
    let code: u32 = code
        .trim()
        .parse()
        .map_err(|_| tag.invalid(format!("CODE=\"{code}\" is not a number")))?;
    let description = tag.attr("DESCRIPTION").unwrap_or_default().to_string();
    while let Some(c) = r.next_child(tag)? {
        r.skip(&c)?;
    }
    // Codes the model does not know (18, 19, 29) keep their number in the text.
    Ok(match CimStatus::from_code(code) {
        Some(status) => CimError::new(status, description),
        None => CimError::new(CimStatus::Failed, format!("status {code}: {description}")),
    })
}

/// Decodes a response document (client side): the message id and body.
pub fn decode_response(xml: &[u8], limits: &DecodeLimits) -> Result<(String, ResponseBody)> {
    let mut r = XmlReader::for_document(xml, limits)?;
    let env = open(&mut r, "SIMPLERSP")?;
    let resp = match r.next_child(&env.body)? {
        Some(c) => c,
        None => return Err(env.body.invalid("empty")),
    };
    let body = match resp.name.as_str() {
        "IMETHODRESPONSE" => ResponseBody::Intrinsic(intrinsic_response(&mut r, &resp)?),
        "METHODRESPONSE" => ResponseBody::Extrinsic(method_response(&mut r, &resp)?),
        _ => return Err(env.body.unexpected(&resp)),
    };
    r.expect_empty(&env.body)?;
    close(&mut r, &env)?;
    Ok((env.id, body))
}

type CimOutcome<T> = std::result::Result<T, CimError>;

fn intrinsic_response(r: &mut XmlReader, tag: &Tag) -> Result<CimOutcome<IntrinsicResponse>> {
    let method = IntrinsicMethod::from_name(tag.req_attr("NAME")?);
    let mut ret = None;
    let mut out_params = Vec::new();
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "ERROR" if ret.is_none() && out_params.is_empty() => {
                let e = error(r, &c)?;
                r.expect_empty(tag)?;
                return Ok(Err(e));
            }
            "IRETURNVALUE" if ret.is_none() => {
                ret = Some(super::returns::ireturn_value(r, &c, &method)?)
            }
            "PARAMVALUE" => {
                let p = param_value(r, &c)?;
                if let Some(v) = p.value {
                    out_params.push((p.name.clone(), coerce_out_param(&p.name, v)));
                }
            }
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(Ok(IntrinsicResponse {
        ret: ret.unwrap_or_else(|| super::returns::empty_return(&method)),
        out_params,
    }))
}

/// Pull output parameters have fixed types; servers that omit PARAMTYPE
/// still get them typed.
fn coerce_out_param(name: &CimName, v: CimValue) -> CimValue {
    let t = if name.matches("EndOfSequence") {
        CimType::Boolean
    } else if name.matches("Count") {
        CimType::Uint64
    } else {
        return v;
    };
    v.clone().coerce(t).unwrap_or(v)
}

fn method_response(r: &mut XmlReader, tag: &Tag) -> Result<CimOutcome<MethodResponse>> {
    tag.req_attr("NAME")?;
    let mut return_value = None;
    let mut out_params = Vec::new();
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "ERROR" if return_value.is_none() && out_params.is_empty() => {
                let e = error(r, &c)?;
                r.expect_empty(tag)?;
                return Ok(Err(e));
            }
            "RETURNVALUE" if return_value.is_none() => {
                let typing = Typing::of(&c, "PARAMTYPE")?;
                return_value = typed_child(r, &c, typing)?;
            }
            "PARAMVALUE" => out_params.push(param_value(r, &c)?),
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(Ok(MethodResponse {
        return_value,
        out_params,
    }))
}

/// Decodes an `ExportIndication` export request (listener side).
pub fn decode_export_indication(xml: &[u8], limits: &DecodeLimits) -> Result<ExportIndication> {
    let mut r = XmlReader::for_document(xml, limits)?;
    let env = open(&mut r, "SIMPLEEXPREQ")?;
    let call = call_child(&mut r, &env.body)?;
    if call.name != "EXPMETHODCALL" {
        return Err(env.body.unexpected(&call));
    }
    let name = call.req_attr("NAME")?;
    if !name.eq_ignore_ascii_case("ExportIndication") {
        return Err(call.invalid(format!("export method {name} is not supported")));
    }
    let mut indication = None;
    while let Some(p) = r.next_child(&call)? {
        if p.name != "EXPPARAMVALUE" {
            return Err(call.unexpected(&p));
        }
        if !p.req_attr("NAME")?.eq_ignore_ascii_case("NewIndication") {
            r.skip(&p)?;
            continue;
        }
        match r.next_child(&p)? {
            Some(c) if c.name == "INSTANCE" && indication.is_none() => {
                indication = Some(objects::instance(&mut r, &c)?)
            }
            Some(c) => return Err(p.unexpected(&c)),
            None => return Err(p.invalid("no INSTANCE")),
        }
        r.expect_empty(&p)?;
    }
    let indication = indication.ok_or_else(|| call.invalid("no NewIndication parameter"))?;
    r.expect_empty(&env.body)?;
    close(&mut r, &env)?;
    Ok(ExportIndication {
        id: env.id,
        protocol_version: env.protocol_version,
        indication,
    })
}

/// Decodes an export response (`EXPMETHODRESPONSE`): the id and outcome.
pub fn decode_export_response(
    xml: &[u8],
    limits: &DecodeLimits,
) -> Result<(String, CimOutcome<()>)> {
    let mut r = XmlReader::for_document(xml, limits)?;
    let env = open(&mut r, "SIMPLEEXPRSP")?;
    let resp = match r.next_child(&env.body)? {
        Some(c) if c.name == "EXPMETHODRESPONSE" => c,
        Some(c) => return Err(env.body.unexpected(&c)),
        None => return Err(env.body.invalid("empty")),
    };
    resp.req_attr("NAME")?;
    let mut outcome = Ok(());
    while let Some(c) = r.next_child(&resp)? {
        match c.name.as_str() {
            "ERROR" => outcome = Err(error(&mut r, &c)?),
            "IRETURNVALUE" => r.skip(&c)?,
            _ => return Err(resp.unexpected(&c)),
        }
    }
    r.expect_empty(&env.body)?;
    close(&mut r, &env)?;
    Ok((env.id, outcome))
}
