//! The indication service: owns the subscription table, routes published
//! indications to the listener queues, persists the table and tells
//! indication providers when subscriptions come and go.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use tokio::sync::{mpsc, watch};
use vine_cim::{CimDateTime, CimError, CimInstance, CimInstanceName, CimResult};

use super::config::{IndicationConfig, SUBSCRIPTIONS_FILE};
use super::delivery::{DeliveryConfig, DeliveryEvents, DestQueue, Pending, SubKey};
use super::matching::{compile, selects, shape, Filter};
use super::model::{
    now_secs, DestinationRec, ObjKey, Persisted, SubscriptionRec, DESTINATION_CLASS, FILTER_CLASS,
    SERVICE_CLASS, SUBSCRIPTION_CLASS, SYSTEM_CLASS,
};
use super::{store, IndicationSink, Published};
use crate::interop::INTEROP_NS;
use crate::server::profiles::{ProfileSpec, ProfileTable};
use crate::server::{Cimom, Registry};

/// The InstanceID of the Indications profile in root/interop.
pub const INDICATIONS_PROFILE: &str = "DMTF:Indications:1.1.0";

/// A subscription with what the service learned delivering for it.
#[derive(Clone, Debug)]
pub(super) struct Sub {
    pub rec: SubscriptionRec,
    /// Indication providers were told about it (and not told it ended).
    pub activated: bool,
    pub delivered: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

impl Sub {
    pub fn key(&self) -> SubKey {
        (self.rec.filter.clone(), self.rec.handler.clone())
    }

    pub fn is(&self, k: &SubKey) -> bool {
        self.rec.filter == k.0 && self.rec.handler == k.1
    }
}

#[derive(Clone, Debug, Default)]
pub(super) struct Table {
    pub filters: Vec<Filter>,
    pub destinations: Vec<DestinationRec>,
    pub subscriptions: Vec<Sub>,
}

impl Table {
    fn persisted(&self) -> Persisted {
        Persisted {
            filters: self.filters.iter().map(|f| f.rec.clone()).collect(),
            destinations: self.destinations.clone(),
            subscriptions: self.subscriptions.iter().map(|s| s.rec.clone()).collect(),
        }
    }
}

/// What one subscription has seen, for logs, tests and operators.
#[derive(Clone, Debug, PartialEq)]
pub struct SubscriptionStatus {
    pub path: CimInstanceName,
    pub filter_name: String,
    pub destination: String,
    /// SubscriptionState: 2 Enabled, 3 Enabled Degraded (the last
    /// indication was given up), 4 Disabled.
    pub state: u16,
    /// Indications the listener accepted.
    pub delivered: u64,
    /// Indications given up after every retry.
    pub failed: u64,
    pub last_error: Option<String>,
}

/// The DSP1054 indication service of one object manager.
///
/// 1. [`install`](Self::install) registers the subscription classes of
///    root/interop and the Indications profile, and loads the state file;
/// 2. [`attach`](Self::attach) connects it to the object manager once that
///    exists (filters loaded from the file are checked then);
/// 3. [`start`](Self::start) tells indication providers about the loaded
///    subscriptions and spawns the router, which matches every published
///    indication and hands it to the destination's delivery task.
///
/// Publish with [`sink`](Self::sink); publishing before `start` is fine,
/// indications wait in the sink's channel.
pub struct IndicationService {
    pub(super) config: IndicationConfig,
    file: Option<PathBuf>,
    pub(super) table: Mutex<Table>,
    cimom: OnceLock<Weak<Cimom>>,
    sink: IndicationSink,
    inbox: Mutex<Option<mpsc::Receiver<Published>>>,
    queues: Mutex<Vec<(ObjKey, Arc<DestQueue>)>>,
    run_id: String,
    /// Queues made so far; part of SequenceContext, so a destination
    /// deleted and made again starts a new sequence context.
    queues_made: std::sync::atomic::AtomicU64,
    shutdown: watch::Sender<bool>,
    me: Weak<IndicationService>,
}

impl IndicationService {
    /// Registers the service as the provider of CIM_IndicationFilter,
    /// CIM_ListenerDestinationCIMXML and CIM_IndicationSubscription in
    /// root/interop, adds the Indications profile, and loads the
    /// subscriptions file when `config.state_dir` is set.
    pub fn install(
        registry: &mut Registry,
        profiles: &mut ProfileTable,
        config: IndicationConfig,
    ) -> Arc<Self> {
        let mut file = config
            .state_dir
            .as_ref()
            .map(|d| d.join(SUBSCRIPTIONS_FILE));
        let mut table = Table::default();
        if let Some(path) = file.clone() {
            match store::load(&path) {
                Ok(p) => table = table_from(p),
                Err(e @ store::StoreError::Parse { .. }) => match store::quarantine(&path) {
                    Ok(aside) => {
                        tracing::error!(error = %e, moved_to = %aside.display(), "subscriptions file unreadable; starting with none")
                    }
                    Err(io) => {
                        tracing::error!(error = %e, rename_error = %io, "subscriptions file unreadable and cannot be moved aside; subscriptions will not be saved");
                        file = None;
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the subscriptions file; subscriptions will not be saved");
                    file = None;
                }
            }
        }
        let (sink, rx) = IndicationSink::channel(config.inbox_capacity.max(1));
        let mut id = [0u8; 6];
        let run_id = match getrandom::fill(&mut id) {
            Ok(()) => id.iter().map(|b| format!("{b:02x}")).collect(),
            Err(_) => format!("{:x}", now_secs()),
        };
        let service = Arc::new_cyclic(|me| IndicationService {
            config,
            file,
            table: Mutex::new(table),
            cimom: OnceLock::new(),
            sink,
            inbox: Mutex::new(Some(rx)),
            queues: Mutex::new(Vec::new()),
            run_id,
            queues_made: Default::default(),
            shutdown: watch::channel(false).0,
            me: me.clone(),
        });
        for class in [
            FILTER_CLASS,
            DESTINATION_CLASS,
            SUBSCRIPTION_CLASS,
            SERVICE_CLASS,
        ] {
            registry.register_instances(INTEROP_NS, class, service.clone());
        }
        profiles.add(
            ProfileSpec::dmtf(INDICATIONS_PROFILE, "Indications", "1.1.0")
                .central(INTEROP_NS, SERVICE_CLASS)
                .references("DMTF:Profile Registration:1.0.0"),
        );
        service
    }

    /// Connects the service to its object manager; call once after
    /// [`Cimom::new`]. Checks the queries of filters loaded from the file.
    pub fn attach(&self, cimom: &Arc<Cimom>) {
        let _ = self.cimom.set(Arc::downgrade(cimom));
        // The router takes the table lock, then the repository's; never
        // the other way round, so compile before locking the table.
        let loaded: Vec<_> = self
            .lock()
            .filters
            .iter()
            .filter(|f| f.query.is_none())
            .map(|f| f.rec.clone())
            .collect();
        let compiled: Vec<_> = {
            let repo = cimom.repo();
            loaded
                .into_iter()
                .filter_map(|rec| match compile(&rec, &repo) {
                    Ok(q) => Some((rec.key, q)),
                    Err(e) => {
                        tracing::error!(filter = %rec.key.name, error = %e, "saved filter no longer fits the schema; it selects nothing");
                        None
                    }
                })
                .collect()
        };
        let mut t = self.lock();
        for (key, q) in compiled {
            if let Some(f) = t.filters.iter_mut().find(|f| f.rec.key == key) {
                f.query = Some(q);
            }
        }
    }

    /// Tells indication providers about the subscriptions already active
    /// and spawns the router. The router and the delivery tasks stop when
    /// `shutdown` resolves. Call once, after [`attach`](Self::attach), from
    /// within a tokio runtime.
    pub fn start(
        self: &Arc<Self>,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let rx = self.inbox.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(mut rx) = rx else {
            tracing::warn!("indication service started twice; ignored");
            return tokio::spawn(async {});
        };
        self.sync_activations();
        let weak = self.me.clone();
        tokio::spawn(async move {
            shutdown.await;
            if let Some(s) = weak.upgrade() {
                s.shutdown.send_replace(true);
            }
        });
        let me = self.clone();
        let mut stop = self.shutdown.subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    p = rx.recv() => match p {
                        Some(p) => me.route(p),
                        None => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            for (_, q) in me
                .queues
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..)
            {
                q.stop();
            }
        })
    }

    /// Where providers publish indications.
    pub fn sink(&self) -> IndicationSink {
        self.sink.clone()
    }

    /// Every subscription with its delivery counters.
    pub fn subscriptions(&self) -> Vec<SubscriptionStatus> {
        let t = self.lock();
        t.subscriptions
            .iter()
            .map(|s| SubscriptionStatus {
                path: s.rec.path(),
                filter_name: s.rec.filter.name.clone(),
                destination: t
                    .destinations
                    .iter()
                    .find(|d| d.key == s.rec.handler)
                    .map(|d| d.destination.clone())
                    .unwrap_or_default(),
                state: s.rec.state,
                delivered: s.delivered,
                failed: s.failed,
                last_error: s.last_error.clone(),
            })
            .collect()
    }

    /// Indications dropped so far because a listener's queue was full.
    pub fn dropped(&self) -> u64 {
        self.queues
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, q)| q.dropped())
            .sum()
    }

    /// The CIM_IndicationService instance: this service and its retry
    /// settings.
    pub(super) fn service_instance(&self, host: &str) -> CimInstance {
        let path = CimInstanceName::new(SERVICE_CLASS)
            .with_key("SystemCreationClassName", SYSTEM_CLASS)
            .with_key("SystemName", host)
            .with_key("CreationClassName", SERVICE_CLASS)
            .with_key("Name", "vine:indications")
            .with_namespace(INTEROP_NS);
        let mut inst = CimInstance::new(SERVICE_CLASS)
            .with("ElementName", "vine indication service")
            .with("Started", true)
            .with("EnabledState", 2u16)
            .with("OperationalStatus", vec![2u16])
            .with("FilterCreationEnabled", true)
            .with(
                "DeliveryRetryAttempts",
                u16::try_from(self.config.retry_attempts).unwrap_or(u16::MAX),
            )
            .with(
                "DeliveryRetryInterval",
                u32::try_from(self.config.retry_interval.as_secs()).unwrap_or(u32::MAX),
            );
        for (k, v) in &path.key_bindings {
            inst.set(k.clone(), v.clone());
        }
        inst.path = Some(path);
        inst
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn cimom(&self) -> CimResult<Arc<Cimom>> {
        self.cimom
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| CimError::failed("the indication service is not attached"))
    }

    /// Applies `change` to a copy of the table, saves the copy, then makes
    /// it current: a change the file did not take is not made.
    pub(super) fn commit<R>(
        &self,
        change: impl FnOnce(&mut Table) -> CimResult<R>,
    ) -> CimResult<R> {
        let mut t = self.lock();
        let mut next = t.clone();
        let r = change(&mut next)?;
        if let Some(path) = &self.file {
            store::save(path, &next.persisted()).map_err(|e| {
                tracing::error!(error = %e, "saving subscriptions failed");
                CimError::failed("the subscription could not be saved")
            })?;
        }
        *t = next;
        Ok(r)
    }

    /// Matches one published indication and queues it for every
    /// subscription whose filter selects it.
    fn route(&self, p: Published) {
        let Ok(cimom) = self.cimom() else {
            tracing::warn!("indication dropped: service not attached");
            return;
        };
        let mut ind = p.indication;
        if ind.get("IndicationTime").is_none() {
            ind.set("IndicationTime", CimDateTime::now());
        }
        let now = now_secs();
        let mut out: Vec<(ObjKey, Pending)> = Vec::new();
        let mut expired = false;
        {
            let t = self.lock();
            let repo = cimom.repo();
            for f in &t.filters {
                let subs: Vec<&Sub> = t
                    .subscriptions
                    .iter()
                    .filter(|s| s.rec.filter == f.rec.key)
                    .collect();
                expired |= subs.iter().any(|s| s.rec.expired(now));
                if !subs.iter().any(|s| s.rec.delivering(now))
                    || !selects(f, &p.namespace, &ind, &repo)
                {
                    continue;
                }
                let shaped = shape(f, &ind);
                for s in subs.into_iter().filter(|s| s.rec.delivering(now)) {
                    out.push((
                        s.rec.handler.clone(),
                        Pending {
                            sub: s.key(),
                            indication: shaped.clone(),
                        },
                    ));
                }
            }
        }
        if out.is_empty() {
            tracing::trace!(class = %ind.class_name, ns = %p.namespace, "indication matched no subscription");
        }
        for (handler, pending) in out {
            if let Some(q) = self.queue_for(&handler) {
                q.push(pending);
            }
        }
        if expired {
            self.remove_expired();
        }
    }

    /// The queue of a destination, with its delivery task started.
    fn queue_for(&self, handler: &ObjKey) -> Option<Arc<DestQueue>> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, q)) = queues.iter().find(|(k, _)| k == handler) {
            return Some(q.clone());
        }
        let url = self
            .lock()
            .destinations
            .iter()
            .find(|d| d.key == *handler)
            .map(|d| d.destination.clone())?;
        let n = self
            .queues_made
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let q = DestQueue::new(
            self.config.queue_capacity,
            format!("{}-{n}:{}", self.run_id, handler.name),
        );
        let events: Weak<dyn DeliveryEvents> = self.me.clone();
        q.spawn(
            url,
            DeliveryConfig {
                retry_attempts: self.config.retry_attempts,
                retry_interval: self.config.retry_interval,
                timeout: self.config.delivery_timeout,
                tls: self.config.tls.clone(),
            },
            events,
            self.shutdown.subscribe(),
        );
        queues.push((handler.clone(), q.clone()));
        Some(q)
    }

    /// Stops and forgets the queue of a deleted destination.
    pub(super) fn drop_queue(&self, handler: &ObjKey) {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = queues.iter().position(|(k, _)| k == handler) {
            queues.remove(i).1.stop();
        }
    }
}

fn table_from(p: Persisted) -> Table {
    Table {
        filters: p
            .filters
            .into_iter()
            .map(|rec| Filter { rec, query: None })
            .collect(),
        destinations: p.destinations,
        subscriptions: p
            .subscriptions
            .into_iter()
            .map(|rec| Sub {
                rec,
                activated: false,
                delivered: 0,
                failed: 0,
                last_error: None,
            })
            .collect(),
    }
}
