//! Golden responses: encoding each structure below reproduces
//! `tests/golden/*.response.xml` (server side), and decoding the document
//! gives the structure back (client side).

mod common;

use common::*;
use vine_cim::*;
use vine_cimxml::*;

fn out(eos: bool, ctx: &str) -> Vec<(CimName, CimValue)> {
    vec![
        ("EndOfSequence".into(), CimValue::Boolean(eos)),
        ("EnumerationContext".into(), CimValue::String(ctx.into())),
    ]
}

/// The response each golden holds for `op`.
fn expected(op: &IntrinsicMethod) -> IntrinsicResponse {
    use IntrinsicMethod as M;
    use ReturnValue as R;
    let owp = || {
        R::ObjectsWithPath(vec![ObjectWithPath::Instance(with_path(
            inst("foo1"),
            ipath("foo1"),
        ))])
    };
    let iwp = || R::InstancesWithPath(vec![with_path(inst("foo1"), ipath("foo1"))]);
    let (ret, out_params) = match op {
        M::GetClass | M::EnumerateClasses => (R::Classes(vec![class()]), vec![]),
        M::EnumerateClassNames => (
            R::ClassNames(vec!["CIM_ManagedElement".into(), "CIM_Foo".into()]),
            vec![],
        ),
        M::GetInstance => (R::Instance(inst("foo1")), vec![]),
        M::EnumerateInstances => (
            R::NamedInstances(vec![
                with_path(inst("foo1"), iname("foo1")),
                with_path(inst("foo2"), iname("foo2")),
            ]),
            vec![],
        ),
        M::EnumerateInstanceNames => (R::InstanceNames(vec![iname("foo1"), iname("foo2")]), vec![]),
        M::CreateInstance => (R::InstanceName(iname("foo1")), vec![]),
        // The wire form of a property value is untyped, so a client reads
        // it back as a string.
        M::GetProperty => (R::Value(Some(CimValue::String("42".into()))), vec![]),
        M::Associators | M::References | M::ExecQuery => (owp(), vec![]),
        M::AssociatorNames => (
            R::ObjectPaths(vec![ObjectName::Class(CimClassName {
                class_name: "CIM_Bar".into(),
                namespace: Some(NS.into()),
                host: Some(HOST.into()),
            })]),
            vec![],
        ),
        M::ReferenceNames => (
            R::ObjectPaths(vec![ObjectName::Instance(ipath("foo2"))]),
            vec![],
        ),
        M::GetQualifier => (R::QualifierDecl(key_decl()), vec![]),
        M::EnumerateQualifiers => (R::QualifierDecls(vec![key_decl(), valuemap_decl()]), vec![]),
        M::OpenEnumerateInstances | M::OpenAssociatorInstances => (iwp(), out(false, "ctx-1")),
        M::OpenReferenceInstances | M::PullInstancesWithPath => (iwp(), out(true, "")),
        M::OpenEnumerateInstancePaths => (R::InstancePaths(vec![]), out(false, "ctx-1")),
        M::OpenReferenceInstancePaths => (R::InstancePaths(vec![ipath("foo2")]), out(true, "")),
        M::OpenAssociatorInstancePaths => (R::InstancePaths(vec![ipath("foo1")]), out(true, "")),
        M::PullInstancePaths => (
            R::InstancePaths(vec![ipath("foo1"), ipath("foo2")]),
            out(true, ""),
        ),
        M::OpenQueryInstances => (R::Instances(vec![inst("foo1")]), out(true, "")),
        M::PullInstances => (R::Instances(vec![inst("foo1")]), out(false, "ctx-1")),
        M::EnumerationCount => (R::None, vec![("Count".into(), CimValue::Uint64(3))]),
        M::CreateClass
        | M::ModifyClass
        | M::DeleteClass
        | M::ModifyInstance
        | M::DeleteInstance
        | M::SetProperty
        | M::SetQualifier
        | M::DeleteQualifier
        | M::CloseEnumeration => (R::None, vec![]),
        M::Other(o) => panic!("no golden for {o}"),
    };
    IntrinsicResponse { ret, out_params }
}

#[test]
fn every_intrinsic_response_encodes_and_decodes() {
    let limits = DecodeLimits::default();
    for op in IntrinsicMethod::ALL {
        let file = format!("{op}.response.xml");
        let resp = Ok(expected(op));
        let xml = encode_intrinsic_response("1001", op.as_str(), &resp);
        assert_same_xml(&xml, &file);
        let (id, body) = decode_response(golden(&file).as_bytes(), &limits)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(id, "1001");
        assert_eq!(body, ResponseBody::Intrinsic(resp), "{file}");
    }
}

#[test]
fn typed_property_values_encode_like_the_golden() {
    let resp = Ok(IntrinsicResponse::new(ReturnValue::Value(Some(
        CimValue::Uint32(42),
    ))));
    assert_same_xml(
        &encode_intrinsic_response("1001", "GetProperty", &resp),
        "GetProperty.response.xml",
    );
}

#[test]
fn method_response_encodes_and_decodes() {
    let mut job = CimInstanceName::new("CIM_ConcreteJob")
        .with_key("InstanceID", "job1")
        .with_namespace(NS);
    job.host = Some(HOST.into());
    let resp = Ok(MethodResponse {
        return_value: Some(CimValue::Uint32(4096)),
        out_params: vec![
            CimParamValue::new("Job", job),
            CimParamValue::new("Result", settings()),
        ],
    });
    let xml = encode_method_response("1001", "Reset", &resp);
    assert_same_xml(&xml, "InvokeMethod.response.xml");
    let (_, body) = decode_response(
        golden("InvokeMethod.response.xml").as_bytes(),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(body, ResponseBody::Extrinsic(resp));
}

#[test]
fn errors_carry_code_description_and_cim_error() {
    let limits = DecodeLimits::default();
    let e = CimError::new(
        CimStatus::NotFound,
        "CIM_Foo.InstanceID=\"x\" does not exist",
    );
    let xml = encode_intrinsic_response("1001", "GetInstance", &Err(e.clone()));
    assert_same_xml(&xml, "Error.response.xml");
    let (_, body) = decode_response(golden("Error.response.xml").as_bytes(), &limits).unwrap();
    assert_eq!(body, ResponseBody::Intrinsic(Err(e)));

    let e = CimError::new(CimStatus::MethodNotFound, "no method Reset <here>");
    let xml = encode_method_response("1001", "Reset", &Err(e.clone()));
    assert_same_xml(&xml, "InvokeMethodError.response.xml");
    let (_, body) =
        decode_response(golden("InvokeMethodError.response.xml").as_bytes(), &limits).unwrap();
    assert_eq!(body, ResponseBody::Extrinsic(Err(e)));
}

#[test]
fn export_response_encodes_and_decodes() {
    assert_same_xml(
        &encode_export_response("1001", &Ok(())),
        "ExportIndication.response.xml",
    );
    let got = decode_export_response(
        golden("ExportIndication.response.xml").as_bytes(),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(got, ("1001".to_string(), Ok(())));
    let e = CimError::failed("listener is full");
    let xml = encode_export_response("7", &Err(e.clone()));
    assert_eq!(
        decode_export_response(&xml, &DecodeLimits::default()).unwrap(),
        ("7".to_string(), Err(e))
    );
}

#[test]
fn responses_are_compact_utf8_with_the_declaration() {
    let xml = encode_intrinsic_response(
        "1",
        "DeleteInstance",
        &Ok(IntrinsicResponse::new(ReturnValue::None)),
    );
    let text = String::from_utf8(xml).unwrap();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"utf-8\" ?>"));
    assert!(!text.trim_end().contains("\n<"), "{text}");
    assert!(text.contains("<IMETHODRESPONSE NAME=\"DeleteInstance\"></IMETHODRESPONSE>"));
}
