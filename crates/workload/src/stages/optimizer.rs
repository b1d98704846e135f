//! Optimizer: classifies hosts as hot (overloaded), cold (underloaded) or
//! fine, by the policy's thresholds, the k-of-n rule and the forecast.

use crate::policy::Band;
use serde::Serialize;

/// One host's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Verdict {
    /// CPU utilization now (fraction).
    pub now: f64,
    /// Forecast CPU utilization, headroom included.
    pub forecast: f64,
    /// Sheds load this round.
    pub hot: bool,
    /// May be drained this round.
    pub cold: bool,
}

/// Applies the k-of-n rule to CPU. `observed` are the host's last
/// utilizations (newest last, at most n − 1 of them); the forecast counts
/// as the n-th observation and must itself cross the threshold, so a host
/// whose load is already falling is left alone. `mem` is current memory
/// use (fraction), checked against its band without forecasting.
pub fn assess(
    observed: &[f64],
    forecast: f64,
    cpu: Band,
    mem: f64,
    memory: Band,
    k: usize,
) -> Verdict {
    let now = observed.last().copied().unwrap_or(0.0);
    let above =
        observed.iter().filter(|&&u| u > cpu.upper).count() + usize::from(forecast > cpu.upper);
    let below =
        observed.iter().filter(|&&u| u < cpu.lower).count() + usize::from(forecast < cpu.lower);
    let hot = (forecast > cpu.upper && above >= k) || mem > memory.upper;
    let cold = !hot && forecast < cpu.lower && below >= k && mem < memory.upper;
    Verdict {
        now,
        forecast,
        hot,
        cold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPU: Band = Band {
        upper: 0.8,
        lower: 0.3,
    };
    const MEM: Band = Band {
        upper: 0.95,
        lower: 0.0,
    };

    #[test]
    fn one_spike_is_not_a_hotspot_but_two_are() {
        assert!(!assess(&[0.5, 0.9], 0.7, CPU, 0.0, MEM, 2).hot);
        assert!(!assess(&[0.5, 0.5], 0.9, CPU, 0.0, MEM, 2).hot);
        assert!(assess(&[0.5, 0.9], 0.85, CPU, 0.0, MEM, 2).hot);
        assert!(assess(&[0.9, 0.9], 0.85, CPU, 0.0, MEM, 3).hot);
    }

    #[test]
    fn cold_needs_a_low_forecast() {
        assert!(assess(&[0.1, 0.1], 0.1, CPU, 0.0, MEM, 2).cold);
        assert!(!assess(&[0.1, 0.1], 0.5, CPU, 0.0, MEM, 2).cold);
    }

    #[test]
    fn memory_pressure_is_hot_without_forecast() {
        assert!(assess(&[0.1], 0.1, CPU, 0.99, MEM, 2).hot);
    }
}
