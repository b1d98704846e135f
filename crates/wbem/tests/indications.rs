//! The indication service with real sockets: subscriptions made through
//! the object manager's CreateInstance, the sample provider publishing,
//! and a small CIM-XML listener on 127.0.0.1 that can refuse deliveries.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use vine_cim::mof::{compile, FsSource};
use vine_cim::{CimError, CimInstance, CimInstanceName, CimValue, Repository};
use vine_cimxml::DecodeLimits;
use vine_wbem::client::TlsVerify;
use vine_wbem::indication::{IndicationConfig, IndicationService};
use vine_wbem::interop::{InteropProvider, INTEROP_NS};
use vine_wbem::provider::{IndicationFilterInfo, IndicationProvider, RequestContext};
use vine_wbem::sample::{SampleProvider, SAMPLE_NS};
use vine_wbem::server::profiles::ProfileTable;
use vine_wbem::server::{Cimom, CimomConfig, Registry};
use vine_wbem::transport::{tls, TlsSource};

// ------------------------------------------------------------------ setup

fn schema() -> &'static Repository {
    static REPO: OnceLock<Repository> = OnceLock::new();
    REPO.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
        let source = FsSource::new(&dir);
        let mut repo = Repository::new();
        for f in ["qualifiers.mof", "dmtf/index.mof"] {
            compile(&mut repo, INTEROP_NS, f, &source).expect("schema compiles");
        }
        repo.copy_namespace(INTEROP_NS, SAMPLE_NS).expect("copy");
        compile(&mut repo, SAMPLE_NS, "vine/VINE_Sample.mof", &source).expect("sample");
        repo
    })
}

/// Remembers every activation and deactivation it hears.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<(bool, String, String)>>,
}

impl Recorder {
    fn take(&self) -> Vec<(bool, String, String)> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
}

impl IndicationProvider for Recorder {
    fn activate_filter(&self, f: &IndicationFilterInfo) {
        assert_eq!(f.namespace, SAMPLE_NS);
        self.events
            .lock()
            .unwrap()
            .push((true, f.filter_name.clone(), f.class.to_string()));
    }

    fn deactivate_filter(&self, f: &IndicationFilterInfo) {
        self.events
            .lock()
            .unwrap()
            .push((false, f.filter_name.clone(), f.class.to_string()));
    }
}

struct Server {
    cimom: Arc<Cimom>,
    service: Arc<IndicationService>,
    recorder: Arc<Recorder>,
    _stop: oneshot::Sender<()>,
}

/// An object manager with interop, indications, the sample provider (two
/// items) and a [`Recorder`] for CIM_InstCreation in test/sample.
fn server(config: IndicationConfig) -> Server {
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let interop = InteropProvider::install(&mut registry, &mut profiles);
    let service = IndicationService::install(&mut registry, &mut profiles, config);
    SampleProvider::install(&mut registry, 2).publish_to(service.sink());
    let recorder = Arc::new(Recorder::default());
    registry.register_indications(SAMPLE_NS, "CIM_InstCreation", recorder.clone());
    let cimom = Cimom::new(schema().clone(), registry, profiles, CimomConfig::default());
    interop.attach(&cimom);
    service.attach(&cimom);
    let (tx, rx) = oneshot::channel::<()>();
    service.start(async move {
        let _ = rx.await;
    });
    Server {
        cimom,
        service,
        recorder,
        _stop: tx,
    }
}

fn fast(state_dir: Option<&Path>) -> IndicationConfig {
    IndicationConfig {
        state_dir: state_dir.map(Path::to_path_buf),
        retry_attempts: 3,
        retry_interval: Duration::from_millis(20),
        delivery_timeout: Duration::from_secs(5),
        ..Default::default()
    }
}

fn ctx(ns: &str) -> RequestContext {
    RequestContext {
        namespace: ns.into(),
        user: "test".into(),
    }
}

impl Server {
    async fn create(&self, ns: &str, inst: CimInstance) -> Result<CimInstanceName, CimError> {
        self.cimom.create_instance(&ctx(ns), inst).await
    }

    /// A destination for `url`, a filter with `query` on test/sample and
    /// the subscription between them; returns the subscription's path.
    async fn subscribe(
        &self,
        name: &str,
        query: &str,
        url: &str,
        extra: &[(&str, CimValue)],
    ) -> CimInstanceName {
        let dest = match self
            .create(
                INTEROP_NS,
                CimInstance::new("CIM_ListenerDestinationCIMXML")
                    .with("Name", format!("dest-{url}"))
                    .with("Destination", url),
            )
            .await
        {
            Ok(p) => p,
            Err(e) if e.status == vine_cim::CimStatus::AlreadyExists => {
                CimInstanceName::new("CIM_ListenerDestinationCIMXML")
                    .with_key("SystemCreationClassName", "CIM_ComputerSystem")
                    .with_key("SystemName", "localhost")
                    .with_key("CreationClassName", "CIM_ListenerDestinationCIMXML")
                    .with_key("Name", format!("dest-{url}"))
            }
            Err(e) => panic!("destination: {e}"),
        };
        let filter = self
            .create(
                INTEROP_NS,
                CimInstance::new("CIM_IndicationFilter")
                    .with("Name", name)
                    .with("Query", query)
                    .with("QueryLanguage", "WQL")
                    .with("SourceNamespaces", CimValue::Array(vec![SAMPLE_NS.into()])),
            )
            .await
            .expect("filter");
        let mut sub = CimInstance::new("CIM_IndicationSubscription")
            .with("Filter", filter.with_namespace(INTEROP_NS))
            .with("Handler", dest.with_namespace(INTEROP_NS));
        for (k, v) in extra {
            sub.set(*k, v.clone());
        }
        self.create(INTEROP_NS, sub).await.expect("subscription")
    }

    async fn new_item(&self, id: &str) -> CimInstanceName {
        let mut p = self
            .create(
                SAMPLE_NS,
                CimInstance::new("VINE_SampleItem")
                    .with("InstanceID", id)
                    .with("Count", 1u32),
            )
            .await
            .expect("item");
        p.namespace = None;
        p
    }

    fn status(&self) -> vine_wbem::indication::SubscriptionStatus {
        let mut all = self.service.subscriptions();
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }
}

// --------------------------------------------------------------- listener

/// A CIM-XML listener that answers the first `refuse` requests with a
/// failure (HTTP 500, then a CIM error, alternately).
struct Listener {
    url: String,
    got: Arc<Mutex<Vec<CimInstance>>>,
    requests: Arc<AtomicUsize>,
    refuse: Arc<AtomicUsize>,
}

async fn listener(refuse: usize) -> Listener {
    listener_on(refuse, None).await
}

/// A listener over TLS with the certificate `vine_wbem` generates in
/// `state_dir` (valid for 127.0.0.1).
async fn tls_listener(state_dir: &Path) -> Listener {
    let config = tls::server_config(&TlsSource::Generate {
        state_dir: state_dir.to_path_buf(),
    })
    .unwrap();
    listener_on(0, Some(tokio_rustls::TlsAcceptor::from(config))).await
}

async fn listener_on(refuse: usize, tls: Option<tokio_rustls::TlsAcceptor>) -> Listener {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}/listen", tcp.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let refuse = Arc::new(AtomicUsize::new(refuse));
    let (g, r, f) = (got.clone(), requests.clone(), refuse.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = tcp.accept().await else {
                return;
            };
            let (g, r, f, tls) = (g.clone(), r.clone(), f.clone(), tls.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let (g, r, f) = (g.clone(), r.clone(), f.clone());
                    async move {
                        let n = r.fetch_add(1, Ordering::SeqCst);
                        assert_eq!(req.uri().path(), "/listen");
                        assert_eq!(req.headers()["CIMExport"], "MethodRequest");
                        assert_eq!(req.headers()["CIMExportMethod"], "ExportIndication");
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let msg =
                            vine_cimxml::decode_export_indication(&body, &DecodeLimits::default())
                                .expect("an ExportIndication request");
                        let refused = f
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let resp = if refused && n % 2 == 0 {
                            http::Response::builder()
                                .status(500)
                                .body(Full::new(Bytes::new()))
                        } else if refused {
                            let xml = vine_cimxml::encode_export_response(
                                &msg.id,
                                &Err(CimError::failed("listener busy")),
                            );
                            http::Response::builder().body(Full::new(Bytes::from(xml)))
                        } else {
                            g.lock().unwrap().push(msg.indication);
                            let xml = vine_cimxml::encode_export_response(&msg.id, &Ok(()));
                            http::Response::builder().body(Full::new(Bytes::from(xml)))
                        };
                        Ok::<_, std::convert::Infallible>(resp.unwrap())
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match tls {
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                    Some(acceptor) => {
                        // A client that distrusts the certificate hangs up here.
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                        }
                    }
                }
            });
        }
    });
    Listener {
        url,
        got,
        requests,
        refuse,
    }
}

impl Listener {
    /// Waits until `n` indications arrived; returns them.
    async fn wait(&self, n: usize) -> Vec<CimInstance> {
        for _ in 0..500 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = self.got.lock().unwrap().clone();
        assert!(got.len() >= n, "{} of {n} indications arrived", got.len());
        got
    }
}

async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen within 5 s");
}

fn source_id(ind: &CimInstance) -> String {
    match ind.get("SourceInstance") {
        Some(CimValue::Instance(i)) => i.get_str("InstanceID").unwrap_or_default().to_string(),
        other => panic!("SourceInstance is {other:?}"),
    }
}

fn seq(ind: &CimInstance) -> i64 {
    match ind.get("SequenceNumber") {
        Some(CimValue::Sint64(n)) => *n,
        other => panic!("SequenceNumber is {other:?}"),
    }
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn sample_changes_reach_the_listener_in_order() {
    let s = server(fast(None));
    let l = listener(0).await;
    s.subscribe("all", "SELECT * FROM CIM_InstIndication", &l.url, &[])
        .await;
    let path = s.new_item("x1").await;
    let mut changed = CimInstance::new("VINE_SampleItem").with("Count", 5u32);
    changed.path = Some(path.clone());
    s.cimom
        .modify_instance(&ctx(SAMPLE_NS), changed, None)
        .await
        .unwrap();
    s.cimom
        .delete_instance(&ctx(SAMPLE_NS), &path)
        .await
        .unwrap();

    let got = l.wait(3).await;
    let classes: Vec<&str> = got.iter().map(|i| i.class_name.as_str()).collect();
    assert_eq!(
        classes,
        [
            "CIM_InstCreation",
            "CIM_InstModification",
            "CIM_InstDeletion"
        ]
    );
    assert!(got.iter().all(|i| source_id(i) == "x1"));
    assert_eq!(got.iter().map(seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(got
        .iter()
        .all(|i| i.get_str("IndicationFilterName") == Some("all")));
    assert!(got.iter().all(|i| i.get("IndicationTime").is_some()));
    eventually("delivery count", || s.status().delivered == 3).await;
}

#[tokio::test]
async fn where_class_and_namespace_decide_who_receives() {
    let s = server(fast(None));
    let l = listener(0).await;
    s.subscribe("creations", "SELECT * FROM CIM_InstCreation", &l.url, &[])
        .await;
    s.subscribe(
        "items",
        "SELECT * FROM CIM_InstIndication WHERE SourceInstance ISA VINE_SampleItem",
        &l.url,
        &[],
    )
    .await;
    s.subscribe("deletions", "SELECT * FROM CIM_InstDeletion", &l.url, &[])
        .await;
    s.subscribe(
        "systems",
        "SELECT * FROM CIM_InstCreation WHERE SourceInstance ISA CIM_ComputerSystem",
        &l.url,
        &[],
    )
    .await;
    // The same indication published from another namespace matches no one.
    let sink = s.service.sink();
    let ind = CimInstance::new("CIM_InstCreation").with(
        "SourceInstance",
        CimInstance::new("VINE_SampleItem").with("InstanceID", "elsewhere"),
    );
    sink.publish(INTEROP_NS, ind.clone());
    sink.publish(SAMPLE_NS, ind);

    let got = l.wait(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got_now = l.got.lock().unwrap().clone();
    assert_eq!(got_now.len(), 2, "{got_now:?}");
    let mut names: Vec<&str> = got
        .iter()
        .map(|i| i.get_str("IndicationFilterName").unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["creations", "items"]);
}

#[tokio::test]
async fn a_listener_that_fails_twice_gets_each_indication_once_in_order() {
    let s = server(fast(None));
    let l = listener(2).await;
    s.subscribe("all", "SELECT * FROM CIM_InstCreation", &l.url, &[])
        .await;
    s.new_item("first").await;
    s.new_item("second").await;
    let got = l.wait(2).await;
    assert_eq!(
        got.iter().map(source_id).collect::<Vec<_>>(),
        ["first", "second"]
    );
    // A retry carries the same sequence number (DSP1054).
    assert_eq!(got.iter().map(seq).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(l.requests.load(Ordering::SeqCst), 4);
    eventually("two deliveries", || s.status().delivered == 2).await;
    let st = s.status();
    assert_eq!((st.failed, st.state), (0, 2));
}

#[tokio::test]
async fn a_given_up_indication_degrades_the_subscription_until_the_next_delivery() {
    let mut cfg = fast(None);
    cfg.retry_attempts = 1;
    let s = server(cfg);
    let l = listener(2).await;
    let path = s
        .subscribe("all", "SELECT * FROM CIM_InstCreation", &l.url, &[])
        .await;
    s.new_item("lost").await;
    eventually("a failure", || s.status().failed == 1).await;
    let st = s.status();
    assert_eq!(st.state, 3, "Enabled Degraded");
    assert!(st.last_error.is_some());
    let inst = s
        .cimom
        .get_instance(&ctx(INTEROP_NS), &path, &Default::default())
        .await
        .unwrap();
    assert_eq!(inst.get("SubscriptionState"), Some(&CimValue::Uint16(3)));

    s.new_item("kept").await;
    let got = l.wait(1).await;
    assert_eq!(source_id(&got[0]), "kept");
    eventually("recovery", || s.status().state == 2).await;
    assert_eq!(l.refuse.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn on_fatal_error_remove_deletes_the_subscription() {
    let mut cfg = fast(None);
    cfg.retry_attempts = 0;
    let s = server(cfg);
    let l = listener(usize::MAX).await;
    s.subscribe(
        "all",
        "SELECT * FROM CIM_InstCreation",
        &l.url,
        &[("OnFatalErrorPolicy", CimValue::Uint16(4))],
    )
    .await;
    s.recorder.take();
    s.new_item("doomed").await;
    eventually("removal", || s.service.subscriptions().is_empty()).await;
    assert_eq!(
        s.recorder.take(),
        [(false, "all".to_string(), "CIM_InstCreation".to_string())]
    );
}

#[tokio::test]
async fn providers_hear_when_subscriptions_come_and_go() {
    let s = server(fast(None));
    let l = listener(0).await;
    let on = |f: &str| (true, f.to_string(), "CIM_InstCreation".to_string());
    let off = |f: &str| (false, f.to_string(), "CIM_InstCreation".to_string());

    // A filter on a superclass reaches the CIM_InstCreation provider; one
    // on a sibling class does not.
    let sub = s
        .subscribe("parent", "SELECT * FROM CIM_InstIndication", &l.url, &[])
        .await;
    s.subscribe("sibling", "SELECT * FROM CIM_InstDeletion", &l.url, &[])
        .await;
    assert_eq!(s.recorder.take(), [on("parent")]);

    let mut disable =
        CimInstance::new("CIM_IndicationSubscription").with("SubscriptionState", 4u16);
    disable.path = Some(sub.clone());
    s.cimom
        .modify_instance(&ctx(INTEROP_NS), disable.clone(), None)
        .await
        .unwrap();
    assert_eq!(s.recorder.take(), [off("parent")]);
    s.new_item("quiet").await;

    disable.set("SubscriptionState", 2u16);
    s.cimom
        .modify_instance(&ctx(INTEROP_NS), disable, None)
        .await
        .unwrap();
    assert_eq!(s.recorder.take(), [on("parent")]);

    s.cimom
        .delete_instance(&ctx(INTEROP_NS), &sub)
        .await
        .unwrap();
    assert_eq!(s.recorder.take(), [off("parent")]);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(l.got.lock().unwrap().is_empty(), "nothing while disabled");
}

#[tokio::test]
async fn subscriptions_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let l = listener(0).await;
    {
        let s = server(fast(Some(dir.path())));
        s.subscribe("kept", "SELECT * FROM CIM_InstCreation", &l.url, &[])
            .await;
        assert_eq!(s.recorder.take().len(), 1);
    }
    assert!(dir.path().join("subscriptions.json").exists());

    let s = server(fast(Some(dir.path())));
    // The loaded subscription is active again: the provider heard of it.
    assert_eq!(
        s.recorder.take(),
        [(true, "kept".to_string(), "CIM_InstCreation".to_string())]
    );
    let subs = s
        .cimom
        .enumerate_instances(
            &ctx(INTEROP_NS),
            "CIM_IndicationSubscription",
            true,
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    let filters = s
        .cimom
        .enumerate_instances(
            &ctx(INTEROP_NS),
            "CIM_IndicationFilter",
            true,
            &Default::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        filters[0].get_str("Query"),
        Some("SELECT * FROM CIM_InstCreation")
    );
    s.new_item("after-restart").await;
    let got = l.wait(1).await;
    assert_eq!(source_id(&got[0]), "after-restart");
}

#[tokio::test]
async fn used_filters_and_destinations_cannot_be_deleted() {
    let s = server(fast(None));
    let l = listener(0).await;
    let sub = s
        .subscribe("f", "SELECT * FROM CIM_InstCreation", &l.url, &[])
        .await;
    let key = |role: &str| match sub.key(role) {
        Some(CimValue::Reference(r)) => (**r).clone(),
        other => panic!("{role} is {other:?}"),
    };
    for role in ["Filter", "Handler"] {
        let e = s
            .cimom
            .delete_instance(&ctx(INTEROP_NS), &key(role))
            .await
            .unwrap_err();
        assert_eq!(e.status, vine_cim::CimStatus::Failed, "{role}: {e}");
    }
    s.cimom
        .delete_instance(&ctx(INTEROP_NS), &sub)
        .await
        .unwrap();
    for role in ["Filter", "Handler"] {
        s.cimom
            .delete_instance(&ctx(INTEROP_NS), &key(role))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn publish_never_blocks_even_when_nothing_reads() {
    let mut registry = Registry::new();
    let mut profiles = ProfileTable::default();
    let mut cfg = fast(None);
    cfg.inbox_capacity = 4;
    let service = IndicationService::install(&mut registry, &mut profiles, cfg);
    let sink = service.sink();
    let started = std::time::Instant::now();
    for _ in 0..1000 {
        sink.publish(SAMPLE_NS, CimInstance::new("CIM_InstCreation"));
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(profiles.get("DMTF:Indications:1.1.0").is_some());
}

#[tokio::test]
async fn https_listeners_are_verified_unless_told_otherwise() {
    let certs = tempfile::tempdir().unwrap();
    let l = tls_listener(certs.path()).await;
    let (cert, _) = tls::generated_paths(certs.path());
    let trusting = |tls: TlsVerify| {
        let mut cfg = fast(None);
        cfg.retry_attempts = 0;
        cfg.tls = tls;
        server(cfg)
    };

    // The default trust (the system bundle) does not know the listener's
    // self-signed certificate.
    let s = trusting(fast(None).tls);
    s.subscribe("f", "SELECT * FROM CIM_InstCreation", &l.url, &[])
        .await;
    s.new_item("refused").await;
    eventually("a TLS failure", || s.status().failed == 1).await;
    assert!(s.status().last_error.unwrap().contains("TLS"));

    let s = trusting(TlsVerify::CaFile(cert));
    s.subscribe("f", "SELECT * FROM CIM_InstCreation", &l.url, &[])
        .await;
    s.new_item("trusted").await;

    let s2 = trusting(TlsVerify::Insecure);
    s2.subscribe("f", "SELECT * FROM CIM_InstCreation", &l.url, &[])
        .await;
    s2.new_item("insecure").await;

    let got = l.wait(2).await;
    let mut ids: Vec<String> = got.iter().map(source_id).collect();
    ids.sort();
    assert_eq!(ids, ["insecure", "trusted"]);
}
