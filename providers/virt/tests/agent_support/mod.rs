//! What every in-process agent of these tests shares: the compiled
//! schema, the admin login, and a real HTTP listener on 127.0.0.1:0 with a
//! client logged in to it. Included by `vm_support` and
//! `resources_support`, which build the providers each test needs.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;
use vine_cim::mof::{compile, FsSource};
use vine_cim::Repository;
use vine_providers_virt::{schema, VIRT_NS};
use vine_wbem::auth::{Role, UserStore};
use vine_wbem::client::{ClientConfig, TlsVerify, WbemClient};
use vine_wbem::interop::INTEROP_NS;
use vine_wbem::server::dispatch::Dispatcher;
use vine_wbem::server::Cimom;
use vine_wbem::transport::{serve, ServerConfig, TlsSource};

fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// qualifiers + DMTF in root/virt and root/interop, the virt classes with
/// `prefix` in root/virt; compiled once per prefix (MOF compilation is
/// most of an agent's start-up).
pub fn repository(prefix: &str) -> Repository {
    static BY_PREFIX: OnceLock<Mutex<HashMap<String, Repository>>> = OnceLock::new();
    let cache = BY_PREFIX.get_or_init(Default::default);
    if let Some(r) = cache.lock().unwrap().get(prefix) {
        return r.clone();
    }
    let source = FsSource::new(schemas_dir());
    let mut repo = Repository::new();
    repo.create_namespace(VIRT_NS);
    for f in ["qualifiers.mof", "dmtf/index.mof"] {
        compile(&mut repo, VIRT_NS, f, &source).unwrap();
    }
    repo.copy_namespace(VIRT_NS, INTEROP_NS).unwrap();
    let summary = schema::compile(&mut repo, VIRT_NS, &source, prefix)
        .unwrap_or_else(|e| panic!("schemas/virt does not compile:\n{e}"));
    assert!(summary.warnings.is_empty(), "{:#?}", summary.warnings);
    cache
        .lock()
        .unwrap()
        .insert(prefix.to_string(), repo.clone());
    repo
}

/// The admin user (password `adminpw`), hashed once (argon2 is slow).
fn users_text() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("users.toml");
        UserStore::open(&path)
            .unwrap()
            .add("admin", Role::Admin, "adminpw")
            .unwrap();
        std::fs::read_to_string(&path).unwrap()
    })
}

/// A CIMOM served over http on a free loopback port, and a client.
pub struct Served {
    pub client: WbemClient,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    pub guard: ServerGuard,
}

/// Stops the server when dropped.
pub struct ServerGuard {
    stop: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Serves `cimom` with the admin login and returns a client for it.
pub async fn serve_http(cimom: Arc<Cimom>) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let users_path = dir.path().join("users.toml");
    std::fs::write(&users_path, users_text()).unwrap();
    let users = Arc::new(UserStore::open(&users_path).unwrap());
    let mut cfg = ServerConfig::new(TlsSource::Generate {
        state_dir: dir.path().into(),
    });
    cfg.http = Some("127.0.0.1:0".parse().unwrap());
    cfg.https = None;
    let (stop, stopped) = oneshot::channel::<()>();
    let running = serve(cfg, users, Dispatcher::new(cimom), None, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let url = format!("http://{}", running.http.unwrap());
    let client = WbemClient::new(&ClientConfig {
        url: url.clone(),
        user: "admin".into(),
        password: "adminpw".into(),
        tls: TlsVerify::Insecure,
        timeout: Duration::from_secs(60),
    })
    .unwrap();
    Served {
        client,
        url,
        guard: ServerGuard {
            stop: Some(stop),
            _dir: dir,
        },
    }
}
