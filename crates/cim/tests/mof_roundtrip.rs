//! Printing classes, instances and qualifier declarations as MOF and
//! compiling the text again gives back the same objects.

use std::time::Duration;

use proptest::prelude::*;
use vine_cim::mof::{class_to_mof, compile_str, instance_to_mof, qualifier_decl_to_mof};
use vine_cim::{
    CimClass, CimDateTime, CimInstance, CimMethod, CimName, CimParameter, CimProperty,
    CimQualifier, CimType, CimValue, Repository,
};

const NS: &str = "root/rt";

const PRELUDE: &str = r#"
Qualifier Key : boolean = false, Scope(property, reference), Flavor(DisableOverride, ToSubclass);
Qualifier Description : string = null, Scope(any), Flavor(EnableOverride, ToSubclass, Translatable);
Qualifier MaxLen : uint32 = null, Scope(property, method, parameter);
Qualifier ValueMap : string[], Scope(property, method, parameter);
Qualifier In : boolean = true, Scope(parameter), Flavor(DisableOverride, ToSubclass);
Qualifier Out : boolean = false, Scope(parameter), Flavor(DisableOverride, ToSubclass);
Qualifier Abstract : boolean = false, Scope(class, association, indication), Flavor(Restricted);
class T_Base { [Key] string BaseId; };
"#;

fn prelude() -> Repository {
    let mut r = Repository::new();
    if let Err(e) = compile_str(&mut r, NS, "prelude.mof", PRELUDE) {
        panic!("{e}");
    }
    r
}

/// A qualifier as the compiler builds it: type and flavor from the
/// declaration in PRELUDE.
fn qual(r: &Repository, name: &str, value: Option<CimValue>) -> CimQualifier {
    let d = r.get_qualifier_decl(NS, name).expect("declared");
    CimQualifier {
        name: d.name.clone(),
        value,
        cim_type: d.cim_type,
        flavor: d.flavor,
        propagated: false,
    }
}

const TYPES: [CimType; 14] = [
    CimType::Boolean,
    CimType::String,
    CimType::Char16,
    CimType::DateTime,
    CimType::Uint8,
    CimType::Sint8,
    CimType::Uint16,
    CimType::Sint16,
    CimType::Uint32,
    CimType::Sint32,
    CimType::Uint64,
    CimType::Sint64,
    CimType::Real32,
    CimType::Real64,
];

fn scalar(t: CimType) -> BoxedStrategy<CimValue> {
    match t {
        CimType::Boolean => any::<bool>().prop_map(CimValue::Boolean).boxed(),
        CimType::String => any::<String>().prop_map(CimValue::String).boxed(),
        CimType::Char16 => any::<char>().prop_map(CimValue::Char16).boxed(),
        CimType::DateTime => (0u64..9_999_999_999, 0u32..1_000_000)
            .prop_map(|(s, us)| {
                CimValue::DateTime(CimDateTime::interval(
                    Duration::from_secs(s) + Duration::from_micros(us as u64),
                ))
            })
            .boxed(),
        CimType::Uint8 => any::<u8>().prop_map(CimValue::Uint8).boxed(),
        CimType::Sint8 => any::<i8>().prop_map(CimValue::Sint8).boxed(),
        CimType::Uint16 => any::<u16>().prop_map(CimValue::Uint16).boxed(),
        CimType::Sint16 => any::<i16>().prop_map(CimValue::Sint16).boxed(),
        CimType::Uint32 => any::<u32>().prop_map(CimValue::Uint32).boxed(),
        CimType::Sint32 => any::<i32>().prop_map(CimValue::Sint32).boxed(),
        CimType::Uint64 => any::<u64>().prop_map(CimValue::Uint64).boxed(),
        CimType::Sint64 => any::<i64>().prop_map(CimValue::Sint64).boxed(),
        CimType::Real32 => any::<f32>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(CimValue::Real32)
            .boxed(),
        _ => any::<f64>()
            .prop_filter("finite", |v| v.is_finite())
            .prop_map(CimValue::Real64)
            .boxed(),
    }
}

/// (type, is_array, default)
fn typed_value() -> impl Strategy<Value = (CimType, bool, Option<CimValue>)> {
    (prop::sample::select(&TYPES[..]), any::<bool>()).prop_flat_map(|(t, is_array)| {
        let value = if is_array {
            prop::collection::vec(scalar(t), 0..4)
                .prop_map(CimValue::Array)
                .boxed()
        } else {
            scalar(t)
        };
        (Just(t), Just(is_array), prop::option::of(value))
    })
}

/// (type, is_array, default), Description, MaxLen.
type PropSpec = (
    (CimType, bool, Option<CimValue>),
    Option<String>,
    Option<u32>,
);
/// Return type, parameters (type, is_array, out), ValueMap.
type MethodSpec = (CimType, Vec<(CimType, bool, bool)>, Vec<String>);

/// Raw material of a class; turned into a `CimClass` with the prelude's
/// qualifier declarations at hand.
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    derived: bool,
    description: Option<String>,
    props: Vec<PropSpec>,
    reference: bool,
    methods: Vec<MethodSpec>,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        "T_[A-Za-z0-9_]{1,10}",
        any::<bool>(),
        prop::option::of(any::<String>()),
        prop::collection::vec(
            (
                typed_value(),
                prop::option::of(".*"),
                prop::option::of(any::<u32>()),
            ),
            0..6,
        ),
        any::<bool>(),
        prop::collection::vec(
            (
                prop::sample::select(&TYPES[..]),
                prop::collection::vec(
                    (
                        prop::sample::select(&TYPES[..]),
                        any::<bool>(),
                        any::<bool>(),
                    ),
                    0..3,
                ),
                prop::collection::vec("[a-z0-9.]{0,5}", 0..3),
            ),
            0..3,
        ),
    )
        .prop_map(
            |(name, derived, description, props, reference, methods)| Spec {
                name,
                derived,
                description,
                props,
                reference,
                methods,
            },
        )
}

fn build(r: &Repository, s: &Spec) -> CimClass {
    let origin = Some(CimName::new(s.name.as_str()));
    let mut c = CimClass::new(s.name.as_str());
    if s.derived {
        c.superclass = Some("T_Base".into());
    }
    if let Some(d) = &s.description {
        c.qualifiers
            .push(qual(r, "Description", Some(d.as_str().into())));
    }
    for (i, ((t, is_array, value), desc, maxlen)) in s.props.iter().enumerate() {
        let mut p = CimProperty::null(format!("P{i}"), *t, *is_array);
        p.value = value.clone();
        p.class_origin = origin.clone();
        if i == 0 && *t == CimType::String && !is_array {
            p.qualifiers.push(qual(r, "Key", Some(true.into())));
        }
        if let Some(d) = desc {
            p.qualifiers
                .push(qual(r, "Description", Some(d.as_str().into())));
        }
        if let Some(m) = maxlen {
            p.qualifiers.push(qual(r, "MaxLen", Some((*m).into())));
        }
        c.properties.push(p);
    }
    if s.reference {
        let mut p = CimProperty::null("Ref", CimType::Reference, false);
        p.reference_class = Some("T_Base".into());
        p.class_origin = origin.clone();
        c.properties.push(p);
    }
    for (i, (ret, params, valuemap)) in s.methods.iter().enumerate() {
        let mut m = CimMethod {
            name: format!("M{i}").into(),
            return_type: *ret,
            parameters: Vec::new(),
            class_origin: origin.clone(),
            propagated: false,
            qualifiers: Vec::new(),
        };
        if !valuemap.is_empty() {
            let vm: Vec<CimValue> = valuemap.iter().map(|v| v.as_str().into()).collect();
            m.qualifiers
                .push(qual(r, "ValueMap", Some(CimValue::Array(vm))));
        }
        for (j, (t, is_array, out)) in params.iter().enumerate() {
            let mut q = vec![qual(r, "In", Some(true.into()))];
            if *out {
                q.push(qual(r, "Out", Some(true.into())));
            }
            m.parameters.push(CimParameter {
                name: format!("A{j}").into(),
                cim_type: *t,
                is_array: *is_array,
                array_size: None,
                reference_class: None,
                embedded_class: None,
                qualifiers: q,
            });
        }
        c.methods.push(m);
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn classes_round_trip(s in spec()) {
        let mut r = prelude();
        let class = build(&r, &s);
        let text = class_to_mof(&class);
        if let Err(e) = compile_str(&mut r, NS, "gen.mof", &text) {
            panic!("{e}\n{text}");
        }
        let back = r.local_class(NS, &s.name).expect("compiled");
        prop_assert_eq!(back, &class, "MOF was:\n{}", text);
        // The resolved class prints as its local declaration, too.
        let resolved = r.get_class(NS, &s.name).expect("compiled");
        prop_assert_eq!(class_to_mof(resolved), text);
    }

    #[test]
    fn instances_round_trip(s in spec(), key in any::<String>()) {
        let mut r = prelude();
        let class = build(&r, &s);
        compile_str(&mut r, NS, "gen.mof", &class_to_mof(&class)).expect("class compiles");
        let resolved = r.get_class(NS, &s.name).expect("compiled").clone();
        let mut inst = CimInstance::new(resolved.name.clone());
        for p in &resolved.properties {
            let mut v = p.value.clone();
            if p.is_key() {
                v = Some(key.as_str().into());
            }
            if p.cim_type == CimType::Reference {
                v = Some(CimValue::Reference(Box::new(
                    vine_cim::CimInstanceName::new("T_Base").with_key("BaseId", key.as_str()),
                )));
            }
            inst.set_property(CimProperty { value: v, qualifiers: vec![], ..p.clone() });
        }
        let text = instance_to_mof(&inst);
        if let Err(e) = compile_str(&mut r, NS, "inst.mof", &text) {
            panic!("{e}\n{text}");
        }
        let back = r.instances(NS).last().expect("added");
        let pairs = |i: &CimInstance| {
            i.properties.iter().map(|p| (p.name.clone(), p.value.clone())).collect::<Vec<_>>()
        };
        prop_assert_eq!(pairs(back), pairs(&inst), "MOF was:\n{}", text);
    }
}

#[test]
fn qualifier_declarations_round_trip() {
    let r = prelude();
    let text: String = r
        .qualifier_decls(NS)
        .expect("namespace")
        .into_iter()
        .map(qualifier_decl_to_mof)
        .collect();
    let mut again = Repository::new();
    if let Err(e) = compile_str(&mut again, NS, "q.mof", &text) {
        panic!("{e}\n{text}");
    }
    assert_eq!(
        again.qualifier_decls(NS).expect("namespace"),
        r.qualifier_decls(NS).expect("namespace")
    );
}
