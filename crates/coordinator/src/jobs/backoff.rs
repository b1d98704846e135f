use std::time::Duration;

/// Exponential back-off with a cap and jitter, for `Retry` outcomes.
///
/// The delay before try `n + 1` (after `n` failed tries) is
/// `min(max, initial * multiplier^(n-1))`, less up to `jitter` of it at
/// random so that jobs failing together do not retry in lockstep.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
    pub multiplier: f64,
    /// Fraction of the delay that may be taken off at random, 0.0–1.0.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay after `failures` failed tries (1 for the first), with
    /// `unit` a random number in [0, 1) choosing the jitter.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(63) as i32;
        let base = self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exp);
        let capped = base.min(self.max.as_secs_f64());
        let cut = capped * self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64((capped - cut).max(0.0))
    }

    /// [`Backoff::delay`] with a random jitter.
    pub fn delay_random(&self, failures: u32) -> Duration {
        let unit = (super::record::random_u64() >> 11) as f64 / (1u64 << 53) as f64;
        self.delay(failures, unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.5,
        }
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let ms: Vec<u128> = (1..=6).map(|n| b().delay(n, 0.0).as_millis()).collect();
        assert_eq!(ms, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b().delay(u32::MAX, 0.0), Duration::from_secs(1));
    }

    #[test]
    fn jitter_takes_off_at_most_its_fraction() {
        assert_eq!(b().delay(1, 0.999_999).as_millis(), 50);
        for n in 1..8 {
            let d = b().delay_random(n);
            let full = b().delay(n, 0.0);
            assert!(d <= full && d >= full / 2, "{n}: {d:?} vs {full:?}");
        }
    }
}
