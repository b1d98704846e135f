//! What the API socket tests share: the users (`admin`/`admin-pw`,
//! `viewer`/`viewer-pw`, as WBEM stores them), a store with the inventory
//! and coordinator on it, and the API served on 127.0.0.1:0.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use vine_console::{serve_with_join, Api, ApiClient, ApiConfig, Join, RunningApi};
use vine_coordinator::inventory::Inventory;
use vine_coordinator::ops::{Coordinator, CoordinatorConfig};
use vine_store::Store;
use vine_wbem::auth::{Role, UserStore};
use vine_wbem::client::{ClientConfig, TlsVerify};
use vine_wbem::transport::TlsSource;

/// The users file in `dir`, with an admin and a reader (added once: a
/// second start on the same directory keeps them).
pub fn users(dir: &Path) -> Arc<UserStore> {
    let users = Arc::new(UserStore::open(dir.join("users.toml")).unwrap());
    if users.is_empty() {
        users.add("admin", Role::Admin, "admin-pw").unwrap();
        users.add("viewer", Role::Reader, "viewer-pw").unwrap();
    }
    users
}

/// The inventory on `store`, logging in to agents as admin; agents that
/// do not answer fail fast.
pub fn inventory(store: &Store) -> Arc<Inventory> {
    Arc::new(
        Inventory::open(
            store,
            ClientConfig {
                url: String::new(),
                user: "admin".into(),
                password: "admin-pw".into(),
                tls: TlsVerify::Insecure,
                timeout: Duration::from_secs(2),
            },
        )
        .unwrap(),
    )
}

/// The coordinator on `store` with the default configuration.
pub fn coordinator(store: &Store, inventory: Arc<Inventory>) -> Arc<Coordinator> {
    Coordinator::open(store, inventory, CoordinatorConfig::default()).unwrap()
}

/// Serves the API (https when `tls` is given) until the test ends.
pub async fn serve(
    users: Arc<UserStore>,
    coordinator: Arc<Coordinator>,
    tls: Option<TlsSource>,
    join: Option<Arc<Join>>,
) -> RunningApi {
    serve_with_join(
        ApiConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            tls,
        },
        users,
        Arc::new(Api { coordinator }),
        join,
        std::future::pending(),
    )
    .await
    .unwrap()
}

/// A client of `api` as `user` (`admin` or `viewer`).
pub fn client(api: &RunningApi, user: &str) -> ApiClient {
    let password = if user == "admin" {
        "admin-pw"
    } else {
        "viewer-pw"
    };
    ApiClient::new(&api.url(), user, password, TlsVerify::Insecure).unwrap()
}
