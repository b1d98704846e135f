//! Decoding of instances, classes and their parts (DSP0201 §3.2.6).

use vine_cim::{
    CimClass, CimInstance, CimMethod, CimName, CimParameter, CimProperty, CimQualifier, CimType,
    CimValue, Flavor, QualifierDecl, Scopes,
};

use super::reader::{Tag, XmlReader};
use super::values::{self, Typing};
use crate::error::Result;
use crate::message::ObjectWithPath;

fn flavor(tag: &Tag) -> Result<Flavor> {
    let d = Flavor::default();
    Ok(Flavor {
        overridable: tag.bool_attr("OVERRIDABLE", d.overridable)?,
        to_subclass: tag.bool_attr("TOSUBCLASS", d.to_subclass)?,
        to_instance: tag.bool_attr("TOINSTANCE", d.to_instance)?,
        translatable: tag.bool_attr("TRANSLATABLE", d.translatable)?,
    })
}

fn required_type(tag: &Tag) -> Result<CimType> {
    tag.req_attr("TYPE")?
        .parse()
        .map_err(|e: vine_cim::types::UnknownType| tag.invalid(e.to_string()))
}

fn array_size(tag: &Tag) -> Result<Option<u32>> {
    tag.attr("ARRAYSIZE")
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| tag.invalid(format!("ARRAYSIZE=\"{s}\" is not a number")))
        })
        .transpose()
}

/// The value child of a qualifier or qualifier declaration.
fn qualifier_value(r: &mut XmlReader, c: &Tag, t: CimType) -> Result<Option<CimValue>> {
    Ok(Some(match c.name.as_str() {
        "VALUE" => values::value(r, c, Typing::Typed(t))?,
        "VALUE.ARRAY" => values::value_array(r, c, Typing::Typed(t))?,
        _ => return Ok(None),
    }))
}

/// `QUALIFIER`.
pub(crate) fn qualifier(r: &mut XmlReader, tag: &Tag) -> Result<CimQualifier> {
    let cim_type = required_type(tag)?;
    let mut q = CimQualifier {
        name: CimName::new(tag.req_attr("NAME")?),
        value: None,
        cim_type,
        flavor: flavor(tag)?,
        propagated: tag.bool_attr("PROPAGATED", false)?,
    };
    while let Some(c) = r.next_child(tag)? {
        match qualifier_value(r, &c, cim_type)? {
            Some(v) if q.value.is_none() => q.value = Some(v),
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(q)
}

/// `QUALIFIER.DECLARATION` with its `SCOPE`.
pub(crate) fn qualifier_decl(r: &mut XmlReader, tag: &Tag) -> Result<QualifierDecl> {
    let cim_type = required_type(tag)?;
    let mut d = QualifierDecl {
        name: CimName::new(tag.req_attr("NAME")?),
        cim_type,
        is_array: tag.bool_attr("ISARRAY", false)?,
        array_size: array_size(tag)?,
        default: None,
        scopes: Scopes::default(),
        flavor: flavor(tag)?,
    };
    while let Some(c) = r.next_child(tag)? {
        if c.name == "SCOPE" {
            d.scopes = Scopes {
                class: c.bool_attr("CLASS", false)?,
                association: c.bool_attr("ASSOCIATION", false)?,
                indication: c.bool_attr("INDICATION", false)?,
                property: c.bool_attr("PROPERTY", false)?,
                reference: c.bool_attr("REFERENCE", false)?,
                method: c.bool_attr("METHOD", false)?,
                parameter: c.bool_attr("PARAMETER", false)?,
            };
            r.expect_empty(&c)?;
            continue;
        }
        match qualifier_value(r, &c, cim_type)? {
            Some(v) if d.default.is_none() => {
                d.is_array |= v.is_array();
                d.default = Some(v);
            }
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(d)
}

/// `PROPERTY`, `PROPERTY.ARRAY` or `PROPERTY.REFERENCE`, by `tag.name`.
pub(crate) fn property(r: &mut XmlReader, tag: &Tag) -> Result<CimProperty> {
    let name = CimName::new(tag.req_attr("NAME")?);
    let is_ref = tag.name == "PROPERTY.REFERENCE";
    let is_array = tag.name == "PROPERTY.ARRAY";
    let typing = if is_ref {
        Typing::Typed(CimType::Reference)
    } else {
        match Typing::of(tag, "TYPE")? {
            Typing::Untyped => return Err(tag.invalid("lacks the TYPE attribute")),
            t => t,
        }
    };
    let mut p = CimProperty::null(name, typing.cim_type().unwrap_or(CimType::String), is_array);
    p.array_size = array_size(tag)?;
    p.reference_class = tag.attr("REFERENCECLASS").map(CimName::new);
    p.class_origin = tag.attr("CLASSORIGIN").map(CimName::new);
    p.propagated = tag.bool_attr("PROPAGATED", false)?;
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "QUALIFIER" => p.qualifiers.push(qualifier(r, &c)?),
            "VALUE" if !is_ref && !is_array && p.value.is_none() => {
                p.value = Some(values::value(r, &c, typing)?)
            }
            "VALUE.ARRAY" if is_array && p.value.is_none() => {
                p.value = Some(values::value_array(r, &c, typing)?)
            }
            "VALUE.REFERENCE" if is_ref && p.value.is_none() => {
                p.value = Some(values::reference_value(r, &c)?)
            }
            _ => return Err(tag.unexpected(&c)),
        }
    }
    if p.cim_type == CimType::Instance {
        p.embedded_class = vine_cim::qualifier::find(&p.qualifiers, "EmbeddedInstance")
            .and_then(|q| q.value.as_ref())
            .and_then(CimValue::as_str)
            .map(CimName::new);
    }
    Ok(p)
}

/// `INSTANCE` (its path, if any, comes from the enclosing element).
pub(crate) fn instance(r: &mut XmlReader, tag: &Tag) -> Result<CimInstance> {
    let mut inst = CimInstance::new(tag.req_attr("CLASSNAME")?);
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "QUALIFIER" => inst.qualifiers.push(qualifier(r, &c)?),
            "PROPERTY" | "PROPERTY.ARRAY" | "PROPERTY.REFERENCE" => {
                inst.properties.push(property(r, &c)?)
            }
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(inst)
}

fn parameter(r: &mut XmlReader, tag: &Tag) -> Result<CimParameter> {
    let (cim_type, is_array) = match tag.name.as_str() {
        "PARAMETER" => (required_type(tag)?, false),
        "PARAMETER.ARRAY" => (required_type(tag)?, true),
        "PARAMETER.REFERENCE" => (CimType::Reference, false),
        _ => (CimType::Reference, true),
    };
    let mut p = CimParameter {
        name: CimName::new(tag.req_attr("NAME")?),
        cim_type,
        is_array,
        array_size: array_size(tag)?,
        reference_class: tag.attr("REFERENCECLASS").map(CimName::new),
        embedded_class: None,
        qualifiers: Vec::new(),
    };
    while let Some(c) = r.next_child(tag)? {
        if c.name != "QUALIFIER" {
            return Err(tag.unexpected(&c));
        }
        p.qualifiers.push(qualifier(r, &c)?);
    }
    Ok(p)
}

fn method(r: &mut XmlReader, tag: &Tag) -> Result<CimMethod> {
    // DSP0201 makes TYPE optional on METHOD; DSP0004 methods return uint32
    // by convention, so that stands in for a missing type.
    let return_type = match tag.attr("TYPE") {
        Some(_) => required_type(tag)?,
        None => CimType::Uint32,
    };
    let mut m = CimMethod {
        name: CimName::new(tag.req_attr("NAME")?),
        return_type,
        parameters: Vec::new(),
        class_origin: tag.attr("CLASSORIGIN").map(CimName::new),
        propagated: tag.bool_attr("PROPAGATED", false)?,
        qualifiers: Vec::new(),
    };
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "QUALIFIER" => m.qualifiers.push(qualifier(r, &c)?),
            "PARAMETER" | "PARAMETER.ARRAY" | "PARAMETER.REFERENCE" | "PARAMETER.REFARRAY" => {
                m.parameters.push(parameter(r, &c)?)
            }
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(m)
}

/// `CLASS`.
pub(crate) fn class(r: &mut XmlReader, tag: &Tag) -> Result<CimClass> {
    let mut class = CimClass::new(tag.req_attr("NAME")?);
    class.superclass = tag.attr("SUPERCLASS").map(CimName::new);
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "QUALIFIER" => class.qualifiers.push(qualifier(r, &c)?),
            "PROPERTY" | "PROPERTY.ARRAY" | "PROPERTY.REFERENCE" => {
                class.properties.push(property(r, &c)?)
            }
            "METHOD" => class.methods.push(method(r, &c)?),
            _ => return Err(tag.unexpected(&c)),
        }
    }
    Ok(class)
}

/// Reads `(path element, INSTANCE)` and sets the instance's path.
fn instance_with(
    r: &mut XmlReader,
    tag: &Tag,
    path_elem: &str,
    read_path: fn(&mut XmlReader, &Tag) -> Result<vine_cim::CimInstanceName>,
) -> Result<CimInstance> {
    let path = match r.next_child(tag)? {
        Some(c) if c.name == path_elem => read_path(r, &c)?,
        Some(c) => return Err(tag.unexpected(&c)),
        None => return Err(tag.invalid(format!("missing {path_elem}"))),
    };
    let mut inst = match r.next_child(tag)? {
        Some(c) if c.name == "INSTANCE" => instance(r, &c)?,
        Some(c) => return Err(tag.unexpected(&c)),
        None => return Err(tag.invalid("missing INSTANCE")),
    };
    r.expect_empty(tag)?;
    inst.path = Some(path);
    Ok(inst)
}

/// `VALUE.NAMEDINSTANCE`: `INSTANCENAME` then `INSTANCE`.
pub(crate) fn named_instance(r: &mut XmlReader, tag: &Tag) -> Result<CimInstance> {
    instance_with(r, tag, "INSTANCENAME", values::instance_name)
}

/// `VALUE.INSTANCEWITHPATH`: `INSTANCEPATH` then `INSTANCE`.
pub(crate) fn instance_with_path(r: &mut XmlReader, tag: &Tag) -> Result<CimInstance> {
    instance_with(r, tag, "INSTANCEPATH", values::instance_path)
}

/// `VALUE.OBJECTWITHPATH`: `INSTANCEPATH`+`INSTANCE` or `CLASSPATH`+`CLASS`.
pub(crate) fn object_with_path(r: &mut XmlReader, tag: &Tag) -> Result<ObjectWithPath> {
    let first = match r.next_child(tag)? {
        Some(c) => c,
        None => return Err(tag.invalid("empty")),
    };
    match first.name.as_str() {
        "INSTANCEPATH" => {
            let path = values::instance_path(r, &first)?;
            let mut inst = match r.next_child(tag)? {
                Some(c) if c.name == "INSTANCE" => instance(r, &c)?,
                Some(c) => return Err(tag.unexpected(&c)),
                None => return Err(tag.invalid("missing INSTANCE")),
            };
            r.expect_empty(tag)?;
            inst.path = Some(path);
            Ok(ObjectWithPath::Instance(inst))
        }
        "CLASSPATH" => {
            let path = values::class_path(r, &first)?;
            let class = match r.next_child(tag)? {
                Some(c) if c.name == "CLASS" => class(r, &c)?,
                Some(c) => return Err(tag.unexpected(&c)),
                None => return Err(tag.invalid("missing CLASS")),
            };
            r.expect_empty(tag)?;
            Ok(ObjectWithPath::Class(path, class))
        }
        _ => Err(tag.unexpected(&first)),
    }
}
