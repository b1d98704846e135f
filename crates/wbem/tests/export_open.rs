//! An export handler that authenticates senders itself (the manager's
//! indication listener): exports reach it without credentials, with the
//! URL's query; operations still need a user, even dressed as exports.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vine_wbem::auth::{basic, Role, UserStore};
use vine_wbem::transport::{
    serve, ExportHandler, ExportRequest, ExportResponse, HandlerFuture, OperationHandler,
    OperationRequest, OperationResponse, ServerConfig, TlsSource,
};

struct Ops;

impl OperationHandler for Ops {
    fn handle(&self, req: OperationRequest) -> HandlerFuture<'_, OperationResponse> {
        Box::pin(async move {
            OperationResponse::Body {
                xml: format!("op user={}", req.user.name).into_bytes(),
                status: 0,
                description: None,
            }
        })
    }
}

struct OpenListener;

impl ExportHandler for OpenListener {
    fn handle(&self, req: ExportRequest) -> HandlerFuture<'_, ExportResponse> {
        Box::pin(async move {
            ExportResponse::Body {
                xml: format!(
                    "export user=[{}] query={}",
                    req.user.name,
                    req.query.unwrap_or_default()
                )
                .into_bytes(),
                status: 0,
                description: None,
            }
        })
    }

    fn authenticates_senders(&self) -> bool {
        true
    }
}

async fn post(addr: std::net::SocketAddr, path: &str, headers: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let body = "<CIM/>";
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/xml; charset=\"utf-8\"\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), body.to_string())
}

#[tokio::test]
async fn exports_need_no_credentials_operations_do() {
    let dir = tempfile::tempdir().unwrap();
    let users = Arc::new(UserStore::open(dir.path().join("users.toml")).unwrap());
    users.add("admin", Role::Admin, "pw").unwrap();
    let mut config = ServerConfig::new(TlsSource::Generate {
        state_dir: dir.path().to_owned(),
    });
    config.http = Some("127.0.0.1:0".parse().unwrap());
    config.https = None;
    let running = serve(
        config,
        users,
        Arc::new(Ops),
        Some(Arc::new(OpenListener)),
        std::future::pending(),
    )
    .await
    .unwrap();
    let a = running.http.unwrap();
    let export = "CIMExport: MethodRequest\r\nCIMExportMethod: ExportIndication\r\n";
    let op = "CIMOperation: MethodCall\r\nCIMMethod: EnumerateInstances\r\nCIMObject: root%2Finterop\r\n";

    let (status, body) = post(a, "/cimom?host=a&key=k", export).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "export user=[] query=host=a&key=k");

    let (status, _) = post(a, "/cimom", op).await;
    assert_eq!(status, 401);
    // An operation that also claims to be an export is still an operation.
    let (status, body) = post(a, "/cimom", &format!("{op}{export}")).await;
    assert_eq!(status, 401, "{body}");

    let auth = format!(
        "Authorization: {}\r\n",
        basic::authorization_value("admin", "pw")
    );
    let (status, body) = post(a, "/cimom", &format!("{auth}{op}")).await;
    assert_eq!((status, body.as_str()), (200, "op user=admin"));
    let (status, body) = post(a, "/cimom", &format!("{auth}{export}")).await;
    assert_eq!((status, body.as_str()), (200, "export user=[admin] query="));
}
