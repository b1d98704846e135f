//! Decoding of values, key bindings and object paths (DSP0201 §3.2.3–3.2.5).

use vine_cim::{CimClassName, CimInstanceName, CimName, CimType, CimValue};

use super::objects;
use super::reader::{Tag, XmlReader};
use crate::error::{DecodeError, Result};
use crate::message::ObjectName;

/// `CLASSNAME NAME=…`.
pub(crate) fn class_name(r: &mut XmlReader, tag: &Tag) -> Result<CimName> {
    let name = CimName::new(tag.req_attr("NAME")?);
    r.expect_empty(tag)?;
    Ok(name)
}

/// `LOCALNAMESPACEPATH`: `NAMESPACE NAME=` segments joined with `/`.
pub(crate) fn local_namespace_path(r: &mut XmlReader, tag: &Tag) -> Result<String> {
    let mut parts: Vec<String> = Vec::new();
    while let Some(child) = r.next_child(tag)? {
        if child.name != "NAMESPACE" {
            return Err(tag.unexpected(&child));
        }
        parts.push(child.req_attr("NAME")?.to_string());
        r.expect_empty(&child)?;
    }
    if parts.is_empty() {
        return Err(tag.invalid("no NAMESPACE"));
    }
    Ok(parts.join("/"))
}

/// `NAMESPACEPATH`: `HOST` then `LOCALNAMESPACEPATH`.
pub(crate) fn namespace_path(r: &mut XmlReader, tag: &Tag) -> Result<(String, String)> {
    let mut host = None;
    let mut ns = None;
    while let Some(child) = r.next_child(tag)? {
        match child.name.as_str() {
            "HOST" if host.is_none() => host = Some(r.text(&child)?),
            "LOCALNAMESPACEPATH" if ns.is_none() => ns = Some(local_namespace_path(r, &child)?),
            _ => return Err(tag.unexpected(&child)),
        }
    }
    match (host, ns) {
        (Some(h), Some(n)) => Ok((h.trim().to_string(), n)),
        _ => Err(tag.invalid("needs HOST and LOCALNAMESPACEPATH")),
    }
}

/// A `(namespace part, name part)` pair of a path element, read in order.
fn two_parts<T, U>(
    r: &mut XmlReader,
    tag: &Tag,
    first: &str,
    second: &str,
    mut read_first: impl FnMut(&mut XmlReader, &Tag) -> Result<T>,
    mut read_second: impl FnMut(&mut XmlReader, &Tag) -> Result<U>,
) -> Result<(T, U)> {
    let a = match r.next_child(tag)? {
        Some(c) if c.name == first => read_first(r, &c)?,
        Some(c) => return Err(tag.unexpected(&c)),
        None => return Err(tag.invalid(format!("missing {first}"))),
    };
    let b = match r.next_child(tag)? {
        Some(c) if c.name == second => read_second(r, &c)?,
        Some(c) => return Err(tag.unexpected(&c)),
        None => return Err(tag.invalid(format!("missing {second}"))),
    };
    r.expect_empty(tag)?;
    Ok((a, b))
}

/// `INSTANCEPATH`: a full path with host and namespace.
pub(crate) fn instance_path(r: &mut XmlReader, tag: &Tag) -> Result<CimInstanceName> {
    let ((host, ns), mut path) = two_parts(
        r,
        tag,
        "NAMESPACEPATH",
        "INSTANCENAME",
        namespace_path,
        instance_name,
    )?;
    path.host = Some(host);
    path.namespace = Some(ns);
    Ok(path)
}

/// `LOCALINSTANCEPATH`: a path with namespace, no host.
pub(crate) fn local_instance_path(r: &mut XmlReader, tag: &Tag) -> Result<CimInstanceName> {
    let (ns, mut path) = two_parts(
        r,
        tag,
        "LOCALNAMESPACEPATH",
        "INSTANCENAME",
        local_namespace_path,
        instance_name,
    )?;
    path.namespace = Some(ns);
    Ok(path)
}

/// `CLASSPATH`.
pub(crate) fn class_path(r: &mut XmlReader, tag: &Tag) -> Result<CimClassName> {
    let ((host, ns), name) = two_parts(
        r,
        tag,
        "NAMESPACEPATH",
        "CLASSNAME",
        namespace_path,
        class_name,
    )?;
    Ok(CimClassName {
        class_name: name,
        namespace: Some(ns),
        host: Some(host),
    })
}

/// `LOCALCLASSPATH`.
pub(crate) fn local_class_path(r: &mut XmlReader, tag: &Tag) -> Result<CimClassName> {
    let (ns, name) = two_parts(
        r,
        tag,
        "LOCALNAMESPACEPATH",
        "CLASSNAME",
        local_namespace_path,
        class_name,
    )?;
    Ok(CimClassName {
        class_name: name,
        namespace: Some(ns),
        host: None,
    })
}

/// Any of the six path elements, by name; `None` when `tag` is none of them.
pub(crate) fn any_path(r: &mut XmlReader, tag: &Tag) -> Result<Option<ObjectName>> {
    Ok(Some(match tag.name.as_str() {
        "INSTANCEPATH" => ObjectName::Instance(instance_path(r, tag)?),
        "LOCALINSTANCEPATH" => ObjectName::Instance(local_instance_path(r, tag)?),
        "INSTANCENAME" => ObjectName::Instance(instance_name(r, tag)?),
        "CLASSPATH" => ObjectName::Class(class_path(r, tag)?),
        "LOCALCLASSPATH" => ObjectName::Class(local_class_path(r, tag)?),
        "CLASSNAME" => ObjectName::Class(CimClassName::new(class_name(r, tag)?)),
        _ => return Ok(None),
    }))
}

/// `VALUE.REFERENCE` (or `OBJECTPATH`): exactly one path element.
pub(crate) fn reference(r: &mut XmlReader, tag: &Tag) -> Result<ObjectName> {
    let path = match r.next_child(tag)? {
        Some(c) => match any_path(r, &c)? {
            Some(p) => p,
            None => return Err(tag.unexpected(&c)),
        },
        None => return Err(tag.invalid("no path")),
    };
    r.expect_empty(tag)?;
    Ok(path)
}

/// A reference as a value. The model's references are instance paths; a
/// class path becomes a path with no keys.
pub(crate) fn reference_value(r: &mut XmlReader, tag: &Tag) -> Result<CimValue> {
    let path = match reference(r, tag)? {
        ObjectName::Instance(p) => p,
        ObjectName::Class(c) => CimInstanceName {
            class_name: c.class_name,
            key_bindings: Vec::new(),
            namespace: c.namespace,
            host: c.host,
        },
    };
    Ok(CimValue::Reference(Box::new(path)))
}

/// `VALUE.REFARRAY`: references and `VALUE.NULL`s. The model's arrays
/// hold no NULL elements, so those are dropped.
pub(crate) fn reference_array(r: &mut XmlReader, tag: &Tag) -> Result<CimValue> {
    let mut items = Vec::new();
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "VALUE.REFERENCE" => items.push(reference_value(r, &c)?),
            "VALUE.NULL" => r.expect_empty(&c)?,
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(CimValue::Array(items))
}

/// How the text of a `VALUE` is to be read.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Typing {
    /// No type known (intrinsic parameters, GetProperty results): a string.
    Untyped,
    /// A declared scalar type.
    Typed(CimType),
    /// `EmbeddedObject`: the text is a CIM-XML `INSTANCE` (or `CLASS`).
    Embedded,
}

impl Typing {
    /// The typing for a `TYPE`/`PARAMTYPE` attribute and an
    /// `EmbeddedObject` attribute of an element.
    pub fn of(tag: &Tag, type_attr: &str) -> Result<Typing> {
        if let Some(e) = tag.attr_nocase("EmbeddedObject") {
            if e.eq_ignore_ascii_case("instance") || e.eq_ignore_ascii_case("object") {
                return Ok(Typing::Embedded);
            }
            return Err(tag.invalid(format!(
                "EmbeddedObject=\"{e}\" is neither instance nor object"
            )));
        }
        match tag.attr(type_attr) {
            None => Ok(Typing::Untyped),
            Some(t) => t
                .parse::<CimType>()
                .map(Typing::Typed)
                .map_err(|e| tag.invalid(e.to_string())),
        }
    }

    /// The model type this typing gives a property or parameter.
    pub fn cim_type(self) -> Option<CimType> {
        match self {
            Typing::Untyped => None,
            Typing::Typed(t) => Some(t),
            Typing::Embedded => Some(CimType::Instance),
        }
    }
}

/// Converts the text of a `VALUE` according to `typing`.
pub(crate) fn scalar_from_text(
    r: &mut XmlReader,
    tag: &Tag,
    text: String,
    typing: Typing,
) -> Result<CimValue> {
    match typing {
        Typing::Untyped | Typing::Typed(CimType::String) => Ok(CimValue::String(text)),
        Typing::Typed(t @ (CimType::Reference | CimType::Instance)) => {
            Err(tag.invalid(format!("a {t} value cannot be text")))
        }
        Typing::Typed(t) => {
            CimValue::parse_scalar(t, &text).map_err(|e| tag.invalid(e.to_string()))
        }
        Typing::Embedded => embedded(r, tag, text),
    }
}

/// Decodes the CIM-XML carried in an embedded-object string, with the same
/// limits: the nesting and element counts continue from the outer document.
fn embedded(r: &mut XmlReader, tag: &Tag, text: String) -> Result<CimValue> {
    if text.trim().is_empty() {
        return Ok(CimValue::String(text));
    }
    let limits = r.limits;
    let mut inner = XmlReader::new(&text, limits, r.depth(), r.elements);
    let wrap = |e: DecodeError| {
        DecodeError::new(
            e.kind,
            format!("in the embedded object: {}", e.message),
            tag.pos,
        )
    };
    let root = inner.root().map_err(wrap)?;
    let value = match root.name.as_str() {
        "INSTANCE" => CimValue::Instance(Box::new(
            objects::instance(&mut inner, &root).map_err(wrap)?,
        )),
        // The model has no class values; an embedded class stays as its
        // CIM-XML text, which the encoder writes back unchanged.
        "CLASS" => {
            inner.skip(&root).map_err(wrap)?;
            CimValue::String(text.clone())
        }
        _ => return Err(tag.invalid(format!("embedded <{}> is not an object", root.name))),
    };
    inner.finish().map_err(wrap)?;
    r.elements = inner.elements;
    Ok(value)
}

/// `VALUE`, read with `typing`.
pub(crate) fn value(r: &mut XmlReader, tag: &Tag, typing: Typing) -> Result<CimValue> {
    let text = r.text(tag)?;
    scalar_from_text(r, tag, text, typing)
}

/// `VALUE.ARRAY`, read with `typing`. NULL elements are dropped: the model's
/// arrays cannot hold them.
pub(crate) fn value_array(r: &mut XmlReader, tag: &Tag, typing: Typing) -> Result<CimValue> {
    let mut items = Vec::new();
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "VALUE" => items.push(value(r, &c, typing)?),
            "VALUE.NULL" => r.expect_empty(&c)?,
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(CimValue::Array(items))
}

/// `KEYVALUE`: `TYPE` when given, else by `VALUETYPE` (numbers become
/// `Uint64`/`Sint64`/`Real64` as in the text form of paths).
fn key_value(r: &mut XmlReader, tag: &Tag) -> Result<CimValue> {
    let text = r.text(tag)?;
    if let Some(t) = tag.attr("TYPE") {
        let t: CimType = t
            .parse()
            .map_err(|e: vine_cim::types::UnknownType| tag.invalid(e.to_string()))?;
        return scalar_from_text(r, tag, text, Typing::Typed(t));
    }
    let vt = tag.attr("VALUETYPE").unwrap_or("string");
    let bad = |what: &str| tag.invalid(format!("`{text}` is not {what}"));
    match vt {
        "string" => Ok(CimValue::String(text)),
        "boolean" => CimValue::parse_scalar(CimType::Boolean, &text).map_err(|_| bad("a boolean")),
        "numeric" => {
            let t = text.trim();
            if let Some(n) = vine_cim::value::parse_integer(t) {
                if let Ok(u) = u64::try_from(n) {
                    return Ok(CimValue::Uint64(u));
                }
                if let Ok(i) = i64::try_from(n) {
                    return Ok(CimValue::Sint64(i));
                }
                return Err(bad("a 64-bit integer"));
            }
            t.parse::<f64>()
                .map(CimValue::Real64)
                .map_err(|_| bad("a number"))
        }
        other => Err(tag.invalid(format!("VALUETYPE=\"{other}\" is unknown"))),
    }
}

/// `INSTANCENAME`: key bindings, or a single unnamed key value/reference.
pub(crate) fn instance_name(r: &mut XmlReader, tag: &Tag) -> Result<CimInstanceName> {
    let mut path = CimInstanceName::new(tag.req_attr("CLASSNAME")?);
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "KEYBINDING" => {
                let name = CimName::new(c.req_attr("NAME")?);
                let v = match r.next_child(&c)? {
                    Some(v) if v.name == "KEYVALUE" => key_value(r, &v)?,
                    Some(v) if v.name == "VALUE.REFERENCE" => reference_value(r, &v)?,
                    Some(v) => return Err(c.unexpected(&v)),
                    None => return Err(c.invalid("no KEYVALUE or VALUE.REFERENCE")),
                };
                r.expect_empty(&c)?;
                path.key_bindings.push((name, v));
            }
            "KEYVALUE" if path.key_bindings.is_empty() => {
                let v = key_value(r, &c)?;
                path.key_bindings.push((CimName::new(""), v));
            }
            "VALUE.REFERENCE" if path.key_bindings.is_empty() => {
                let v = reference_value(r, &c)?;
                path.key_bindings.push((CimName::new(""), v));
            }
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(path)
}
