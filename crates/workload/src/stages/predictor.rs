//! Forecasting models over a VM's recent usage (oldest sample first).

use serde::{Deserialize, Serialize};

/// The forecasting models the engine knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredictorKind {
    /// Tomorrow looks like today.
    LastValue,
    /// Mean of the window.
    MovingAverage,
    /// Least-squares line over the window, extrapolated.
    LinearRegression,
    /// Local linear regression, tricube-weighted towards the newest sample.
    Loess,
    /// First-order autoregression around the window mean.
    Ar1,
}

impl PredictorKind {
    /// All models, cheapest first (ties in back-tests go to the cheaper).
    pub const ALL: [PredictorKind; 5] = [
        PredictorKind::LastValue,
        PredictorKind::MovingAverage,
        PredictorKind::LinearRegression,
        PredictorKind::Loess,
        PredictorKind::Ar1,
    ];

    /// The name used in policy files.
    pub fn name(self) -> &'static str {
        match self {
            PredictorKind::LastValue => "last-value",
            PredictorKind::MovingAverage => "moving-average",
            PredictorKind::LinearRegression => "linear-regression",
            PredictorKind::Loess => "loess",
            PredictorKind::Ar1 => "ar1",
        }
    }

    /// Parses a policy-file name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Forecast `horizon` (≥ 1) steps past the end of `history`. An empty
    /// history forecasts 0; a single sample forecasts itself.
    pub fn forecast(self, history: &[f64], horizon: usize) -> f64 {
        let n = history.len();
        if n == 0 {
            return 0.0;
        }
        let last = history[n - 1];
        if n == 1 {
            return last;
        }
        let h = horizon.max(1) as f64;
        match self {
            PredictorKind::LastValue => last,
            PredictorKind::MovingAverage => history.iter().sum::<f64>() / n as f64,
            PredictorKind::LinearRegression => {
                let (a, b) = weighted_line(history, |_| 1.0);
                a + b * (n as f64 - 1.0 + h)
            }
            PredictorKind::Loess => {
                // Distance from the newest sample, scaled so the oldest
                // still counts a little.
                let span = n as f64;
                let (a, b) = weighted_line(history, |i| {
                    let d = (n - 1 - i) as f64 / span;
                    let w = 1.0 - d * d * d;
                    w * w * w
                });
                a + b * (n as f64 - 1.0 + h)
            }
            PredictorKind::Ar1 => {
                let mean = history.iter().sum::<f64>() / n as f64;
                let mut num = 0.0;
                let mut den = 0.0;
                for w in history.windows(2) {
                    num += (w[1] - mean) * (w[0] - mean);
                    den += (w[0] - mean) * (w[0] - mean);
                }
                let phi = if den > 0.0 {
                    (num / den).clamp(-0.99, 0.99)
                } else {
                    0.0
                };
                mean + phi.powi(horizon.max(1) as i32) * (last - mean)
            }
        }
    }
}

/// Weighted least squares of y on x = 0..n; returns (intercept, slope).
fn weighted_line(y: &[f64], weight: impl Fn(usize) -> f64) -> (f64, f64) {
    let mut sw = 0.0;
    let mut sx = 0.0;
    let mut sy = 0.0;
    for (i, &v) in y.iter().enumerate() {
        let w = weight(i);
        sw += w;
        sx += w * i as f64;
        sy += w * v;
    }
    if sw <= 0.0 {
        return (y[y.len() - 1], 0.0);
    }
    let xm = sx / sw;
    let ym = sy / sw;
    let mut sxy = 0.0;
    let mut sxx = 0.0;
    for (i, &v) in y.iter().enumerate() {
        let w = weight(i);
        let dx = i as f64 - xm;
        sxy += w * dx * (v - ym);
        sxx += w * dx * dx;
    }
    let b = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (ym - b * xm, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in PredictorKind::ALL {
            assert_eq!(PredictorKind::parse(k.name()), Some(k));
        }
        assert_eq!(PredictorKind::parse("magic"), None);
    }

    #[test]
    fn trend_models_follow_a_ramp() {
        let ramp: Vec<f64> = (0..10).map(|i| 10.0 + 2.0 * i as f64).collect();
        assert_eq!(PredictorKind::LastValue.forecast(&ramp, 1), 28.0);
        assert!((PredictorKind::LinearRegression.forecast(&ramp, 1) - 30.0).abs() < 1e-9);
        assert!((PredictorKind::Loess.forecast(&ramp, 1) - 30.0).abs() < 1e-9);
        assert!((PredictorKind::MovingAverage.forecast(&ramp, 1) - 19.0).abs() < 1e-9);
    }

    #[test]
    fn ar1_reverts_to_the_mean_of_an_oscillation() {
        let osc: Vec<f64> = (0..12)
            .map(|i| if i % 2 == 0 { 40.0 } else { 60.0 })
            .collect();
        // Last sample is 60; a strongly negative phi predicts a drop.
        assert!(PredictorKind::Ar1.forecast(&osc, 1) < 50.0);
    }

    #[test]
    fn degenerate_histories() {
        for k in PredictorKind::ALL {
            assert_eq!(k.forecast(&[], 1), 0.0);
            assert_eq!(k.forecast(&[7.0], 3), 7.0);
            assert!((k.forecast(&[5.0; 6], 2) - 5.0).abs() < 1e-9, "{k:?}");
        }
    }
}
