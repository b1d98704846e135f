//! Helpers of `tests/transport.rs`: an echoing handler, a server started on
//! 127.0.0.1:0, and a raw HTTP/1.1 client that keeps exact header control.

#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use vine_wbem::auth::{basic, Role, UserStore};
use vine_wbem::transport::{
    serve, CimErrorHeader, ExportHandler, ExportRequest, ExportResponse, HandlerFuture,
    OperationHandler, OperationRequest, OperationResponse, RunningServer, ServerConfig, TlsSource,
};

// ---------------------------------------------------------------- server side

/// Echoes what it was handed; a few method names trigger other answers.
pub struct Echo;

impl OperationHandler for Echo {
    fn handle(&self, req: OperationRequest) -> HandlerFuture<'_, OperationResponse> {
        Box::pin(async move {
            match req.cim_method.as_str() {
                "Reject" => OperationResponse::Rejected(CimErrorHeader::RequestNotWellFormed),
                "Panic" => panic!("handler panics on purpose"),
                "Fail" => OperationResponse::Body {
                    xml: b"<ERROR/>".to_vec(),
                    status: 6,
                    description: Some("no such\r\ninstance 100%".into()),
                },
                _ => OperationResponse::Body {
                    xml: format!(
                        "method={} object={} user={} role={} version={} len={}",
                        req.cim_method,
                        req.cim_object,
                        req.user.name,
                        req.user.role,
                        req.protocol_version,
                        req.body.len()
                    )
                    .into_bytes(),
                    status: 0,
                    description: None,
                },
            }
        })
    }
}

pub struct Listener;

impl ExportHandler for Listener {
    fn handle(&self, req: ExportRequest) -> HandlerFuture<'_, ExportResponse> {
        Box::pin(async move {
            OperationResponse::Body {
                xml: format!("export={} user={}", req.export_method, req.user.name).into_bytes(),
                status: 0,
                description: None,
            }
        })
    }
}

/// argon2 is slow in debug builds: hash the test users once, copy the file.
pub fn users_template() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        let store = UserStore::open(&path).unwrap();
        store.add("admin", Role::Admin, "adminpw").unwrap();
        store.add("reader", Role::Reader, "readerpw").unwrap();
        std::fs::read_to_string(&path).unwrap()
    })
}

pub struct Server {
    pub running: Option<RunningServer>,
    pub stop: Option<oneshot::Sender<()>>,
    pub http: Option<std::net::SocketAddr>,
    pub https: Option<std::net::SocketAddr>,
    pub users: Arc<UserStore>,
}

impl Server {
    pub fn http(&self) -> std::net::SocketAddr {
        self.http.expect("HTTP enabled")
    }
    pub fn https(&self) -> std::net::SocketAddr {
        self.https.expect("HTTPS enabled")
    }

    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.running.take().unwrap().wait().await;
    }
}

pub async fn start_in(state: &Path, tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let users_path = state.join("users.toml");
    if !users_path.exists() {
        std::fs::write(&users_path, users_template()).unwrap();
    }
    let users = Arc::new(UserStore::open(&users_path).unwrap());
    let mut config = ServerConfig::new(TlsSource::Generate {
        state_dir: state.to_owned(),
    });
    config.http = Some("127.0.0.1:0".parse().unwrap());
    config.https = Some("127.0.0.1:0".parse().unwrap());
    tweak(&mut config);
    let (tx, rx) = oneshot::channel();
    let running = serve(
        config,
        Arc::clone(&users),
        Arc::new(Echo),
        Some(Arc::new(Listener)),
        async {
            let _ = rx.await;
        },
    )
    .await
    .unwrap();
    Server {
        http: running.http,
        https: running.https,
        running: Some(running),
        stop: Some(tx),
        users,
    }
}

pub async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = start_in(dir.path(), tweak).await;
    (dir, server)
}

// ---------------------------------------------------------------- client side

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub trailers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
    pub fn trailer(&self, name: &str) -> Option<&str> {
        find(&self.trailers, name)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

pub fn find<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A raw HTTP/1.1 connection that keeps unread bytes between responses.
pub struct Conn<S> {
    pub stream: S,
    pub buf: Vec<u8>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S) -> Self {
        Conn {
            stream,
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).await.unwrap();
    }

    /// Read more bytes; false on EOF.
    pub async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(Duration::from_secs(20), self.stream.read(&mut chunk))
            .await
            .expect("response within 20 s")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n > 0
    }

    pub async fn line(&mut self) -> String {
        loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8(self.buf[..i].to_vec()).unwrap();
                self.buf.drain(..i + 2);
                return line;
            }
            assert!(self.fill().await, "connection closed mid-response");
        }
    }

    pub async fn exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            assert!(self.fill().await, "connection closed mid-body");
        }
        self.buf.drain(..n).collect()
    }

    pub async fn fields(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        loop {
            let line = self.line().await;
            if line.is_empty() {
                return out;
            }
            let (k, v) = line.split_once(':').unwrap();
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }

    pub async fn response(&mut self) -> Resp {
        let status_line = self.line().await;
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers = self.fields().await;
        let mut resp = Resp {
            status,
            headers,
            body: Vec::new(),
            trailers: Vec::new(),
        };
        if resp
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            loop {
                let size = usize::from_str_radix(self.line().await.trim(), 16).unwrap();
                if size == 0 {
                    resp.trailers = self.fields().await;
                    break;
                }
                let data = self.exact(size).await;
                resp.body.extend(data);
                assert_eq!(self.line().await, "");
            }
        } else {
            let len = resp
                .header("content-length")
                .map(|v| v.parse().unwrap())
                .unwrap_or(0);
            resp.body = self.exact(len).await;
        }
        resp
    }

    /// True when the server closed the connection.
    pub async fn closed(&mut self) -> bool {
        self.buf.is_empty() && !self.fill().await
    }
}

pub async fn connect(addr: std::net::SocketAddr) -> Conn<TcpStream> {
    Conn::new(TcpStream::connect(addr).await.unwrap())
}

/// A CIM operation request; `extra` lines replace nothing, they are added.
pub fn request(auth: Option<(&str, &str)>, headers: &[&str], body: &str) -> Vec<u8> {
    let mut r = String::from("POST /cimom HTTP/1.1\r\nHost: localhost\r\n");
    if let Some((u, p)) = auth {
        r += &format!("Authorization: {}\r\n", basic::authorization_value(u, p));
    }
    for h in headers {
        r += h;
        r += "\r\n";
    }
    r += &format!("Content-Length: {}\r\n\r\n{body}", body.len());
    r.into_bytes()
}

pub const ADMIN: Option<(&str, &str)> = Some(("admin", "adminpw"));
pub const CT: &str = "Content-Type: application/xml; charset=\"utf-8\"";
pub const OP: [&str; 4] = [
    "CIMOperation: MethodCall",
    "CIMMethod: EnumerateInstances",
    "CIMObject: root%2Fcimv2",
    CT,
];
pub const BODY: &str = "<?xml version=\"1.0\"?><CIM/>";

pub async fn roundtrip(addr: std::net::SocketAddr, raw: Vec<u8>) -> Resp {
    let mut c = connect(addr).await;
    c.send(&raw).await;
    c.response().await
}

pub fn assert_cim_error(r: &Resp, status: u16, value: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("CIMError"), Some(value), "{r:?}");
}
