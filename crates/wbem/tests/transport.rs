//! The DSP0200 transport over real sockets: `serve` on 127.0.0.1:0 with an
//! echoing handler, driven by hand-written HTTP/1.1 for exact header control.

/// Test server, echo handler and raw HTTP client.
mod transport_support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;

use transport_support::*;
use vine_wbem::auth::{basic, Role, UserStore};
use vine_wbem::transport::{serve, ServerConfig, TlsSource};

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn auth_challenge_and_principals() {
    let (_dir, s) = start(|_| {}).await;
    let r = roundtrip(s.http(), request(None, &OP, BODY)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("WWW-Authenticate"), Some("Basic realm=\"vine\""));
    let r = roundtrip(s.http(), request(Some(("admin", "wrong")), &OP, BODY)).await;
    assert_eq!(r.status, 401);
    let r = roundtrip(s.http(), request(Some(("nobody", "adminpw")), &OP, BODY)).await;
    assert_eq!(r.status, 401);
    let mut bearer = OP.to_vec();
    bearer.push("Authorization: Bearer abc");
    assert_eq!(
        roundtrip(s.http(), request(None, &bearer, BODY))
            .await
            .status,
        401
    );

    let r = roundtrip(s.http(), request(ADMIN, &OP, BODY)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("CIMOperation"), Some("MethodResponse"));
    assert_eq!(
        r.header("Content-Type"),
        Some("application/xml; charset=\"utf-8\"")
    );
    assert_eq!(
        r.text(),
        format!(
            "method=EnumerateInstances object=root/cimv2 user=admin role=admin version=1.0 len={}",
            BODY.len()
        )
    );
    let r = roundtrip(s.http(), request(Some(("reader", "readerpw")), &OP, BODY)).await;
    assert!(r.text().contains("user=reader role=reader"), "{r:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn users_changed_on_disk_are_seen() {
    let (_dir, s) = start(|_| {}).await;
    let other = UserStore::open(s.users.path()).unwrap();
    other.add("carol", Role::Reader, "carolpw").unwrap();
    other.remove("reader").unwrap();
    let r = roundtrip(s.http(), request(Some(("carol", "carolpw")), &OP, BODY)).await;
    assert!(r.text().contains("user=carol role=reader"), "{r:?}");
    let r = roundtrip(s.http(), request(Some(("reader", "readerpw")), &OP, BODY)).await;
    assert_eq!(r.status, 401);
    s.shutdown().await;
}

#[tokio::test]
async fn cim_header_rejections() {
    let (_dir, s) = start(|_| {}).await;
    let cases: Vec<(Vec<&str>, u16, &str)> = vec![
        (
            vec!["CIMOperation: Call", OP[1], OP[2], CT],
            400,
            "unsupported-operation",
        ),
        (vec![OP[1], OP[2], CT], 400, "unsupported-operation"),
        (
            vec![OP[0], OP[1], OP[2], CT, "CIMProtocolVersion: 2.0"],
            501,
            "unsupported-protocol-version",
        ),
        (
            vec![OP[0], OP[1], OP[2], CT, "CIMBatch: CIMBatch"],
            501,
            "multiple-requests-unsupported",
        ),
        (vec![OP[0], OP[1], CT], 400, "header-mismatch"),
        (vec![OP[0], OP[2], CT], 400, "header-mismatch"),
        (
            vec![OP[0], OP[1], "CIMObject: root%zz", CT],
            400,
            "header-mismatch",
        ),
        (
            vec![OP[0], OP[1], OP[2], "Content-Type: application/json"],
            400,
            "request-not-valid",
        ),
        (
            vec![
                OP[0],
                OP[1],
                OP[2],
                "Content-Type: text/xml; charset=latin1",
            ],
            400,
            "request-not-valid",
        ),
        (vec![OP[0], OP[1], OP[2]], 400, "request-not-valid"),
        (
            vec![OP[0], "CIMMethod: Reject", OP[2], CT],
            400,
            "request-not-well-formed",
        ),
    ];
    for (headers, status, value) in cases {
        let r = roundtrip(s.http(), request(ADMIN, &headers, BODY)).await;
        assert_cim_error(&r, status, value);
    }
    // Protocol 1.x other than 1.0 is fine and passed on.
    let mut v14 = OP.to_vec();
    v14.push("CIMProtocolVersion: 1.4");
    let r = roundtrip(s.http(), request(ADMIN, &v14, BODY)).await;
    assert!(r.text().contains("version=1.4"), "{r:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn body_checks() {
    let (_dir, s) = start(|c| c.max_body_bytes = 1024).await;
    // Not UTF-8.
    let mut raw = request(ADMIN, &OP, "");
    let cut = raw.len() - "Content-Length: 0\r\n\r\n".len();
    raw.truncate(cut);
    raw.extend_from_slice(b"Content-Length: 2\r\n\r\n\xff\xfe");
    let r = roundtrip(s.http(), raw).await;
    assert_cim_error(&r, 400, "request-not-valid");

    // Announced too large: refused before the body is sent.
    let big = "x".repeat(2000);
    let r = roundtrip(s.http(), request(ADMIN, &OP, &big)).await;
    assert_eq!(r.status, 413);

    // Chunked and too large: refused while streaming.
    let mut c = connect(s.http()).await;
    let mut head =
        String::from("POST /cimom HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n");
    head += &format!(
        "Authorization: {}\r\n",
        basic::authorization_value("admin", "adminpw")
    );
    for h in OP {
        head += h;
        head += "\r\n";
    }
    head += "\r\n";
    c.send(head.as_bytes()).await;
    for _ in 0..3 {
        c.send(format!("200\r\n{}\r\n", "y".repeat(512)).as_bytes())
            .await;
    }
    let r = c.response().await;
    assert_eq!(r.status, 413);

    // Within the limit, chunked: fine.
    let mut c = connect(s.http()).await;
    c.send(head.as_bytes()).await;
    c.send(b"5\r\nhello\r\n0\r\n\r\n").await;
    let r = c.response().await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().ends_with("len=5"));
    s.shutdown().await;
}

#[tokio::test]
async fn trailers_only_when_asked() {
    let (_dir, s) = start(|_| {}).await;
    let r = roundtrip(s.http(), request(ADMIN, &OP, BODY)).await;
    assert!(r.header("Content-Length").is_some());
    assert!(r.header("Trailer").is_none());
    assert!(r.trailers.is_empty());

    let mut te = OP.to_vec();
    te.push("TE: trailers");
    let r = roundtrip(s.http(), request(ADMIN, &te, BODY)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
    assert!(r
        .header("Trailer")
        .unwrap()
        .to_ascii_lowercase()
        .contains("cimstatuscode"));
    assert_eq!(r.trailer("CIMStatusCode"), Some("0"));
    assert!(r.text().starts_with("method=EnumerateInstances"));

    let fail = [OP[0], "CIMMethod: Fail", OP[2], CT, "TE: trailers"];
    let r = roundtrip(s.http(), request(ADMIN, &fail, BODY)).await;
    assert_eq!(r.trailer("CIMStatusCode"), Some("6"));
    assert_eq!(
        r.trailer("CIMStatusCodeDescription"),
        Some("no such%0D%0Ainstance 100%25")
    );
    s.shutdown().await;
}

#[tokio::test]
async fn mpost_and_http_methods() {
    let (_dir, s) = start(|_| {}).await;
    let auth = basic::authorization_value("admin", "adminpw");
    let mpost = format!(
        "M-POST /cimom HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n{CT}\r\n\
         Man: http://www.dmtf.org/cim/mapping/http/v1.0 ; ns=73\r\n\
         73-CIMOperation: MethodCall\r\n73-CIMMethod: GetClass\r\n73-CIMObject: root%2Fvine\r\n\
         Content-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let r = roundtrip(s.http(), mpost.into_bytes()).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("73-CIMOperation"), Some("MethodResponse"));
    assert!(r.header("Ext").is_some());
    assert!(r.text().starts_with("method=GetClass object=root/vine"));

    let no_man = format!(
        "M-POST /cimom HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n{CT}\r\n\
         73-CIMOperation: MethodCall\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(roundtrip(s.http(), no_man.into_bytes()).await.status, 510);

    let get = format!("GET /cimom HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n");
    let r = roundtrip(s.http(), get.into_bytes()).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST, M-POST"));

    // Both paths work; others do not.
    let root = String::from_utf8(request(ADMIN, &OP, BODY))
        .unwrap()
        .replacen("/cimom", "/", 1);
    assert_eq!(roundtrip(s.http(), root.into_bytes()).await.status, 200);
    let other = String::from_utf8(request(ADMIN, &OP, BODY))
        .unwrap()
        .replacen("/cimom", "/x", 1);
    assert_eq!(roundtrip(s.http(), other.into_bytes()).await.status, 404);
    let no_host = String::from_utf8(request(ADMIN, &OP, BODY))
        .unwrap()
        .replacen("Host: localhost\r\n", "", 1);
    assert_eq!(roundtrip(s.http(), no_host.into_bytes()).await.status, 400);
    s.shutdown().await;
}

#[tokio::test]
async fn keep_alive_and_idle_timeout() {
    let (_dir, s) = start(|c| c.idle_timeout = Duration::from_millis(400)).await;
    let mut c = connect(s.http()).await;
    for _ in 0..2 {
        c.send(&request(ADMIN, &OP, BODY)).await;
        let r = c.response().await;
        assert_eq!(r.status, 200);
    }
    // Two requests pipelined on the same connection.
    let mut two = request(ADMIN, &OP, BODY);
    two.extend(request(Some(("reader", "readerpw")), &OP, BODY));
    c.send(&two).await;
    assert!(c.response().await.text().contains("user=admin"));
    assert!(c.response().await.text().contains("user=reader"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(c.closed().await, "idle connection should be closed");
    s.shutdown().await;
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let (_dir, s) = start(|c| c.header_timeout = Duration::from_millis(300)).await;
    let mut c = connect(s.http()).await;
    c.send(b"POST /cimom HTTP/1.1\r\nHost: x\r\n").await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    // hyper may answer 408 before closing; either way the connection ends.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        use tokio::io::AsyncReadExt;
        c.stream.read_to_end(&mut rest).await
    })
    .await;
    assert!(
        read.is_ok(),
        "connection still open after the header timeout"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn export_requests() {
    let (_dir, s) = start(|_| {}).await;
    let export = [
        "CIMExport: MethodRequest",
        "CIMExportMethod: ExportIndication",
        CT,
    ];
    let r = roundtrip(s.http(), request(ADMIN, &export, BODY)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("CIMExport"), Some("MethodResponse"));
    assert_eq!(r.text(), "export=ExportIndication user=admin");
    let bad = ["CIMExport: Other", "CIMExportMethod: ExportIndication", CT];
    assert_cim_error(
        &roundtrip(s.http(), request(ADMIN, &bad, BODY)).await,
        400,
        "unsupported-operation",
    );
    s.shutdown().await;
}

#[tokio::test]
async fn handler_panic_is_500_and_server_survives() {
    let (_dir, s) = start(|_| {}).await;
    let panic = [OP[0], "CIMMethod: Panic", OP[2], CT];
    assert_eq!(
        roundtrip(s.http(), request(ADMIN, &panic, BODY))
            .await
            .status,
        500
    );
    assert_eq!(
        roundtrip(s.http(), request(ADMIN, &OP, BODY)).await.status,
        200
    );
    s.shutdown().await;
}

fn client_tls(cert_pem: &Path) -> tokio_rustls::TlsConnector {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(cert_pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn https_roundtrip(addr: std::net::SocketAddr, cert_pem: &Path) -> (Resp, Vec<u8>) {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = client_tls(cert_pem).connect(name, tcp).await.unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let mut c = Conn::new(tls);
    c.send(&request(ADMIN, &OP, BODY)).await;
    (c.response().await, presented)
}

#[tokio::test]
async fn https_with_generated_certificate_kept_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start_in(dir.path(), |_| {}).await;
    let cert = dir.path().join("tls/cert.pem");
    let first = std::fs::read(&cert).unwrap();
    let (r, presented1) = https_roundtrip(s.https(), &cert).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().contains("user=admin"));
    s.shutdown().await;

    let s = start_in(dir.path(), |_| {}).await;
    assert_eq!(
        std::fs::read(&cert).unwrap(),
        first,
        "certificate regenerated"
    );
    let (r, presented2) = https_roundtrip(s.https(), &cert).await;
    assert_eq!(r.status, 200);
    assert_eq!(presented1, presented2);
    s.shutdown().await;
}

#[tokio::test]
async fn https_only_and_given_files() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) =
        vine_wbem::transport::tls::ensure_self_signed(&dir.path().join("elsewhere")).unwrap();
    let s = start_in(dir.path(), |c| {
        c.http = None;
        c.tls = TlsSource::Files {
            cert: cert.clone(),
            key,
        };
    })
    .await;
    assert!(!dir.path().join("tls").exists());
    let (r, _) = https_roundtrip(s.https(), &cert).await;
    assert_eq!(r.status, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_stops_listening() {
    let (_dir, s) = start(|_| {}).await;
    let addr = s.http();
    let mut idle = connect(addr).await;
    s.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
    assert!(idle.closed().await);
}

#[tokio::test]
async fn no_listener_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(TlsSource::Generate {
        state_dir: dir.path().to_owned(),
    });
    config.http = None;
    config.https = None;
    let users = Arc::new(UserStore::open(dir.path().join("users.toml")).unwrap());
    let err = serve(config, users, Arc::new(Echo), None, async {})
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        vine_wbem::transport::TransportError::NoListener
    ));
}

#[tokio::test]
async fn export_without_listener_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("users.toml"), users_template()).unwrap();
    let users = Arc::new(UserStore::open(dir.path().join("users.toml")).unwrap());
    let mut config = ServerConfig::new(TlsSource::Generate {
        state_dir: dir.path().to_owned(),
    });
    config.http = Some("127.0.0.1:0".parse().unwrap());
    config.https = None;
    let (tx, rx) = oneshot::channel::<()>();
    let running = serve(config, users, Arc::new(Echo), None, async {
        let _ = rx.await;
    })
    .await
    .unwrap();
    let export = [
        "CIMExport: MethodRequest",
        "CIMExportMethod: ExportIndication",
        CT,
    ];
    let r = roundtrip(running.http.unwrap(), request(ADMIN, &export, BODY)).await;
    assert_cim_error(&r, 400, "unsupported-operation");
    let _ = tx.send(());
    running.wait().await;
}
