//! Shared test helpers: golden file access, an order-insensitive canonical
//! form for comparing documents, and the objects the goldens describe.
#![allow(dead_code)]

use quick_xml::events::Event;
use quick_xml::Reader;
use vine_cim::*;

/// The text of `tests/golden/<name>`.
pub fn golden(name: &str) -> String {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A document as a list of events with whitespace-only text dropped,
/// `<X/>` expanded, attributes sorted and text unescaped, so that pretty
/// printed goldens compare equal to compact encoder output.
pub fn canonical(xml: &str) -> Vec<String> {
    let mut r = Reader::from_str(xml);
    r.config_mut().expand_empty_elements = true;
    let mut out = Vec::new();
    loop {
        match r.read_event().expect("well-formed") {
            Event::Eof => break,
            Event::Start(s) => {
                let mut attrs: Vec<String> = s
                    .attributes()
                    .map(|a| {
                        let a = a.expect("attribute");
                        format!(
                            "{}={:?}",
                            String::from_utf8_lossy(a.key.as_ref()),
                            a.unescape_value().expect("value")
                        )
                    })
                    .collect();
                attrs.sort();
                out.push(format!(
                    "<{} {}>",
                    String::from_utf8_lossy(s.name().as_ref()),
                    attrs.join(" ")
                ));
            }
            Event::End(e) => out.push(format!("</{}>", String::from_utf8_lossy(e.name().as_ref()))),
            Event::Text(t) => {
                let t = t.unescape().expect("text");
                if !t.trim().is_empty() {
                    out.push(format!("text {t:?}"));
                }
            }
            Event::Decl(d) => out.push(format!("decl {:?}", String::from_utf8_lossy(&d))),
            other => panic!("unexpected event {other:?}"),
        }
    }
    out
}

/// Asserts that two documents are the same up to formatting.
pub fn assert_same_xml(actual: &[u8], golden_name: &str) {
    let actual = std::str::from_utf8(actual).expect("UTF-8");
    let a = canonical(actual);
    let g = canonical(&golden(golden_name));
    if a != g {
        let at = a
            .iter()
            .zip(&g)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(g.len()));
        panic!(
            "{golden_name}: differs at event {at}:\n  encoded: {:?}\n  golden:  {:?}\nencoded document:\n{actual}",
            a.get(at),
            g.get(at)
        );
    }
}

pub const NS: &str = "root/cimv2";
pub const HOST: &str = "srv.example.com";

pub fn iname(id: &str) -> CimInstanceName {
    CimInstanceName::new("CIM_Foo").with_key("InstanceID", id)
}

pub fn ipath(id: &str) -> CimInstanceName {
    let mut p = iname(id).with_namespace(NS);
    p.host = Some(HOST.into());
    p
}

pub fn inst(id: &str) -> CimInstance {
    let mut i = CimInstance::new("CIM_Foo")
        .with("InstanceID", id)
        .with("Count", 42u32)
        .with("Enabled", true);
    i.set_property(CimProperty::null("Note", CimType::String, false));
    i.with("Tags", vec!["a&b", "<c>"])
        .with("Peer", iname("foo2"))
}

pub fn with_path(mut i: CimInstance, p: CimInstanceName) -> CimInstance {
    i.path = Some(p);
    i
}

fn origin(mut p: CimProperty) -> CimProperty {
    p.class_origin = Some("CIM_Foo".into());
    p
}

pub fn class() -> CimClass {
    let mut c = CimClass::new("CIM_Foo");
    c.superclass = Some("CIM_ManagedElement".into());
    let mut desc = CimQualifier::new("Description", "A foo");
    desc.flavor.translatable = true;
    c.qualifiers.push(desc);
    let mut key = CimQualifier::new("Key", true);
    key.flavor.overridable = false;
    let mut id = origin(CimProperty::null("InstanceID", CimType::String, false));
    id.qualifiers.push(key);
    let mut peer = origin(CimProperty::null("Peer", CimType::Reference, false));
    peer.reference_class = Some("CIM_Foo".into());
    c.properties = vec![
        id,
        origin(CimProperty::new("Count", 0u32)),
        origin(CimProperty::null("Tags", CimType::String, true)),
        peer,
    ];
    let param = |name: &str, t: CimType, array: bool| CimParameter {
        name: name.into(),
        cim_type: t,
        is_array: array,
        array_size: None,
        reference_class: (t == CimType::Reference).then(|| "CIM_Foo".into()),
        embedded_class: None,
        qualifiers: vec![],
    };
    c.methods.push(CimMethod {
        name: "Reset".into(),
        return_type: CimType::Uint32,
        parameters: vec![
            param("Force", CimType::Boolean, false),
            param("Target", CimType::Reference, false),
            param("Opts", CimType::String, true),
            param("Peers", CimType::Reference, true),
        ],
        class_origin: Some("CIM_Foo".into()),
        propagated: false,
        qualifiers: vec![],
    });
    c
}

pub fn key_decl() -> QualifierDecl {
    QualifierDecl {
        name: "Key".into(),
        cim_type: CimType::Boolean,
        is_array: false,
        array_size: None,
        default: Some(CimValue::Boolean(false)),
        scopes: Scopes {
            property: true,
            reference: true,
            ..Scopes::default()
        },
        flavor: Flavor {
            overridable: false,
            ..Flavor::default()
        },
    }
}

pub fn valuemap_decl() -> QualifierDecl {
    QualifierDecl {
        name: "ValueMap".into(),
        cim_type: CimType::String,
        is_array: true,
        array_size: None,
        default: None,
        scopes: Scopes {
            property: true,
            method: true,
            parameter: true,
            ..Scopes::default()
        },
        flavor: Flavor::default(),
    }
}

pub fn settings() -> CimInstance {
    CimInstance::new("CIM_FooSettings").with("Name", "x & y")
}
