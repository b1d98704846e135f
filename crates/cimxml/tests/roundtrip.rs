//! Property tests: arbitrary values, instances, instance names and method
//! parameters survive encode → decode unchanged.

use std::time::Duration;

use proptest::prelude::*;
use vine_cim::*;
use vine_cimxml::*;

fn ident() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,10}"
}

/// Any string XML 1.0 can carry: no controls other than tab and newline
/// (carriage returns are escaped by the encoder, so they are in too).
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC*",
        "[<>&\"' \t\n\r]{0,8}",
        "[a-z]{0,4}[<>&\"']{1,3}[\u{e9}\u{4e2d}\u{1F600}]{0,2}",
    ]
}

/// A scalar of one type, so that arrays can be built from one strategy.
fn scalar_of(kind: u8) -> BoxedStrategy<CimValue> {
    match kind {
        0 => any::<bool>().prop_map(CimValue::Boolean).boxed(),
        1 => text().prop_map(CimValue::String).boxed(),
        2 => any::<char>()
            .prop_filter("XML character", |c| {
                !c.is_control() || matches!(c, '\t' | '\n')
            })
            .prop_filter("not a noncharacter", |c| {
                !matches!(*c, '\u{FFFE}' | '\u{FFFF}')
            })
            .prop_map(CimValue::Char16)
            .boxed(),
        3 => (0u64..10_000_000, 0u32..1_000_000)
            .prop_map(|(s, us)| {
                CimValue::DateTime(CimDateTime::interval(
                    Duration::from_secs(s) + Duration::from_micros(us as u64),
                ))
            })
            .boxed(),
        4 => any::<u8>().prop_map(CimValue::Uint8).boxed(),
        5 => any::<i8>().prop_map(CimValue::Sint8).boxed(),
        6 => any::<u16>().prop_map(CimValue::Uint16).boxed(),
        7 => any::<i16>().prop_map(CimValue::Sint16).boxed(),
        8 => any::<u32>().prop_map(CimValue::Uint32).boxed(),
        9 => any::<i32>().prop_map(CimValue::Sint32).boxed(),
        10 => any::<u64>().prop_map(CimValue::Uint64).boxed(),
        11 => any::<i64>().prop_map(CimValue::Sint64).boxed(),
        12 => any::<f32>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(CimValue::Real32)
            .boxed(),
        _ => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(CimValue::Real64)
            .boxed(),
    }
}

/// A key value: what `KEYVALUE` and `VALUE.REFERENCE` carry.
fn key_value() -> impl Strategy<Value = CimValue> {
    prop_oneof![
        text().prop_map(CimValue::String),
        any::<bool>().prop_map(CimValue::Boolean),
        any::<u64>().prop_map(CimValue::Uint64),
        any::<i64>().prop_map(CimValue::Sint64),
        any::<u16>().prop_map(CimValue::Uint16),
    ]
}

fn flat_name() -> impl Strategy<Value = CimInstanceName> {
    (
        ident(),
        prop::collection::vec((ident(), key_value()), 0..4),
        prop::option::of("[a-z]{1,5}(/[a-z]{1,5}){0,2}"),
    )
        .prop_map(|(class, keys, ns)| {
            let mut p = CimInstanceName::new(class);
            for (k, v) in keys {
                p.set_key(k, v);
            }
            p.namespace = ns;
            p
        })
}

/// Instance names whose keys may themselves be references.
fn instance_name() -> impl Strategy<Value = CimInstanceName> {
    (
        flat_name(),
        prop::option::of((ident(), flat_name())),
        prop::option::of("[a-z.]{1,12}"),
    )
        .prop_map(|(mut p, r, host)| {
            if let Some((k, r)) = r {
                p.set_key(k, r);
            }
            if p.namespace.is_some() {
                p.host = host;
            }
            p
        })
}

fn value() -> impl Strategy<Value = CimValue> {
    (0u8..14, any::<bool>()).prop_flat_map(|(kind, array)| {
        if array {
            prop::collection::vec(scalar_of(kind), 1..4)
                .prop_map(CimValue::Array)
                .boxed()
        } else {
            scalar_of(kind)
        }
    })
}

fn flat_instance() -> impl Strategy<Value = CimInstance> {
    (ident(), prop::collection::vec((ident(), value()), 0..5)).prop_map(|(class, props)| {
        let mut i = CimInstance::new(class);
        i.properties = props
            .into_iter()
            .map(|(n, v)| CimProperty::new(n, v))
            .collect();
        i
    })
}

/// Instances with scalar, array, reference and embedded-instance
/// properties and a typed NULL.
fn instance() -> impl Strategy<Value = CimInstance> {
    (
        flat_instance(),
        prop::option::of(flat_instance()),
        prop::option::of(instance_name()),
        prop::option::of((0u8..14, any::<bool>())),
    )
        .prop_map(|(mut i, emb, r, null)| {
            if let Some(e) = emb {
                i.properties.push(CimProperty::new("Embedded", e));
            }
            if let Some(r) = r {
                i.properties.push(CimProperty::new("Ref", r));
            }
            if let Some((kind, array)) = null {
                let types = [
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
                i.properties
                    .push(CimProperty::null("Null", types[kind as usize], array));
            }
            i
        })
}

fn limits() -> DecodeLimits {
    DecodeLimits::default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn instances_round_trip(i in instance()) {
        let resp = Ok(IntrinsicResponse::new(ReturnValue::Instance(i)));
        let xml = encode_intrinsic_response("1", "GetInstance", &resp);
        let (_, body) = decode_response(&xml, &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(body, ResponseBody::Intrinsic(resp));
    }

    #[test]
    fn instance_names_round_trip(names in prop::collection::vec(instance_name(), 0..4)) {
        let resp = Ok(IntrinsicResponse::new(ReturnValue::InstanceNames(names.clone())));
        let xml = encode_intrinsic_response("1", "EnumerateInstanceNames", &resp);
        let (_, body) = decode_response(&xml, &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ResponseBody::Intrinsic(Ok(got)) = body else { return Err(TestCaseError::fail("error body")) };
        let ReturnValue::InstanceNames(got) = got.ret else { return Err(TestCaseError::fail("wrong form")) };
        prop_assert_eq!(got.len(), names.len());
        for (g, w) in got.iter().zip(&names) {
            // INSTANCENAME carries no namespace; the keys must survive exactly.
            prop_assert!(g.same_object(w), "{:?} vs {:?}", g, w);
        }
    }

    #[test]
    fn paths_with_instances_round_trip(i in instance(), p in instance_name()) {
        let mut p = p;
        p.namespace.get_or_insert_with(|| "root/x".into());
        p.host.get_or_insert_with(|| "h".into());
        let mut i = i;
        i.path = Some(p);
        let resp = Ok(IntrinsicResponse {
            ret: ReturnValue::InstancesWithPath(vec![i]),
            out_params: vec![("EndOfSequence".into(), true.into()), ("EnumerationContext".into(), "c".into())],
        });
        let xml = encode_intrinsic_response("9", "PullInstancesWithPath", &resp);
        let (_, body) = decode_response(&xml, &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(body, ResponseBody::Intrinsic(resp));
    }

    #[test]
    fn method_parameters_round_trip(
        params in prop::collection::vec((ident(), value()), 0..4),
        refs in prop::collection::vec(instance_name(), 0..3),
        emb in prop::option::of(flat_instance()),
        target in instance_name(),
    ) {
        let mut params: Vec<CimParamValue> =
            params.into_iter().map(|(n, v)| CimParamValue::new(n, v)).collect();
        params.push(CimParamValue::new("Refs", CimValue::Array(refs.into_iter().map(CimValue::from).collect())));
        if let Some(e) = emb {
            params.push(CimParamValue::new("Embedded", e));
        }
        let mut target = target;
        target.namespace = Some("root/virt".into());
        target.host = None;
        let msg = RequestMessage {
            id: "42".into(),
            protocol_version: "1.0".into(),
            request: Request::Extrinsic { target: MethodTarget::Instance(target), method: "Go".into(), params: params.clone() },
        };
        let got = decode_request(&encode_request(&msg), &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(got, msg);

        let resp = Ok(MethodResponse { return_value: Some(CimValue::Uint32(0)), out_params: params });
        let (_, body) = decode_response(&encode_method_response("42", "Go", &resp), &limits())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(body, ResponseBody::Extrinsic(resp));
    }

    #[test]
    fn error_descriptions_round_trip(code in 1u32..=28, desc in text()) {
        let Some(status) = CimStatus::from_code(code) else { return Ok(()) };
        let e = CimError::new(status, desc);
        let xml = encode_intrinsic_response("1", "GetClass", &Err(e.clone()));
        let (_, body) = decode_response(&xml, &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(body, ResponseBody::Intrinsic(Err(e)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_request(&bytes, &limits());
        let _ = decode_response(&bytes, &limits());
    }
}
