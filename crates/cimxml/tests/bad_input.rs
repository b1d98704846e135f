//! Hostile and broken input: every case is a `DecodeError` of the right
//! kind, never a panic.

use vine_cimxml::*;
use DecodeErrorKind::*;

const HEAD: &str = r#"<?xml version="1.0" encoding="utf-8" ?><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ>"#;
const TAIL: &str = "</SIMPLEREQ></MESSAGE></CIM>";
const NS: &str = r#"<LOCALNAMESPACEPATH><NAMESPACE NAME="root"/></LOCALNAMESPACEPATH>"#;

fn req(body: &str) -> String {
    format!("{HEAD}{body}{TAIL}")
}

fn kind(xml: &[u8]) -> DecodeErrorKind {
    kind_with(xml, &DecodeLimits::default())
}

fn kind_with(xml: &[u8], limits: &DecodeLimits) -> DecodeErrorKind {
    match decode_request(xml, limits) {
        Ok(m) => panic!("accepted: {m:?}"),
        Err(e) => {
            assert!(!e.message.is_empty());
            e.kind
        }
    }
}

#[test]
fn not_well_formed_xml() {
    assert_eq!(
        kind(br#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEREQ></CIM>"#),
        NotWellFormed
    );
    assert_eq!(
        kind(&req("<IMETHODCALL NAME=\"X\">").as_bytes()[..HEAD.len() + 10]),
        NotWellFormed
    );
    assert_eq!(kind(b""), NotWellFormed);
    assert_eq!(
        kind(b"<CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\" CIMVERSION=\"2.0\"/>"),
        NotWellFormed
    );
    let good = req(&format!(
        r#"<IMETHODCALL NAME="EnumerateClassNames">{NS}</IMETHODCALL>"#
    ));
    assert!(decode_request(good.as_bytes(), &DecodeLimits::default()).is_ok());
    assert_eq!(kind(format!("{good}<X/>").as_bytes()), NotWellFormed);
    assert_eq!(kind(format!("{good}text").as_bytes()), NotWellFormed);
}

#[test]
fn wrong_root_and_missing_attributes_are_not_valid() {
    assert_eq!(kind(b"<FOO/>"), NotValid);
    assert_eq!(
        kind(req(&format!("<IMETHODCALL>{NS}</IMETHODCALL>")).as_bytes()),
        NotValid
    );
    assert_eq!(
        kind(req(r#"<IMETHODCALL NAME="GetClass"><LOCALNAMESPACEPATH><NAMESPACE/></LOCALNAMESPACEPATH></IMETHODCALL>"#).as_bytes()),
        NotValid
    );
    assert_eq!(kind(req(&format!(r#"<IMETHODCALL NAME="GetClass">{NS}<IPARAMVALUE NAME="ClassName"><CLASSNAME/></IPARAMVALUE></IMETHODCALL>"#)).as_bytes()), NotValid);
    assert_eq!(
        kind(req(r#"<IMETHODCALL NAME="GetClass"></IMETHODCALL>"#).as_bytes()),
        NotValid
    );
    assert_eq!(
        kind(
            req(&format!(
                r#"<IMETHODCALL NAME="GetClass">{NS}stray text</IMETHODCALL>"#
            ))
            .as_bytes()
        ),
        NotValid
    );
    assert_eq!(kind(br#"<CIM DTDVERSION="2.0"/>"#), NotValid);
}

#[test]
fn bad_typed_values_are_not_valid() {
    let call = |ty: &str, v: &str| {
        req(&format!(
            r#"<METHODCALL NAME="M"><LOCALCLASSPATH>{NS}<CLASSNAME NAME="C"/></LOCALCLASSPATH><PARAMVALUE NAME="P" PARAMTYPE="{ty}"><VALUE>{v}</VALUE></PARAMVALUE></METHODCALL>"#
        ))
    };
    assert_eq!(kind(call("uint8", "300").as_bytes()), NotValid);
    assert_eq!(kind(call("boolean", "yes").as_bytes()), NotValid);
    assert_eq!(kind(call("datetime", "now").as_bytes()), NotValid);
    assert_eq!(kind(call("int", "1").as_bytes()), NotValid);
    assert!(decode_request(call("uint8", " 255 ").as_bytes(), &DecodeLimits::default()).is_ok());
    assert!(decode_request(call("boolean", "tRuE").as_bytes(), &DecodeLimits::default()).is_ok());
}

#[test]
fn versions_and_multirequests() {
    let doc = |cim: &str, dtd: &str, proto: &str| {
        format!(
            r#"<CIM CIMVERSION="{cim}" DTDVERSION="{dtd}"><MESSAGE ID="1" PROTOCOLVERSION="{proto}"><SIMPLEREQ/></MESSAGE></CIM>"#
        )
    };
    assert_eq!(
        kind(doc("3.0", "2.0", "1.0").as_bytes()),
        UnsupportedCimVersion
    );
    assert_eq!(
        kind(doc("2.0", "3.0", "1.0").as_bytes()),
        UnsupportedDtdVersion
    );
    assert_eq!(
        kind(doc("2.0", "2.0", "2.0").as_bytes()),
        UnsupportedProtocolVersion
    );
    // Minor versions are accepted: the empty SIMPLEREQ is what fails.
    assert_eq!(kind(doc("2.6", "2.4", "1.4").as_bytes()), NotValid);
    let multi = r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><MULTIREQ/></MESSAGE></CIM>"#;
    assert_eq!(kind(multi.as_bytes()), MultipleRequestsUnsupported);
}

#[test]
fn depth_bombs_hit_the_limit() {
    // A nesting the decoder follows: key bindings whose values are references.
    let n = 10_000;
    let open = r#"<KEYBINDING NAME="k"><VALUE.REFERENCE><INSTANCENAME CLASSNAME="C">"#;
    let close = "</INSTANCENAME></VALUE.REFERENCE></KEYBINDING>";
    let body = format!(
        r#"<IMETHODCALL NAME="GetInstance">{NS}<IPARAMVALUE NAME="InstanceName"><INSTANCENAME CLASSNAME="C">{}{}</INSTANCENAME></IPARAMVALUE></IMETHODCALL>"#,
        open.repeat(n),
        close.repeat(n)
    );
    assert_eq!(kind(req(&body).as_bytes()), LimitExceeded);
    // A nesting the decoder skips (details of an ERROR) is bounded too.
    let rsp = format!(
        r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLERSP><IMETHODRESPONSE NAME="GetClass"><ERROR CODE="1">{}{}</ERROR></IMETHODRESPONSE></SIMPLERSP></MESSAGE></CIM>"#,
        "<X>".repeat(n),
        "</X>".repeat(n)
    );
    let e = decode_response(rsp.as_bytes(), &DecodeLimits::default()).unwrap_err();
    assert_eq!(e.kind, LimitExceeded);
    // Unknown elements nested deeply stop at the first one.
    assert_eq!(
        kind(format!("{}{}", "<A>".repeat(n), "</A>".repeat(n)).as_bytes()),
        NotValid
    );
}

#[test]
fn entity_attacks_are_refused() {
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE CIM [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="&lol2;" PROTOCOLVERSION="1.0"><SIMPLEREQ/></MESSAGE></CIM>"#;
    assert_eq!(kind(laughs.as_bytes()), NotValid);
    let undeclared = req(&format!(
        r#"<IMETHODCALL NAME="GetClass">{NS}<IPARAMVALUE NAME="ClassName"><VALUE>&lol;</VALUE></IPARAMVALUE></IMETHODCALL>"#
    ));
    assert_eq!(kind(undeclared.as_bytes()), NotWellFormed);
    let in_attr = req(&format!(r#"<IMETHODCALL NAME="&xxe;">{NS}</IMETHODCALL>"#));
    assert_eq!(kind(in_attr.as_bytes()), NotWellFormed);
    // An external-id-only DOCTYPE is skipped, never fetched.
    let external = format!(
        r#"<!DOCTYPE CIM SYSTEM "http://www.dmtf.org/cim/mapping/xml/v2.0">{}"#,
        req(&format!(
            r#"<IMETHODCALL NAME="GetClass">{NS}</IMETHODCALL>"#
        ))
    );
    assert!(decode_request(external.as_bytes(), &DecodeLimits::default()).is_ok());
    // Character references are fine.
    let refs = req(&format!(
        r#"<IMETHODCALL NAME="G&#101;tClass">{NS}</IMETHODCALL>"#
    ));
    let m = decode_request(refs.as_bytes(), &DecodeLimits::default()).unwrap();
    assert_eq!(m.request.method_name(), "GetClass");
}

#[test]
fn size_limits() {
    let huge = req(&format!(
        r#"<IMETHODCALL NAME="{}">{NS}</IMETHODCALL>"#,
        "x".repeat(1 << 20)
    ));
    assert_eq!(kind(huge.as_bytes()), LimitExceeded);
    let ok = req(&format!(
        r#"<IMETHODCALL NAME="GetClass">{NS}<IPARAMVALUE NAME="P"><VALUE>{}</VALUE></IPARAMVALUE></IMETHODCALL>"#,
        "y".repeat(1000)
    ));
    let tight = |f: fn(&mut DecodeLimits)| {
        let mut l = DecodeLimits::default();
        f(&mut l);
        l
    };
    assert!(decode_request(ok.as_bytes(), &DecodeLimits::default()).is_ok());
    assert_eq!(
        kind_with(ok.as_bytes(), &tight(|l| l.max_input_bytes = 100)),
        LimitExceeded
    );
    assert_eq!(
        kind_with(ok.as_bytes(), &tight(|l| l.max_elements = 5)),
        LimitExceeded
    );
    assert_eq!(
        kind_with(ok.as_bytes(), &tight(|l| l.max_text_bytes = 999)),
        LimitExceeded
    );
    assert_eq!(
        kind_with(ok.as_bytes(), &tight(|l| l.max_depth = 5)),
        LimitExceeded
    );
}

#[test]
fn invalid_utf8_is_not_valid() {
    let mut bytes = req(&format!(
        r#"<IMETHODCALL NAME="GetClass">{NS}</IMETHODCALL>"#
    ))
    .into_bytes();
    bytes[HEAD.len() + 20] = 0xFF;
    let e = decode_request(&bytes, &DecodeLimits::default()).unwrap_err();
    assert_eq!(e.kind, NotValid);
    assert_eq!(e.position, HEAD.len() as u64 + 20);
    assert_eq!(e.kind.cim_error_header(), "request-not-valid");
}

#[test]
fn embedded_objects_share_the_limits() {
    use vine_cim::CimInstance;
    let mut inner = CimInstance::new("C").with("Leaf", "x<&>");
    for _ in 0..40 {
        inner = CimInstance::new("C").with("Inner", inner);
    }
    let msg = RequestMessage {
        id: "1".into(),
        protocol_version: "1.0".into(),
        request: Request::Intrinsic {
            namespace: "root".into(),
            method: IntrinsicMethod::CreateInstance,
            params: vec![("NewInstance".into(), ParamValue::Instance(inner))],
        },
    };
    let xml = encode_request(&msg);
    assert_eq!(kind(&xml), LimitExceeded);
    let deep = DecodeLimits {
        max_depth: 1000,
        ..DecodeLimits::default()
    };
    assert_eq!(decode_request(&xml, &deep).unwrap(), msg);
    // Garbage in an embedded object is reported, not swallowed.
    let bad = req(&format!(
        r#"<METHODCALL NAME="M"><LOCALCLASSPATH>{NS}<CLASSNAME NAME="C"/></LOCALCLASSPATH><PARAMVALUE NAME="P" PARAMTYPE="string" EmbeddedObject="instance"><VALUE>&lt;INSTANCE CLASSNAME="C"&gt;</VALUE></PARAMVALUE></METHODCALL>"#
    ));
    assert_eq!(kind(bad.as_bytes()), NotWellFormed);
}

/// Every golden document, cut short and with single bytes changed, still
/// decodes to a value or an error: a cheap structured fuzz that reaches
/// the deep decoders random bytes never get to.
#[test]
fn mutated_goldens_never_panic() {
    let dir = format!("{}/tests/golden", env!("CARGO_MANIFEST_DIR"));
    let limits = DecodeLimits::default();
    let mut entries: Vec<_> = std::fs::read_dir(&dir).expect("golden dir").collect();
    entries.sort_by_key(|e| e.as_ref().map(|e| e.path()).ok());
    for entry in entries {
        let doc = std::fs::read(entry.expect("entry").path()).expect("read");
        let decode_all = |bytes: &[u8]| {
            let _ = decode_request(bytes, &limits);
            let _ = decode_response(bytes, &limits);
            let _ = decode_export_indication(bytes, &limits);
            let _ = decode_export_response(bytes, &limits);
        };
        let step = (doc.len() / 40).max(1);
        for cut in (0..doc.len()).step_by(step) {
            decode_all(&doc[..cut]);
            for b in [b'<', b'"', b'x', 0xC3] {
                let mut m = doc.clone();
                m[cut] = b;
                decode_all(&m);
            }
        }
    }
}

/// An `ExportIndication` whose protocol version and `Message` value are
/// given.
fn export(version: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\" ?><CIM CIMVERSION=\"2.0\" DTDVERSION=\"2.0\">\
         <MESSAGE ID=\"1001\" PROTOCOLVERSION=\"{version}\"><SIMPLEEXPREQ>\
         <EXPMETHODCALL NAME=\"ExportIndication\"><EXPPARAMVALUE NAME=\"NewIndication\">\
         <INSTANCE CLASSNAME=\"CIM_Alert\"><PROPERTY NAME=\"Message\" TYPE=\"string\">\
         <VALUE>{message}</VALUE></PROPERTY></INSTANCE></EXPPARAMVALUE></EXPMETHODCALL>\
         </SIMPLEEXPREQ></MESSAGE></CIM>"
    )
}

#[test]
fn characters_xml_forbids_are_not_well_formed() {
    let limits = DecodeLimits::default();
    assert!(decode_export_indication(export("1.0", "disk full").as_bytes(), &limits).is_ok());
    // Found by fuzz/ (cimxml_export): a raw vertical tab in PROTOCOLVERSION
    // was accepted (and trimmed away), but the encoder writes it back as
    // U+FFFD, so the decoded message could not be sent on.
    let e =
        decode_export_indication(export("1.0\u{b}", "disk full").as_bytes(), &limits).unwrap_err();
    assert_eq!(e.kind, NotWellFormed, "{e}");
    assert!(e.message.contains("U+000B"), "{e}");
    // The same in text: raw, as a character reference, in CDATA.
    for value in ["a\u{1}b", "a&#1;b", "<![CDATA[a\u{1f}b]]>", "a&#xFFFF;"] {
        let e = decode_export_indication(export("1.0", value).as_bytes(), &limits).unwrap_err();
        assert_eq!(e.kind, NotWellFormed, "{value}: {e}");
    }
    // Tabs, newlines and carriage returns stay allowed.
    let ok = decode_export_indication(export("1.0", "a\tb\nc&#13;").as_bytes(), &limits).unwrap();
    assert_eq!(
        ok.indication.get("Message"),
        Some(&vine_cim::CimValue::String("a\tb\nc\r".into()))
    );
}
