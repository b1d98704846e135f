//! Indications (DSP1054): providers publish indication instances through an
//! [`IndicationSink`]; the [`IndicationService`] matches them against the
//! subscriptions in root/interop and delivers them to listeners as CIM-XML
//! export requests, without blocking the publisher.
//!
//! Start with [`IndicationService`] (install, attach, start) and
//! [`IndicationConfig`]. Providers that want to know whether anyone
//! listens implement [`IndicationProvider`](crate::provider::IndicationProvider).
//!
//! Delivery failures: an indication is retried `retry_attempts` times with
//! doubling waits; when it is given up, the subscription follows its
//! OnFatalErrorPolicy: Ignore (the default) sets SubscriptionState 3
//! "Enabled Degraded" until the next successful delivery, Disable sets 4
//! "Disabled", Remove deletes the subscription. Counters per subscription
//! are in [`IndicationService::subscriptions`].

use tokio::sync::mpsc;
use vine_cim::CimInstance;

/// Settings.
pub mod config;
/// Per-destination queues, export requests, retries.
mod delivery;
/// CIM operations on filters, destinations and subscriptions.
mod instances;
/// Provider activation, expiry, delivery outcomes.
mod lifecycle;
/// Filter checks, matching and shaping of indications.
mod matching;
/// The records behind the interop instances.
mod model;
/// The router and the subscription table.
mod service;
/// The subscriptions file.
mod store;
/// Unit tests of matching, records and the file.
#[cfg(test)]
mod tests;

pub use config::{system_trust, IndicationConfig, SUBSCRIPTIONS_FILE};
pub use delivery::DeliveryError;
pub use service::{IndicationService, SubscriptionStatus, INDICATIONS_PROFILE};
pub use store::StoreError;

/// One indication on its way to the delivery service.
#[derive(Clone, Debug)]
pub struct Published {
    /// The namespace the indication's source lives in (`root/virt`); the
    /// filter's SourceNamespace(s) are matched against it.
    pub namespace: String,
    /// An instance of a CIM_Indication subclass.
    pub indication: CimInstance,
}

/// Where providers send indications. Cheap to clone; `publish` never
/// blocks and never fails the caller: when the service is gone or its
/// queue is full the indication is dropped with a warning.
#[derive(Clone, Debug)]
pub struct IndicationSink {
    tx: mpsc::Sender<Published>,
}

impl IndicationSink {
    /// A sink and the receiving end the delivery service reads, holding at
    /// most `capacity` undelivered indications.
    pub fn channel(capacity: usize) -> (IndicationSink, mpsc::Receiver<Published>) {
        let (tx, rx) = mpsc::channel(capacity);
        (IndicationSink { tx }, rx)
    }

    /// Hands `indication` (from a source in `namespace`) to the service.
    pub fn publish(&self, namespace: &str, indication: CimInstance) {
        let p = Published {
            namespace: namespace.to_string(),
            indication,
        };
        if let Err(e) = self.tx.try_send(p) {
            tracing::warn!(error = %e, "indication dropped");
        }
    }
}
