//! `POST /api/v1/hosts/register` over a real socket: the join token and
//! nothing else lets a host in, refusals are problem bodies, and what it
//! answers is what `/api/openapi.json` says.

mod support;

use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vine_console::Join;
use vine_coordinator::vni::indications::{Freshness, ListenerConfig};
use vine_wbem::auth::basic;

const TOKEN: &str = "join-token-0123456789";

struct Reply {
    status: u16,
    content_type: String,
    body: Value,
}

async fn send(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    auth: &str,
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = if auth.is_empty() {
        String::new()
    } else {
        format!("Authorization: {auth}\r\n")
    };
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    Reply {
        status: head[9..12].parse().unwrap(),
        content_type: head
            .lines()
            .find_map(|l| l.strip_prefix("content-type: "))
            .unwrap_or_default()
            .to_string(),
        body: serde_json::from_str(body).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn only_the_join_token_registers_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let users = support::users(dir.path());
    let store = vine_store::Store::open(dir.path().join("store")).unwrap();
    let inventory = support::inventory(&store);
    let freshness = Freshness::new(
        inventory.clone(),
        ListenerConfig {
            manager: "mgr".into(),
            advertise: "http://127.0.0.1:5988".into(),
            secret: b"k".to_vec(),
        },
    );
    let api = support::serve(
        users,
        support::coordinator(&store, inventory.clone()),
        None,
        Some(Arc::new(Join {
            token: TOKEN.into(),
            freshness,
        })),
    )
    .await;
    let a = api.addr;
    // An agent address nothing listens on: registered, but not reachable.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let body = json!({"name": "host-a", "url": url, "labels": {"rack": "a"}}).to_string();
    let path = "/api/v1/hosts/register";

    let bearer = format!("Bearer {TOKEN}");
    let user = basic::authorization_value("admin", "admin-pw");
    for (auth, why) in [
        ("", "join token"),
        ("Bearer wrong-token", "wrong join token"),
        // A user's login is not a join token.
        (user.as_str(), "join token"),
    ] {
        let r = send(a, "POST", path, auth, &body).await;
        assert_eq!(r.status, 401, "{auth}: {:?}", r.body);
        assert_eq!(r.content_type, "application/problem+json");
        assert_eq!(r.body["type"], "unauthorized");
        assert!(
            r.body["detail"].as_str().unwrap().contains(why),
            "{:?}",
            r.body
        );
    }
    assert!(inventory.hosts().unwrap().is_empty());
    let r = send(a, "GET", path, &bearer, "").await;
    assert_eq!(r.status, 405);
    let r = send(
        a,
        "POST",
        path,
        &bearer,
        r#"{"name": "x y", "url": "http://h:1"}"#,
    )
    .await;
    assert_eq!((r.status, r.body["type"].as_str()), (400, Some("invalid")));
    assert!(r.body["detail"].as_str().unwrap().contains("name"));
    let r = send(a, "POST", path, &bearer, r#"{"name": "h", "url": "h:1"}"#).await;
    assert_eq!(r.status, 400);

    let first = send(a, "POST", path, &bearer, &body).await;
    assert_eq!(first.status, 201, "{:?}", first.body);
    assert_eq!(first.body["reachable"], false);
    assert!(first.body["error"].is_string());
    assert_eq!(first.body["host"]["labels"]["rack"], "a");
    let again = send(a, "POST", path, &bearer, &body).await;
    assert_eq!(again.status, 200);
    let h = inventory.host("host-a").unwrap();
    assert_eq!(
        (h.url.as_str(), h.labels["rack"].as_str()),
        (url.as_str(), "a")
    );

    // The answers are the documented ones.
    let doc = send(a, "GET", "/api/openapi.json", "", "").await.body;
    let op = &doc["paths"][path]["post"];
    for status in ["200", "201", "400", "401"] {
        assert!(op["responses"][status].is_object(), "{status} undocumented");
    }
    assert_eq!(op["security"][0]["joinToken"], json!([]));
    assert_eq!(
        doc["components"]["securitySchemes"]["joinToken"]["scheme"],
        "bearer"
    );
    let schema = &doc["components"]["schemas"]["Registered"];
    for key in schema["required"].as_array().unwrap() {
        let k = key.as_str().unwrap();
        assert!(first.body.get(k).is_some(), "answer lacks {k}");
    }
    for key in first.body.as_object().unwrap().keys() {
        assert!(
            schema["properties"].get(key).is_some(),
            "{key} undocumented"
        );
    }
    let reg = &doc["components"]["schemas"]["Registration"]["properties"];
    for k in ["name", "url", "labels"] {
        assert!(reg.get(k).is_some());
    }
}
