//! What stands between a store's orders and its merchant's endpoint, per
//! store and replica: a concurrency bound, a rate limit (a leaky bucket, as
//! Shopify's API has) and a circuit breaker. After
//! `breaker_failures` calls in a row without a definite answer the breaker
//! opens: no call is made for `breaker_open`, the store's orders wait as
//! SUBMITTED with `next_attempt_at` at its end, then one trial call
//! (half-open) decides whether it closes or opens again.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::clock::Clock;
use crate::telemetry::Metrics;

/// How long an order that found the store busy (no permit or no rate) waits before it is tried again.
const BUSY_WAIT: Duration = Duration::from_secs(1);

/// The limits of every store's gate.
#[derive(Debug, Clone, Copy)]
pub struct GateSettings {
    /// Calls in flight at once.
    pub concurrency: usize,
    /// Calls per second, sustained.
    pub per_second: u32,
    /// Calls above the sustained rate at once.
    pub burst: u32,
    /// Calls in a row without a definite answer that open the breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open.
    pub breaker_open: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breaker {
    Closed {
        unknown_in_a_row: u32,
    },
    Open {
        until: Instant,
    },
    /// One trial call is out; everyone else waits for its answer.
    HalfOpen,
}

/// How a call through the gate ended, as far as the breaker cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The merchant answered definitely (confirmed or refused): it is up.
    Definite,
    /// It asked to be called later (429/503 with `Retry-After`): up, but busy.
    Throttled,
    /// No definite answer: timeout, connection error, 5xx.
    Unknown,
}

/// One store's gate.
pub struct StoreGate {
    permits: Semaphore,
    rate: DefaultDirectRateLimiter,
    breaker: Mutex<Breaker>,
    settings: GateSettings,
    clock: Clock,
    metrics: Arc<Metrics>,
}

/// Leave to call the merchant; hold it for the duration of the call.
pub struct Pass<'a> {
    _permit: SemaphorePermit<'a>,
}

impl StoreGate {
    /// A gate with `settings`, timing its breaker by `clock`.
    pub fn new(settings: GateSettings, clock: Clock, metrics: Arc<Metrics>) -> Self {
        let per_second = NonZeroU32::new(settings.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(settings.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            permits: Semaphore::new(settings.concurrency.max(1)),
            rate: RateLimiter::direct(Quota::per_second(per_second).allow_burst(burst)),
            breaker: Mutex::new(Breaker::Closed { unknown_in_a_row: 0 }),
            settings,
            clock,
            metrics,
        }
    }

    /// Waits (at most `patience`) for leave to call: the breaker lets calls
    /// through, a concurrency permit and the rate allow one. Otherwise how
    /// long the order should wait before it is tried again.
    pub async fn admit(&self, patience: Duration) -> Result<Pass<'_>, Duration> {
        self.breaker_admits()?;
        let waited = tokio::time::timeout(patience, async {
            let permit = self.permits.acquire().await.ok()?;
            self.rate.until_ready().await;
            Some(permit)
        })
        .await;
        match waited {
            Ok(Some(permit)) => Ok(Pass { _permit: permit }),
            _ => {
                // Not called after all: a half-open trial that never ran is no verdict.
                self.release_trial();
                Err(BUSY_WAIT)
            }
        }
    }

    fn breaker_admits(&self) -> Result<(), Duration> {
        let mut breaker = self.breaker.lock().map_err(|_| BUSY_WAIT)?;
        match *breaker {
            Breaker::Closed { .. } => Ok(()),
            Breaker::HalfOpen => Err(BUSY_WAIT),
            Breaker::Open { until } => {
                let now = self.clock.instant();
                if now < until {
                    return Err(until - now);
                }
                *breaker = Breaker::HalfOpen;
                self.metrics.merchant_breaker("half-open");
                Ok(())
            }
        }
    }

    fn release_trial(&self) {
        if let Ok(mut breaker) = self.breaker.lock()
            && *breaker == Breaker::HalfOpen
        {
            *breaker = Breaker::Open { until: self.clock.instant() };
        }
    }

    /// Tells the breaker how a call ended.
    pub fn record(&self, outcome: CallOutcome) {
        let Ok(mut breaker) = self.breaker.lock() else { return };
        let next = match (*breaker, outcome) {
            (_, CallOutcome::Definite) => Breaker::Closed { unknown_in_a_row: 0 },
            (state, CallOutcome::Throttled) => state,
            (Breaker::Closed { unknown_in_a_row }, CallOutcome::Unknown)
                if unknown_in_a_row + 1 < self.settings.breaker_failures.max(1) =>
            {
                Breaker::Closed { unknown_in_a_row: unknown_in_a_row + 1 }
            }
            (_, CallOutcome::Unknown) => Breaker::Open { until: self.clock.instant() + self.settings.breaker_open },
        };
        let was_open = !matches!(*breaker, Breaker::Closed { .. });
        let is_open = !matches!(next, Breaker::Closed { .. });
        match (was_open, is_open) {
            (false, true) => self.metrics.merchant_breaker("open"),
            (true, false) => self.metrics.merchant_breaker("closed"),
            (true, true) if *breaker == Breaker::HalfOpen => self.metrics.merchant_breaker("reopened"),
            _ => {}
        }
        *breaker = next;
    }
}

impl Drop for StoreGate {
    fn drop(&mut self) {
        // An idle gate forgotten while open takes its open count with it.
        if let Ok(breaker) = self.breaker.lock()
            && !matches!(*breaker, Breaker::Closed { .. })
        {
            self.metrics.merchant_breaker("forgotten");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(clock: Clock) -> StoreGate {
        let settings = GateSettings {
            concurrency: 1,
            per_second: 1_000,
            burst: 1_000,
            breaker_failures: 2,
            breaker_open: Duration::from_secs(30),
        };
        StoreGate::new(settings, clock, Arc::new(Metrics::default()))
    }

    #[tokio::test]
    async fn the_breaker_opens_holds_and_closes_after_a_good_trial() {
        let manual = Clock::manual(chrono::Utc::now());
        let gate = gate(manual.clock());
        gate.record(CallOutcome::Unknown);
        assert!(gate.admit(Duration::from_secs(1)).await.is_ok(), "one unknown outcome is not enough");
        gate.record(CallOutcome::Unknown);
        assert_eq!(gate.admit(Duration::from_secs(1)).await.err(), Some(Duration::from_secs(30)), "open");
        manual.advance(Duration::from_secs(31));
        let trial = gate.admit(Duration::from_secs(1)).await;
        assert!(trial.is_ok(), "half-open: one trial");
        assert_eq!(gate.admit(Duration::from_secs(1)).await.err(), Some(BUSY_WAIT), "the others wait for it");
        drop(trial);
        gate.record(CallOutcome::Unknown);
        assert_eq!(
            gate.admit(Duration::from_secs(1)).await.err(),
            Some(Duration::from_secs(30)),
            "a failed trial reopens"
        );
        manual.advance(Duration::from_secs(31));
        drop(gate.admit(Duration::from_secs(1)).await);
        gate.record(CallOutcome::Definite);
        assert!(gate.admit(Duration::from_secs(1)).await.is_ok(), "a good trial closes it");
    }

    #[tokio::test]
    async fn calls_beyond_the_concurrency_bound_wait() {
        let gate = gate(Clock::system());
        let held = gate.admit(Duration::from_secs(1)).await;
        assert!(held.is_ok());
        assert_eq!(gate.admit(Duration::from_millis(20)).await.err(), Some(BUSY_WAIT), "the one permit is taken");
        drop(held);
        assert!(gate.admit(Duration::from_millis(20)).await.is_ok());
    }
}
