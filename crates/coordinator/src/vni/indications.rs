//! Indications keep the inventory fresh between full resyncs.
//!
//! 1. After a host's agent answers a resync, [`Freshness`] makes sure the
//!    agent holds exactly one subscription of this manager (DSP1054, in
//!    root/interop): filter and destination both named
//!    `vine-manager-<manager host name>`, found by name and reused, so
//!    restarts never pile up subscriptions. The filter selects the
//!    lifecycle indications of computer systems (`CIM_InstIndication`
//!    whose SourceInstance ISA `CIM_ComputerSystem`: the agent's
//!    `<P>_ComputerSystem{Created,Deleted,Modified}Indication`).
//! 2. The destination is the manager's own WBEM listener with the sender
//!    in the query: `<advertise>/cimom?host=<name>&key=<k>`. A query, not
//!    a path, because the WBEM server answers only `/cimom` and `/`; and
//!    not the indication's SourceInstanceHost, because that is the agent's
//!    own host name (not the manager's name for it) and anyone can write
//!    it. `k` is an HMAC of the host name under a secret kept in the
//!    manager's state directory: a sender that does not know it cannot
//!    make the manager resync a host, and agents send no credentials.
//! 3. The manager's WBEM server hands ExportIndication requests to
//!    [`Freshness`] (an [`ExportHandler`]); a known sender's host is
//!    marked dirty, an unknown one gets CIM_ERR_ACCESS_DENIED and a
//!    warning, an undecodable body the DSP0200 `CIMError` header.
//! 4. [`Freshness::run`] coalesces dirty marks: one resync per host in
//!    flight, marks that arrive meanwhile make one more, so a burst of
//!    indications costs one or two resyncs.
//!
//! The periodic full resync stays: it catches indications that were lost.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use vine_cim::{CimError, CimInstance, CimInstanceName, CimStatus, CimValue};
use vine_cimxml::{DecodeErrorKind, DecodeLimits};
use vine_wbem::client::{ClientError, EnumArgs, WbemClient};
use vine_wbem::transport::{
    CimErrorHeader, ExportHandler, ExportRequest, ExportResponse, HandlerFuture,
};

use super::VniError;
use crate::inventory::{Inventory, InventoryError, ResyncReport};

/// Where subscriptions live on an agent.
const INTEROP_NS: &str = "root/interop";
const FILTER_CLASS: &str = "CIM_IndicationFilter";
const DESTINATION_CLASS: &str = "CIM_ListenerDestinationCIMXML";
const SUBSCRIPTION_CLASS: &str = "CIM_IndicationSubscription";
/// What the manager listens for: any VM (or host) created, deleted or
/// modified. The agent's class prefix does not matter.
pub const FILTER_QUERY: &str =
    "SELECT * FROM CIM_InstIndication WHERE SourceInstance ISA CIM_ComputerSystem";
/// Marks arriving within this window after the first are handled together.
const SETTLE: Duration = Duration::from_millis(100);

/// How the manager subscribes.
#[derive(Clone, Debug)]
pub struct ListenerConfig {
    /// The manager's host name: names its filter and destination on every
    /// agent (`vine-manager-<name>`), so two managers do not collide.
    pub manager: String,
    /// The manager's WBEM URL as agents reach it (`http://10.0.0.1:5988`).
    pub advertise: String,
    /// The secret behind each host's listener key.
    pub secret: Vec<u8>,
}

/// Counters, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FreshnessStats {
    /// Indications accepted from known senders.
    pub indications: u64,
    /// Export requests refused (unknown sender, wrong key, bad body).
    pub refused: u64,
    /// Resyncs the dirty marks caused.
    pub resyncs: u64,
    /// Subscriptions made or repaired on agents.
    pub subscribed: u64,
}

#[derive(Default)]
struct State {
    dirty: HashSet<String>,
    running: HashSet<String>,
    /// Hosts whose subscription is known good, with the agent URL it was
    /// made on (a host moved to a new URL is subscribed again).
    subscribed: HashMap<String, String>,
}

/// The manager's indication listener and the resyncs it triggers.
pub struct Freshness {
    inventory: Arc<Inventory>,
    config: ListenerConfig,
    /// `config.advertise`, settable once the listener's port is known.
    advertise: std::sync::RwLock<String>,
    state: Mutex<State>,
    wake: Notify,
    indications: AtomicU64,
    refused: AtomicU64,
    resyncs: AtomicU64,
    subscribed: AtomicU64,
}

/// Why a subscription could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("subscribing on agent {agent}: {source}")]
    Call {
        agent: String,
        #[source]
        source: ClientError,
    },
}

impl Freshness {
    pub fn new(inventory: Arc<Inventory>, config: ListenerConfig) -> Arc<Self> {
        Arc::new(Freshness {
            inventory,
            advertise: std::sync::RwLock::new(config.advertise.clone()),
            config,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            indications: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            subscribed: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The counters now.
    pub fn stats(&self) -> FreshnessStats {
        FreshnessStats {
            indications: self.indications.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            resyncs: self.resyncs.load(Ordering::Relaxed),
            subscribed: self.subscribed.load(Ordering::Relaxed),
        }
    }

    /// The filter's and destination's Name on every agent.
    pub fn subscription_name(&self) -> String {
        format!("vine-manager-{}", self.config.manager)
    }

    /// `host`'s listener key: HMAC-SHA256(secret, host), hex.
    fn key(&self, host: &str) -> String {
        hex(&hmac_sha256(&self.config.secret, host.as_bytes()))
    }

    /// Sets the manager's WBEM URL as agents reach it (a listener on port
    /// 0 knows its port only once bound). Subscriptions made before keep
    /// the old URL until their host is subscribed again.
    pub fn set_advertise(&self, url: &str) {
        *self.advertise.write().unwrap_or_else(|e| e.into_inner()) = url.to_string();
        self.lock().subscribed.clear();
    }

    /// The URL `host`'s agent delivers to.
    pub fn destination(&self, host: &str) -> String {
        let advertise = self
            .advertise
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let base = advertise.trim_end_matches('/');
        let base = base.strip_suffix("/cimom").unwrap_or(base);
        let name = percent_encoding::utf8_percent_encode(host, percent_encoding::NON_ALPHANUMERIC);
        format!("{base}/cimom?host={name}&key={}", self.key(host))
    }

    /// Asks for a resync of `host` soon (coalesced with other marks).
    pub fn mark(&self, host: &str) {
        self.lock().dirty.insert(host.to_string());
        self.wake.notify_one();
    }

    /// Forgets that `host` is subscribed: the next resync checks the
    /// agent's subscription again (a host that registered or moved).
    pub fn forget(&self, host: &str) {
        self.lock().subscribed.remove(host);
    }

    /// Resyncs `host` now and, when its agent answers, makes sure it is
    /// subscribed. A subscription failure is logged, not returned: the
    /// inventory is right, only its freshness suffers.
    pub async fn refresh(&self, host: &str) -> Result<ResyncReport, InventoryError> {
        let r = self.inventory.resync_host(host).await;
        match &r {
            Ok(_) => self.after_good_resync(host).await,
            Err(_) => {
                self.forget(host);
            }
        }
        r
    }

    /// Resyncs every host (the periodic full resync) and subscribes those
    /// that answer and are not yet subscribed.
    pub async fn resync_all(
        &self,
        parallel: usize,
    ) -> Result<Vec<(String, Result<ResyncReport, String>)>, InventoryError> {
        let results = self.inventory.resync_all(parallel).await?;
        for (host, r) in &results {
            match r {
                Ok(_) => self.after_good_resync(host).await,
                Err(_) => self.forget(host),
            }
        }
        Ok(results)
    }

    /// Subscribes every host whose last resync found it up (at start, once
    /// the listener runs), `parallel` at a time.
    pub async fn subscribe_all(self: Arc<Self>, parallel: usize) {
        let hosts = match self.inventory.hosts() {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list hosts to subscribe");
                return;
            }
        };
        let up: Vec<String> = hosts
            .into_iter()
            .filter(|h| h.health == crate::inventory::HostHealth::Up)
            .map(|h| h.name)
            .collect();
        for chunk in up.chunks(parallel.max(1)) {
            let mut set = tokio::task::JoinSet::new();
            for h in chunk {
                let (me, h) = (self.clone(), h.clone());
                set.spawn(async move { me.after_good_resync(&h).await });
            }
            while set.join_next().await.is_some() {}
        }
    }

    async fn after_good_resync(&self, host: &str) {
        let url = match self.inventory.host(host) {
            Ok(h) => h.url,
            Err(_) => return,
        };
        if self.lock().subscribed.get(host) == Some(&url) {
            return;
        }
        match self.subscribe(host).await {
            Ok(()) => {
                self.lock().subscribed.insert(host.to_string(), url);
            }
            Err(e) => {
                tracing::warn!(host, error = %e, "cannot subscribe to the agent's indications; the periodic resync still runs")
            }
        }
    }

    /// Makes sure `host`'s agent has this manager's filter, destination and
    /// subscription, reusing what it finds by name; a destination with
    /// another URL (the manager moved) is replaced.
    pub async fn subscribe(&self, host: &str) -> Result<(), SubscribeError> {
        let conn = self.inventory.agent(host)?;
        let c = conn.wbem();
        let err = |source| SubscribeError::Call {
            agent: conn.url().to_string(),
            source,
        };
        let name = self.subscription_name();
        let want_dest = self.destination(host);
        let args = EnumArgs::default();

        let subs = c
            .enumerate_instances(INTEROP_NS, SUBSCRIPTION_CLASS, &args)
            .await
            .map_err(err)?;
        let ours = |role: &str, s: &CimInstance| match s.get(role) {
            Some(CimValue::Reference(r)) => r.key_str("Name") == Some(name.as_str()),
            _ => false,
        };
        let mut changed = false;

        let filter = find_named(c, FILTER_CLASS, &name).await.map_err(err)?;
        let filter = match filter {
            Some(f) if f.get_str("Query") == Some(FILTER_QUERY) => path_of(&f),
            old => {
                if let Some(old) = old {
                    for s in subs.iter().filter(|s| ours("Filter", s)) {
                        delete(c, s).await.map_err(err)?;
                    }
                    delete(c, &old).await.map_err(err)?;
                }
                changed = true;
                let f = CimInstance::new(FILTER_CLASS)
                    .with("Name", name.as_str())
                    .with("Query", FILTER_QUERY)
                    .with("QueryLanguage", "WQL")
                    .with(
                        "SourceNamespaces",
                        CimValue::Array(vec![CimValue::from(super::VIRT_NS)]),
                    );
                Some(c.create_instance(INTEROP_NS, f).await.map_err(err)?)
            }
        };

        let dest = find_named(c, DESTINATION_CLASS, &name).await.map_err(err)?;
        let dest = match dest {
            Some(d) if d.get_str("Destination") == Some(want_dest.as_str()) => path_of(&d),
            old => {
                if let Some(old) = old {
                    // Subscriptions were listed before the filter may have
                    // been replaced: deleting one twice is not an error.
                    for s in subs.iter().filter(|s| ours("Handler", s)) {
                        match delete(c, s).await {
                            Err(e) if e.cim_status() == Some(CimStatus::NotFound) => {}
                            r => r.map_err(err)?,
                        }
                    }
                    delete(c, &old).await.map_err(err)?;
                }
                changed = true;
                let d = CimInstance::new(DESTINATION_CLASS)
                    .with("Name", name.as_str())
                    .with("Destination", want_dest.as_str())
                    // 2 = CIM-XML; 2 = Permanent: kept across agent restarts.
                    .with("Protocol", 2u16)
                    .with("PersistenceType", 2u16);
                Some(c.create_instance(INTEROP_NS, d).await.map_err(err)?)
            }
        };
        let (Some(filter), Some(dest)) = (filter, dest) else {
            return Err(err(ClientError::Cim(CimError::failed(
                "the agent listed a filter or destination without its path",
            ))));
        };

        let exists = !changed && subs.iter().any(|s| ours("Filter", s) && ours("Handler", s));
        if !exists {
            let s = CimInstance::new(SUBSCRIPTION_CLASS)
                .with("Filter", CimValue::Reference(Box::new(filter.local())))
                .with("Handler", CimValue::Reference(Box::new(dest.local())));
            match c.create_instance(INTEROP_NS, s).await {
                Ok(_) => {}
                Err(e) if e.cim_status() == Some(CimStatus::AlreadyExists) => {}
                Err(e) => return Err(err(e)),
            }
            self.subscribed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(host, "subscribed to the agent's VM indications");
        }
        Ok(())
    }

    /// Runs the dirty-mark worker until `stop` resolves.
    pub async fn run(self: Arc<Self>, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = self.wake.notified() => {}
            }
            // Let a burst arrive before starting.
            tokio::time::sleep(SETTLE).await;
            let ready: Vec<String> = {
                let mut s = self.lock();
                let ready: Vec<String> = s
                    .dirty
                    .iter()
                    .filter(|h| !s.running.contains(*h))
                    .cloned()
                    .collect();
                for h in &ready {
                    s.dirty.remove(h);
                    s.running.insert(h.clone());
                }
                ready
            };
            for host in ready {
                let me = self.clone();
                tokio::spawn(async move {
                    me.resyncs.fetch_add(1, Ordering::Relaxed);
                    match me.refresh(&host).await {
                        Ok(rep) => tracing::debug!(
                            host,
                            added = rep.added.len(),
                            removed = rep.removed.len(),
                            changed = rep.changed.len(),
                            "resynced after an indication"
                        ),
                        Err(e) => {
                            tracing::warn!(host, error = %e, "resync after an indication failed")
                        }
                    }
                    let again = {
                        let mut s = me.lock();
                        s.running.remove(&host);
                        s.dirty.contains(&host)
                    };
                    if again {
                        me.wake.notify_one();
                    }
                });
            }
        }
    }

    /// Answers one export request (see the module docs, step 3).
    fn export(&self, req: &ExportRequest) -> ExportResponse {
        let msg = match vine_cimxml::decode_export_indication(&req.body, &DecodeLimits::default()) {
            Ok(m) => m,
            Err(e) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "undecodable export request");
                return ExportResponse::Rejected(match e.kind {
                    DecodeErrorKind::NotWellFormed => CimErrorHeader::RequestNotWellFormed,
                    DecodeErrorKind::UnsupportedProtocolVersion => {
                        CimErrorHeader::UnsupportedProtocolVersion
                    }
                    DecodeErrorKind::UnsupportedCimVersion => CimErrorHeader::UnsupportedCimVersion,
                    DecodeErrorKind::UnsupportedDtdVersion => CimErrorHeader::UnsupportedDtdVersion,
                    _ => CimErrorHeader::RequestNotValid,
                });
            }
        };
        if !req.export_method.eq_ignore_ascii_case("ExportIndication") {
            return ExportResponse::Rejected(CimErrorHeader::HeaderMismatch);
        }
        let outcome = match self.sender(req.query.as_deref()) {
            Ok(host) => {
                self.indications.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(host, class = %msg.indication.class_name, "indication");
                self.mark(&host);
                Ok(())
            }
            Err(why) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(reason = why, class = %msg.indication.class_name, "indication from an unknown sender ignored");
                Err(CimError::new(CimStatus::AccessDenied, why))
            }
        };
        let (status, description) = match &outcome {
            Ok(()) => (0, None),
            Err(e) => (e.status.code(), Some(e.description.clone())),
        };
        ExportResponse::Body {
            xml: vine_cimxml::encode_export_response(&msg.id, &outcome),
            status,
            description,
        }
    }

    /// The registered host a destination query names, if its key is right.
    fn sender(&self, query: Option<&str>) -> Result<String, &'static str> {
        let mut host = None;
        let mut key = None;
        for kv in query.unwrap_or_default().split('&') {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = percent_encoding::percent_decode_str(v)
                .decode_utf8()
                .map_err(|_| "the destination URL's query is not UTF-8")?
                .into_owned();
            match k {
                "host" => host = Some(v),
                "key" => key = Some(v),
                _ => {}
            }
        }
        let (Some(host), Some(key)) = (host, key) else {
            return Err("not a destination this manager handed out (no host and key)");
        };
        if !same_secret(key.as_bytes(), self.key(&host).as_bytes()) {
            return Err("the destination key does not match its host");
        }
        match self.inventory.host(&host) {
            Ok(_) => Ok(host),
            Err(_) => Err("no such host is registered"),
        }
    }
}

impl ExportHandler for Freshness {
    fn handle(&self, req: ExportRequest) -> HandlerFuture<'_, ExportResponse> {
        Box::pin(async move { self.export(&req) })
    }

    fn authenticates_senders(&self) -> bool {
        true
    }
}

/// The instance of `class` named `name` in root/interop, if any.
async fn find_named(
    c: &WbemClient,
    class: &str,
    name: &str,
) -> Result<Option<CimInstance>, ClientError> {
    Ok(
        c.enumerate_instances(INTEROP_NS, class, &EnumArgs::default())
            .await?
            .into_iter()
            .find(|i| i.get_str("Name") == Some(name)),
    )
}

fn path_of(i: &CimInstance) -> Option<CimInstanceName> {
    i.path.clone()
}

async fn delete(c: &WbemClient, i: &CimInstance) -> Result<(), ClientError> {
    match &i.path {
        Some(p) => c.delete_instance(INTEROP_NS, p).await,
        None => Ok(()),
    }
}

/// Equal, in time that does not depend on where they differ.
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// RFC 2104 HMAC with SHA-256.
fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |b: u8| k.iter().map(|x| x ^ b).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(msg)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl From<VniError> for SubscribeError {
    fn from(e: VniError) -> Self {
        SubscribeError::Inventory(InventoryError::Agent(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vine_store::Store;
    use vine_wbem::auth::{Principal, Role};
    use vine_wbem::client::{ClientConfig, TlsVerify};

    fn freshness(dir: &std::path::Path) -> Arc<Freshness> {
        let store = Store::open(dir.join("store")).unwrap();
        let inv = Inventory::open(
            &store,
            ClientConfig {
                url: String::new(),
                user: "admin".into(),
                password: "pw".into(),
                tls: TlsVerify::Insecure,
                timeout: Duration::from_secs(1),
            },
        )
        .unwrap();
        inv.upsert_host("host-a", "http://127.0.0.1:1").unwrap();
        Freshness::new(
            Arc::new(inv),
            ListenerConfig {
                manager: "mgr".into(),
                advertise: "http://10.0.0.1:5988/".into(),
                secret: b"s3cret".to_vec(),
            },
        )
    }

    fn export(body: &str, query: Option<String>) -> ExportRequest {
        ExportRequest {
            user: Principal {
                name: String::new(),
                role: Role::Reader,
            },
            export_method: "ExportIndication".into(),
            query,
            protocol_version: "1.0".into(),
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    fn indication_xml() -> String {
        String::from_utf8(vine_cimxml::encode_export_indication(
            &vine_cimxml::ExportIndication {
                id: "7".into(),
                protocol_version: "1.0".into(),
                indication: CimInstance::new("KVM_ComputerSystemCreatedIndication")
                    .with("IndicationIdentifier", "x:1"),
            },
        ))
        .unwrap()
    }

    #[tokio::test]
    async fn a_burst_of_marks_is_one_resync() {
        let dir = tempfile::tempdir().unwrap();
        let f = freshness(dir.path());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let worker = tokio::spawn(f.clone().run(async {
            let _ = rx.await;
        }));
        for _ in 0..20 {
            f.mark("host-a");
        }
        // host-a's agent (port 1) refuses at once: each resync is quick.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let n = f.stats().resyncs;
        assert!((1..=2).contains(&n), "{n} resyncs for a burst of 20 marks");
        assert!(f.lock().running.is_empty() && f.lock().dirty.is_empty());
        let _ = tx.send(());
        worker.await.unwrap();
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            hex(&hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    /// An element left open.
    const BROKEN: &str = r#"<CIM CIMVERSION="2.0" DTDVERSION="2.0"><MESSAGE ID="1" PROTOCOLVERSION="1.0"><SIMPLEEXPREQ></CIM>"#;

    #[tokio::test]
    async fn bad_xml_gets_the_dsp0200_header_not_a_500() {
        let dir = tempfile::tempdir().unwrap();
        let f = freshness(dir.path());
        let q = f
            .destination("host-a")
            .split_once('?')
            .unwrap()
            .1
            .to_string();
        let r = f.handle(export(BROKEN, Some(q.clone()))).await;
        assert_eq!(
            r,
            ExportResponse::Rejected(CimErrorHeader::RequestNotWellFormed)
        );
        let r = f.handle(export("<CIM/>", Some(q))).await;
        assert!(matches!(r, ExportResponse::Rejected(_)), "{r:?}");
        assert_eq!(f.stats().refused, 2);
        assert_eq!(f.stats().indications, 0);
    }

    #[tokio::test]
    async fn only_known_senders_with_their_key_mark_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let f = freshness(dir.path());
        let dest = f.destination("host-a");
        assert!(
            dest.starts_with("http://10.0.0.1:5988/cimom?host=host%2Da&key="),
            "{dest}"
        );
        let good = dest.split_once('?').unwrap().1.to_string();
        let r = f.handle(export(&indication_xml(), Some(good))).await;
        assert!(matches!(r, ExportResponse::Body { status: 0, .. }), "{r:?}");
        assert!(f.lock().dirty.contains("host-a"));

        let forged = format!("host=host-a&key={}", "0".repeat(64));
        let unknown = f
            .destination("host-z")
            .split_once('?')
            .unwrap()
            .1
            .to_string();
        for q in [Some(forged), Some(unknown), None] {
            match f.handle(export(&indication_xml(), q)).await {
                ExportResponse::Body { status, xml, .. } => {
                    assert_eq!(status, CimStatus::AccessDenied.code());
                    let (id, outcome) =
                        vine_cimxml::decode_export_response(&xml, &DecodeLimits::default())
                            .unwrap();
                    assert_eq!(id, "7");
                    assert!(outcome.is_err());
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(f.stats().indications, 1);
        assert_eq!(f.stats().refused, 3);
    }
}
