//! Unit tests of the class repository.

use super::*;
use crate::qualifier::Flavor;
use crate::types::CimType;
use crate::value::CimValue;

fn prop(name: &str, t: CimType) -> CimProperty {
    CimProperty::null(name, t, false)
}

fn key(name: &str) -> CimProperty {
    let mut p = prop(name, CimType::String);
    p.qualifiers.push(CimQualifier {
        flavor: Flavor {
            overridable: false,
            ..Flavor::default()
        },
        ..CimQualifier::new("Key", true)
    });
    p
}

fn restricted(name: &str, v: impl Into<CimValue>) -> CimQualifier {
    CimQualifier {
        flavor: Flavor {
            to_subclass: false,
            ..Flavor::default()
        },
        ..CimQualifier::new(name, v)
    }
}

/// CIM_A (abstract, Id key, Size=5 default, Run()) ← CIM_B (overrides Size,
/// adds Extra) ← CIM_C; CIM_Other at the top.
fn sample() -> Repository {
    let mut r = Repository::new();
    r.create_namespace("root/virt");
    let mut a = CimClass::new("CIM_A");
    a.qualifiers.push(restricted("Abstract", true));
    a.qualifiers.push(CimQualifier::new("Description", "base"));
    a.properties.push(key("Id"));
    let mut size = prop("Size", CimType::Uint32);
    size.value = Some(CimValue::Uint32(5));
    size.qualifiers.push(CimQualifier::new("Units", "bytes"));
    a.properties.push(size);
    a.properties.push(prop("Name", CimType::String));
    a.methods.push(CimMethod {
        name: "Run".into(),
        return_type: CimType::Uint32,
        parameters: vec![],
        class_origin: None,
        propagated: false,
        qualifiers: vec![],
    });
    r.add_class("root/virt", a).unwrap();

    let mut b = CimClass::new("CIM_B");
    b.superclass = Some("cim_a".into());
    let mut size = prop("size", CimType::Uint32);
    size.qualifiers
        .push(CimQualifier::new("Description", "override"));
    b.properties.push(size);
    b.properties.push(prop("Extra", CimType::Boolean));
    r.add_class("/root/virt/", b).unwrap();

    let mut c = CimClass::new("CIM_C");
    c.superclass = Some("CIM_B".into());
    r.add_class("root/virt", c).unwrap();
    r.add_class("root/virt", CimClass::new("CIM_Other"))
        .unwrap();
    r
}

#[test]
fn namespaces_are_case_and_slash_insensitive() {
    let mut r = Repository::new();
    r.create_namespace("/root/Virt");
    r.create_namespace("root/virt/");
    assert_eq!(r.namespaces(), vec!["root/Virt".to_string()]);
    assert!(r.has_namespace("ROOT/VIRT"));
    assert!(!r.has_namespace("root/interop"));
    let err = r.get_class("root/nope", "X").unwrap_err();
    assert_eq!(err.status, CimStatus::InvalidNamespace);
}

#[test]
fn inherited_elements_come_first_with_origin_and_propagated() {
    let r = sample();
    let b = r.get_class("root/virt", "cim_b").unwrap();
    let names: Vec<_> = b.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Id", "size", "Name", "Extra"]);
    let id = b.property("Id").unwrap();
    assert!(id.propagated && id.is_key());
    assert_eq!(id.class_origin.as_ref().unwrap(), "CIM_A");
    let size = b.property("Size").unwrap();
    assert!(!size.propagated);
    assert_eq!(size.class_origin.as_ref().unwrap(), "CIM_B");
    // The override keeps the inherited default and inherited qualifiers.
    assert_eq!(size.value, Some(CimValue::Uint32(5)));
    let units = qualifier::find(&size.qualifiers, "Units").unwrap();
    assert!(units.propagated);
    let desc = qualifier::find(&size.qualifiers, "Description").unwrap();
    assert!(!desc.propagated);
    let run = b.method("run").unwrap();
    assert!(run.propagated);
    assert_eq!(run.class_origin.as_ref().unwrap(), "CIM_A");

    let c = r.get_class("root/virt", "CIM_C").unwrap();
    let size = c.property("Size").unwrap();
    assert!(size.propagated);
    assert_eq!(size.class_origin.as_ref().unwrap(), "CIM_B");
    assert_eq!(c.keys().count(), 1);
}

#[test]
fn restricted_qualifiers_stay_home() {
    let r = sample();
    let a = r.get_class("root/virt", "CIM_A").unwrap();
    assert!(a.is_abstract());
    let b = r.get_class("root/virt", "CIM_B").unwrap();
    assert!(!b.is_abstract());
    let d = qualifier::find(&b.qualifiers, "Description").unwrap();
    assert!(d.propagated);
}

#[test]
fn local_class_holds_only_own_elements() {
    let r = sample();
    let b = r.local_class("root/virt", "CIM_B").unwrap();
    assert_eq!(b.properties.len(), 2);
    assert!(b.method("Run").is_none());
    assert_eq!(
        b.properties[0].class_origin.as_ref().map(CimName::as_str),
        Some("CIM_B")
    );
}

#[test]
fn add_class_reports_the_dsp0200_codes() {
    let mut r = sample();
    let mut orphan = CimClass::new("CIM_X");
    orphan.superclass = Some("CIM_Missing".into());
    assert_eq!(
        r.add_class("root/virt", orphan).unwrap_err().status,
        CimStatus::InvalidSuperclass
    );
    assert_eq!(
        r.add_class("root/virt", CimClass::new("cim_a"))
            .unwrap_err()
            .status,
        CimStatus::AlreadyExists
    );
    assert_eq!(
        r.add_class("root/x", CimClass::new("A"))
            .unwrap_err()
            .status,
        CimStatus::InvalidNamespace
    );
    let mut bad = CimClass::new("CIM_Bad");
    bad.superclass = Some("CIM_A".into());
    bad.properties.push(prop("Size", CimType::String));
    assert_eq!(
        r.add_class("root/virt", bad).unwrap_err().status,
        CimStatus::TypeMismatch
    );
    let mut twice = CimClass::new("CIM_Twice");
    twice.properties.push(prop("P", CimType::String));
    twice.properties.push(prop("p", CimType::String));
    assert!(r.add_class("root/virt", twice).is_err());
}

#[test]
fn disable_override_qualifiers_cannot_change() {
    let mut r = sample();
    let mut d = CimClass::new("CIM_D");
    d.superclass = Some("CIM_A".into());
    let mut id = prop("Id", CimType::String);
    id.qualifiers.push(CimQualifier::new("Key", false));
    d.properties.push(id);
    assert!(r.add_class("root/virt", d).is_err());
}

#[test]
fn override_qualifier_names_the_replaced_property() {
    let mut r = sample();
    let mut d = CimClass::new("CIM_D");
    d.superclass = Some("CIM_A".into());
    let mut n = prop("Name", CimType::String);
    n.qualifiers.push(CimQualifier::new("Override", "Name"));
    d.properties.push(n);
    r.add_class("root/virt", d).unwrap();
    let d = r.get_class("root/virt", "CIM_D").unwrap();
    assert_eq!(d.properties.len(), 3);
    assert_eq!(d.properties[2].class_origin.as_ref().unwrap(), "CIM_D");
}

#[test]
fn class_names_follow_declaration_order() {
    let r = sample();
    let ns = "root/virt";
    let s = |v: Vec<CimName>| v.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(
        s(r.class_names(ns, None, false).unwrap()),
        ["CIM_A", "CIM_Other"]
    );
    assert_eq!(
        s(r.class_names(ns, None, true).unwrap()),
        ["CIM_A", "CIM_B", "CIM_C", "CIM_Other"]
    );
    assert_eq!(
        s(r.class_names(ns, Some("cim_a"), false).unwrap()),
        ["CIM_B"]
    );
    assert_eq!(
        s(r.class_names(ns, Some("CIM_A"), true).unwrap()),
        ["CIM_B", "CIM_C"]
    );
    assert_eq!(
        r.class_names(ns, Some("Nope"), true).unwrap_err().status,
        CimStatus::InvalidClass
    );
    assert_eq!(s(r.descendants(ns, "CIM_B")), ["CIM_C"]);
    assert_eq!(s(r.superclasses(ns, "CIM_C")), ["CIM_B", "CIM_A"]);
    assert!(r.is_subclass_of(ns, "CIM_C", "cim_a"));
    assert!(r.is_subclass_of(ns, "CIM_C", "CIM_C"));
    assert!(!r.is_subclass_of(ns, "CIM_A", "CIM_C"));
    assert!(!r.is_subclass_of(ns, "CIM_Other", "CIM_A"));
}

#[test]
fn qualifier_decls_replace_and_list() {
    let mut r = Repository::new();
    r.create_namespace("root/virt");
    let decl = |t| QualifierDecl {
        name: "Key".into(),
        cim_type: t,
        is_array: false,
        array_size: None,
        default: None,
        scopes: crate::qualifier::Scopes::any(),
        flavor: Flavor::default(),
    };
    r.add_qualifier_decl("root/virt", decl(CimType::String))
        .unwrap();
    r.add_qualifier_decl("root/virt", decl(CimType::Boolean))
        .unwrap();
    assert_eq!(r.qualifier_decls("root/virt").unwrap().len(), 1);
    assert_eq!(
        r.get_qualifier_decl("root/virt", "KEY").unwrap().cim_type,
        CimType::Boolean
    );
    assert_eq!(
        r.get_qualifier_decl("root/virt", "Nope")
            .unwrap_err()
            .status,
        CimStatus::NotFound
    );
}

#[test]
fn instances_get_paths_from_keys() {
    let mut r = sample();
    r.add_instance(
        "root/virt",
        CimInstance::new("CIM_B")
            .with("Id", "x")
            .with("Extra", true),
    )
    .unwrap();
    let err = r
        .add_instance("root/virt", CimInstance::new("CIM_B").with("id", "x"))
        .unwrap_err();
    assert_eq!(err.status, CimStatus::AlreadyExists);
    assert_eq!(
        r.add_instance("root/virt", CimInstance::new("Nope"))
            .unwrap_err()
            .status,
        CimStatus::InvalidClass
    );
    let inst = &r.instances("root/virt")[0];
    let path = inst.path.as_ref().unwrap();
    assert_eq!(path.key_bindings.len(), 1);
    assert_eq!(path.key_str("Id"), Some("x"));
    assert_eq!(path.namespace.as_deref(), Some("root/virt"));
    assert!(r.instances("root/none").is_empty());
}

#[test]
fn copy_namespace_clones_the_schema() {
    let mut r = sample();
    r.add_instance("root/virt", CimInstance::new("CIM_B").with("Id", "x"))
        .unwrap();
    r.copy_namespace("root/virt", "root/interop").unwrap();
    assert_eq!(
        r.class_names("root/interop", None, true).unwrap(),
        r.class_names("root/virt", None, true).unwrap()
    );
    assert_eq!(
        r.get_class("root/interop", "CIM_C").unwrap(),
        r.get_class("root/virt", "CIM_C").unwrap()
    );
    assert!(r.instances("root/interop").is_empty());
    assert_eq!(
        r.copy_namespace("root/none", "root/y").unwrap_err().status,
        CimStatus::InvalidNamespace
    );
}

#[test]
fn repository_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + Default>() {}
    check::<Repository>();
}
