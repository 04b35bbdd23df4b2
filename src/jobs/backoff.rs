//! How long a failed job waits before its next attempt: exponential, capped, with jitter.

use std::time::Duration;

use rand::Rng;

/// `base * 2^(attempt - 1)`, capped at `max`: the longest wait after the `attempt`-th failure.
pub fn backoff_ceiling(attempt: i32, base: Duration, max: Duration) -> Duration {
    let doublings = attempt.saturating_sub(1).clamp(0, 31) as u32;
    base.saturating_mul(1u32 << doublings).min(max)
}

/// The wait after the `attempt`-th failure: uniformly within [50%, 100%] of [`backoff_ceiling`], so
/// jobs that failed together (an outage) do not all come back at the same instant.
pub fn backoff(attempt: i32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    backoff_ceiling(attempt, base, max).mul_f64(rng.gen_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const BASE: Duration = Duration::from_secs(10);
    const MAX: Duration = Duration::from_secs(3600);

    #[test]
    fn the_ceiling_doubles_with_each_attempt() {
        let waits: Vec<u64> = (1..=5)
            .map(|a| backoff_ceiling(a, BASE, MAX).as_secs())
            .collect();
        assert_eq!(waits, [10, 20, 40, 80, 160]);
        // Attempt numbers below 1 (never stored, but harmless) get the base.
        assert_eq!(backoff_ceiling(0, BASE, MAX), BASE);
    }

    #[test]
    fn the_ceiling_is_capped_and_never_overflows() {
        assert_eq!(backoff_ceiling(10, BASE, MAX), MAX); // 10 * 512 s > 1 h
        assert_eq!(backoff_ceiling(i32::MAX, BASE, MAX), MAX);
        assert_eq!(
            backoff_ceiling(64, Duration::from_secs(u64::MAX / 2), Duration::MAX),
            Duration::MAX
        );
    }

    #[test]
    fn jitter_stays_within_half_and_all_of_the_ceiling() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=12 {
            let ceiling = backoff_ceiling(attempt, BASE, MAX);
            let waits: Vec<Duration> = (0..200)
                .map(|_| backoff(attempt, BASE, MAX, &mut rng))
                .collect();
            for wait in &waits {
                assert!(
                    *wait >= ceiling / 2 && *wait <= ceiling,
                    "attempt {attempt}: {wait:?} outside [{:?}, {ceiling:?}]",
                    ceiling / 2
                );
            }
            // Jitter actually spreads the waits out.
            let spread = *waits.iter().max().unwrap() - *waits.iter().min().unwrap();
            assert!(spread > ceiling / 4, "attempt {attempt}: spread {spread:?}");
        }
    }
}
