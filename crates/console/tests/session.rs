//! Console sessions over real sockets: login, cookie flags, CSRF on
//! cookie writes, roles, logout; HTTP Basic unchanged; the embedded
//! console files with their content types and CSP.

mod support;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vine_wbem::auth::{basic, Role, UserStore};
use vine_wbem::transport::TlsSource;

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    Reply {
        status: head[9..12].parse().unwrap(),
        head: head.to_string(),
        body: body.to_string(),
    }
}

const JSON: (&str, &str) = ("Content-Type", "application/json");

async fn login(addr: SocketAddr, user: &str, pw: &str) -> Reply {
    request(
        addr,
        "POST",
        "/api/v1/session",
        &[JSON],
        &serde_json::json!({"user": user, "password": pw}).to_string(),
    )
    .await
}

/// `vine_session=<token>` from a login reply.
fn cookie_of(r: &Reply) -> String {
    let c = r.header("set-cookie").expect("login sets a cookie");
    c.split(';').next().unwrap().to_string()
}

async fn start(dir: &std::path::Path, tls: Option<TlsSource>) -> SocketAddr {
    let users = support::users(dir);
    let store =
        vine_store::Store::open(dir.join(if tls.is_some() { "store-tls" } else { "store" }))
            .unwrap();
    let coordinator = support::coordinator(&store, support::inventory(&store));
    let api = support::serve(users, coordinator, tls, None).await;
    api.addr
}

#[tokio::test]
async fn console_sessions_log_in_guard_writes_with_csrf_and_log_out() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), None).await;

    // Wrong password: 401 as a problem, and no Basic challenge (a browser
    // would pop up its own dialog over the console).
    let r = login(a, "admin", "nope").await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/problem+json"
    );
    assert!(r.header("www-authenticate").is_none(), "{}", r.head);
    assert!(r.header("set-cookie").is_none());
    let r = login(a, "ghost", "admin-pw").await;
    assert_eq!(r.status, 401);
    // Not JSON: a cross-site form cannot log a browser in.
    let r = request(
        a,
        "POST",
        "/api/v1/session",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "user=admin&password=admin-pw",
    )
    .await;
    assert_eq!(r.status, 415, "{}", r.body);
    let r = request(a, "POST", "/api/v1/session", &[JSON], "{\"user\": 1}").await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["detail"].as_str().unwrap().contains("user"),
        "{}",
        r.body
    );

    // Right password: a cookie the page's script cannot read, sent only
    // to this site, for every path.
    let r = login(a, "admin", "admin-pw").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let set = r.header("set-cookie").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(flag), "{set}");
    }
    assert!(
        !set.contains("Secure"),
        "plain HTTP cannot keep a Secure cookie: {set}"
    );
    let me = r.json();
    assert_eq!(
        (me["user"].as_str(), me["role"].as_str()),
        (Some("admin"), Some("admin"))
    );
    let csrf = me["csrf"].as_str().unwrap().to_string();
    // The answer is what the OpenAPI document says it is.
    let doc = request(a, "GET", "/api/openapi.json", &[], "").await.json();
    for m in ["post", "get", "delete"] {
        assert!(doc["paths"]["/api/v1/session"][m].is_object(), "{m}");
    }
    let schema = &doc["components"]["schemas"]["Session"];
    for field in schema["required"].as_array().unwrap() {
        assert!(me.get(field.as_str().unwrap()).is_some(), "{field}");
    }
    assert!(schema["properties"]["role"]["enum"]
        .as_array()
        .unwrap()
        .contains(&me["role"]));
    assert!(csrf.len() >= 20);
    let cookie = cookie_of(&r);
    assert!(!cookie.contains(&csrf), "the CSRF token is not the cookie");

    // The cookie authenticates reads, and says who I am.
    let r = request(a, "GET", "/api/v1/session", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["csrf"], csrf.as_str());
    let r = request(a, "GET", "/api/v1/vms", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), serde_json::json!([]));

    // A write with the cookie alone is what a forged cross-site request
    // looks like: refused before it reaches a route.
    let r = request(a, "DELETE", "/api/v1/vms", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.header("content-type").unwrap(),
        "application/problem+json"
    );
    assert_eq!(r.json()["type"], "csrf");
    let r = request(
        a,
        "DELETE",
        "/api/v1/vms",
        &[("Cookie", &cookie), ("X-CSRF-Token", "wrong")],
        "",
    )
    .await;
    assert_eq!(r.status, 403);
    // With the token it reaches the route (which has no DELETE).
    let r = request(
        a,
        "DELETE",
        "/api/v1/vms",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    )
    .await;
    assert_eq!(r.status, 405, "{}", r.body);

    // A reader's session may read, and may not write even with its token.
    let r = login(a, "viewer", "viewer-pw").await;
    assert_eq!(r.json()["role"], "reader");
    let (vcookie, vcsrf) = (
        cookie_of(&r),
        r.json()["csrf"].as_str().unwrap().to_string(),
    );
    assert_ne!(vcookie, cookie);
    let r = request(a, "GET", "/api/v1/hosts", &[("Cookie", &vcookie)], "").await;
    assert_eq!(r.status, 200);
    let r = request(
        a,
        "POST",
        "/api/v1/vms",
        &[("Cookie", &vcookie), ("X-CSRF-Token", &vcsrf), JSON],
        "{}",
    )
    .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["type"], "forbidden");
    assert!(r.json()["detail"].as_str().unwrap().contains("reader"));

    // HTTP Basic is as before: no CSRF token, a challenge on 401.
    let basic_admin = basic::authorization_value("admin", "admin-pw");
    let r = request(
        a,
        "DELETE",
        "/api/v1/vms",
        &[("Authorization", &basic_admin)],
        "",
    )
    .await;
    assert_eq!(r.status, 405);
    let r = request(a, "GET", "/api/v1/vms", &[], "").await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    // …but not for the console's own requests.
    let r = request(
        a,
        "GET",
        "/api/v1/vms",
        &[("X-Requested-With", "vine-console")],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_none());

    // Logout needs the token too, ends the session and clears the cookie.
    let r = request(a, "DELETE", "/api/v1/session", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.status, 403);
    let r = request(
        a,
        "DELETE",
        "/api/v1/session",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    )
    .await;
    assert_eq!(r.status, 204);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    let r = request(a, "GET", "/api/v1/vms", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate").is_none(),
        "an ended session gets no Basic dialog"
    );
    let r = request(a, "GET", "/api/v1/session", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.status, 401);
    // The reader's session is untouched by the admin's logout.
    let r = request(a, "GET", "/api/v1/vms", &[("Cookie", &vcookie)], "").await;
    assert_eq!(r.status, 200);
    // A made-up cookie is no session.
    let r = request(
        a,
        "GET",
        "/api/v1/vms",
        &[(
            "Cookie",
            "vine_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )],
        "",
    )
    .await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn a_removed_user_loses_the_session_and_a_demoted_one_its_rights() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), None).await;
    let r = login(a, "admin", "admin-pw").await;
    let (cookie, csrf) = (
        cookie_of(&r),
        r.json()["csrf"].as_str().unwrap().to_string(),
    );
    let users = UserStore::open(dir.path().join("users.toml")).unwrap();
    users.add("second", Role::Admin, "second-pw").unwrap();
    let r2 = login(a, "second", "second-pw").await;
    let cookie2 = cookie_of(&r2);

    // Another process (`vine user`) rewrites the users file; the server
    // sees it at its next password check.
    users.set_role("admin", Role::Reader).unwrap();
    users.remove("second").unwrap();
    assert_eq!(
        request(
            a,
            "GET",
            "/api/v1/hosts",
            &[(
                "Authorization",
                &basic::authorization_value("viewer", "viewer-pw")
            )],
            ""
        )
        .await
        .status,
        200
    );

    let r = request(
        a,
        "DELETE",
        "/api/v1/vms",
        &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)],
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["type"], "forbidden");
    let r = request(a, "GET", "/api/v1/session", &[("Cookie", &cookie)], "").await;
    assert_eq!(r.json()["role"], "reader");
    let r = request(a, "GET", "/api/v1/hosts", &[("Cookie", &cookie2)], "").await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_types_and_csp() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(dir.path(), None).await;
    let page = request(a, "GET", "/", &[], "").await;
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type").unwrap(),
        "text/html; charset=utf-8"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.header("x-content-type-options").unwrap(), "nosniff");
    assert!(page
        .body
        .contains("<script type=\"module\" src=\"/js/app.js\">"));

    for (path, ct) in [
        ("/js/app.js", "text/javascript; charset=utf-8"),
        ("/app.css", "text/css; charset=utf-8"),
        (
            "/vendor/uplot/uPlot.esm.js",
            "text/javascript; charset=utf-8",
        ),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let r = request(a, "GET", path, &[], "").await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type").unwrap(), ct, "{path}");
        assert!(!r.body.is_empty());
    }
    let js = request(a, "GET", "/js/app.js", &[], "").await;
    let etag = js.header("etag").unwrap();
    let again = request(a, "GET", "/js/app.js", &[("If-None-Match", &etag)], "").await;
    assert_eq!(again.status, 304);
    // Not a file: a problem, not the page.
    let r = request(a, "GET", "/nope.js", &[], "").await;
    assert_eq!(r.status, 404);
    // Files are not written to.
    let r = request(a, "POST", "/js/app.js", &[], "").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn over_https_the_cookie_is_secure() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(
        dir.path(),
        Some(TlsSource::Generate {
            state_dir: dir.path().to_path_buf(),
        }),
    )
    .await;
    // curl: a third-party HTTPS client.
    let out = tokio::process::Command::new("curl")
        .args([
            "-sk",
            "-i",
            "-H",
            "Content-Type: application/json",
            "--data",
        ])
        .arg(r#"{"user":"admin","password":"admin-pw"}"#)
        .arg(format!("https://{a}/api/v1/session"))
        .output()
        .await
        .expect("curl is installed by deploy/setup.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let set = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("{text}"));
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Secure"] {
        assert!(set.contains(flag), "{set}");
    }
}
