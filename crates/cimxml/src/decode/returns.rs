//! Decoding of `IRETURNVALUE`, whose element form depends on the operation.

use super::objects;
use super::reader::{Tag, XmlReader};
use super::values::{self, Typing};
use crate::error::Result;
use crate::message::{IntrinsicMethod, ReturnValue};

/// The return value of `method` when `IRETURNVALUE` is empty or absent.
pub(crate) fn empty_return(method: &IntrinsicMethod) -> ReturnValue {
    use IntrinsicMethod as M;
    match method {
        M::EnumerateClassNames => ReturnValue::ClassNames(Vec::new()),
        M::GetClass | M::EnumerateClasses => ReturnValue::Classes(Vec::new()),
        M::EnumerateInstanceNames => ReturnValue::InstanceNames(Vec::new()),
        M::EnumerateInstances => ReturnValue::NamedInstances(Vec::new()),
        M::Associators | M::References | M::ExecQuery => ReturnValue::ObjectsWithPath(Vec::new()),
        M::AssociatorNames | M::ReferenceNames => ReturnValue::ObjectPaths(Vec::new()),
        M::OpenEnumerateInstances
        | M::OpenReferenceInstances
        | M::OpenAssociatorInstances
        | M::PullInstancesWithPath => ReturnValue::InstancesWithPath(Vec::new()),
        M::OpenEnumerateInstancePaths
        | M::OpenReferenceInstancePaths
        | M::OpenAssociatorInstancePaths
        | M::PullInstancePaths => ReturnValue::InstancePaths(Vec::new()),
        M::OpenQueryInstances | M::PullInstances => ReturnValue::Instances(Vec::new()),
        M::GetProperty => ReturnValue::Value(None),
        M::EnumerateQualifiers => ReturnValue::QualifierDecls(Vec::new()),
        _ => ReturnValue::None,
    }
}

/// Appends `item` to the list in `ret`, which must hold that kind already
/// (or be the empty start); mixed element kinds are invalid.
macro_rules! push_kind {
    ($ret:ident, $tag:ident, $child:ident, $variant:ident, $item:expr) => {{
        let item = $item;
        match &mut $ret {
            None => $ret = Some(ReturnValue::$variant(vec![item])),
            Some(ReturnValue::$variant(v)) => v.push(item),
            Some(_) => return Err($tag.unexpected(&$child)),
        }
    }};
}

/// `IRETURNVALUE` of a response to `method`.
pub(crate) fn ireturn_value(
    r: &mut XmlReader,
    tag: &Tag,
    method: &IntrinsicMethod,
) -> Result<ReturnValue> {
    let mut ret: Option<ReturnValue> = None;
    while let Some(c) = r.next_child(tag)? {
        match c.name.as_str() {
            "CLASSNAME" => push_kind!(ret, tag, c, ClassNames, values::class_name(r, &c)?),
            "CLASS" => push_kind!(ret, tag, c, Classes, objects::class(r, &c)?),
            "INSTANCENAME" => {
                push_kind!(ret, tag, c, InstanceNames, values::instance_name(r, &c)?)
            }
            "INSTANCE" => push_kind!(ret, tag, c, Instances, objects::instance(r, &c)?),
            "VALUE.NAMEDINSTANCE" => {
                push_kind!(ret, tag, c, NamedInstances, objects::named_instance(r, &c)?)
            }
            "VALUE.OBJECTWITHPATH" => {
                push_kind!(
                    ret,
                    tag,
                    c,
                    ObjectsWithPath,
                    objects::object_with_path(r, &c)?
                )
            }
            "OBJECTPATH" => {
                push_kind!(ret, tag, c, ObjectPaths, values::reference(r, &c)?)
            }
            "VALUE.INSTANCEWITHPATH" => push_kind!(
                ret,
                tag,
                c,
                InstancesWithPath,
                objects::instance_with_path(r, &c)?
            ),
            "INSTANCEPATH" => {
                push_kind!(ret, tag, c, InstancePaths, values::instance_path(r, &c)?)
            }
            "QUALIFIER.DECLARATION" => {
                push_kind!(ret, tag, c, QualifierDecls, objects::qualifier_decl(r, &c)?)
            }
            "VALUE" | "VALUE.ARRAY" | "VALUE.REFERENCE" if ret.is_none() => {
                let v = match c.name.as_str() {
                    "VALUE" => values::value(r, &c, Typing::Untyped)?,
                    "VALUE.ARRAY" => values::value_array(r, &c, Typing::Untyped)?,
                    _ => values::reference_value(r, &c)?,
                };
                ret = Some(ReturnValue::Value(Some(v)));
            }
            _ => return Err(tag.unexpected(&c)),
        }
    }
    // Single-object operations reuse the list forms above; unwrap them.
    Ok(match (ret, method) {
        (None, m) => empty_return(m),
        (Some(ReturnValue::Instances(mut v)), IntrinsicMethod::GetInstance) if v.len() == 1 => {
            ReturnValue::Instance(v.remove(0))
        }
        (Some(ReturnValue::InstanceNames(mut v)), IntrinsicMethod::CreateInstance)
            if v.len() == 1 =>
        {
            ReturnValue::InstanceName(v.remove(0))
        }
        (Some(ReturnValue::QualifierDecls(mut v)), IntrinsicMethod::GetQualifier)
            if v.len() == 1 =>
        {
            ReturnValue::QualifierDecl(v.remove(0))
        }
        (Some(other), _) => other,
    })
}
