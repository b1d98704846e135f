//! The file layout as written, every checked value with its byte span.

use serde::Deserialize;
use toml::Spanned;

pub(super) type S<T> = Option<Spanned<T>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub name: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub scope: Option<Spanned<RawScope>>,
    pub thresholds: Option<RawThresholds>,
    pub observation: Option<RawObservation>,
    pub prediction: Option<RawPrediction>,
    pub migration: Option<RawMigration>,
    pub placement: Option<RawPlacement>,
    pub power: Option<RawPower>,
    pub scaling: Option<Spanned<RawScaling>>,
    pub allocation: Option<RawAllocation>,
    pub schedule: Option<RawSchedule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScope {
    pub kind: Spanned<String>,
    pub name: Option<String>,
    pub labels: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawThresholds {
    pub cpu: Option<Spanned<RawBand>>,
    pub memory: Option<Spanned<RawBand>>,
    pub network: Option<Spanned<RawBand>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBand {
    pub upper: S<f64>,
    pub lower: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawObservation {
    pub window: S<i64>,
    pub k: S<i64>,
    pub n: S<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrediction {
    pub predictor: S<String>,
    pub candidates: Option<Vec<Spanned<String>>>,
    pub horizon: S<i64>,
    pub backtest: S<i64>,
    pub safety_margin: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMigration {
    pub max_concurrent: S<i64>,
    pub max_per_round: S<i64>,
    pub max_per_hour: S<i64>,
    pub vm_cooldown_rounds: S<i64>,
    pub host_cooldown_rounds: S<i64>,
    pub hysteresis: S<f64>,
    pub destination: S<String>,
    pub vm_choice: S<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPlacement {
    pub affinity: Option<Vec<Spanned<Vec<String>>>>,
    pub anti_affinity: Option<Vec<Spanned<Vec<String>>>>,
    pub host_labels: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPower {
    pub consolidate: Option<bool>,
    pub power_off_idle: Option<bool>,
    pub spare_hosts: S<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScaling {
    pub service: String,
    pub min_nodes: S<i64>,
    pub max_nodes: S<i64>,
    pub scale_out_above: S<f64>,
    pub scale_in_below: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAllocation {
    pub shares: S<i64>,
    pub reservation: S<f64>,
    pub limit: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSchedule {
    pub active_hours: Option<Vec<Spanned<String>>>,
}
