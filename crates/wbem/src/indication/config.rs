//! Settings of the indication service.

use std::path::PathBuf;
use std::time::Duration;

use crate::client::TlsVerify;

/// The file in the state directory that keeps subscriptions across restarts.
pub const SUBSCRIPTIONS_FILE: &str = "subscriptions.json";

/// How the indication service stores subscriptions and delivers.
#[derive(Clone, Debug)]
pub struct IndicationConfig {
    /// Directory for [`SUBSCRIPTIONS_FILE`]; `None` keeps subscriptions in
    /// memory only.
    pub state_dir: Option<PathBuf>,
    /// Retries after a failed delivery before the indication is given up
    /// (DSP1054 DeliveryRetryAttempts; default 3, so 4 tries in all).
    pub retry_attempts: u32,
    /// Wait before the first retry (DSP1054 DeliveryRetryInterval; default
    /// 20 s). Each further retry waits twice as long as the one before.
    pub retry_interval: Duration,
    /// Undelivered indications held per listener destination; when full,
    /// the oldest is dropped with a warning.
    pub queue_capacity: usize,
    /// Published indications waiting to be matched (the sink's channel);
    /// when full, `publish` drops the new one with a warning.
    pub inbox_capacity: usize,
    /// Time limit of one delivery attempt (connect, send, answer).
    pub delivery_timeout: Duration,
    /// Certificate checking for https destinations.
    pub tls: TlsVerify,
}

impl Default for IndicationConfig {
    fn default() -> Self {
        IndicationConfig {
            state_dir: None,
            retry_attempts: 3,
            retry_interval: Duration::from_secs(20),
            queue_capacity: 1000,
            inbox_capacity: 4096,
            delivery_timeout: Duration::from_secs(30),
            tls: system_trust(),
        }
    }
}

/// Verify listeners against the system's CA bundle: `SSL_CERT_FILE` when
/// set, else the Debian/Ubuntu bundle path.
pub fn system_trust() -> TlsVerify {
    let path = std::env::var_os("SSL_CERT_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
    TlsVerify::CaFile(path)
}
