//! Unit tests: filter checks, matching and shaping against the real
//! schema, the listener queue, the state file. No sockets.

use std::sync::OnceLock;

use vine_cim::mof::{compile as compile_mof, FsSource};
use vine_cim::{CimInstance, CimInstanceName, CimStatus, CimValue, Repository};

use super::delivery::{DestQueue, Pending};
use super::matching::{compile, selects, shape, Filter};
use super::model::{
    check_url, DestinationRec, FilterRec, ObjKey, Persisted, SubscriptionRec, STATE_ENABLED,
};
use super::store;
use crate::interop::INTEROP_NS;
use crate::sample::SAMPLE_NS;

/// root/interop and test/sample loaded from `schemas/`, as the server
/// loads them.
fn repo() -> &'static Repository {
    static REPO: OnceLock<Repository> = OnceLock::new();
    REPO.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let source = FsSource::new(&dir);
        let mut repo = Repository::new();
        for f in ["qualifiers.mof", "dmtf/index.mof"] {
            compile_mof(&mut repo, INTEROP_NS, f, &source).expect("schema compiles");
        }
        repo.copy_namespace(INTEROP_NS, SAMPLE_NS).expect("copy");
        compile_mof(&mut repo, SAMPLE_NS, "vine/VINE_Sample.mof", &source).expect("sample");
        repo
    })
}

fn filter_rec(name: &str, query: &str, lang: &str, namespaces: &[&str]) -> FilterRec {
    let mut inst = CimInstance::new("CIM_IndicationFilter")
        .with("Name", name)
        .with("Query", query)
        .with("QueryLanguage", lang);
    if !namespaces.is_empty() {
        inst.set(
            "SourceNamespaces",
            CimValue::Array(namespaces.iter().map(|s| CimValue::from(*s)).collect()),
        );
    }
    FilterRec::from_new(&inst, "host1").expect("filter record")
}

fn filter(name: &str, query: &str, namespaces: &[&str]) -> Filter {
    let rec = filter_rec(name, query, "WQL", namespaces);
    let query = compile(&rec, repo()).expect("query compiles");
    Filter {
        rec,
        query: Some(query),
    }
}

fn item(id: &str) -> CimInstance {
    let mut i = CimInstance::new("VINE_SampleItem")
        .with("InstanceID", id)
        .with("Count", 1u32);
    i.path = Some(CimInstanceName::new("VINE_SampleItem").with_key("InstanceID", id));
    i
}

fn creation(id: &str) -> CimInstance {
    CimInstance::new("CIM_InstCreation")
        .with("SourceInstance", item(id))
        .with("PerceivedSeverity", 2u16)
}

#[test]
fn filter_keys_are_filled_and_name_is_required() {
    let rec = filter_rec("f", "SELECT * FROM CIM_InstCreation", "WQL", &[SAMPLE_NS]);
    assert_eq!(rec.key.system_creation_class_name, "CIM_ComputerSystem");
    assert_eq!(rec.key.system_name, "host1");
    assert_eq!(rec.key.creation_class_name, "CIM_IndicationFilter");
    let path = rec.path();
    assert_eq!(path.key_bindings.len(), 4);
    assert_eq!(ObjKey::from_path(&path), Some(rec.key.clone()));

    let nameless = CimInstance::new("CIM_IndicationFilter")
        .with("Query", "SELECT * FROM CIM_InstCreation")
        .with("QueryLanguage", "WQL");
    let e = FilterRec::from_new(&nameless, "h").unwrap_err();
    assert_eq!(e.status, CimStatus::InvalidParameter);
    let wrong_class = nameless
        .clone()
        .with("Name", "x")
        .with("CreationClassName", "CIM_Other");
    let e = FilterRec::from_new(&wrong_class, "h").unwrap_err();
    assert_eq!(e.status, CimStatus::InvalidParameter);
}

#[test]
fn bad_queries_get_the_dsp0200_codes() {
    let status = |q: &str, lang: &str, ns: &[&str]| {
        compile(&filter_rec("f", q, lang, ns), repo())
            .unwrap_err()
            .status
    };
    use CimStatus::*;
    assert_eq!(
        status("SELECT * FROM CIM_InstCreation", "XPath", &[]),
        QueryLanguageNotSupported
    );
    assert_eq!(status("SELECT FROM", "WQL", &[]), InvalidParameter);
    assert_eq!(
        status("SELECT * FROM CIM_NoSuch", "WQL", &[]),
        InvalidParameter
    );
    // Not an indication class.
    assert_eq!(
        status("SELECT * FROM VINE_SampleItem", "WQL", &[SAMPLE_NS]),
        InvalidParameter
    );
    assert_eq!(
        status("SELECT Nope FROM CIM_InstCreation", "WQL", &[]),
        InvalidParameter
    );
    assert_eq!(
        status("SELECT * FROM CIM_InstCreation", "WQL", &["no/such"]),
        InvalidParameter
    );
    let ok = filter_rec(
        "f",
        "SELECT * FROM CIM_InstCreation",
        "DMTF:CQL",
        &[SAMPLE_NS],
    );
    assert!(compile(&ok, repo()).is_ok());
}

#[test]
fn matching_by_class_and_subclass() {
    let r = repo();
    let ind = creation("a");
    assert!(selects(
        &filter("exact", "SELECT * FROM CIM_InstCreation", &[SAMPLE_NS]),
        SAMPLE_NS,
        &ind,
        r
    ));
    assert!(selects(
        &filter("parent", "SELECT * FROM CIM_InstIndication", &[SAMPLE_NS]),
        SAMPLE_NS,
        &ind,
        r
    ));
    assert!(selects(
        &filter("root", "SELECT * FROM CIM_Indication", &[SAMPLE_NS]),
        SAMPLE_NS,
        &ind,
        r
    ));
    assert!(!selects(
        &filter("sibling", "SELECT * FROM CIM_InstDeletion", &[SAMPLE_NS]),
        SAMPLE_NS,
        &ind,
        r
    ));
    let deletion = CimInstance::new("CIM_InstDeletion").with("SourceInstance", item("a"));
    assert!(!selects(
        &filter("child", "SELECT * FROM CIM_InstCreation", &[SAMPLE_NS]),
        SAMPLE_NS,
        &deletion,
        r
    ));
}

#[test]
fn matching_by_where_clause() {
    let r = repo();
    let ind = creation("a");
    let isa = filter(
        "isa",
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA VINE_SampleItem",
        &[SAMPLE_NS],
    );
    let not_isa = filter(
        "not",
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA CIM_ComputerSystem",
        &[SAMPLE_NS],
    );
    let severity = filter(
        "sev",
        "SELECT * FROM CIM_InstCreation WHERE PerceivedSeverity >= 2 AND NOT IndicationIdentifier IS NOT NULL",
        &[SAMPLE_NS],
    );
    let unknown = filter(
        "null",
        "SELECT * FROM CIM_InstCreation WHERE OtherSeverity = 'x'",
        &[SAMPLE_NS],
    );
    assert!(selects(&isa, SAMPLE_NS, &ind, r));
    assert!(!selects(&not_isa, SAMPLE_NS, &ind, r));
    assert!(selects(&severity, SAMPLE_NS, &ind, r));
    // A comparison with a NULL property is UNKNOWN, which rejects.
    assert!(!selects(&unknown, SAMPLE_NS, &ind, r));
}

#[test]
fn matching_by_source_namespace() {
    let r = repo();
    let ind = creation("a");
    let sample = filter("s", "SELECT * FROM CIM_InstCreation", &[SAMPLE_NS]);
    let both = filter(
        "b",
        "SELECT * FROM CIM_InstCreation",
        &[INTEROP_NS, "/Test/Sample/"],
    );
    // No SourceNamespace(s): the filter's own namespace (DSP1054).
    let own = filter("o", "SELECT * FROM CIM_InstCreation", &[]);
    assert!(selects(&sample, SAMPLE_NS, &ind, r));
    assert!(!selects(&sample, INTEROP_NS, &ind, r));
    assert!(selects(&both, SAMPLE_NS, &ind, r));
    assert!(!selects(&own, SAMPLE_NS, &ind, r));
    assert!(selects(&own, INTEROP_NS, &ind, r));
    let deprecated_form = {
        let inst = CimInstance::new("CIM_IndicationFilter")
            .with("Name", "d")
            .with("Query", "SELECT * FROM CIM_InstCreation")
            .with("QueryLanguage", "WQL")
            .with("SourceNamespace", SAMPLE_NS);
        let rec = FilterRec::from_new(&inst, "h").unwrap();
        let query = compile(&rec, r).unwrap();
        Filter {
            rec,
            query: Some(query),
        }
    };
    assert!(selects(&deprecated_form, SAMPLE_NS, &ind, r));
}

#[test]
fn a_filter_without_a_query_selects_nothing() {
    let mut f = filter("s", "SELECT * FROM CIM_InstCreation", &[SAMPLE_NS]);
    f.query = None;
    assert!(!selects(&f, SAMPLE_NS, &creation("a"), repo()));
}

#[test]
fn shaping_projects_and_names_the_filter() {
    let f = filter(
        "proj",
        "SELECT SourceInstance FROM CIM_InstCreation",
        &[SAMPLE_NS],
    );
    let out = shape(&f, &creation("a"));
    let names: Vec<&str> = out.properties.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["SourceInstance", "IndicationFilterName"]);
    assert_eq!(out.get_str("IndicationFilterName"), Some("proj"));
    assert!(out.path.is_none());
}

#[test]
fn destination_urls_must_be_http() {
    assert!(check_url("http://127.0.0.1:5000").is_ok());
    assert!(check_url("https://listener.example/cimlistener").is_ok());
    for bad in ["ftp://x/", "127.0.0.1:5000", "http://", "not a url"] {
        assert_eq!(
            check_url(bad).unwrap_err().status,
            CimStatus::InvalidParameter,
            "{bad}"
        );
    }
    let unsupported = CimInstance::new("CIM_ListenerDestinationCIMXML")
        .with("Name", "d")
        .with("Destination", "http://h:1")
        .with("Protocol", 4u16);
    assert_eq!(
        DestinationRec::from_new(&unsupported, "h")
            .unwrap_err()
            .status,
        CimStatus::NotSupported
    );
}

#[test]
fn subscriptions_check_their_references_and_policies() {
    let f = filter_rec("f", "SELECT * FROM CIM_InstCreation", "WQL", &[]);
    let d = DestinationRec::from_new(
        &CimInstance::new("CIM_ListenerDestinationCIMXML")
            .with("Name", "d")
            .with("Destination", "http://h:1"),
        "host1",
    )
    .unwrap();
    let sub = CimInstance::new("CIM_IndicationSubscription")
        .with("Filter", f.path())
        .with("Handler", d.path());
    let rec = SubscriptionRec::from_new(&sub).unwrap();
    assert_eq!(rec.state, STATE_ENABLED);
    assert_eq!(
        SubscriptionRec::keys_of(&rec.path()),
        Some((f.key.clone(), d.key.clone()))
    );
    let inst = rec.instance(rec.start_time);
    assert_eq!(inst.get("SubscriptionState"), Some(&CimValue::Uint16(2)));

    let elsewhere = sub
        .clone()
        .with("Filter", f.path().with_namespace("root/other"));
    assert_eq!(
        SubscriptionRec::from_new(&elsewhere).unwrap_err().status,
        CimStatus::InvalidParameter
    );
    let repeat = sub.clone().with("RepeatNotificationPolicy", 3u16);
    assert_eq!(
        SubscriptionRec::from_new(&repeat).unwrap_err().status,
        CimStatus::NotSupported
    );
    let timed = sub.with("SubscriptionDuration", 10u64);
    let rec = SubscriptionRec::from_new(&timed).unwrap();
    assert!(!rec.expired(rec.start_time + 9));
    assert!(rec.expired(rec.start_time + 10));
    assert_eq!(
        rec.instance(rec.start_time + 4)
            .get("SubscriptionTimeRemaining"),
        Some(&CimValue::Uint64(6))
    );
}

fn pending(n: u32) -> Pending {
    let k = ObjKey {
        system_creation_class_name: "S".into(),
        system_name: "h".into(),
        creation_class_name: "C".into(),
        name: "n".into(),
    };
    Pending {
        sub: (k.clone(), k),
        indication: CimInstance::new("CIM_InstCreation").with("PerceivedSeverity", n),
    }
}

#[test]
fn the_queue_drops_the_oldest_when_full_and_numbers_in_order() {
    let q = DestQueue::new(3, "run:dest".into());
    for n in 0..5 {
        q.push(pending(n));
    }
    let kept = q.snapshot();
    let marks: Vec<_> = kept
        .iter()
        .map(|p| p.indication.get("PerceivedSeverity").cloned())
        .collect();
    assert_eq!(
        marks,
        [2u32, 3, 4].map(|n| Some(CimValue::Uint32(n))).to_vec()
    );
    let seqs: Vec<_> = kept
        .iter()
        .map(|p| p.indication.get("SequenceNumber").cloned())
        .collect();
    // Numbers keep counting across drops, so a listener sees the gap.
    assert_eq!(
        seqs,
        [2i64, 3, 4].map(|n| Some(CimValue::Sint64(n))).to_vec()
    );
    assert_eq!(
        kept[0].indication.get_str("SequenceContext"),
        Some("run:dest")
    );
    assert_eq!(q.dropped(), 2);
}

#[test]
fn the_state_file_round_trips_and_bad_files_are_moved_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("subscriptions.json");
    assert!(store::load(&path).unwrap().filters.is_empty());
    let f = filter_rec("f", "SELECT * FROM CIM_InstCreation", "WQL", &[SAMPLE_NS]);
    let state = Persisted {
        filters: vec![f.clone()],
        ..Default::default()
    };
    store::save(&path, &state).unwrap();
    let back = store::load(&path).unwrap();
    assert_eq!(back.filters.len(), 1);
    assert_eq!(back.filters[0].key, f.key);
    assert_eq!(back.filters[0].source_namespaces, [SAMPLE_NS]);
    assert!(!path.with_extension("json.tmp").exists());

    std::fs::write(&path, b"{ not json").unwrap();
    assert!(matches!(
        store::load(&path),
        Err(store::StoreError::Parse { .. })
    ));
    let aside = store::quarantine(&path).unwrap();
    assert!(aside.exists() && !path.exists());
}
