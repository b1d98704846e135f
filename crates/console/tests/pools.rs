//! `/api/v1/pools` over a real socket, through the crate's own REST client:
//! service pools created with a reservation the data centre can keep,
//! refused with 422 when it cannot, capped by a limit, deleted only when
//! empty; host pools addressed as `host/<name>`; readers may only read.
//!
//! No agent runs in this crate's tests, so two hosts' capacity (and one
//! VM) are written to the store as a resync from real agents writes them;
//! `crates/vine/tests/cli_e2e.rs` drives the same routes against `vine up`.

mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use vine_console::{ApiClient, ApiError};
use vine_coordinator::inventory::{HostHealth, HostRecord, VmRecord};
use vine_coordinator::ops::Coordinator;
use vine_coordinator::vni::{HostCapacity, VmState};
use vine_store::{names, Store};

fn host(name: &str, vcpus: u64, memory_mib: u64) -> HostRecord {
    HostRecord {
        name: name.into(),
        url: "http://127.0.0.1:9".into(),
        prefix: Some("KVM".into()),
        system_name: Some(name.into()),
        health: HostHealth::Up,
        last_seen: Some(1),
        last_error: None,
        capacity: Some(HostCapacity { vcpus, memory_mib }),
        labels: Default::default(),
        maintenance: false,
        ..HostRecord::new("", "")
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    coordinator: Arc<Coordinator>,
    admin: ApiClient,
    reader: ApiClient,
    addr: std::net::SocketAddr,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("store")).unwrap();
    // Two hosts of 8 CPUs and 16 GiB: 64 vCPUs and 32 GiB may be
    // allocated under the default ratios (4:1 CPU, 1:1 memory).
    let hosts = store.collection::<HostRecord>(names::HOSTS).unwrap();
    hosts.put("host-1", &host("host-1", 8, 16384)).unwrap();
    hosts.put("host-2", &host("host-2", 8, 16384)).unwrap();
    let coordinator = support::coordinator(&store, support::inventory(&store));
    let api = support::serve(support::users(dir.path()), coordinator.clone(), None, None).await;
    Setup {
        addr: api.addr,
        _dir: dir,
        coordinator,
        admin: support::client(&api, "admin"),
        reader: support::client(&api, "viewer"),
    }
}

/// The status and detail of a refused call.
fn refused<T: std::fmt::Debug>(r: Result<T, ApiError>) -> (u16, String) {
    match r {
        Err(ApiError::Status { status, detail, .. }) => (status, detail),
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

fn names(pools: &Value) -> Vec<&str> {
    pools
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn service_pools_are_created_within_what_the_data_centre_can_keep() {
    let s = setup().await;
    let pools: Value = s.reader.get("/pools").await.unwrap();
    assert_eq!(names(&pools), ["datacenter", "host/host-1", "host/host-2"]);
    assert_eq!(
        pools[0]["capacity"],
        json!({"vcpus": 16, "memory_mib": 32768})
    );
    assert_eq!(
        pools[0]["allowed"],
        json!({"vcpus": 64, "memory_mib": 32768})
    );

    // A host pool, by its name with the slash sent either way.
    let h: Value = s.reader.get("/pools/host/host-2").await.unwrap();
    assert_eq!(h["kind"], "host");
    assert_eq!(h["capacity"], json!({"vcpus": 8, "memory_mib": 16384}));
    let h2: Value = s.reader.get("/pools/host%2Fhost-2").await.unwrap();
    assert_eq!(h, h2);

    // Created with a reservation: 201 and the stored record.
    let (status, rec) = s
        .admin
        .call(
            http::Method::POST,
            "/pools",
            Some(
                &json!({"name": "web", "reservation": {"vcpus": 8, "memory_mib": 20480},
                "limit": {"vcpus": 16, "memory_mib": 24576}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(rec["name"], "web");
    assert_eq!(rec["reservation"], json!({"vcpus": 8, "memory_mib": 20480}));
    assert_eq!(rec["limit"], json!({"vcpus": 16, "memory_mib": 24576}));
    let web: Value = s.reader.get("/pools/web").await.unwrap();
    assert_eq!(web["kind"], "service");
    assert_eq!(web["allowed"], rec["limit"]);
    assert_eq!(web["vms"], 0);

    // 20 GiB of 32 are kept for web: another pool cannot have 16.
    let (status, detail) = refused(
        s.admin
            .post(
                "/pools",
                &json!({"name": "db", "reservation": {"vcpus": 1, "memory_mib": 16384}}),
            )
            .await,
    );
    assert_eq!(status, 422);
    assert!(
        detail.contains("cannot take") && detail.contains("12288 MiB is free"),
        "{detail}"
    );
    // 12 GiB it can, and without a limit (null or absent).
    let rec = s
        .admin
        .post(
            "/pools",
            &json!({"name": "db", "reservation": {"vcpus": 1, "memory_mib": 12288}, "limit": null}),
        )
        .await
        .unwrap();
    assert_eq!(rec["limit"], Value::Null);
    let rec = s
        .admin
        .post("/pools", &json!({"name": "batch"}))
        .await
        .unwrap();
    assert_eq!(rec["reservation"], json!({"vcpus": 0, "memory_mib": 0}));

    // Admission: web's limit caps what its VMs may be given.
    let err = s
        .coordinator
        .pools()
        .admit(
            Some("web"),
            vine_coordinator::placement::Resources::new(17, 1024),
        )
        .unwrap_err();
    assert!(err.to_string().contains("would exceed its limit"), "{err}");

    let pools: Value = s.reader.get("/pools").await.unwrap();
    assert_eq!(
        names(&pools),
        [
            "datacenter",
            "host/host-1",
            "host/host-2",
            "batch",
            "db",
            "web"
        ]
    );
}

#[tokio::test]
async fn bad_requests_say_what_to_fix() {
    let s = setup().await;
    let post = |body: Value| {
        let c = &s.admin;
        async move { refused(c.post("/pools", &body).await) }
    };
    let (st, d) = post(json!({"name": "a/b"})).await;
    assert_eq!(st, 400);
    assert!(d.contains("letters, digits"), "{d}");
    let (st, d) = post(json!({"name": "datacenter"})).await;
    assert_eq!(st, 400, "{d}");
    let (st, d) = post(json!({"name": "x", "reserve": {"vcpus": 1, "memory_mib": 1}})).await;
    assert_eq!(st, 400);
    assert!(d.contains("unknown field `reserve`"), "{d}");
    let (st, d) = post(json!({"name": "x", "reservation": {"vcpus": 1}})).await;
    assert_eq!(st, 400);
    assert!(d.contains("memory_mib"), "{d}");
    let (st, d) = post(json!({"name": "x", "reservation": {"vcpus": -1, "memory_mib": 1}})).await;
    assert_eq!(st, 400, "{d}");
    let (st, d) = post(
        json!({"name": "x", "reservation": {"vcpus": 4, "memory_mib": 1024},
        "limit": {"vcpus": 2, "memory_mib": 4096}}),
    )
    .await;
    assert_eq!(st, 400);
    assert!(
        d.contains("reservation (4 vCPU, 1024 MiB) is larger than the limit"),
        "{d}"
    );
    let (st, d) = refused(s.admin.call(http::Method::POST, "/pools", None).await);
    assert_eq!(st, 400);
    assert!(d.contains("needs a JSON body"), "{d}");

    s.admin
        .post("/pools", &json!({"name": "web"}))
        .await
        .unwrap();
    let (st, d) = post(json!({"name": "web"})).await;
    assert_eq!(st, 409);
    assert!(d.contains("already exists"), "{d}");

    // Unknown pools and hosts are 404 with the name.
    let (st, d) = refused(s.reader.get::<Value>("/pools/nope").await);
    assert_eq!(st, 404);
    assert!(d.contains("nope"), "{d}");
    let (st, _) = refused(s.reader.get::<Value>("/pools/host/ghost").await);
    assert_eq!(st, 404);
    let (st, _) = refused(s.admin.delete("/pools/nope").await);
    assert_eq!(st, 404);
    let (st, _) = refused(s.reader.get::<Value>("/pools/a/b/c").await);
    assert_eq!(st, 404);
    let (st, _) = refused(s.admin.call(http::Method::PUT, "/pools/web", None).await);
    assert_eq!(st, 405);

    // Computed pools cannot be deleted.
    let (st, d) = refused(s.admin.delete("/pools/datacenter").await);
    assert_eq!(st, 409);
    assert!(d.contains("only service pools"), "{d}");
    let (st, _) = refused(s.admin.delete("/pools/host/host-1").await);
    assert_eq!(st, 409);
}

#[tokio::test]
async fn a_pool_in_use_is_kept_and_readers_may_only_read() {
    let s = setup().await;
    s.admin
        .post(
            "/pools",
            &json!({"name": "web", "reservation": {"vcpus": 2, "memory_mib": 2048}}),
        )
        .await
        .unwrap();

    // Readers: 403 for every change, and nothing changed.
    let (st, d) = refused(s.reader.post("/pools", &json!({"name": "mine"})).await);
    assert_eq!(st, 403);
    assert!(d.contains("reader"), "{d}");
    let (st, _) = refused(s.reader.delete("/pools/web").await);
    assert_eq!(st, 403);
    let _: Value = s.reader.get("/pools/web").await.unwrap();

    // A VM draws from web: the pool cannot go, and says which VM keeps it.
    s.coordinator.pools().add_member("web", "web-1").unwrap();
    put_vm(&s, "web-1");
    let web: Value = s.reader.get("/pools/web").await.unwrap();
    assert_eq!(web["vms"], 1);
    assert_eq!(web["allocated"], json!({"vcpus": 2, "memory_mib": 1024}));
    let (st, d) = refused(s.admin.delete("/pools/web").await);
    assert_eq!(st, 409);
    assert!(d.contains("web-1"), "{d}");
    let _: Value = s.reader.get("/pools/web").await.unwrap();

    // Gone from the inventory (deleted behind the manager's back, its
    // membership left over): the pool may go.
    delete_vm(&s, "web-1");
    let r = s.admin.delete("/pools/web").await.unwrap();
    assert_eq!(r, json!({"deleted": "web"}));
    let (st, _) = refused(s.reader.get::<Value>("/pools/web").await);
    assert_eq!(st, 404);
}

/// A VM of 2 vCPUs and 1 GiB on host-1, as a resync records it.
fn put_vm(s: &Setup, name: &str) {
    s.coordinator
        .inventory()
        .record_vm(&VmRecord {
            name: name.into(),
            host: "host-1".into(),
            uuid: None,
            state: VmState::Running,
            vcpus: Some(2),
            memory_mib: Some(1024),
        })
        .unwrap();
}

fn delete_vm(s: &Setup, name: &str) {
    s.coordinator.inventory().forget_vm("host-1", name).unwrap();
}

/// `/api/openapi.json`, read off the socket (it lies outside `/api/v1`).
async fn openapi(addr: std::net::SocketAddr) -> Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /api/openapi.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (_, body) = raw.split_once("\r\n\r\n").unwrap();
    serde_json::from_str(body).unwrap()
}

/// Every field a schema requires is in `v`, and nothing `v` has is
/// unknown to it.
fn conforms(doc: &Value, schema: &str, v: &Value) {
    let s = &doc["components"]["schemas"][schema];
    for r in s["required"].as_array().unwrap() {
        assert!(
            v.get(r.as_str().unwrap()).is_some(),
            "{schema} needs {r}: {v}"
        );
    }
    for k in v.as_object().unwrap().keys() {
        assert!(
            s["properties"].get(k).is_some(),
            "{schema} does not describe {k}: {v}"
        );
    }
}

#[tokio::test]
async fn the_openapi_document_describes_what_the_routes_answer() {
    let s = setup().await;
    let doc = openapi(s.addr).await;
    let paths = &doc["paths"];
    for (path, method, status) in [
        ("/api/v1/pools", "get", "200"),
        ("/api/v1/pools", "post", "201"),
        ("/api/v1/pools", "post", "422"),
        ("/api/v1/pools/{name}", "get", "200"),
        ("/api/v1/pools/{name}", "delete", "409"),
    ] {
        assert!(
            paths[path][method]["responses"][status].is_object(),
            "{method} {path} {status} is described"
        );
    }
    let rec = s
        .admin
        .post(
            "/pools",
            &json!({"name": "web", "reservation": {"vcpus": 1, "memory_mib": 512},
                "limit": {"vcpus": 2, "memory_mib": 1024}}),
        )
        .await
        .unwrap();
    conforms(&doc, "PoolRecord", &rec);
    let pools: Value = s.reader.get("/pools").await.unwrap();
    for p in pools.as_array().unwrap() {
        conforms(&doc, "Pool", p);
        conforms(&doc, "Resources", &p["allocated"]);
    }
}
