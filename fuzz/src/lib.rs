//! The bodies of vine's fuzz targets, one function per target. The
//! cargo-fuzz binaries in `fuzz_targets/` call them with libFuzzer's input;
//! `crates/vine/tests/fuzz_seeds.rs` calls them over the seeds in
//! `fuzz/seeds/<target>/` on stable Rust, so the targets keep compiling and
//! the seeds keep passing in the ordinary test run.
//!
//! Each body feeds bytes from outside through one parser the way vine uses
//! it and asserts what must hold for any input: no panic, errors that say
//! where, and printing what was parsed reads back as the same thing.

use std::path::Path;

use vine_cim::mof::compile_str;
use vine_cim::{CimDateTime, CimInstance, CimInstanceName, CimName, Repository};
use vine_cimxml::{
    decode_export_indication, decode_export_response, decode_request, decode_response,
    encode_export_indication, encode_request, DecodeLimits,
};
use vine_wbem::query::{parse as parse_query, QueryLanguage};

/// A target body: one input, a panic when an invariant breaks.
pub type Body = fn(&[u8]);

/// Every target: its name (as in `fuzz/Cargo.toml`) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("mof_parser", mof_parser),
    ("cimxml_decoder", cimxml_decoder),
    ("query_parser", query_parser),
    ("cim_datetime", cim_datetime),
    ("cim_path", cim_path),
    ("cimxml_export", cimxml_export),
    ("wbem_headers", wbem_headers),
    ("policy_file", policy_file),
    ("haproxy_stat", haproxy_stat),
    ("node_addrs", node_addrs),
    ("synthetic_load", synthetic_load),
    ("libvirt_domain_xml", libvirt_domain_xml),
    ("users_file", users_file),
    ("api_bodies", api_bodies),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// Qualifiers most MOF uses, so that inputs reach class and instance
/// compilation instead of stopping at "qualifier not declared".
const MOF_PRELUDE: &str = r#"
Qualifier Key : boolean = false, Scope(property, reference), Flavor(DisableOverride, ToSubclass);
Qualifier Association : boolean = false, Scope(association), Flavor(DisableOverride, ToSubclass);
Qualifier Indication : boolean = false, Scope(class, indication), Flavor(DisableOverride, ToSubclass);
Qualifier Abstract : boolean = false, Scope(class, association, indication), Flavor(Restricted);
Qualifier Description : string = null, Scope(any), Flavor(Translatable);
Qualifier ValueMap : string[], Scope(property, method, parameter);
Qualifier Override : string = null, Scope(property, reference, method), Flavor(Restricted);
Qualifier In : boolean = true, Scope(parameter), Flavor(DisableOverride);
Qualifier Out : boolean = false, Scope(parameter), Flavor(DisableOverride);
"#;

/// The MOF compiler: any text compiles or fails with a `MofError`, and a
/// failed compile leaves the repository as it was.
pub fn mof_parser(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let mut repo = Repository::new();
    if compile_str(&mut repo, "root/fuzz", "prelude.mof", MOF_PRELUDE).is_err() {
        return;
    }
    let before = repo.class_names("root/fuzz", None, true).ok();
    if compile_str(&mut repo, "root/fuzz", "fuzz.mof", text).is_err() {
        assert_eq!(repo.class_names("root/fuzz", None, true).ok(), before);
    }
}

/// Limits for reading back what vine wrote: escaping can make the text
/// longer than the input that was read.
fn reread_limits() -> DecodeLimits {
    DecodeLimits {
        max_depth: 256,
        max_attribute_bytes: 16 * 1024 * 1024,
        ..DecodeLimits::default()
    }
}

/// CIM-XML operation requests and responses (the WBEM server and client):
/// a value or a `DecodeError`; a decoded request re-encodes to a document
/// that decodes and encodes to the same bytes.
pub fn cimxml_decoder(data: &[u8]) {
    let limits = DecodeLimits::default();
    if let Ok(msg) = decode_request(data, &limits) {
        let first = encode_request(&msg);
        let again = decode_request(&first, &reread_limits()).unwrap_or_else(|e| {
            panic!(
                "re-encoded request does not decode: {e}\n{}",
                String::from_utf8_lossy(&first)
            )
        });
        assert_eq!(
            String::from_utf8_lossy(&encode_request(&again)),
            String::from_utf8_lossy(&first)
        );
    }
    let _ = decode_response(data, &limits);
}

/// The WQL/CQL parser: a parsed query prints to text that parses back
/// equal, and evaluates and projects without panicking.
pub fn query_parser(data: &[u8]) {
    let Some(text) = text(data) else { return };
    for lang in [QueryLanguage::Wql, QueryLanguage::Cql] {
        let Ok(query) = parse_query(lang, text) else {
            continue;
        };
        let printed = query.to_string();
        assert_eq!(
            parse_query(lang, &printed).as_ref(),
            Ok(&query),
            "{printed}"
        );
        // An instance with the property kinds comparisons treat specially.
        let inst = CimInstance::new("CIM_System")
            .with("Name", "a")
            .with("EnabledState", 2u16)
            .with("OperationalStatus", vec![2u16, 5])
            .with("Load", 0.5f32)
            .with(
                "Host",
                CimInstanceName::new("CIM_System").with_key("Name", "h"),
            );
        query.matches(&inst, &|class, ancestor| class.len() < ancestor.len());
        query.project(inst);
        let _ = query.referenced_properties();
    }
}

/// CIM datetimes (CIM-XML values, MOF, query literals): a parsed value
/// prints as 25 characters that parse back equal.
pub fn cim_datetime(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let Ok(dt) = text.parse::<CimDateTime>() else {
        return;
    };
    let printed = dt.to_string();
    assert_eq!(printed.len(), 25, "{printed}");
    assert_eq!(printed.parse::<CimDateTime>(), Ok(dt), "{printed}");
    let _ = dt.timestamp_micros();
    let _ = dt.interval_micros();
    let _ = dt.as_duration();
}

/// Instance paths / WBEM URIs (the CIMObject header, pywbem and wbemcli
/// paths, reference key values): a parsed path prints to text that parses
/// back as the same object, and its canonical form too.
pub fn cim_path(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let _ = CimName::new(text).is_valid();
    let _ = vine_cim::name::normalize_namespace(text);
    let Ok(path) = CimInstanceName::parse(text) else {
        return;
    };
    let printed = path.to_string();
    let again = CimInstanceName::parse(&printed)
        .unwrap_or_else(|e| panic!("printed path {printed:?} does not parse: {e}"));
    assert_eq!(again, path, "{printed}");
    let canonical = path.canonical();
    let again = CimInstanceName::parse(&canonical)
        .unwrap_or_else(|e| panic!("canonical path {canonical:?} does not parse: {e}"));
    assert!(again.same_object(&path), "{canonical}");
    assert_eq!(again.canonical(), canonical);
}

/// CIM-XML export messages (the indication listener and the delivery
/// side reading a listener's answer): an `ExportIndication` decodes to a
/// value that encodes and decodes to the same bytes.
pub fn cimxml_export(data: &[u8]) {
    let limits = DecodeLimits::default();
    if let Ok(msg) = decode_export_indication(data, &limits) {
        let first = encode_export_indication(&msg);
        let again = decode_export_indication(&first, &reread_limits()).unwrap_or_else(|e| {
            panic!(
                "re-encoded indication does not decode: {e}\n{}",
                String::from_utf8_lossy(&first)
            )
        });
        assert_eq!(
            String::from_utf8_lossy(&encode_export_indication(&again)),
            String::from_utf8_lossy(&first)
        );
    }
    let _ = decode_export_response(data, &limits);
}

/// DSP0200 request headers (POST and M-POST) and Basic credentials: every
/// check answers, and %-decoding inverts %-encoding.
pub fn wbem_headers(data: &[u8]) {
    let _ = vine_wbem::transport::fuzz_check_header_block(data, false);
    let _ = vine_wbem::transport::fuzz_check_header_block(data, true);
    if let Some(c) = vine_wbem::auth::basic::parse_authorization(data) {
        let value = vine_wbem::auth::basic::authorization_value(&c.user, &c.password);
        assert_eq!(
            vine_wbem::auth::basic::parse_authorization(value.as_bytes()),
            Some(c)
        );
    }
    let Some(text) = text(data) else { return };
    let _ = vine_wbem::transport::fuzz_uri_decode(text);
    let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
    assert_eq!(
        vine_wbem::transport::fuzz_uri_decode(&encoded).as_deref(),
        Some(text)
    );
}

/// Policy files (TOML from administrators, the console's editor and the
/// REST API): a policy or problems, and every problem that names a place
/// names one inside the text.
pub fn policy_file(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let problems = match vine_workload::policy::parse_str(text, "fuzz.toml") {
        Ok(_) => return,
        Err(vine_workload::WorkloadError::InvalidPolicy { problems, .. }) => problems,
        Err(e) => panic!("parse_str failed with something other than problems: {e}"),
    };
    assert!(!problems.is_empty(), "refused without a problem");
    let lines: Vec<&str> = text.split('\n').collect();
    for p in &problems {
        assert!(!p.message.is_empty(), "{p:?}");
        if p.line == 0 {
            continue;
        }
        let line = lines
            .get(p.line - 1)
            .unwrap_or_else(|| panic!("{p:?} is past the last line ({})", lines.len()));
        assert!(
            p.column >= 1 && p.column <= line.len() + 1,
            "{p:?} is outside its line {line:?}"
        );
    }
    let _ = vine_workload::policy::render_problems("fuzz.toml", &problems);
}

/// HAProxy's `show stat` CSV and `show info` text, as the balancer reads
/// them: rows or an error; every row names a vine proxy.
pub fn haproxy_stat(data: &[u8]) {
    let Some(text) = text(data) else { return };
    let (rows, _pid) = vine_coordinator::cluster::fuzz_parse_stat(text);
    if let Ok(rows) = rows {
        assert!(rows.len() <= text.lines().count());
    }
}

/// The node-address file a guest hook or an operator writes.
pub fn node_addrs(data: &[u8]) {
    let Some(text) = text(data) else { return };
    use vine_coordinator::ops::vs::addrs::lookup;
    // Look up the first word of every line, bare and host-qualified.
    for word in text.lines().filter_map(|l| l.split_whitespace().next()) {
        let (host, vm) = word.split_once('/').unwrap_or(("h1", word));
        let _ = lookup(text, host, vm, Some(8080));
        let _ = lookup(text, host, vm, None);
    }
}

/// The synthetic-load file (VM name → busy fraction), JSON written by
/// tests and operators: every load read is a fraction from 0 to 1.
pub fn synthetic_load(data: &[u8]) {
    let Some(text) = text(data) else { return };
    if let Ok(loads) = vine_hypervisor::synthetic::parse_loads(text, Path::new("loads.json")) {
        for (vm, f) in loads {
            assert!((0.0..=1.0).contains(&f), "{vm}: {f}");
        }
    }
}

/// libvirt domain XML as vine reads it (from libvirt and `define_xml`):
/// a spec or an error; a spec renders to XML that reads back as itself.
pub fn libvirt_domain_xml(data: &[u8]) {
    use vine_hypervisor::libvirt::{xml, xml_parse, xmltree};
    use vine_hypervisor::{DriverKind, OsKind};
    let Some(text) = text(data) else { return };
    let _ = xml_parse::domain_type(text);
    let _ = xmltree::child_spans(text, &["domain", "devices"]);
    let Ok(spec) = xml_parse::parse(text) else {
        return;
    };
    let driver = match spec.os {
        OsKind::Hvm { .. } => DriverKind::Qemu,
        OsKind::XenPv { .. } => DriverKind::Xen,
        OsKind::Container { .. } => DriverKind::Lxc,
    };
    let rendered = xml::render(driver, &spec, None);
    let again = xml_parse::parse(&rendered)
        .unwrap_or_else(|e| panic!("rendered XML does not read back: {e}\n{rendered}"));
    assert_eq!(again, spec, "{rendered}");
}

/// The users file: users or an error; users render to TOML that reads
/// back as the same users.
pub fn users_file(data: &[u8]) {
    use vine_wbem::auth::users::{parse_users, render_users};
    let Some(text) = text(data) else { return };
    let Ok(users) = parse_users(text, Path::new("users.toml")) else {
        return;
    };
    let rendered = render_users(&users).expect("users render");
    let again = parse_users(&rendered, Path::new("users.toml"))
        .unwrap_or_else(|e| panic!("rendered users do not read back: {e}\n{rendered}"));
    assert_eq!(again, users);
}

/// REST API request bodies: decoded as the API decodes them (serde_json
/// into the job parameter types) and checked as the API checks them first;
/// a decoded body encodes to JSON that decodes equal.
pub fn api_bodies(data: &[u8]) {
    use vine_coordinator::cluster::HealthCheck;
    use vine_coordinator::ops::params::{
        CreateVm, CreateVs, DeleteVm, DrainHost, MigrateVm, NameVs, PowerHost, PowerVm, ResizeVm,
        ScaleVs,
    };
    use vine_coordinator::ops::{vm::check_template, vs::check_create};

    fn round_trip<T>(data: &[u8]) -> Option<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        let v: T = serde_json::from_slice(data).ok()?;
        let json = serde_json::to_vec(&v).expect("a decoded body encodes");
        let again: T = serde_json::from_slice(&json).expect("an encoded body decodes");
        assert_eq!(again, v);
        Some(v)
    }

    if let Some(p) = round_trip::<CreateVm>(data) {
        let _ = check_template(&p.template);
        let _ = p.template.system_settings("VINE");
        let _ = p.template.resource_settings("VINE");
    }
    if let Some(p) = round_trip::<CreateVs>(data) {
        let _ = check_create(&p);
    }
    round_trip::<PowerVm>(data);
    round_trip::<ResizeVm>(data);
    round_trip::<MigrateVm>(data);
    round_trip::<DeleteVm>(data);
    round_trip::<DrainHost>(data);
    round_trip::<PowerHost>(data);
    round_trip::<ScaleVs>(data);
    round_trip::<NameVs>(data);
    round_trip::<HealthCheck>(data);
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Some(a) = v.get("action").and_then(|a| a.as_str()) {
            let _ = vine_coordinator::ops::params::PowerAction::parse(a);
        }
        // A MAC (registration, PATCH /hosts): what parses prints as six
        // lowercase pairs and parses back to the same bytes.
        if let Some(m) = v.get("mac").and_then(|m| m.as_str()) {
            use vine_coordinator::power::{format_mac, parse_mac};
            if let Ok(mac) = parse_mac(m) {
                let text = format_mac(&mac);
                assert_eq!(text.len(), 17, "{text}");
                assert_eq!(parse_mac(&text), Ok(mac));
            }
        }
    }
}
