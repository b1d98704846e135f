//! Quick end-to-end checks of the server path: decode a request, encode
//! a response, decode it back.

use vine_cim::{CimInstance, CimInstanceName, CimValue};
use vine_cimxml::*;

const EI: &str = r#"<?xml version="1.0" encoding="utf-8" ?>
<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1001" PROTOCOLVERSION="1.0"><SIMPLEREQ><IMETHODCALL NAME="EnumerateInstances"><LOCALNAMESPACEPATH><NAMESPACE NAME="root"/><NAMESPACE NAME="cimv2"/></LOCALNAMESPACEPATH><IPARAMVALUE NAME="ClassName"><CLASSNAME NAME="CIM_Foo"/></IPARAMVALUE><IPARAMVALUE NAME="LocalOnly"><VALUE>FALSE</VALUE></IPARAMVALUE><IPARAMVALUE NAME="PropertyList"><VALUE.ARRAY><VALUE>Name</VALUE></VALUE.ARRAY></IPARAMVALUE></IMETHODCALL></SIMPLEREQ></MESSAGE></CIM>"#;

#[test]
fn enumerate_instances_round_trip() {
    let msg = decode_request(EI.as_bytes(), &DecodeLimits::default()).unwrap();
    assert_eq!(msg.id, "1001");
    let Request::Intrinsic {
        namespace,
        method,
        params,
    } = &msg.request
    else {
        panic!("not intrinsic")
    };
    assert_eq!(namespace, "root/cimv2");
    assert_eq!(*method, IntrinsicMethod::EnumerateInstances);
    assert_eq!(
        param_class_name(params, "ClassName").unwrap().unwrap(),
        "CIM_Foo"
    );
    assert!(!param_bool(params, "LocalOnly", true).unwrap());
    assert_eq!(
        param_property_list(params, "PropertyList").unwrap(),
        Some(vec!["Name".to_string()])
    );
    assert_eq!(
        decode_request(&encode_request(&msg), &DecodeLimits::default()).unwrap(),
        msg
    );

    let mut inst = CimInstance::new("CIM_Foo")
        .with("Name", "a<&>\"'b")
        .with("N", 5u16);
    inst.path = Some(CimInstanceName::new("CIM_Foo").with_key("Name", "a<&>\"'b"));
    let resp = Ok(IntrinsicResponse::new(ReturnValue::NamedInstances(vec![
        inst.clone(),
    ])));
    let xml = encode_intrinsic_response("1001", "EnumerateInstances", &resp);
    let (id, body) = decode_response(&xml, &DecodeLimits::default()).unwrap();
    assert_eq!(id, "1001");
    assert_eq!(body, ResponseBody::Intrinsic(resp));
    assert_eq!(inst.get("N"), Some(&CimValue::Uint16(5)));
}
