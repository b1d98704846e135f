//! Encoding of instances, classes and their parts.

use vine_cim::{
    qualifier, CimClass, CimInstance, CimMethod, CimParameter, CimProperty, CimQualifier, CimType,
    CimValue, Flavor, QualifierDecl,
};

use super::values;
use super::writer::Writer;
use crate::message::ObjectWithPath;

const TRUE: Option<&str> = Some("true");
const FALSE: Option<&str> = Some("false");

fn when(cond: bool, v: Option<&'static str>) -> Option<&'static str> {
    if cond {
        v
    } else {
        None
    }
}

/// Flavor attributes, only where they differ from the DSP0201 defaults.
fn flavor_attrs(f: &Flavor) -> [(&'static str, Option<&'static str>); 4] {
    [
        ("OVERRIDABLE", when(!f.overridable, FALSE)),
        ("TOSUBCLASS", when(!f.to_subclass, FALSE)),
        ("TOINSTANCE", when(f.to_instance, TRUE)),
        ("TRANSLATABLE", when(f.translatable, TRUE)),
    ]
}

/// The `TYPE` spelling; embedded objects travel as strings.
fn type_name(t: CimType) -> &'static str {
    t.as_str()
}

/// `QUALIFIER`.
pub(crate) fn qualifier(w: &mut Writer, q: &CimQualifier) {
    let [o, s, i, t] = flavor_attrs(&q.flavor);
    let attrs = [
        ("NAME", Some(q.name.as_str())),
        ("TYPE", Some(type_name(q.cim_type))),
        ("PROPAGATED", when(q.propagated, TRUE)),
        o,
        s,
        i,
        t,
    ];
    match &q.value {
        Some(v) => {
            w.open("QUALIFIER", &attrs);
            values::value(w, v);
            w.close("QUALIFIER");
        }
        None => w.empty("QUALIFIER", &attrs),
    }
}

/// `QUALIFIER.DECLARATION` with its `SCOPE`.
pub(crate) fn qualifier_decl(w: &mut Writer, d: &QualifierDecl) {
    let size = d.array_size.map(|n| n.to_string());
    let [o, s, i, t] = flavor_attrs(&d.flavor);
    w.open(
        "QUALIFIER.DECLARATION",
        &[
            ("NAME", Some(d.name.as_str())),
            ("TYPE", Some(type_name(d.cim_type))),
            ("ISARRAY", Some(if d.is_array { "true" } else { "false" })),
            ("ARRAYSIZE", size.as_deref()),
            o,
            s,
            i,
            t,
        ],
    );
    let sc = &d.scopes;
    w.empty(
        "SCOPE",
        &[
            ("CLASS", when(sc.class, TRUE)),
            ("ASSOCIATION", when(sc.association, TRUE)),
            ("REFERENCE", when(sc.reference, TRUE)),
            ("PROPERTY", when(sc.property, TRUE)),
            ("METHOD", when(sc.method, TRUE)),
            ("PARAMETER", when(sc.parameter, TRUE)),
            ("INDICATION", when(sc.indication, TRUE)),
        ],
    );
    if let Some(v) = &d.default {
        values::value(w, v);
    }
    w.close("QUALIFIER.DECLARATION");
}

/// The `EmbeddedObject` attribute value for an embedded-object element:
/// `object` when declared with the EmbeddedObject qualifier, else `instance`.
pub(crate) fn embedded_kind(qualifiers: &[CimQualifier]) -> &'static str {
    if qualifier::is_set(qualifiers, "EmbeddedObject") {
        "object"
    } else {
        "instance"
    }
}

/// True when the value is (an array of) embedded instances.
pub(crate) fn holds_instances(v: Option<&CimValue>) -> bool {
    match v {
        Some(CimValue::Instance(_)) => true,
        Some(CimValue::Array(items)) => items.iter().any(|i| matches!(i, CimValue::Instance(_))),
        _ => false,
    }
}

/// `PROPERTY`, `PROPERTY.ARRAY` or `PROPERTY.REFERENCE`.
pub(crate) fn property(w: &mut Writer, p: &CimProperty) {
    let origin = p.class_origin.as_ref().map(|c| c.as_str());
    let propagated = when(p.propagated, TRUE);
    if p.cim_type == CimType::Reference && !p.is_array {
        let refclass = p.reference_class.as_ref().map(|c| c.as_str());
        let attrs = [
            ("NAME", Some(p.name.as_str())),
            ("REFERENCECLASS", refclass),
            ("CLASSORIGIN", origin),
            ("PROPAGATED", propagated),
        ];
        w.open("PROPERTY.REFERENCE", &attrs);
        p.qualifiers.iter().for_each(|q| qualifier(w, q));
        if let Some(CimValue::Reference(r)) = &p.value {
            values::value_reference(w, r);
        }
        w.close("PROPERTY.REFERENCE");
        return;
    }
    let is_array = p.is_array || matches!(p.value, Some(CimValue::Array(_)));
    let embedded = p.cim_type == CimType::Instance || holds_instances(p.value.as_ref());
    let ty = if embedded {
        "string"
    } else {
        type_name(p.cim_type)
    };
    let size = p.array_size.map(|n| n.to_string());
    let elem = if is_array {
        "PROPERTY.ARRAY"
    } else {
        "PROPERTY"
    };
    let attrs = [
        ("NAME", Some(p.name.as_str())),
        ("TYPE", Some(ty)),
        ("ARRAYSIZE", if is_array { size.as_deref() } else { None }),
        ("CLASSORIGIN", origin),
        ("PROPAGATED", propagated),
        (
            "EmbeddedObject",
            when(embedded, Some(embedded_kind(&p.qualifiers))),
        ),
    ];
    w.open(elem, &attrs);
    p.qualifiers.iter().for_each(|q| qualifier(w, q));
    match (&p.value, is_array) {
        (Some(v @ CimValue::Array(_)), _) => values::value(w, v),
        // A scalar in an array property still has to be an array on the wire.
        (Some(v), true) => values::value(w, &CimValue::Array(vec![v.clone()])),
        (Some(v), false) => values::value(w, v),
        (None, _) => {}
    }
    w.close(elem);
}

/// `INSTANCE`.
pub(crate) fn instance(w: &mut Writer, inst: &CimInstance) {
    w.open("INSTANCE", &[("CLASSNAME", Some(inst.class_name.as_str()))]);
    inst.qualifiers.iter().for_each(|q| qualifier(w, q));
    inst.properties.iter().for_each(|p| property(w, p));
    w.close("INSTANCE");
}

fn parameter(w: &mut Writer, p: &CimParameter) {
    let size = p.array_size.map(|n| n.to_string());
    let refclass = p.reference_class.as_ref().map(|c| c.as_str());
    let name = Some(p.name.as_str());
    let ty = Some(type_name(p.cim_type));
    let (elem, attrs) = match (p.cim_type == CimType::Reference, p.is_array) {
        (true, true) => (
            "PARAMETER.REFARRAY",
            [
                ("NAME", name),
                ("REFERENCECLASS", refclass),
                ("ARRAYSIZE", size.as_deref()),
            ],
        ),
        (true, false) => (
            "PARAMETER.REFERENCE",
            [
                ("NAME", name),
                ("REFERENCECLASS", refclass),
                ("ARRAYSIZE", None),
            ],
        ),
        (false, true) => (
            "PARAMETER.ARRAY",
            [("NAME", name), ("TYPE", ty), ("ARRAYSIZE", size.as_deref())],
        ),
        (false, false) => (
            "PARAMETER",
            [("NAME", name), ("TYPE", ty), ("ARRAYSIZE", None)],
        ),
    };
    if p.qualifiers.is_empty() {
        w.empty(elem, &attrs);
    } else {
        w.open(elem, &attrs);
        p.qualifiers.iter().for_each(|q| qualifier(w, q));
        w.close(elem);
    }
}

fn method(w: &mut Writer, m: &CimMethod) {
    w.open(
        "METHOD",
        &[
            ("NAME", Some(m.name.as_str())),
            ("TYPE", Some(type_name(m.return_type))),
            ("CLASSORIGIN", m.class_origin.as_ref().map(|c| c.as_str())),
            ("PROPAGATED", when(m.propagated, TRUE)),
        ],
    );
    m.qualifiers.iter().for_each(|q| qualifier(w, q));
    m.parameters.iter().for_each(|p| parameter(w, p));
    w.close("METHOD");
}

/// `CLASS`.
pub(crate) fn class(w: &mut Writer, c: &CimClass) {
    w.open(
        "CLASS",
        &[
            ("NAME", Some(c.name.as_str())),
            ("SUPERCLASS", c.superclass.as_ref().map(|s| s.as_str())),
        ],
    );
    c.qualifiers.iter().for_each(|q| qualifier(w, q));
    c.properties.iter().for_each(|p| property(w, p));
    c.methods.iter().for_each(|m| method(w, m));
    w.close("CLASS");
}

/// The path of an instance that must have one; a missing path is written
/// as a keyless name of its class so that the output stays valid.
fn path_of(inst: &CimInstance) -> vine_cim::CimInstanceName {
    inst.path
        .clone()
        .unwrap_or_else(|| vine_cim::CimInstanceName::new(inst.class_name.clone()))
}

/// `VALUE.NAMEDINSTANCE`.
pub(crate) fn named_instance(w: &mut Writer, inst: &CimInstance) {
    w.open("VALUE.NAMEDINSTANCE", &[]);
    values::instance_name(w, &path_of(inst));
    instance(w, inst);
    w.close("VALUE.NAMEDINSTANCE");
}

/// `VALUE.INSTANCEWITHPATH`.
pub(crate) fn instance_with_path(w: &mut Writer, inst: &CimInstance) {
    w.open("VALUE.INSTANCEWITHPATH", &[]);
    values::instance_path(w, &path_of(inst));
    instance(w, inst);
    w.close("VALUE.INSTANCEWITHPATH");
}

/// `VALUE.OBJECTWITHPATH`.
pub(crate) fn object_with_path(w: &mut Writer, o: &ObjectWithPath) {
    w.open("VALUE.OBJECTWITHPATH", &[]);
    match o {
        ObjectWithPath::Instance(inst) => {
            values::instance_path(w, &path_of(inst));
            instance(w, inst);
        }
        ObjectWithPath::Class(path, c) => {
            values::class_path(w, path);
            class(w, c);
        }
    }
    w.close("VALUE.OBJECTWITHPATH");
}
