//! Golden requests: each document under `tests/golden/*.request.xml`
//! decodes to the structure below (server side), and encoding that
//! structure reproduces the document (client side).

mod common;

use common::*;
use vine_cim::*;
use vine_cimxml::*;

fn v(s: &str) -> ParamValue {
    ParamValue::Value(CimValue::String(s.into()))
}
fn cn(s: &str) -> ParamValue {
    ParamValue::ClassName(s.into())
}
fn names(list: &[&str]) -> ParamValue {
    ParamValue::PropertyList(list.iter().map(|s| s.to_string()).collect())
}

const OPEN: [(&str, &str); 3] = [
    ("OperationTimeout", "30"),
    ("ContinueOnError", "FALSE"),
    ("MaxObjectCount", "100"),
];

/// The parameters each golden request carries, in order.
fn expected_params(op: &IntrinsicMethod) -> Vec<(&'static str, ParamValue)> {
    use IntrinsicMethod as M;
    let iname = || ParamValue::InstanceName(common::iname("foo1"));
    let obj_inst = || ParamValue::ObjectName(ObjectName::Instance(common::iname("foo1")));
    let open = || OPEN.iter().map(|(n, x)| (*n, v(x))).collect::<Vec<_>>();
    let pull = || {
        vec![
            ("EnumerationContext", v("ctx-1")),
            ("MaxObjectCount", v("100")),
        ]
    };
    match op {
        M::GetClass => vec![
            ("ClassName", cn("CIM_Foo")),
            ("LocalOnly", v("FALSE")),
            ("IncludeQualifiers", v("TRUE")),
            ("IncludeClassOrigin", v("TRUE")),
            ("PropertyList", names(&["InstanceID"])),
        ],
        M::EnumerateClasses => vec![
            ("ClassName", cn("CIM_ManagedElement")),
            ("DeepInheritance", v("TRUE")),
            ("LocalOnly", v("FALSE")),
        ],
        M::EnumerateClassNames => vec![("DeepInheritance", v("true"))],
        M::CreateClass => vec![("NewClass", ParamValue::Class(class()))],
        M::ModifyClass => vec![("ModifiedClass", ParamValue::Class(class()))],
        M::DeleteClass => vec![("ClassName", cn("CIM_Foo"))],
        M::GetInstance => vec![
            ("InstanceName", iname()),
            ("LocalOnly", v("FALSE")),
            ("PropertyList", names(&[])),
        ],
        M::EnumerateInstances => vec![
            ("ClassName", cn("CIM_Foo")),
            ("DeepInheritance", v("FALSE")),
            ("PropertyList", names(&["InstanceID", "Count"])),
        ],
        M::EnumerateInstanceNames => vec![("ClassName", cn("CIM_Foo"))],
        M::CreateInstance => vec![("NewInstance", ParamValue::Instance(inst("foo1")))],
        M::ModifyInstance => vec![
            (
                "ModifiedInstance",
                ParamValue::NamedInstance(with_path(inst("foo1"), common::iname("foo1"))),
            ),
            ("IncludeQualifiers", v("FALSE")),
            ("PropertyList", names(&["Count"])),
        ],
        M::DeleteInstance => vec![("InstanceName", iname())],
        M::GetProperty => vec![("InstanceName", iname()), ("PropertyName", v("Count"))],
        M::SetProperty => vec![
            ("InstanceName", iname()),
            ("PropertyName", v("Count")),
            ("NewValue", v("7")),
        ],
        M::Associators => vec![
            ("ObjectName", obj_inst()),
            ("AssocClass", cn("CIM_FooAssoc")),
            ("ResultClass", cn("CIM_Foo")),
            ("Role", v("Left")),
            ("ResultRole", v("Right")),
            ("IncludeQualifiers", v("FALSE")),
            ("IncludeClassOrigin", v("FALSE")),
        ],
        M::AssociatorNames => vec![
            (
                "ObjectName",
                ParamValue::ObjectName(ObjectName::Class(CimClassName::new("CIM_Foo"))),
            ),
            ("AssocClass", cn("CIM_FooAssoc")),
        ],
        M::References => vec![
            ("ObjectName", obj_inst()),
            ("ResultClass", cn("CIM_FooAssoc")),
            ("Role", v("Left")),
        ],
        M::ReferenceNames => vec![("ObjectName", obj_inst())],
        M::ExecQuery => vec![
            ("QueryLanguage", v("WQL")),
            ("Query", v("SELECT * FROM CIM_Foo WHERE Count > 3")),
        ],
        M::GetQualifier | M::DeleteQualifier => vec![("QualifierName", v("Key"))],
        M::SetQualifier => vec![(
            "QualifierDeclaration",
            ParamValue::QualifierDecl(key_decl()),
        )],
        M::EnumerateQualifiers => vec![],
        M::OpenEnumerateInstances => {
            let mut p = vec![
                ("ClassName", cn("CIM_Foo")),
                ("DeepInheritance", v("TRUE")),
                ("FilterQueryLanguage", ParamValue::Null),
            ];
            p.extend(open());
            p
        }
        M::OpenEnumerateInstancePaths => {
            vec![("ClassName", cn("CIM_Foo")), ("MaxObjectCount", v("0"))]
        }
        M::OpenReferenceInstances => {
            let mut p = vec![
                ("InstanceName", iname()),
                ("ResultClass", cn("CIM_FooAssoc")),
                ("Role", v("Left")),
            ];
            p.extend(open());
            p
        }
        M::OpenReferenceInstancePaths => {
            vec![("InstanceName", iname()), ("MaxObjectCount", v("10"))]
        }
        M::OpenAssociatorInstances => vec![
            ("InstanceName", iname()),
            ("AssocClass", cn("CIM_FooAssoc")),
            ("ResultRole", v("Right")),
            ("MaxObjectCount", v("10")),
        ],
        M::OpenAssociatorInstancePaths => vec![
            ("InstanceName", iname()),
            ("ResultClass", cn("CIM_Foo")),
            ("MaxObjectCount", v("10")),
        ],
        M::OpenQueryInstances => vec![
            ("FilterQueryLanguage", v("DMTF:CQL")),
            ("FilterQuery", v("SELECT * FROM CIM_Foo")),
            ("ReturnQueryResultClass", v("FALSE")),
            ("MaxObjectCount", v("10")),
        ],
        M::PullInstancesWithPath | M::PullInstancePaths | M::PullInstances => pull(),
        M::CloseEnumeration | M::EnumerationCount => {
            vec![("EnumerationContext", v("ctx-1"))]
        }
        M::Other(o) => panic!("no golden for {o}"),
    }
}

#[test]
fn every_intrinsic_request_decodes_and_encodes() {
    let limits = DecodeLimits::default();
    for op in IntrinsicMethod::ALL {
        let file = format!("{op}.request.xml");
        let msg = decode_request(golden(&file).as_bytes(), &limits)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let expected = RequestMessage {
            id: "1001".into(),
            protocol_version: "1.0".into(),
            request: Request::Intrinsic {
                namespace: NS.into(),
                method: op.clone(),
                params: expected_params(op)
                    .into_iter()
                    .map(|(n, v)| (CimName::new(n), v))
                    .collect(),
            },
        };
        assert_eq!(msg, expected, "{file}");
        assert_same_xml(&encode_request(&expected), &file);
    }
}

#[test]
fn the_dispatcher_helpers_read_golden_parameters() {
    let limits = DecodeLimits::default();
    let msg = decode_request(
        golden("OpenEnumerateInstances.request.xml").as_bytes(),
        &limits,
    )
    .unwrap();
    let Request::Intrinsic { params, .. } = &msg.request else {
        panic!()
    };
    assert!(param_bool(params, "DeepInheritance", false).unwrap());
    assert!(!param_bool(params, "ContinueOnError", true).unwrap());
    assert_eq!(param_u32(params, "OperationTimeout").unwrap(), Some(30));
    assert_eq!(param_u32(params, "MaxObjectCount").unwrap(), Some(100));
    assert_eq!(param_string(params, "FilterQueryLanguage").unwrap(), None);
    assert_eq!(param_property_list(params, "PropertyList").unwrap(), None);

    let msg = decode_request(golden("Associators.request.xml").as_bytes(), &limits).unwrap();
    let Request::Intrinsic { params, .. } = &msg.request else {
        panic!()
    };
    assert_eq!(
        param_object_name(params, "ObjectName").unwrap(),
        Some(ObjectName::Instance(iname("foo1")))
    );
    assert_eq!(
        param_class_name(params, "AssocClass").unwrap(),
        Some("CIM_FooAssoc".into())
    );
    assert_eq!(
        param_string(params, "Role").unwrap().as_deref(),
        Some("Left")
    );

    let msg = decode_request(golden("GetInstance.request.xml").as_bytes(), &limits).unwrap();
    let Request::Intrinsic { params, .. } = &msg.request else {
        panic!()
    };
    assert_eq!(
        param_property_list(params, "PropertyList").unwrap(),
        Some(vec![])
    );
    assert_eq!(
        param_instance_name(params, "InstanceName").unwrap(),
        Some(iname("foo1"))
    );
}

#[test]
fn method_calls_decode_typed_and_encode() {
    let limits = DecodeLimits::default();
    let typed = |name: &str, t: CimType, v: Option<CimValue>| CimParamValue {
        name: name.into(),
        cim_type: Some(t),
        value: v,
    };
    let expected = RequestMessage {
        id: "1001".into(),
        protocol_version: "1.0".into(),
        request: Request::Extrinsic {
            target: MethodTarget::Instance(iname("foo1").with_namespace(NS)),
            method: "Reset".into(),
            params: vec![
                CimParamValue::new("Force", true),
                CimParamValue::new("Target", iname("foo2").with_namespace(NS)),
                CimParamValue::new("Opts", vec!["fast", "quiet"]),
                typed(
                    "Peers",
                    CimType::Reference,
                    Some(CimValue::Array(vec![
                        iname("foo2").into(),
                        iname("foo3").into(),
                    ])),
                ),
                CimParamValue::new("Settings", settings()),
                typed("Timeout", CimType::Uint16, None),
            ],
        },
    };
    let msg = decode_request(golden("InvokeMethod.request.xml").as_bytes(), &limits).unwrap();
    assert_eq!(msg, expected);
    assert_same_xml(&encode_request(&expected), "InvokeMethod.request.xml");

    let expected = RequestMessage {
        id: "1001".into(),
        protocol_version: "1.0".into(),
        request: Request::Extrinsic {
            target: MethodTarget::Class(CimClassName {
                class_name: "CIM_Foo".into(),
                namespace: Some(NS.into()),
                host: None,
            }),
            method: "Create".into(),
            params: vec![CimParamValue::new("Name", "vm1")],
        },
    };
    let msg = decode_request(golden("InvokeMethodStatic.request.xml").as_bytes(), &limits).unwrap();
    assert_eq!(msg, expected);
    assert_same_xml(&encode_request(&expected), "InvokeMethodStatic.request.xml");
}

#[test]
fn export_indication_decodes_and_encodes() {
    let expected = ExportIndication {
        id: "1001".into(),
        protocol_version: "1.0".into(),
        indication: CimInstance::new("CIM_AlertIndication")
            .with("Message", "disk full")
            .with("PerceivedSeverity", 6u16),
    };
    let got = decode_export_indication(
        golden("ExportIndication.request.xml").as_bytes(),
        &DecodeLimits::default(),
    )
    .unwrap();
    assert_eq!(got, expected);
    assert_same_xml(
        &encode_export_indication(&expected),
        "ExportIndication.request.xml",
    );
}
