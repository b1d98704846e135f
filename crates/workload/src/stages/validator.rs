//! Back-tests predictors on a VM's recent past and keeps the one with the
//! smallest mean absolute error, together with that error (used as the
//! forecast's headroom).

use super::predictor::PredictorKind;
use serde::Serialize;

/// A VM's chosen predictor and how well it did.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Validation {
    /// The winner.
    pub kind: PredictorKind,
    /// Its mean absolute one-step error over the back-test.
    pub mae: f64,
}

/// Back-tests `candidates` on the last `backtest` samples of `history`
/// (each predicted from the samples before it). With too little history
/// it returns last-value and the mean absolute step between samples.
pub fn choose(history: &[f64], candidates: &[PredictorKind], backtest: usize) -> Validation {
    let n = history.len();
    let bt = backtest.min(n.saturating_sub(2));
    if bt == 0 || candidates.is_empty() {
        let mae = if n >= 2 {
            history.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        return Validation {
            kind: PredictorKind::LastValue,
            mae,
        };
    }
    let mut best = Validation {
        kind: candidates[0],
        mae: f64::INFINITY,
    };
    for &kind in candidates {
        let mut err = 0.0;
        for i in n - bt..n {
            err += (kind.forecast(&history[..i], 1) - history[i]).abs();
        }
        let mae = err / bt as f64;
        if mae < best.mae {
            best = Validation { kind, mae };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_regression_for_a_ramp_and_average_for_noise() {
        let ramp: Vec<f64> = (0..12).map(|i| 3.0 * i as f64).collect();
        let v = choose(&ramp, &PredictorKind::ALL, 6);
        assert!(matches!(
            v.kind,
            PredictorKind::LinearRegression | PredictorKind::Loess
        ));
        assert!(v.mae < 1e-9);

        let flat_noise = [50.0, 52.0, 48.0, 50.0, 52.0, 48.0, 50.0, 52.0, 48.0, 50.0];
        let v = choose(
            &flat_noise,
            &[PredictorKind::LastValue, PredictorKind::MovingAverage],
            6,
        );
        assert_eq!(v.kind, PredictorKind::MovingAverage);
    }

    #[test]
    fn short_history_falls_back_to_last_value() {
        let v = choose(&[10.0, 14.0], &PredictorKind::ALL, 6);
        assert_eq!(v.kind, PredictorKind::LastValue);
        assert_eq!(v.mae, 4.0);
    }
}
