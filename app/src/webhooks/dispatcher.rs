//! The webhook dispatcher: a background task on every replica that fans
//! committed events out into deliveries and POSTs due deliveries to the
//! endpoints, signed, never on a request's path.
//!
//! Each poll it (1) fans out new events (serialized across replicas), (2)
//! abandons open deliveries of disabled endpoints, (3) claims due deliveries
//! at the head of their (endpoint, object) queue with a lease, up to the free
//! concurrency, and POSTs each outside any transaction; (4) each result is
//! recorded fenced by the attempt number, so a replica whose lease lapsed
//! cannot overwrite a newer attempt. A crash mid-POST leaves the delivery
//! leased; when the lease lapses another attempt (with a higher number) is
//! made, so an event may arrive twice, always with the same event id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;

use crate::clock::Clock;
use crate::config::WebhookSettings;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::events::model::to_event;
use crate::outbound::UrlPolicy;
use crate::tasks::TaskScope;
use crate::telemetry::Metrics;
use crate::webhooks::deliveries;
use crate::webhooks::delivery_repo::{self, AttemptRecord};
use crate::webhooks::endpoints::signing_secrets;
use crate::webhooks::entity::{delivery, endpoint};
use crate::webhooks::repo;
use replenish_api::webhooks::DeliveryOutcome;

/// Most of a response body kept in the delivery log.
pub const MAX_RESPONSE_BYTES: usize = 1024;
/// Events fanned out per transaction.
const FAN_OUT_BATCH: u64 = 500;
/// How long past its timeout a claimed attempt stays leased: time to record it.
const LEASE_MARGIN: Duration = Duration::from_secs(5);
/// Longest a poll keeps working before it yields to the next one (so the
/// task notices the application stopped).
const POLL_BUDGET: Duration = Duration::from_secs(1);
/// Sent as `User-Agent`.
const USER_AGENT: &str = concat!("replenish-webhooks/", env!("CARGO_PKG_VERSION"));

/// The dispatcher's settings, from [`WebhookSettings`].
#[derive(Debug, Clone)]
pub struct DispatchSettings {
    /// Deadline of one attempt.
    pub timeout: Duration,
    /// First retry delay.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// How long after the first attempt failures are retried.
    pub horizon: Duration,
    /// Attempts in flight at once on this replica.
    pub concurrency: usize,
    /// Time between polls.
    pub poll_interval: Duration,
}

impl From<&WebhookSettings> for DispatchSettings {
    fn from(s: &WebhookSettings) -> Self {
        Self {
            timeout: Duration::from_millis(s.webhook_timeout_ms.max(1)),
            retry_base: Duration::from_millis(s.webhook_retry_base_ms.max(1)),
            retry_max: Duration::from_secs(s.webhook_retry_max_secs).max(Duration::from_millis(1)),
            horizon: Duration::from_secs(s.webhook_retry_horizon_secs),
            concurrency: s.webhook_concurrency.max(1),
            poll_interval: Duration::from_millis(s.webhook_poll_interval_ms.max(10)),
        }
    }
}

/// Delivers a tenant's events (or every tenant's) to its webhook endpoints.
pub struct Dispatcher {
    db: DatabaseConnection,
    clock: Clock,
    metrics: Arc<Metrics>,
    settings: DispatchSettings,
    urls: UrlPolicy,
    client: commerce_http::Client,
    only: Option<TenantScope>,
    permits: Arc<Semaphore>,
}

impl Dispatcher {
    /// A dispatcher over `only`'s events (a dedicated tenant's app) or all;
    /// URLs are checked by `urls` when connecting.
    pub fn new(
        db: DatabaseConnection,
        clock: Clock,
        metrics: Arc<Metrics>,
        settings: DispatchSettings,
        urls: UrlPolicy,
        only: Option<TenantScope>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(settings.concurrency));
        Self { db, clock, metrics, settings, urls, client: urls.client(), only, permits }
    }

    /// Polls every poll interval for as long as `tasks` lives.
    pub fn spawn(self: Arc<Self>, tasks: &TaskScope) {
        tasks.every(self.settings.poll_interval, move || {
            let this = self.clone();
            async move { this.poll().await }
        });
    }

    /// One poll: fans out and starts attempts while there is work, for at most [`POLL_BUDGET`].
    async fn poll(self: Arc<Self>) {
        let started = Instant::now();
        loop {
            let fanned = self.fan_out().await;
            self.abandon_disabled().await;
            let started_attempts = self.start_attempts().await;
            if (fanned == 0 && started_attempts == 0) || started.elapsed() > POLL_BUDGET {
                return;
            }
            if self.permits.available_permits() == 0 {
                // Every slot busy: wait for one to free up (or the next poll).
                let _ = tokio::time::timeout(self.settings.poll_interval, self.permits.acquire()).await;
            }
        }
    }

    async fn fan_out(&self) -> usize {
        match delivery_repo::fan_out(&self.db, self.only.as_ref(), AcrossTenants, FAN_OUT_BATCH, self.clock.now()).await
        {
            Ok(types) => {
                for event_type in &types {
                    self.metrics.event(event_type);
                }
                types.len()
            }
            Err(err) => {
                tracing::warn!(error = %err, "webhook fan-out failed");
                0
            }
        }
    }

    async fn abandon_disabled(&self) {
        match delivery_repo::abandon_disabled(&self.db, self.only.as_ref(), AcrossTenants).await {
            Ok(0) => {}
            Ok(count) => self.metrics.webhook_deliveries("abandoned", count),
            Err(err) => tracing::warn!(error = %err, "abandoning deliveries of disabled endpoints failed"),
        }
    }

    /// Claims as many due deliveries as there are free slots and starts each; how many.
    async fn start_attempts(self: &Arc<Self>) -> usize {
        let free = self.permits.available_permits();
        if free == 0 {
            return 0;
        }
        let now = self.clock.now();
        let lease = chrono::Duration::from_std(self.settings.timeout + LEASE_MARGIN).unwrap_or(chrono::Duration::MAX);
        let lease_until = now.checked_add_signed(lease).unwrap_or(now);
        let claimed = delivery_repo::claim(&self.db, self.only.as_ref(), AcrossTenants, free as u64, now, lease_until);
        let claimed = match claimed.await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "claiming webhook deliveries failed");
                return 0;
            }
        };
        let count = claimed.len();
        for delivery in claimed {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else { break };
            let this = self.clone();
            tokio::spawn(async move {
                if let Err(err) = this.attempt(&delivery).await {
                    tracing::warn!(error = %err, delivery = %delivery.id, "webhook delivery attempt failed to record");
                }
                drop(permit);
            });
        }
        count
    }

    /// Makes the attempt `claimed` was leased for and records it.
    async fn attempt(&self, claimed: &delivery::Model) -> Result<(), Error> {
        let tenant = TenantScope::parse(&claimed.tenant_id)?;
        let endpoint = repo::find(&self.db, &tenant, &claimed.endpoint_id).await?.filter(|e| e.enabled);
        let event = crate::events::repo::find(&self.db, &tenant, claimed.event_id).await?;
        let (Some(endpoint), Some(event)) = (endpoint, event) else {
            // Disabled since the claim, or the event was pruned: nothing to deliver.
            let record = AttemptRecord {
                outcome: DeliveryOutcome::Abandoned,
                status_code: None,
                latency_ms: None,
                response_body: Some("not attempted: the endpoint is disabled or the event is gone".into()),
                attempted_at: self.clock.now(),
                next_attempt_at: None,
            };
            if delivery_repo::record(&self.db, claimed, &record).await? {
                self.metrics.webhook_deliveries("abandoned", 1);
            }
            return Ok(());
        };
        let body = serde_json::to_vec(&to_event(&event)?).map_err(|e| Error::Internal(e.to_string()))?;
        let (record, delivered) = self.post(&endpoint, claimed, body).await;
        if delivered {
            if delivery_repo::record(&self.db, claimed, &record).await? {
                let lag = (record.attempted_at - event.created_at).num_milliseconds() as f64 / 1000.0;
                self.metrics.webhook_delivered(lag);
            }
            return Ok(());
        }
        self.failed(claimed, record).await
    }

    /// Records a failed attempt: retried with backoff, or past the horizon the endpoint is disabled.
    async fn failed(&self, claimed: &delivery::Model, mut record: AttemptRecord) -> Result<(), Error> {
        let now = self.clock.now();
        let first = claimed.first_attempt_at.unwrap_or(now);
        let horizon = chrono::Duration::from_std(self.settings.horizon).unwrap_or(chrono::Duration::MAX);
        if now.signed_duration_since(first) >= horizon {
            let days = self.settings.horizon.as_secs_f64() / 86_400.0;
            let reason = format!("deliveries failed for {days:.1} days (last: {})", summary(&record));
            let gave_up = deliveries::give_up(&self.db, claimed, &record, &reason, now).await?;
            if gave_up.recorded {
                self.metrics.webhook_deliveries("abandoned", 1 + gave_up.abandoned);
            }
            if gave_up.disabled {
                self.metrics.webhook_endpoint_disabled();
                tracing::warn!(tenant = %claimed.tenant_id, endpoint = %claimed.endpoint_id, "webhook endpoint disabled");
            }
            return Ok(());
        }
        let delay =
            chrono::Duration::from_std(backoff(self.settings.retry_base, self.settings.retry_max, claimed.attempt))
                .unwrap_or(chrono::Duration::MAX);
        record.next_attempt_at = Some(now.checked_add_signed(delay).unwrap_or(now));
        if delivery_repo::record(&self.db, claimed, &record).await? {
            self.metrics.webhook_deliveries("failed", 1);
        }
        Ok(())
    }

    /// POSTs `body` to `endpoint` as attempt `claimed.attempt`; the record
    /// (outcome `succeeded` or `failed`) and whether it was delivered.
    async fn post(
        &self,
        endpoint: &endpoint::Model,
        claimed: &delivery::Model,
        body: Vec<u8>,
    ) -> (AttemptRecord, bool) {
        let now = self.clock.now();
        let signature = signature(&signing_secrets(endpoint, now), now.timestamp(), &body);
        let started = Instant::now();
        let answer = match self.urls.check_shape(&endpoint.url) {
            // The resolver guards names at connect time; this guards the scheme and IP literals.
            Err(reason) => Err(format!("URL {reason}")),
            Ok(url) => {
                let request = self
                    .client
                    .post(url)
                    .timeout(self.settings.timeout)
                    .header("content-type", "application/json")
                    .header("user-agent", USER_AGENT)
                    .header(crate::signing::HEADER, signature)
                    .header("replenish-event-id", claimed.event_id.to_string())
                    .header("replenish-delivery-attempt", claimed.attempt.to_string())
                    .body(body);
                match request.send().await {
                    Ok(response) => Ok((response.status().as_u16(), read_limited(response).await)),
                    Err(err) => Err(error_chain(&err.without_url())),
                }
            }
        };
        let latency_ms = Some(i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX));
        let attempted_at = self.clock.now();
        let (status_code, response_body, delivered) = match answer {
            Ok((status, text)) => (Some(i32::from(status)), Some(text), (200..300).contains(&status)),
            Err(reason) => (None, Some(truncate(reason)), false),
        };
        let outcome = if delivered { DeliveryOutcome::Succeeded } else { DeliveryOutcome::Failed };
        (
            AttemptRecord { outcome, status_code, latency_ms, response_body, attempted_at, next_attempt_at: None },
            delivered,
        )
    }
}

/// The delay after failed attempt number `attempt`: `base` doubled per
/// attempt, capped at `max`, with "equal jitter" (half fixed, half random) so
/// a backlog does not come back in one wave.
pub fn backoff(base: Duration, max: Duration, attempt: i32) -> Duration {
    let doublings = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(30);
    let half = base.saturating_mul(1 << doublings).min(max) / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// `t=<t>,v1=<hex>[,v1=<hex>]`: one `v1` per secret (two during a roll's grace).
pub fn signature(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let secrets: Vec<&[u8]> = secrets.iter().map(|s| s.as_bytes()).collect();
    crate::signing::sign_all(&secrets, timestamp, body)
}

/// Up to [`MAX_RESPONSE_BYTES`] of the response body, read no further.
async fn read_limited(mut response: commerce_http::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() <= MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(err) => {
                if bytes.is_empty() {
                    return truncate(format!("reading the body failed: {}", error_chain(&err.without_url())));
                }
                break;
            }
        }
    }
    truncate(String::from_utf8_lossy(&bytes).into_owned())
}

/// `text` cut to at most [`MAX_RESPONSE_BYTES`] bytes, on a character boundary.
pub fn truncate(mut text: String) -> String {
    if text.len() > MAX_RESPONSE_BYTES {
        let mut end = MAX_RESPONSE_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// An error with its causes, `outer: inner: innermost` (reqwest's own message
/// is only "error sending request").
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A one-line account of an attempt, for `disabled_reason`.
fn summary(record: &AttemptRecord) -> String {
    match (record.status_code, &record.response_body) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(reason)) => reason.chars().take(200).collect(),
        (None, None) => "no answer".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_whole_characters() {
        let text = "é".repeat(600); // 1200 bytes
        let cut = truncate(text);
        assert!(cut.len() <= MAX_RESPONSE_BYTES && cut.len() >= MAX_RESPONSE_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
        assert_eq!(truncate("ok".into()), "ok");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let (base, max) = (Duration::from_secs(5), Duration::from_secs(3600));
        for (attempt, full) in [(1, 5), (2, 10), (3, 20), (12, 3600), (1_000, 3600)] {
            let delay = backoff(base, max, attempt);
            let full = Duration::from_secs(full);
            assert!(delay >= full / 2 && delay <= full, "attempt {attempt}: {delay:?}");
        }
    }

    #[test]
    fn one_v1_per_secret() {
        let header = signature(&["new-secret", "old-secret"], 1_700_000_000, b"{}");
        assert_eq!(header.matches("v1=").count(), 2);
        for secret in ["new-secret", "old-secret"] {
            assert_eq!(crate::signing::verify(secret.as_bytes(), &header, b"{}", 1_700_000_000, 300), Ok(()));
        }
        assert_eq!(signature(&["only"], 1, b"x"), crate::signing::sign(b"only", 1, b"x"));
    }
}
