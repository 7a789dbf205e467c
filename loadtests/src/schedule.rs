//! When open-model arrivals are due: a fixed rate, reached linearly over the ramp-up.

use std::time::Duration;

/// When the `n`-th arrival is due, for `rate` per second reached linearly over `ramp`.
pub fn arrival_offset(n: u64, rate: f64, ramp: Duration) -> Duration {
    let ramp = ramp.as_secs_f64();
    let during_ramp = rate * ramp / 2.0;
    let n = n as f64;
    let secs = if n < during_ramp { (2.0 * n * ramp / rate).sqrt() } else { ramp + (n - during_ramp) / rate };
    Duration::from_secs_f64(secs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn secs(n: u64, rate: f64, ramp: u64) -> f64 {
        arrival_offset(n, rate, Duration::from_secs(ramp)).as_secs_f64()
    }

    #[test]
    fn without_a_ramp_arrivals_are_evenly_spaced() {
        assert_eq!(secs(0, 100.0, 0), 0.0);
        assert!((secs(1, 100.0, 0) - 0.01).abs() < 1e-9);
        assert!((secs(250, 100.0, 0) - 2.5).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_sends_half_its_full_rate_worth_and_then_runs_at_the_rate() {
        // 100/s reached over 10 s: 500 arrivals during the ramp, the 500th exactly at its end.
        assert!((secs(500, 100.0, 10) - 10.0).abs() < 1e-9);
        assert!((secs(600, 100.0, 10) - 11.0).abs() < 1e-9);
        // A quarter of the way in, time has reached half of the ramp (arrivals grow with t²).
        assert!((secs(125, 100.0, 10) - 5.0).abs() < 1e-9);
        // Arrivals never go back in time.
        let offsets: Vec<f64> = (0..1000).map(|n| secs(n, 100.0, 10)).collect();
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
    }
}
