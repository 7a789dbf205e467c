//! One limit (`quota` requests per `window`) and its in-process form:
//! governor's GCRA, refusing with the problem a client sees.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::{Error, RateLimitInfo};
use crate::limits::report::Standing;

/// One limit: `quota` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// What is limited: `ip`, `tenant`, `device`, `provider`.
    pub scope: &'static str,
    /// Requests per window.
    pub quota: u32,
    /// Window.
    pub window: Duration,
}

impl Limit {
    /// `quota` requests per minute.
    pub fn per_minute(scope: &'static str, quota: u32) -> Self {
        Self { scope, quota, window: Duration::from_secs(60) }
    }

    fn governor_quota(&self) -> Quota {
        let n = NonZeroU32::new(self.quota.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = self.window / n.get();
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(n)).allow_burst(n)
    }

    /// Where this limit stands after admitting a request, `remaining` left.
    pub fn standing(&self, remaining: u64) -> Standing {
        Standing::admitted(self.scope, self.quota, self.window, remaining)
    }

    /// The error of a refused request that may retry after `retry_after`.
    pub fn refused(&self, retry_after: Duration) -> Error {
        Error::RateLimited(RateLimitInfo {
            scope: self.scope,
            quota: u64::from(self.quota),
            window_secs: self.window.as_secs().max(1),
            retry_after_ms: retry_after.as_millis() as u64,
        })
    }
}

/// A limit kept in this process (a device's, the provider's, or an IP's or
/// tenant's while Redis is away).
#[derive(Debug)]
pub struct LocalLimiter {
    limit: Limit,
    /// Reports the state after each admitted request, for the `RateLimit` field.
    gcra: DefaultDirectRateLimiter<StateInformationMiddleware>,
}

impl LocalLimiter {
    /// A limiter with a full burst allowance.
    pub fn new(limit: Limit) -> Self {
        Self { limit, gcra: RateLimiter::direct(limit.governor_quota()).with_middleware() }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Admits one request (saying how the limit stands after it), or
    /// refuses with how long to wait.
    pub fn check(&self) -> Result<Standing, Error> {
        match self.gcra.check() {
            Ok(snapshot) => Ok(self.limit.standing(u64::from(snapshot.remaining_burst_capacity()))),
            Err(not_until) => Err(self.limit.refused(not_until.wait_time_from(DefaultClock::default().now()))),
        }
    }

    /// Starts over with `limit` when it differs from the one in force (a
    /// tenant's limits changed); an unchanged limit keeps its state.
    pub fn adopt(&mut self, limit: Limit) {
        if limit != self.limit {
            *self = Self::new(limit);
        }
    }
}
