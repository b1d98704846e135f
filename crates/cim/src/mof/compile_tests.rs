//! Unit tests of MOF compilation: typing, declaration order, inheritance,
//! associations, instances and aliases, pragmas.

use crate::mof::{compile, compile_str, MemSource, MofError};
use crate::qualifier;
use crate::repository::Repository;
use crate::types::CimType;
use crate::value::CimValue;

const NS: &str = "root/test";

const QUALIFIERS: &str = r#"
Qualifier Abstract : boolean = false, Scope(class, association, indication),
    Flavor(EnableOverride, Restricted);
Qualifier Association : boolean = false, Scope(association),
    Flavor(DisableOverride, ToSubclass);
Qualifier Indication : boolean = false, Scope(class, indication),
    Flavor(DisableOverride, ToSubclass);
Qualifier Key : boolean = false, Scope(property, reference),
    Flavor(DisableOverride, ToSubclass);
Qualifier Description : string = null, Scope(any), Flavor(Translatable);
Qualifier MaxLen : uint32 = null, Scope(property, method, parameter);
Qualifier ValueMap : string[], Scope(property, method, parameter);
Qualifier Override : string = null, Scope(property, reference, method),
    Flavor(Restricted);
Qualifier In : boolean = true, Scope(parameter), Flavor(DisableOverride);
Qualifier Out : boolean = false, Scope(parameter), Flavor(DisableOverride);
Qualifier EmbeddedInstance : string = null, Scope(property, method, parameter);
"#;

fn repo_with(text: &str) -> Result<Repository, MofError> {
    let mut r = Repository::new();
    compile_str(&mut r, NS, "q.mof", QUALIFIERS).unwrap();
    compile_str(&mut r, NS, "t.mof", text)?;
    Ok(r)
}

fn err(text: &str) -> MofError {
    repo_with(text).unwrap_err()
}

#[test]
fn qualifier_values_are_typed_from_declarations() {
    let r = repo_with(
        r#"[Description("a" "b")]
        class T_A {
            [Key, MaxLen(0x10), ValueMap{"1", "2"}] string Id;
            [ValueMap("only")] uint8 V = 7;
            [MaxLen(null)] boolean B;
        };"#,
    )
    .unwrap();
    let a = r.get_class(NS, "T_A").unwrap();
    assert_eq!(
        qualifier::find(&a.qualifiers, "description").and_then(|q| q.value.clone()),
        Some(CimValue::String("ab".into()))
    );
    let id = a.property("Id").unwrap();
    let ml = qualifier::find(&id.qualifiers, "MaxLen").unwrap();
    assert_eq!(ml.value, Some(CimValue::Uint32(16)));
    assert_eq!(ml.cim_type, CimType::Uint32);
    assert!(id.is_key());
    let v = a.property("v").unwrap();
    assert_eq!(v.value, Some(CimValue::Uint8(7)));
    assert_eq!(
        qualifier::find(&v.qualifiers, "ValueMap").and_then(|q| q.value.clone()),
        Some(CimValue::Array(vec![CimValue::String("only".into())]))
    );
    let b = a.property("B").unwrap();
    assert_eq!(
        qualifier::find(&b.qualifiers, "MaxLen").unwrap().value,
        None
    );
}

#[test]
fn type_errors_point_at_the_value() {
    let e = err("class T { uint8 V = 256; };");
    assert_eq!((e.line, e.column), (1, 21));
    assert!(e.message.contains("out of range for uint8"), "{e}");
    let e = err("class T { [MaxLen(\"x\")] string S; };");
    assert!(e.message.contains("expected a uint32 value"), "{e}");
    assert!(err("class T { string S = 1; };")
        .message
        .contains("expected a string"));
    assert!(err("class T { uint8 A[] = 1; };")
        .message
        .contains("is an array"));
    assert!(err("class T { uint8 A = {1}; };")
        .message
        .contains("not an array"));
    assert!(err("class T { datetime D = \"bad\"; };")
        .message
        .contains("datetime"));
    assert!(err("class T { foo D; };")
        .message
        .contains("unknown type `foo`"));
    assert!(err("class T { real32 R = true; };")
        .message
        .contains("real32"));
}

#[test]
fn undeclared_qualifiers_and_wrong_scopes_are_errors() {
    let e = err("[Bogus] class T {};");
    assert_eq!((e.line, e.column), (1, 2));
    assert!(
        e.message.contains("qualifier `Bogus` is not declared"),
        "{e}"
    );
    let e = err("[Key] class T {};");
    assert!(e.message.contains("may not be used on a class"), "{e}");
    let e = err("class T { [Key, key] string A; };");
    assert!(e.message.contains("given twice"), "{e}");
    let e = err("[Description(\"x\") : Sideways] class T {};");
    assert!(e.message.contains("unknown flavor"), "{e}");
}

#[test]
fn superclasses_must_come_first() {
    let e = err("class T_B : T_A {};\nclass T_A {};");
    assert_eq!((e.line, e.column), (1, 13));
    assert!(e.message.contains("superclass `T_A`"), "{e}");
    assert!(err("class T {}; class t {};")
        .message
        .contains("already declared"));
}

#[test]
fn inheritance_override_and_propagation_through_mof() {
    let r = repo_with(
        r#"[Abstract, Description("base")]
        class T_Base { [Key] string Id; [Description("size")] uint32 Size = 1; string Name; };
        class T_Sub : T_Base { [Override("Size")] uint32 Size = 2; string Extra; };"#,
    )
    .unwrap();
    let s = r.get_class(NS, "T_Sub").unwrap();
    assert!(!s.is_abstract());
    let names: Vec<_> = s.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["Id", "Size", "Name", "Extra"]);
    let size = s.property("Size").unwrap();
    assert_eq!(size.value, Some(CimValue::Uint32(2)));
    assert_eq!(size.class_origin.as_ref().unwrap(), "T_Sub");
    let d = qualifier::find(&size.qualifiers, "Description").unwrap();
    assert!(d.propagated);
    // Override is Restricted: it stays on the overriding class.
    let sub2 = r.get_class(NS, "T_Sub").unwrap().property("Size").unwrap();
    assert!(
        !qualifier::find(&sub2.qualifiers, "Override")
            .unwrap()
            .propagated
    );
    assert!(s.property("Id").unwrap().is_key());
    // DisableOverride: Key may not be switched off.
    assert!(
        err("class T_B { [Key] string Id; }; class T_S : T_B { [Key(false)] string Id; };")
            .message
            .contains("may not be overridden")
    );
}

#[test]
fn associations_references_and_methods() {
    let r = repo_with(
        r#"class T_A { [Key] string Id; };
        [Association] class T_L { [Key] T_A REF Left; [Key] T_A REF Right; };
        association T_L2 : T_L { };
        class T_S {
            [Description("go")] uint32 Go([In] string Name, [In(false), Out] T_A REF Made[],
                [EmbeddedInstance("T_A")] string Emb);
        };"#,
    )
    .unwrap();
    let l = r.get_class(NS, "T_L").unwrap();
    assert!(l.is_association());
    let left = l.property("Left").unwrap();
    assert_eq!(left.cim_type, CimType::Reference);
    assert_eq!(left.reference_class.as_ref().unwrap(), "T_A");
    assert!(r.get_class(NS, "T_L2").unwrap().is_association());
    let go = r
        .get_class(NS, "T_S")
        .unwrap()
        .method("Go")
        .unwrap()
        .clone();
    assert_eq!(go.return_type, CimType::Uint32);
    let made = go.parameter("Made").unwrap();
    assert!(made.is_array && made.is_out() && !made.is_in());
    assert_eq!(made.reference_class.as_ref().unwrap(), "T_A");
    let emb = go.parameter("Emb").unwrap();
    assert_eq!(emb.cim_type, CimType::String);
    assert_eq!(emb.embedded_class.as_ref().unwrap(), "T_A");
    assert!(err("class T { T_Missing REF R; };")
        .message
        .contains("T_Missing"));
    assert!(err("class T { T REF R(); };")
        .message
        .contains("cannot return a reference"));
    assert!(err("[Association] class T { [Key] T_X REF Y; };")
        .message
        .contains("T_X"));
    // In is declared for parameters only.
    assert!(err("class T { [In] string S; };")
        .message
        .contains("on a property"));
}

#[test]
fn instances_with_aliases_and_defaults() {
    let r = repo_with(
        r#"class T_A { [Key] string Id; uint16 Count = 3; string Tags[]; };
        [Association] class T_L { [Key] T_A REF Left; [Key] T_A REF Right; };
        instance of T_A as $a1 { Id = "one"; Tags = {"x", "y"}; };
        instance of T_A as $A2 { Id = "two"; Count = 9; };
        instance of T_L { Left = $a1; Right = $a2; };
        instance of T_L { Left = "T_A.Id=\"one\""; Right = $a1; };"#,
    )
    .unwrap();
    let insts = r.instances(NS);
    assert_eq!(insts.len(), 4);
    let a1 = &insts[0];
    assert_eq!(a1.get("Count"), Some(&CimValue::Uint16(3)));
    assert_eq!(a1.property("Count").unwrap().cim_type, CimType::Uint16);
    assert_eq!(
        a1.get("Tags"),
        Some(&CimValue::Array(vec!["x".into(), "y".into()]))
    );
    let link = &insts[2];
    match link.get("Right") {
        Some(CimValue::Reference(p)) => {
            assert_eq!(p.key_str("Id"), Some("two"));
            assert_eq!(p.namespace.as_deref(), Some(NS));
        }
        other => panic!("{other:?}"),
    }
    let path = link.path.as_ref().unwrap();
    assert_eq!(path.key_bindings.len(), 2);
    match insts[3].get("Left") {
        Some(CimValue::Reference(p)) => assert_eq!(p.key_str("Id"), Some("one")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn instance_errors() {
    let base = "[Abstract] class T_Abs { [Key] string Id; }; class T_A : T_Abs { uint8 N; };";
    let e = |s: &str| err(&format!("{base}\n{s}"));
    assert!(e("instance of T_Abs { Id = \"x\"; };")
        .message
        .contains("abstract"));
    assert!(e("instance of T_Nope { };")
        .message
        .contains("not declared"));
    assert!(e("instance of T_A { Id = \"x\"; Bad = 1; };")
        .message
        .contains("no property `Bad`"));
    assert!(e("instance of T_A { N = 1; };")
        .message
        .contains("key property `Id`"));
    assert!(e("instance of T_A { Id = \"x\"; N = -1; };")
        .message
        .contains("out of range"));
    assert!(e("instance of T_A { Id = \"x\"; id = \"y\"; };")
        .message
        .contains("twice"));
    let dup = e("instance of T_A { Id = \"x\"; };\ninstance of T_A { Id = \"x\"; };");
    assert_eq!(dup.line, 3);
    assert!(dup.message.contains("already exists"), "{dup}");
    let e2 = e("instance of T_A as $x { Id = \"x\"; };\ninstance of T_A as $X { Id = \"y\"; };");
    assert!(e2.message.contains("already defined"));
}

#[test]
fn pragmas_namespace_locale_unknown_and_include() {
    let mut r = Repository::new();
    let s = compile_str(
        &mut r,
        NS,
        "p.mof",
        "#pragma locale (\"en_US\")\n#pragma foo (\"bar\")\n#pragma namespace (\"/root/other/\")\n\
         Qualifier Key : boolean = false, Scope(property), Flavor(DisableOverride, ToSubclass);\n\
         class X { [Key] string K; };",
    )
    .unwrap();
    assert_eq!(
        s.warnings,
        vec!["p.mof:2:1: unknown pragma `foo` ignored".to_string()]
    );
    assert_eq!((s.classes, s.qualifier_decls, s.instances), (1, 1, 0));
    assert!(r.get_class("root/other", "X").is_ok());
    assert!(r.has_namespace(NS));
    let e = compile_str(&mut r, NS, "p.mof", "#pragma include (\"x.mof\")").unwrap_err();
    assert!(e.message.contains("cannot include"), "{e}");
}

#[test]
fn includes_resolve_and_cycles_are_caught() {
    let src = MemSource::new([
        (
            "top.mof",
            "#pragma include (\"q.mof\")\n#pragma include (\"c.mof\")",
        ),
        ("q.mof", QUALIFIERS),
        ("c.mof", "class T_C { [Key] string Id; };"),
        ("loop1.mof", "#pragma include (\"loop2.mof\")"),
        ("loop2.mof", "\n#pragma include (\"loop1.mof\")"),
        (
            "bad.mof",
            "#pragma include (\"c.mof\")\nclass T_C2 : Nope {};",
        ),
    ]);
    let mut r = Repository::new();
    let s = compile(&mut r, NS, "top.mof", &src).unwrap();
    assert_eq!(s.classes, 1);
    assert!(r.get_class(NS, "T_C").is_ok());
    let e = compile(&mut r, NS, "loop1.mof", &src).unwrap_err();
    assert_eq!((e.file.as_str(), e.line), ("loop2.mof", 2));
    assert!(
        e.message.contains("loop1.mof -> loop2.mof -> loop1.mof"),
        "{e}"
    );
    let e = compile(&mut r, NS, "missing.mof", &src).unwrap_err();
    assert!(e.message.contains("missing.mof"), "{e}");
}

#[test]
fn a_failed_compile_leaves_the_repository_unchanged() {
    let mut r = repo_with("class T_Ok {};").unwrap();
    let before = r.class_names(NS, None, true).unwrap();
    assert!(compile_str(
        &mut r,
        NS,
        "x.mof",
        "class T_New {}; class T_Bad : Nope {};"
    )
    .is_err());
    assert_eq!(r.class_names(NS, None, true).unwrap(), before);
}

#[test]
fn never_panics_on_junk() {
    let mut r = Repository::new();
    for junk in [
        "",
        "[",
        "[]",
        "class",
        "class A",
        "class A {",
        "instance of",
        "#",
        "#pragma",
        "Qualifier",
        "Qualifier A : ",
        "class A { uint8 x[4294967296]; };",
        "\"",
        "'",
        "/*",
        "$",
        "\u{0}",
        "class A { A REF",
        "[Key(",
        "instance of A as $",
        "{}",
        "-",
        "0x",
        "99999999999999999999999999999999999999999999",
    ] {
        let _ = compile_str(&mut r, NS, "j.mof", junk);
    }
}
