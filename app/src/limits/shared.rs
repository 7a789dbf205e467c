//! Limits shared by all replicas: GCRA in one Redis script, timed by Redis's
//! own clock so replicas with skewed clocks agree.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use deadpool_redis::redis::Script;

use crate::error::Error;
use crate::limits::Limit;

// KEYS[1]: the limit's key. ARGV[1]: emission interval (µs). ARGV[2]: burst tolerance (µs).
// Returns {1, 0} when allowed, {0, µs until allowed} when not.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then return {0, allow_at - now} end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
";

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
}

impl SharedLimiter {
    /// Limits kept under keys starting with `prefix`.
    pub fn new(pool: deadpool_redis::Pool, prefix: String) -> Self {
        Self { pool, prefix, script: Script::new(GCRA), failed_at: Mutex::new(None) }
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

    /// `Ok(outcome)` from Redis, or `Err` when Redis could not answer.
    pub async fn check(&self, key: &str, limit: Limit) -> Result<Result<(), Error>, String> {
        let interval = (limit.window.as_micros() / u128::from(limit.quota.max(1))).max(1);
        let tolerance = limit.window.as_micros().saturating_sub(interval);
        let call = async {
            let mut conn = self.pool.get().await.map_err(|e| e.to_string())?;
            self.script
                .key(format!("{}{key}", self.prefix))
                .arg(interval as u64)
                .arg(tolerance as u64)
                .invoke_async::<(i64, i64)>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        };
        let result = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {CALL_TIMEOUT:?}")),
        };
        self.mark(result.is_err());
        let (allowed, wait_us) = result?;
        Ok(if allowed == 1 { Ok(()) } else { Err(limit.refused(Duration::from_micros(wait_us.max(0) as u64))) })
    }
}
