//! Rate limits per client IP and per tenant (the per-device limit lives in
//! the device actor). With Redis the IP and tenant limits are shared by every
//! replica through one atomic GCRA script; when Redis is unreachable each
//! replica falls back to local limiters and keeps serving.

mod shared;

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::auth::Caller;
use crate::error::{Error, RateLimitInfo};
use crate::startup::AppState;
use crate::telemetry::Metrics;
pub use shared::SharedLimiter;

/// One limit: `quota` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// `ip` or `tenant`.
    pub scope: &'static str,
    /// Requests per window.
    pub quota: u32,
    /// Window.
    pub window: Duration,
}

impl Limit {
    fn quota(&self) -> Quota {
        let n = NonZeroU32::new(self.quota.max(1)).unwrap_or(NonZeroU32::MIN);
        let period = self.window / n.get();
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(n)).allow_burst(n)
    }

    fn refused(&self, retry_after: Duration) -> Error {
        Error::RateLimited(RateLimitInfo {
            scope: self.scope,
            quota: u64::from(self.quota),
            window_secs: self.window.as_secs().max(1),
            retry_after_ms: retry_after.as_millis() as u64,
        })
    }
}

/// The IP and tenant limiters of one replica.
pub struct Limiter {
    ip_per_minute: u32,
    local: Mutex<HashMap<String, (Limit, Arc<DefaultDirectRateLimiter>)>>,
    shared: Option<SharedLimiter>,
    metrics: Arc<Metrics>,
}

impl Limiter {
    /// Limiters allowing `ip_per_minute` per client IP; shared through Redis when given.
    pub fn new(ip_per_minute: u32, shared: Option<SharedLimiter>, metrics: Arc<Metrics>) -> Self {
        Self { ip_per_minute, local: Mutex::new(HashMap::new()), shared, metrics }
    }

    /// True while Redis is configured but unreachable, so limits are per replica.
    pub fn degraded(&self) -> bool {
        self.shared.as_ref().is_some_and(SharedLimiter::degraded)
    }

    fn check_local(&self, key: &str, limit: Limit) -> Result<(), Error> {
        let limiter = {
            let mut local = self.local.lock().map_err(|_| Error::Internal("limiter poisoned".into()))?;
            let entry =
                local.entry(key.to_owned()).or_insert_with(|| (limit, Arc::new(RateLimiter::direct(limit.quota()))));
            if entry.0 != limit {
                *entry = (limit, Arc::new(RateLimiter::direct(limit.quota())));
            }
            entry.1.clone()
        };
        limiter.check().map_err(|not_until| limit.refused(not_until.wait_time_from(DefaultClock::default().now())))
    }

    async fn check(&self, key: String, limit: Limit) -> Result<(), Error> {
        let outcome = match &self.shared {
            Some(shared) if !shared.degraded() => match shared.check(&key, limit).await {
                Ok(outcome) => {
                    self.metrics.set_shared_limits_degraded(false);
                    outcome
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

    /// Checks the per-IP limit.
    pub async fn check_ip(&self, ip: IpAddr) -> Result<(), Error> {
        let limit = Limit { scope: "ip", quota: self.ip_per_minute, window: Duration::from_secs(60) };
        self.check(format!("ip:{ip}"), limit).await
    }

    /// Checks the tenant's per-second limit.
    pub async fn check_tenant(&self, tenant: &str, per_second: u32) -> Result<(), Error> {
        let limit = Limit { scope: "tenant", quota: per_second, window: Duration::from_secs(1) };
        self.check(format!("tenant:{tenant}"), limit).await
    }
}

fn client_ip(req: &ServiceRequest, trust_forwarded: bool) -> Option<IpAddr> {
    if trust_forwarded
        && let Some(ip) = req
            .connection_info()
            .realip_remote_addr()
            .and_then(|a| a.parse::<std::net::SocketAddr>().map(|s| s.ip()).or_else(|_| a.parse()).ok())
    {
        return Some(ip);
    }
    req.peer_addr().map(|addr| addr.ip())
}

/// Middleware: the per-IP limit, before authentication so floods cost no lookups.
pub async fn ip_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>().cloned()
        && let Some(ip) = client_ip(&req, state.trust_forwarded_for)
    {
        state.limiter.check_ip(ip).await?;
    }
    next.call(req).await
}

/// Middleware: the tenant's per-second limit, after authentication.
pub async fn tenant_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let caller = req.extensions().get::<Caller>().cloned();
    if let (Some(state), Some(caller)) = (req.app_data::<web::Data<AppState>>().cloned(), caller)
        && let Ok((tenant, _)) = caller.tenant_scope()
    {
        let snapshot = state.services.tenants.get(&state.db, tenant.as_str()).await?;
        state.limiter.check_tenant(tenant.as_str(), snapshot.limits.tenant_per_second).await?;
    }
    next.call(req).await
}
