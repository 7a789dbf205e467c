//! The request limits per client IP and per tenant. With Redis they are
//! shared by every replica through one atomic GCRA script; when Redis is unreachable each
//! replica falls back to local limiters and keeps serving.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::limits::limit::{Limit, LocalLimiter};
use crate::limits::report::Standing;
use crate::limits::shared::SharedLimiter;
use crate::telemetry::Metrics;

/// Most local limiters one replica keeps (~200 bytes each): past it the
/// least used are forgotten, which at worst hands a flood of new addresses
/// fresh bursts, never unbounded memory.
const MAX_LOCAL_LIMITERS: u64 = 100_000;
/// The longest window of the limits kept here (the per-IP minute).
const LONGEST_WINDOW: Duration = Duration::from_secs(60);

/// The IP and tenant limiters of one replica.
pub struct Limiter {
    ip_per_minute: u32,
    /// Local limiters by key, forgotten once idle for a whole window (they
    /// would be back at a full burst anyway) and bounded in number, so
    /// clients choosing ever new addresses cannot grow it without end.
    local: moka::sync::Cache<String, Arc<LocalLimiter>>,
    shared: Option<SharedLimiter>,
    metrics: Arc<Metrics>,
}

impl Limiter {
    /// Limiters allowing `ip_per_minute` per client IP; shared through Redis when given.
    pub fn new(ip_per_minute: u32, shared: Option<SharedLimiter>, metrics: Arc<Metrics>) -> Self {
        let local = moka::sync::Cache::builder().max_capacity(MAX_LOCAL_LIMITERS).time_to_idle(LONGEST_WINDOW).build();
        Self { ip_per_minute, local, shared, metrics }
    }

    /// True while Redis is configured but unreachable, so limits are per replica.
    pub fn degraded(&self) -> bool {
        self.shared.as_ref().is_some_and(SharedLimiter::degraded)
    }

    fn check_local(&self, key: &str, limit: Limit) -> Result<Standing, Error> {
        let mut limiter = self.local.get_with_by_ref(key, || Arc::new(LocalLimiter::new(limit)));
        if limiter.limit() != limit {
            limiter = Arc::new(LocalLimiter::new(limit));
            self.local.insert(key.to_owned(), limiter.clone());
        }
        limiter.check()
    }

    /// Local limiters held right now (after pending evictions ran).
    pub fn local_keys(&self) -> u64 {
        self.local.run_pending_tasks();
        self.local.entry_count()
    }

    async fn check(&self, key: String, limit: Limit) -> Result<Standing, Error> {
        let outcome = match &self.shared {
            Some(shared) if !shared.degraded() => match shared.check(&key, limit).await {
                Ok(outcome) => {
                    self.metrics.set_shared_limits_degraded(false);
                    outcome.map(|left| limit.standing(left))
                }
                Err(err) => {
                    tracing::warn!(error = %err, "redis unreachable; using local rate limits");
                    self.metrics.set_shared_limits_degraded(true);
                    self.check_local(&key, limit)
                }
            },
            _ => self.check_local(&key, limit),
        };
        if outcome.is_err() {
            self.metrics.rate_limited(limit.scope);
        }
        outcome
    }

    /// Checks the per-IP limit, saying how it stands after this request.
    pub async fn check_ip(&self, ip: IpAddr) -> Result<Standing, Error> {
        let limit = Limit { scope: "ip", quota: self.ip_per_minute, window: Duration::from_secs(60) };
        self.check(format!("ip:{ip}"), limit).await
    }

    /// Checks the tenant's per-second limit, saying how it stands after this request.
    pub async fn check_tenant(&self, tenant: &str, per_second: u32) -> Result<Standing, Error> {
        let limit = Limit { scope: "tenant", quota: per_second, window: Duration::from_secs(1) };
        let outcome = self.check(format!("tenant:{tenant}"), limit).await;
        if outcome.is_err() {
            self.metrics.tenant_rate_limited_by(tenant, "tenant");
        }
        outcome
    }
}
