//! Guard rails around the model provider: one provider-wide rate limit, a
//! per-tenant daily budget of requests and tokens, and a circuit breaker.
//!
//! All three are per replica and in memory: they protect the provider and the
//! bill from a runaway device or an outage, they are not an accounting system
//! (the usage table behind the telemetry summary is).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::error::{Error, RateLimitInfo};

/// Tokens one provider call used, as the provider reports them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Usage {
    /// Tokens of the prompt (system prompt, history, image).
    pub prompt_tokens: u64,
    /// Tokens of the answer.
    pub completion_tokens: u64,
    /// Their sum.
    pub total_tokens: u64,
}

/// The circuit breaker: after `threshold` consecutive failed calls it opens
/// for `open_for`, answering at once instead of queueing requests behind a
/// dead provider; then one trial call decides whether it closes again.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    open_for: Duration,
    failures: u32,
    opened_at: Option<Instant>,
    trial_since: Option<Instant>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, open_for: Duration) -> Self {
        Self { threshold: threshold.max(1), open_for, failures: 0, opened_at: None, trial_since: None }
    }

    /// `Ok` when a call may go out now (`true` when it is the half-open
    /// trial), else how long until it may.
    pub fn admit(&mut self, now: Instant) -> Result<bool, Duration> {
        let Some(opened_at) = self.opened_at else { return Ok(false) };
        let open_until = opened_at + self.open_for;
        if now < open_until {
            return Err(open_until - now);
        }
        // Half-open: one trial at a time. A trial whose caller vanished (a
        // dropped stream) must not wedge the breaker, so it lapses after `open_for`.
        match self.trial_since {
            Some(since) if now < since + self.open_for => Err(since + self.open_for - now),
            _ => {
                self.trial_since = Some(now);
                Ok(true)
            }
        }
    }

    /// The admitted trial did not go out after all: the next call may be the trial.
    pub fn abandon_trial(&mut self) {
        self.trial_since = None;
    }

    /// The provider answered.
    pub fn success(&mut self) {
        self.failures = 0;
        self.opened_at = None;
        self.trial_since = None;
    }

    /// The provider failed (after retries), timed out or was unreachable.
    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.trial_since = None;
        if self.opened_at.is_some() || self.failures >= self.threshold {
            self.opened_at = Some(now);
        }
    }

    /// Whether calls are refused right now.
    pub fn is_open(&self, now: Instant) -> bool {
        self.opened_at.is_some_and(|at| now < at + self.open_for)
    }
}

#[derive(Debug, Clone, Copy)]
struct DayUsage {
    day: NaiveDate,
    requests: u64,
    tokens: u64,
}

/// The guard rails, shared by every assistant route.
pub struct Guard {
    provider: DefaultDirectRateLimiter,
    provider_per_minute: u32,
    requests_per_day: u64,
    tokens_per_day: u64,
    budgets: Mutex<HashMap<String, DayUsage>>,
    breaker: Mutex<Breaker>,
}

/// What [`Guard::admit`] hands back; report the call's outcome through it.
#[derive(Debug)]
#[must_use]
pub struct Ticket {
    tenant: String,
    /// Whether this call is the half-open breaker's one trial.
    trial: bool,
}

fn until_next_utc_day() -> Duration {
    let now = Utc::now();
    let tomorrow = now.date_naive().succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc());
    tomorrow.and_then(|t| (t - now).to_std().ok()).unwrap_or(Duration::from_secs(1))
}

impl Guard {
    /// Guard rails with these limits.
    pub fn new(
        provider_per_minute: u32,
        requests_per_day: u64,
        tokens_per_day: u64,
        breaker_failures: u32,
        breaker_open: Duration,
    ) -> Self {
        let n = NonZeroU32::new(provider_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Duration::from_secs(60) / n.get())
            .unwrap_or_else(|| Quota::per_second(n))
            .allow_burst(n);
        Self {
            provider: RateLimiter::direct(quota),
            provider_per_minute: n.get(),
            requests_per_day,
            tokens_per_day,
            budgets: Mutex::new(HashMap::new()),
            breaker: Mutex::new(Breaker::new(breaker_failures, breaker_open)),
        }
    }

    /// Lets one provider call of `tenant` through, or says why not: the tenant's
    /// daily budget (429), the open breaker (503) or the provider-wide limit (429).
    ///
    /// Only a call that will go out counts against the tenant's requests: a
    /// refusal by the breaker or the provider-wide limit is ours, not the
    /// tenant's spending. The budget lock is held throughout, so concurrent
    /// calls of one tenant cannot all pass its last request.
    pub fn admit(&self, tenant: &str) -> Result<Ticket, Error> {
        let today = Utc::now().date_naive();
        // Plain counters stay consistent even if a holder panicked: keep using them.
        let mut budgets = self.budgets.lock().unwrap_or_else(PoisonError::into_inner);
        let usage = budgets.entry(tenant.to_owned()).or_insert(DayUsage { day: today, requests: 0, tokens: 0 });
        if usage.day != today {
            *usage = DayUsage { day: today, requests: 0, tokens: 0 };
        }
        let over_requests = usage.requests >= self.requests_per_day;
        if over_requests || usage.tokens >= self.tokens_per_day {
            return Err(Error::RateLimited(RateLimitInfo {
                scope: if over_requests { "assistant-requests" } else { "assistant-tokens" },
                quota: if over_requests { self.requests_per_day } else { self.tokens_per_day },
                window_secs: 86_400,
                retry_after_ms: until_next_utc_day().as_millis() as u64,
            }));
        }
        let trial = self.admit_call()?;
        usage.requests += 1;
        Ok(Ticket { tenant: tenant.to_owned(), trial })
    }

    /// The breaker, then the provider-wide limit. A half-open trial the
    /// provider-wide limit then refuses is handed back, so the next call may
    /// be the trial instead of waiting for this one to lapse. `true` for the trial.
    fn admit_call(&self) -> Result<bool, Error> {
        let mut breaker = self.breaker.lock().unwrap_or_else(PoisonError::into_inner);
        let trial = breaker.admit(Instant::now()).map_err(|wait| Error::UpstreamUnavailable {
            retry_after_secs: wait.as_secs_f64().ceil() as u64,
            detail: "the circuit breaker is open".into(),
        })?;
        self.provider.check().map_err(|not_until| {
            if trial {
                breaker.abandon_trial();
            }
            Error::RateLimited(RateLimitInfo {
                scope: "provider",
                quota: u64::from(self.provider_per_minute),
                window_secs: 60,
                retry_after_ms: not_until.wait_time_from(DefaultClock::default().now()).as_millis() as u64,
            })
        })?;
        Ok(trial)
    }

    /// Reports how the admitted call ended: `upstream_failed` (unreachable,
    /// 429/5xx after retries, too slow) counts towards opening the breaker;
    /// `tokens` count against the tenant's daily budget.
    pub fn finish(&self, ticket: Ticket, upstream_failed: bool, tokens: u64) {
        if let Ok(mut breaker) = self.breaker.lock() {
            if upstream_failed { breaker.failure(Instant::now()) } else { breaker.success() }
        }
        self.add_tokens(&ticket.tenant, tokens);
    }

    /// Reports an admitted call its caller abandoned: `tokens` count against
    /// the tenant's budget; the breaker learns nothing, except that a trial
    /// it was waiting on will not report, so the next call may be the trial.
    pub fn cancel(&self, ticket: Ticket, tokens: u64) {
        if ticket.trial
            && let Ok(mut breaker) = self.breaker.lock()
        {
            breaker.abandon_trial();
        }
        self.add_tokens(&ticket.tenant, tokens);
    }

    fn add_tokens(&self, tenant: &str, tokens: u64) {
        if let Ok(mut budgets) = self.budgets.lock()
            && let Some(day) = budgets.get_mut(tenant)
        {
            day.tokens = day.tokens.saturating_add(tokens);
        }
    }

    /// Whether the breaker refuses calls right now.
    pub fn breaker_open(&self) -> bool {
        self.breaker.lock().map(|b| b.is_open(Instant::now())).unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_then_lets_one_trial_through() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(2, Duration::from_secs(10));
        breaker.failure(t0);
        assert!(breaker.admit(t0).is_ok(), "one failure is below the threshold");
        breaker.failure(t0);
        assert_eq!(breaker.admit(t0 + Duration::from_secs(4)), Err(Duration::from_secs(6)));
        let later = t0 + Duration::from_secs(10);
        assert!(breaker.admit(later).is_ok(), "half-open: a trial goes through");
        assert!(breaker.admit(later).is_err(), "only one trial at a time");
        breaker.failure(later);
        assert!(breaker.admit(later + Duration::from_secs(1)).is_err(), "a failed trial reopens it");
        let again = later + Duration::from_secs(10);
        assert!(breaker.admit(again).is_ok());
        breaker.success();
        assert!(breaker.admit(again).is_ok() && breaker.admit(again).is_ok(), "closed again");
    }

    #[test]
    fn tenant_budget_counts_requests_and_tokens_per_tenant() {
        let guard = Guard::new(1_000, 2, 100, 5, Duration::from_secs(1));
        let ticket = guard.admit("a").expect("first");
        guard.finish(ticket, false, 110);
        match guard.admit("a") {
            Err(Error::RateLimited(info)) => assert_eq!(info.scope, "assistant-tokens"),
            other => panic!("expected the token budget, got {other:?}"),
        }
        assert!(guard.admit("b").is_ok(), "another tenant has its own budget");
    }

    #[test]
    fn calls_the_breaker_refuses_do_not_use_up_the_tenants_requests() {
        let guard = Guard::new(1_000, 2, 1_000, 1, Duration::from_secs(60));
        let ticket = guard.admit("a").expect("first");
        guard.finish(ticket, true, 0);
        for _ in 0..3 {
            assert!(matches!(guard.admit("a"), Err(Error::UpstreamUnavailable { .. })), "the breaker is open");
        }
        let budgets = guard.budgets.lock().expect("budgets");
        assert_eq!(budgets["a"].requests, 1, "only the call that went out counts");
    }
}
