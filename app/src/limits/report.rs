//! Where a request stands against the limits it was counted by, sent on
//! every `/api/v1` response (not only on a 429) as the IETF `RateLimit-Policy`
//! and `RateLimit` fields (draft-ietf-httpapi-ratelimit-headers-12), so a
//! device or merchant can pace itself before it is refused:
//!
//! ```text
//! RateLimit-Policy: "ip";q=1000;w=60, "tenant";q=50;w=1, "device";q=60;w=60
//! RateLimit: "ip";r=997;t=1, "tenant";r=49;t=1, "device";r=58;t=2
//! ```
//!
//! `q` requests per `w` seconds; `r` of them are left, and the whole quota is
//! back in `t` seconds (the limits are GCRA: one request comes back every
//! `w/q` seconds, so `t` is the time to refill what has been used).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpMessage, HttpRequest};

use crate::error::RateLimitInfo;

/// The `RateLimit-Policy` field: the limits in force.
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// The `RateLimit` field: what is left of each.
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// One limit as it stands after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The policy's name: `ip`, `tenant`, `device`.
    pub scope: &'static str,
    /// Requests per window.
    pub quota: u64,
    /// Window length in seconds.
    pub window_secs: u64,
    /// Requests left.
    pub remaining: u64,
    /// Seconds until the whole quota is available again.
    pub reset_secs: u64,
}

impl Standing {
    /// A limit of `quota` requests per `window` that admitted the request
    /// and has `remaining` requests left.
    pub fn admitted(scope: &'static str, quota: u32, window: Duration, remaining: u64) -> Self {
        let quota = u64::from(quota.max(1));
        let remaining = remaining.min(quota);
        let window_ms = window.as_millis() as u64;
        Self {
            scope,
            quota,
            window_secs: window.as_secs().max(1),
            remaining,
            // One request comes back every window/quota.
            reset_secs: ((quota - remaining) * window_ms).div_ceil(quota * 1000),
        }
    }

    /// A limit that refused the request.
    pub fn refused(info: &RateLimitInfo) -> Self {
        Self {
            scope: info.scope,
            quota: info.quota,
            window_secs: info.window_secs,
            remaining: 0,
            reset_secs: info.retry_after_ms.div_ceil(1000).max(1),
        }
    }
}

/// The limits one request was counted by, gathered while it is served (the
/// device limit is counted in the device's actor, on another thread).
#[derive(Debug, Clone, Default)]
pub struct LimitReport(Arc<Mutex<Vec<Standing>>>);

impl LimitReport {
    /// Records where `standing`'s limit stands, replacing an earlier record of it.
    pub fn record(&self, standing: Standing) {
        if let Ok(mut standings) = self.0.lock() {
            match standings.iter_mut().find(|s| s.scope == standing.scope) {
                Some(earlier) => *earlier = standing,
                None => standings.push(standing),
            }
        }
    }

    /// Records the limit that refused the request, ahead of the others: on a
    /// 429 the first policy of each field is the one to wait for.
    pub fn refuse(&self, standing: Standing) {
        if let Ok(mut standings) = self.0.lock() {
            standings.retain(|s| s.scope != standing.scope);
            standings.insert(0, standing);
        }
    }

    /// The limits recorded so far, in the order they were first counted.
    pub fn standings(&self) -> Vec<Standing> {
        self.0.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// The request's report (the one the limit middleware attached), or a
/// detached one outside `/api/v1`.
impl FromRequest for LimitReport {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(req.extensions().get::<LimitReport>().cloned().unwrap_or_default()))
    }
}

/// Writes `standings` as the `RateLimit-Policy` and `RateLimit` fields
/// (replacing any), or leaves the headers alone when there are none.
pub fn write_headers(headers: &mut HeaderMap, standings: &[Standing]) {
    if standings.is_empty() {
        return;
    }
    let policy = standings.iter().map(|s| format!("\"{}\";q={};w={}", s.scope, s.quota, s.window_secs));
    let state = standings.iter().map(|s| format!("\"{}\";r={};t={}", s.scope, s.remaining, s.reset_secs));
    for (name, items) in [(RATELIMIT_POLICY, policy.collect::<Vec<_>>()), (RATELIMIT, state.collect())] {
        if let Ok(value) = HeaderValue::from_str(&items.join(", ")) {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn reset_is_the_time_to_refill_what_was_used() {
        assert_eq!(Standing::admitted("device", 60, MINUTE, 59).reset_secs, 1);
        assert_eq!(Standing::admitted("device", 60, MINUTE, 60).reset_secs, 0);
        assert_eq!(Standing::admitted("device", 60, MINUTE, 0).reset_secs, 60);
        assert_eq!(Standing::admitted("device", 5, MINUTE, 3).reset_secs, 24);
        assert_eq!(Standing::admitted("tenant", 50, Duration::from_secs(1), 49).reset_secs, 1);
    }

    #[test]
    fn headers_list_every_policy_in_order() {
        let report = LimitReport::default();
        report.record(Standing::admitted("ip", 1000, MINUTE, 999));
        report.record(Standing::admitted("device", 60, MINUTE, 59));
        report.record(Standing::admitted("ip", 1000, MINUTE, 998));
        let mut headers = HeaderMap::new();
        write_headers(&mut headers, &report.standings());
        assert_eq!(headers.get(RATELIMIT_POLICY).unwrap(), "\"ip\";q=1000;w=60, \"device\";q=60;w=60");
        assert_eq!(headers.get(RATELIMIT).unwrap(), "\"ip\";r=998;t=1, \"device\";r=59;t=1");
        let info = RateLimitInfo { scope: "device", quota: 60, window_secs: 60, retry_after_ms: 1500 };
        report.refuse(Standing::refused(&info));
        write_headers(&mut headers, &report.standings());
        assert_eq!(headers.get(RATELIMIT).unwrap(), "\"device\";r=0;t=2, \"ip\";r=998;t=1");
    }
}
