//! Encoding of values, key bindings and object paths.

use vine_cim::{CimClassName, CimInstanceName, CimValue};

use super::objects;
use super::writer::Writer;

/// `LOCALNAMESPACEPATH` with one `NAMESPACE` per `/`-separated segment.
pub(crate) fn local_namespace_path(w: &mut Writer, ns: &str) {
    w.open("LOCALNAMESPACEPATH", &[]);
    for part in ns.split('/').filter(|p| !p.is_empty()) {
        w.empty("NAMESPACE", &[("NAME", Some(part))]);
    }
    w.close("LOCALNAMESPACEPATH");
}

/// `NAMESPACEPATH`. A path without a host gets `localhost`: DSP0201 needs
/// one and the server cannot know the name the client used.
fn namespace_path(w: &mut Writer, host: Option<&str>, ns: Option<&str>) {
    w.open("NAMESPACEPATH", &[]);
    w.text_element("HOST", &[], host.unwrap_or("localhost"));
    local_namespace_path(w, ns.unwrap_or_default());
    w.close("NAMESPACEPATH");
}

/// `CLASSNAME`.
pub(crate) fn class_name(w: &mut Writer, name: &str) {
    w.empty("CLASSNAME", &[("NAME", Some(name))]);
}

fn key_value(w: &mut Writer, v: &CimValue) {
    let vt = match v {
        CimValue::Boolean(_) => "boolean",
        v if v.as_f64().is_some() => "numeric",
        _ => "string",
    };
    w.text_element("KEYVALUE", &[("VALUETYPE", Some(vt))], &v.to_string());
}

/// `INSTANCENAME` with its key bindings (an unnamed single key is written
/// bare, as DSP0201 allows).
pub(crate) fn instance_name(w: &mut Writer, p: &CimInstanceName) {
    w.open(
        "INSTANCENAME",
        &[("CLASSNAME", Some(p.class_name.as_str()))],
    );
    for (k, v) in &p.key_bindings {
        let named = !k.as_str().is_empty();
        if named {
            w.open("KEYBINDING", &[("NAME", Some(k.as_str()))]);
        }
        match v {
            CimValue::Reference(r) => value_reference(w, r),
            v => key_value(w, v),
        }
        if named {
            w.close("KEYBINDING");
        }
    }
    w.close("INSTANCENAME");
}

/// `INSTANCEPATH` (host defaults to `localhost`).
pub(crate) fn instance_path(w: &mut Writer, p: &CimInstanceName) {
    w.open("INSTANCEPATH", &[]);
    namespace_path(w, p.host.as_deref(), p.namespace.as_deref());
    instance_name(w, p);
    w.close("INSTANCEPATH");
}

/// `LOCALINSTANCEPATH`.
pub(crate) fn local_instance_path(w: &mut Writer, p: &CimInstanceName) {
    w.open("LOCALINSTANCEPATH", &[]);
    local_namespace_path(w, p.namespace.as_deref().unwrap_or_default());
    instance_name(w, p);
    w.close("LOCALINSTANCEPATH");
}

/// `CLASSPATH` (host defaults to `localhost`).
pub(crate) fn class_path(w: &mut Writer, c: &CimClassName) {
    w.open("CLASSPATH", &[]);
    namespace_path(w, c.host.as_deref(), c.namespace.as_deref());
    class_name(w, c.class_name.as_str());
    w.close("CLASSPATH");
}

/// `LOCALCLASSPATH`.
pub(crate) fn local_class_path(w: &mut Writer, c: &CimClassName) {
    w.open("LOCALCLASSPATH", &[]);
    local_namespace_path(w, c.namespace.as_deref().unwrap_or_default());
    class_name(w, c.class_name.as_str());
    w.close("LOCALCLASSPATH");
}

/// The most specific path element the path's parts allow.
fn any_instance_path(w: &mut Writer, p: &CimInstanceName) {
    match (&p.host, &p.namespace) {
        (Some(_), Some(_)) => instance_path(w, p),
        (None, Some(_)) => local_instance_path(w, p),
        _ => instance_name(w, p),
    }
}

/// `VALUE.REFERENCE`.
pub(crate) fn value_reference(w: &mut Writer, p: &CimInstanceName) {
    w.open("VALUE.REFERENCE", &[]);
    any_instance_path(w, p);
    w.close("VALUE.REFERENCE");
}

/// The text of a scalar: DSP0201 forms from the model's `Display`, and an
/// embedded instance as its own CIM-XML.
pub(crate) fn scalar_text(v: &CimValue) -> String {
    match v {
        CimValue::Instance(inst) => {
            let mut inner = Writer::fragment();
            objects::instance(&mut inner, inst);
            inner.into_string()
        }
        v => v.to_string(),
    }
}

/// `VALUE`, `VALUE.ARRAY`, `VALUE.REFERENCE` or `VALUE.REFARRAY`.
pub(crate) fn value(w: &mut Writer, v: &CimValue) {
    match v {
        CimValue::Reference(p) => value_reference(w, p),
        CimValue::Array(items) if items.iter().any(|i| matches!(i, CimValue::Reference(_))) => {
            w.open("VALUE.REFARRAY", &[]);
            for item in items {
                match item {
                    CimValue::Reference(p) => value_reference(w, p),
                    _ => w.empty("VALUE.NULL", &[]),
                }
            }
            w.close("VALUE.REFARRAY");
        }
        CimValue::Array(items) => {
            w.open("VALUE.ARRAY", &[]);
            for item in items {
                w.text_element("VALUE", &[], &scalar_text(item));
            }
            w.close("VALUE.ARRAY");
        }
        v => w.text_element("VALUE", &[], &scalar_text(v)),
    }
}
