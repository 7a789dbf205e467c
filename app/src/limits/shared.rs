//! Limits shared by all replicas: GCRA in one Redis script, timed by Redis's
//! own clock so replicas with skewed clocks agree.
//!
//! A round trip per request and scope would make Redis the ceiling of the
//! whole fleet, so a replica takes a small lease of several requests at once
//! and spends it locally. A lease is granted by the same GCRA, so the fleet
//! never admits more than the limit; what a lease costs is fairness: its unspent
//! requests expire with it, at most 2 % of the quota per replica and lease.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use deadpool_redis::redis::Script;

use crate::error::Error;
use crate::limits::limit::Limit;

// KEYS[1]: the limit's key. ARGV[1]: emission interval (µs). ARGV[2]: window (µs).
// ARGV[3]: requests wanted. Grants as many as the window allows, up to the
// wanted number: {granted, 0, requests left after them}, or {0, µs until one
// is allowed, 0}.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local granted = math.min(wanted, math.floor((now + window - tat) / interval))
if granted < 1 then return {0, tat + interval - window - now, 0} end
local new_tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {granted, 0, math.floor((now + window - new_tat) / interval)}
";

/// Most requests one lease may hold.
const MAX_LEASE: u32 = 256;
/// Longest a lease's unspent requests stay usable.
const MAX_LEASE_LIFE: Duration = Duration::from_millis(250);

/// Requests leased from Redis and not yet spent.
struct Lease {
    remaining: u32,
    /// What Redis had left beyond the lease when it granted it.
    left_beyond: u64,
    until: Instant,
}

/// How many requests to lease at once: a fiftieth of the quota, so small
/// limits stay exact (a lease of one is a plain check).
fn lease_size(limit: Limit) -> u32 {
    (limit.quota / 50).clamp(1, MAX_LEASE)
}

/// How long a lease lasts: a twentieth of the window, at most 250 ms.
fn lease_life(limit: Limit) -> Duration {
    (limit.window / 20).min(MAX_LEASE_LIFE)
}

/// Fewest leases held before lapsed ones are swept out.
const MIN_SWEEP: usize = 1_024;

/// How long Redis is left alone after it failed, before it is tried again.
const BACKOFF: Duration = Duration::from_secs(1);
/// How long one Redis check may take before the local limiter answers instead.
const CALL_TIMEOUT: Duration = Duration::from_millis(200);

/// A Redis-backed limiter.
pub struct SharedLimiter {
    pool: deadpool_redis::Pool,
    prefix: String,
    script: Script,
    failed_at: Mutex<Option<Instant>>,
    leases: Mutex<HashMap<String, Lease>>,
    /// Size of `leases` at which lapsed leases are swept out.
    sweep_at: AtomicUsize,
}

impl SharedLimiter {
    /// Limits kept under keys starting with `prefix`.
    pub fn new(pool: deadpool_redis::Pool, prefix: String) -> Self {
        Self {
            pool,
            prefix,
            script: Script::new(GCRA),
            failed_at: Mutex::new(None),
            leases: Mutex::new(HashMap::new()),
            sweep_at: AtomicUsize::new(MIN_SWEEP),
        }
    }

    /// Whether Redis failed within the last second.
    pub fn degraded(&self) -> bool {
        self.failed_at.lock().ok().and_then(|f| *f).is_some_and(|at| at.elapsed() < BACKOFF)
    }

    fn mark(&self, failed: bool) {
        if let Ok(mut at) = self.failed_at.lock() {
            *at = failed.then(Instant::now);
        }
    }

    /// Leases held right now, lapsed or not.
    pub fn leases_held(&self) -> usize {
        self.leases.lock().map(|l| l.len()).unwrap_or(0)
    }

    /// Spends one request of this replica's lease for `key`, if it has one,
    /// saying how many are left (as this replica knows: the lease and what
    /// Redis had beyond it).
    fn spend_lease(&self, key: &str) -> Option<u64> {
        let Ok(mut leases) = self.leases.lock() else { return None };
        match leases.get_mut(key) {
            Some(lease) if lease.remaining > 0 && lease.until > Instant::now() => {
                lease.remaining -= 1;
                Some(u64::from(lease.remaining) + lease.left_beyond)
            }
            Some(_) => {
                leases.remove(key);
                None
            }
            None => None,
        }
    }

    fn keep_lease(&self, key: &str, extra: u32, left_beyond: u64, limit: Limit) {
        if extra == 0 {
            return;
        }
        let Ok(mut leases) = self.leases.lock() else { return };
        let now = Instant::now();
        // Leases live at most 250 ms: dropping the lapsed ones whenever the
        // map has doubled keeps it to the keys of the last moments, however
        // many distinct keys (spoofed addresses) came before.
        if leases.len() >= self.sweep_at.load(Ordering::Relaxed) {
            leases.retain(|_, lease| lease.until > now);
            self.sweep_at.store((leases.len() * 2).max(MIN_SWEEP), Ordering::Relaxed);
        }
        let until = now + lease_life(limit);
        let lease = leases.entry(key.to_owned()).or_insert(Lease { remaining: 0, left_beyond, until });
        if lease.until <= now {
            lease.remaining = 0;
        }
        lease.remaining += extra;
        lease.left_beyond = left_beyond;
        lease.until = until;
    }

    /// `Ok(outcome)` from this replica's lease or from Redis (when admitted:
    /// how many requests are left), or `Err` when Redis could not answer.
    pub async fn check(&self, key: &str, limit: Limit) -> Result<Result<u64, Error>, String> {
        if let Some(left) = self.spend_lease(key) {
            return Ok(Ok(left));
        }
        let interval = (limit.window.as_micros() / u128::from(limit.quota.max(1))).max(1);
        let wanted = lease_size(limit);
        let call = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            self.script
                .key(format!("{}{key}", self.prefix))
                .arg(interval as u64)
                .arg(limit.window.as_micros() as u64)
                .arg(wanted)
                .invoke_async::<(i64, i64, i64)>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
        };
        self.mark(result.is_err());
        let (granted, wait_us, left) = result?;
        if granted < 1 {
            return Ok(Err(limit.refused(Duration::from_micros(wait_us.max(0) as u64))));
        }
        let (extra, left) = (u32::try_from(granted - 1).unwrap_or(0), u64::try_from(left).unwrap_or(0));
        self.keep_lease(key, extra, left, limit);
        Ok(Ok(u64::from(extra) + left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(quota: u32, window_secs: u64) -> Limit {
        Limit { scope: "tenant", quota, window: Duration::from_secs(window_secs) }
    }

    #[test]
    fn small_limits_lease_one_request_at_a_time() {
        assert_eq!(lease_size(limit(10, 1)), 1);
        assert_eq!(lease_size(limit(99, 1)), 1);
        assert_eq!(lease_size(limit(1_000, 60)), 20);
        assert_eq!(lease_size(limit(10_000_000, 1)), MAX_LEASE);
    }

    #[test]
    fn leases_are_short_against_their_window() {
        assert_eq!(lease_life(limit(10, 1)), Duration::from_millis(50));
        assert_eq!(lease_life(limit(1_000, 60)), MAX_LEASE_LIFE);
    }
}
