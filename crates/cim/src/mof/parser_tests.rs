//! Unit tests of the MOF grammar.

use super::*;
use crate::mof::lexer::tokenize;

fn parse_all(text: &str) -> Result<Vec<Production>, MofError> {
    let mut p = Parser::new("t.mof", tokenize("t.mof", text)?);
    let mut out = Vec::new();
    while let Some(prod) = p.next_production()? {
        out.push(prod);
    }
    Ok(out)
}

fn one(text: &str) -> Production {
    let mut v = parse_all(text).unwrap();
    assert_eq!(v.len(), 1);
    v.remove(0)
}

fn err(text: &str) -> MofError {
    parse_all(text).unwrap_err()
}

#[test]
fn pragmas() {
    match one(r#"#pragma include ("a/" "b.mof")"#) {
        Production::Pragma { name, value, pos } => {
            assert_eq!(name, "include");
            assert_eq!(value, "a/b.mof");
            assert_eq!(pos, Pos { line: 1, col: 1 });
        }
        other => panic!("{other:?}"),
    }
    assert!(err("#pragma namespace").message.contains("expected `(`"));
}

#[test]
fn qualifier_declarations() {
    let Production::QualifierDecl(d) = one(
        "Qualifier ValueMap : string[] = {\"a\", \"b\"}, Scope(property, method), \
         Flavor(EnableOverride, ToSubclass);",
    ) else {
        panic!("not a qualifier declaration")
    };
    assert_eq!(d.name, "ValueMap");
    assert_eq!(d.ty.0, "string");
    assert_eq!(d.array, Some(None));
    assert!(matches!(d.default, Some((Lit::Array(ref v), _)) if v.len() == 2));
    assert_eq!(d.scopes.len(), 2);
    assert_eq!(d.flavors.len(), 2);
    let Production::QualifierDecl(d) = one("qualifier MaxLen : uint32 = null, scope(property);")
    else {
        panic!("not a qualifier declaration")
    };
    assert_eq!(d.default.map(|d| d.0), Some(Lit::Null));
    assert!(err("Qualifier X : boolean Scope(any)")
        .message
        .contains("found end of file"));
}

#[test]
fn classes_with_properties_references_and_methods() {
    let Production::Class(c) = one(r#"[Association, Description("links" " two")]
        class CIM_Link : CIM_Base {
            [Key] CIM_A REF Antecedent;
            uint8 Data[4] = {1, 0x2, 011b, -0};
            string Ref;
            [Description("x")] uint32 Go([In] string Name, [Out] CIM_A REF Res[], sint8 N[]);
            real64 R = -1.5e3;
        };"#)
    else {
        panic!("not a class")
    };
    assert_eq!(c.name, "CIM_Link");
    assert_eq!(
        c.superclass.as_ref().map(|s| s.0.as_str()),
        Some("CIM_Base")
    );
    assert_eq!(c.quals.len(), 2);
    assert_eq!(
        c.quals[1].value.as_ref().map(|v| v.0.clone()),
        Some(Lit::Str("links two".into()))
    );
    assert_eq!(c.props.len(), 4);
    assert!(matches!(c.props[0].ty, TypeAst::Ref(ref n, _) if n == "CIM_A"));
    assert_eq!(c.props[1].array, Some(Some(4)));
    assert!(matches!(c.props[2].ty, TypeAst::Named(ref n, _) if n == "string"));
    assert_eq!(c.props[2].name, "Ref");
    assert_eq!(
        c.props[3].default.as_ref().map(|d| d.0.clone()),
        Some(Lit::Real(-1500.0))
    );
    let m = &c.methods[0];
    assert_eq!((m.name.as_str(), m.params.len()), ("Go", 3));
    assert!(matches!(m.params[1].ty, TypeAst::Ref(..)));
    assert_eq!(m.params[1].array, Some(None));
}

#[test]
fn association_keyword_and_instances() {
    let Production::Class(c) = one("ASSOCIATION A { };") else {
        panic!("not a class")
    };
    assert_eq!(c.keyword, "ASSOCIATION");
    let Production::Instance(i) = one(
        "[Description(\"i\")] INSTANCE OF X as $x1 { A = 'c'; [Q] B = {true, false}; C = $x0; D = null; };",
    ) else {
        panic!("not an instance")
    };
    assert_eq!(i.class, "X");
    assert_eq!(i.alias.as_deref(), Some("x1"));
    assert_eq!(i.props.len(), 4);
    assert_eq!(i.props[0].value.0, Lit::Char('c'));
    assert_eq!(i.props[2].value.0, Lit::Alias("x0".into()));
    assert_eq!(i.props[3].value.0, Lit::Null);
    assert_eq!(i.quals.len(), 1);
}

#[test]
fn qualifier_flavors_in_lists() {
    let Production::Class(c) = one("[Description(\"d\") : Restricted Translatable] class A {};")
    else {
        panic!("not a class")
    };
    assert_eq!(c.quals[0].flavors.len(), 2);
}

#[test]
fn errors_name_what_was_expected_and_where() {
    let e = err("class A {\n  string Name\n};");
    assert_eq!(
        e.to_string(),
        "t.mof:3:1: expected `;` after property declaration, found `}`"
    );
    let e = err("class A : { };");
    assert_eq!((e.line, e.column), (1, 11));
    assert!(e.message.contains("superclass name"), "{e}");
    let e = err("class A { uint8 x = {1, 2; };");
    assert!(e.message.contains("between array elements"), "{e}");
    let e = err("class A { uint8 x;");
    assert!(e.message.contains("close the class body"), "{e}");
    let e = err("instance of A as B { };");
    assert!(e.message.contains("alias"), "{e}");
    let e = err("[Key class A {};");
    assert!(e.message.contains("`]`"), "{e}");
    assert!(err("foo").message.contains("expected `class`"));
    assert!(err("class A { uint8 x[-1]; };")
        .message
        .contains("array size"));
    assert!(err("class A { uint8 x = -; };")
        .message
        .contains("number after"));
    assert!(err("class A { uint8 x = {{1}}; };")
        .message
        .contains("value"));
}
