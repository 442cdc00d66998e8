/*! Per-key retry delays for the scheduler: the [`Backoff`] trait and its
[`ExponentialBackoff`] with jitter. */

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Per-key retry delays: an iterator of delays that can start over.
///
/// [`run`](super::run) gives every failing key its own instance (a clone of
/// [`Config::backoff`](super::Config::backoff)), takes one delay per consecutive failure and
/// drops it when the key succeeds.
///
/// # Assumptions
///
/// `next` is cheap and does not block. Returning `None` means "give up": the error policy gets
/// no delay and [`default_error_policy`](super::default_error_policy) then waits for a change.
pub trait Backoff: Iterator<Item = Duration> + Send + 'static {
    /// Start over: the next delay is the first one again.
    fn reset(&mut self);
}

/// Exponential backoff with jitter: `initial · factor^n`, capped at `max`, each delay moved by
/// a random factor in `[1 − jitter, 1 + jitter]`.
///
/// # Guarantees
///
/// - Never ends: `next` always returns `Some`.
/// - Every delay is at most `max`, including after jitter.
/// - Two instances (or clones) draw independent jitter, so keys failing together spread out.
///
/// # Caveats
///
/// The jitter comes from the standard library's randomly keyed hasher: fine for spreading
/// retries, not for anything secret.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialBackoff {
    initial: Duration,
    max: Duration,
    factor: u32,
    jitter: f64,
    attempt: u32,
}

impl ExponentialBackoff {
    /// First delay by default: 200 ms.
    pub const DEFAULT_INITIAL: Duration = Duration::from_millis(200);
    /// Cap by default: 5 minutes.
    pub const DEFAULT_MAX: Duration = Duration::from_mins(5);
    /// Growth per failure by default: ×2.
    pub const DEFAULT_FACTOR: u32 = 2;
    /// Jitter by default: ±10 %.
    pub const DEFAULT_JITTER: f64 = 0.1;

    /// Starts at `initial` and doubles up to `max`, with the default jitter.
    #[must_use]
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            factor: Self::DEFAULT_FACTOR,
            jitter: Self::DEFAULT_JITTER,
            attempt: 0,
        }
    }

    /// Growth per failure; 1 makes the delay constant.
    #[must_use]
    pub fn with_factor(mut self, factor: u32) -> Self {
        self.factor = factor;
        self
    }

    /// Relative jitter, clamped to `[0, 1]`; 0 turns it off (useful in tests).
    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        self
    }

    /// The delay before jitter for the `attempt`-th consecutive failure (0-based).
    #[must_use]
    pub fn nominal(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(self.factor.saturating_pow(attempt))
            .min(self.max)
    }

    fn jittered(&self, base: Duration) -> Duration {
        if self.jitter == 0.0 {
            return base;
        }
        let spread = self.jitter * (2.0 * unit_random() - 1.0);
        Duration::try_from_secs_f64(base.as_secs_f64() * (1.0 + spread))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

impl Default for ExponentialBackoff {
    fn default() -> Self {
        Self::new(Self::DEFAULT_INITIAL, Self::DEFAULT_MAX)
    }
}

impl Iterator for ExponentialBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.nominal(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        Some(self.jittered(base))
    }
}

impl Backoff for ExponentialBackoff {
    fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A number in `[0, 1)`. Every `RandomState` gets fresh keys, so each call differs.
fn unit_random() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    // 53 random bits fill an f64 mantissa exactly.
    #[allow(clippy::cast_precision_loss)]
    let unit = (bits >> 11) as f64 / (1u64 << 53) as f64;
    unit
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn exponential_backoff_doubles_from_200ms_to_the_5_minute_cap_within_jitter() {
        let delays: Vec<_> = ExponentialBackoff::default().take(14).collect();
        let mut nominal = ms(200);
        for delay in delays {
            assert!(
                nominal.mul_f64(0.9) <= delay && delay <= nominal.mul_f64(1.1),
                "{delay:?} vs {nominal:?}"
            );
            assert!(delay <= Duration::from_mins(5));
            nominal = (nominal * 2).min(Duration::from_mins(5));
        }
    }

    #[test]
    fn exponential_backoff_without_jitter_is_exact_and_starts_over_on_reset() {
        let mut backoff = ExponentialBackoff::new(ms(100), ms(500)).with_jitter(0.0);
        let first: Vec<_> = backoff.by_ref().take(5).collect();
        assert_eq!(first, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        backoff.reset();
        assert_eq!(backoff.next(), Some(ms(100)));
    }

    #[test]
    fn jitter_differs_between_clones() {
        let template = ExponentialBackoff::default().with_jitter(1.0);
        let draws: HashSet<_> = (0..8).map(|_| template.clone().next().unwrap()).collect();
        assert!(draws.len() > 1, "{draws:?}");
    }
}
