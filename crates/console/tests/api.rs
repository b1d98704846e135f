//! The REST API over a real socket: auth and roles shared with WBEM,
//! problem bodies for every error, the inventory as JSON.

mod support;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vine_wbem::auth::basic;

struct Reply {
    status: u16,
    content_type: String,
    headers: String,
    body: serde_json::Value,
}

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    auth: Option<(&str, &str)>,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let auth = auth
        .map(|(u, p)| format!("Authorization: {}\r\n", basic::authorization_value(u, p)))
        .unwrap_or_default();
    let req = format!("{method} {path} HTTP/1.1\r\nHost: t\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let status = head[9..12].parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|l| l.strip_prefix("content-type: "))
        .unwrap_or_default()
        .to_string();
    Reply {
        status,
        content_type,
        headers: head.to_string(),
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    }
}

#[tokio::test]
async fn the_inventory_is_served_as_json_to_vine_users_only() {
    let dir = tempfile::tempdir().unwrap();
    let users = support::users(dir.path());
    let store = vine_store::Store::open(dir.path().join("store")).unwrap();
    let inventory = support::inventory(&store);
    // An agent that is not there: resync must say so, not hang or panic.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    inventory.add_host("host-a", &dead_url).unwrap();
    assert!(inventory.resync_host("host-a").await.is_err());

    let api = support::serve(
        users,
        support::coordinator(&store, inventory.clone()),
        None,
        None,
    )
    .await;
    let a = api.addr;

    let r = request(a, "GET", "/api/v1/hosts", None).await;
    assert_eq!(r.status, 401);
    assert!(
        r.headers
            .to_ascii_lowercase()
            .contains("www-authenticate: basic"),
        "{}",
        r.headers
    );
    assert_eq!(r.content_type, "application/problem+json");
    let r = request(a, "GET", "/api/v1/hosts", Some(("viewer", "wrong"))).await;
    assert_eq!(r.status, 401);

    let r = request(a, "GET", "/api/v1/hosts", Some(("viewer", "viewer-pw"))).await;
    assert_eq!(r.status, 200);
    let hosts = r.body.as_array().unwrap();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["name"], "host-a");
    assert_eq!(hosts[0]["health"], "Unreachable");
    assert!(
        hosts[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{}",
        hosts[0]
    );

    let r = request(
        a,
        "GET",
        "/api/v1/hosts/nope",
        Some(("viewer", "viewer-pw")),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.body["status"], 404);
    assert!(r.body["detail"].as_str().unwrap().contains("nope"));

    let r = request(a, "GET", "/api/v1/vms/ghost", Some(("viewer", "viewer-pw"))).await;
    assert_eq!(r.status, 404);
    let r = request(a, "DELETE", "/api/v1/vms", Some(("viewer", "viewer-pw"))).await;
    assert_eq!(r.status, 403, "readers may not change anything");
    let r = request(a, "DELETE", "/api/v1/vms", Some(("admin", "admin-pw"))).await;
    assert_eq!(r.status, 405);
    let r = request(a, "GET", "/api/v1/vms", Some(("admin", "admin-pw"))).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, serde_json::json!([]));

    let r = request(a, "GET", "/api/openapi.json", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["openapi"], "3.1.0");
    assert!(r.body["paths"]["/api/v1/vms/{name}"].is_object());
}
