//! Indications (DSP1054): providers publish indication instances through an
//! [`IndicationSink`]; the indication service matches them against the
//! subscriptions in root/interop and delivers them to listeners as CIM-XML
//! export requests, without blocking the publisher.

use tokio::sync::mpsc;
use vine_cim::CimInstance;

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
