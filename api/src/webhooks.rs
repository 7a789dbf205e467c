//! Webhook endpoints: where a tenant's events are POSTed, signed, and the log
//! of each delivery attempt.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::events::EventType;
use crate::problem::{Invalid, Violations, text_ok};

/// Longest grace period a rolled secret may keep signing: 7 days.
pub const MAX_ROLL_GRACE_SECONDS: u64 = 7 * 24 * 3600;
/// Grace period of a roll that names none: 24 hours.
pub const DEFAULT_ROLL_GRACE_SECONDS: u64 = 24 * 3600;

/// Body of `PUT /api/v1/webhook-endpoints/{endpoint}`: creates or replaces an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "url": "https://hooks.example.com/replenish",
    "event_types": ["order.confirmed", "order.failed", "order.status_changed"],
    "enabled": true,
    "description": "fulfilment system"
})))]
pub struct WebhookEndpointSpec {
    /// The `https://` URL events are POSTed to (the same address rules as the
    /// webhook commerce provider's URLs).
    pub url: String,
    /// The event types this endpoint receives (at least one, no repeats).
    pub event_types: Vec<EventType>,
    /// Whether events are delivered. Re-enabling an endpoint the service
    /// disabled clears its `disabled_reason`; events written while it was
    /// disabled are not delivered.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// What the endpoint is for, shown to people (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The signing secret to use (32-256 characters), for callers that keep
    /// their own (the operator, from a Kubernetes Secret). Write-only. Left
    /// out on creation, the service generates one and shows it once; left out
    /// on a later PUT, the endpoint keeps its secret; a different value rolls
    /// the secret as `POST …/roll-secret` does, with the default grace period.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
}

fn enabled_by_default() -> bool {
    true
}

impl WebhookEndpointSpec {
    /// Checks the rules serde cannot express (the URL's destination is checked by the service).
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut violations = Violations::default();
        let url_ok = (self.url.starts_with("https://") || self.url.starts_with("http://"))
            && self.url.len() <= 2048
            && !self.url.contains(char::is_whitespace);
        violations.check(!url_ok, "url", "must be an http(s) URL of at most 2048 characters");
        violations.check(self.event_types.is_empty(), "event_types", "name at least one event type");
        let mut seen = std::collections::HashSet::new();
        let repeated = self.event_types.iter().any(|t| !seen.insert(*t));
        violations.check(repeated, "event_types", "names an event type twice");
        let description_bad = self.description.as_deref().is_some_and(|d| !text_ok(d, 200));
        violations.check(description_bad, "description", "must be 1-200 characters, without NUL");
        violations.check(self.secret.as_deref().is_some_and(|s| !secret_ok(s)), "secret", "must be 32-256 characters");
        violations.finish()
    }
}

/// Whether `secret` may sign webhooks: 32-256 printable characters.
pub fn secret_ok(secret: &str) -> bool {
    (32..=256).contains(&secret.len()) && text_ok(secret, 256)
}

/// Body of `POST /api/v1/webhook-endpoints/{endpoint}/roll-secret`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"grace_seconds": 86400})))]
pub struct RollSecret {
    /// How long the old secret keeps signing beside the new one (0 ends it at
    /// once; at most 7 days; default 24 hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_seconds: Option<u64>,
    /// The new secret (32-256 characters); generated when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl RollSecret {
    /// Checks the grace period and the secret.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut violations = Violations::default();
        let grace_bad = self.grace_seconds.is_some_and(|g| g > MAX_ROLL_GRACE_SECONDS);
        violations.check(grace_bad, "grace_seconds", "must be at most 604800 (7 days)");
        violations.check(self.secret.as_deref().is_some_and(|s| !secret_ok(s)), "secret", "must be 32-256 characters");
        violations.finish()
    }
}

/// A webhook endpoint as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "endpoint_id": "fulfilment",
    "url": "https://hooks.example.com/replenish",
    "event_types": ["order.confirmed", "order.failed"],
    "enabled": true,
    "description": "fulfilment system",
    "secret": "whsec_3q2+7w...shown-once",
    "secret_fingerprint": "9f86d081",
    "created_at": "2026-05-01T09:00:00Z",
    "updated_at": "2026-05-01T09:00:00Z"
})))]
pub struct WebhookEndpointView {
    /// Endpoint id.
    pub endpoint_id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types it receives.
    pub event_types: Vec<EventType>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// Why the service disabled it (after failing deliveries for too long); `null` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// What the endpoint is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The signing secret: present only in the response that created it (the
    /// creating PUT without a `secret`, or a roll that generated one). Keep it:
    /// it is never shown again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// First 8 hex digits of the SHA-256 of the current secret, to tell which
    /// secret is in use without showing it.
    pub secret_fingerprint: String,
    /// Until when the previous secret also signs (after a roll); `null` when only one signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Not attempted yet, or waiting for its next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// The endpoint answered something else, or did not answer in time; retried.
    Failed,
    /// Given up: the endpoint was disabled or deleted before the event got through.
    Abandoned,
}

wire_enum!(DeliveryOutcome, "DeliveryOutcome" {
    Pending => "pending", Succeeded => "succeeded", Failed => "failed", Abandoned => "abandoned",
});

/// One event's delivery to one endpoint, as `GET /api/v1/webhook-endpoints/{endpoint}/deliveries` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "delivery_id": "41d5a3f0-0c1e-4d7b-9a51-0f4b8f2d3c11",
    "event_id": "0b8f3f5e-6d0c-4c55-9a2e-2f1f0e7d9a10",
    "event_type": "order.confirmed",
    "attempt": 2,
    "outcome": "succeeded",
    "status_code": 200,
    "latency_ms": 38,
    "response_body": "ok",
    "attempted_at": "2026-05-01T09:00:05Z",
    "created_at": "2026-05-01T09:00:03Z"
})))]
pub struct DeliveryView {
    /// Delivery id (one per event and endpoint; a redelivery makes a new one).
    pub delivery_id: Uuid,
    /// The event delivered.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: EventType,
    /// Attempts made so far (the last one's number; sent as `Replenish-Delivery-Attempt`).
    pub attempt: u32,
    /// Where it stands.
    pub outcome: DeliveryOutcome,
    /// The last attempt's HTTP status; `null` when it got no answer (timeout, connection refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// The last attempt's round trip in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// The last attempt's response body (at most 1 KiB), or why there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_body: Option<String>,
    /// When the last attempt was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_at: Option<DateTime<Utc>>,
    /// When the next attempt is due (pending or failed deliveries only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the delivery was created (the event's fan-out, or the redelivery request).
    pub created_at: DateTime<Utc>,
}

/// Response of `POST /api/v1/events/{event}/redeliver`: the new deliveries, one per
/// subscribed endpoint (or the one named by `?endpoint=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"deliveries": [{
    "delivery_id": "41d5a3f0-0c1e-4d7b-9a51-0f4b8f2d3c11",
    "event_id": "0b8f3f5e-6d0c-4c55-9a2e-2f1f0e7d9a10",
    "event_type": "order.confirmed",
    "attempt": 0,
    "outcome": "pending",
    "created_at": "2026-05-02T10:00:00Z"
}]})))]
pub struct Redelivery {
    /// The deliveries queued.
    pub deliveries: Vec<DeliveryView>,
}
