//! Events: what happened to a tenant's objects, as `GET /api/v1/events` lists
//! them and webhook endpoints receive them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What happened. The wire form is `<object>.<change>`, e.g. `order.confirmed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EventType {
    /// A wearer was prompted: a PENDING intent was created.
    #[serde(rename = "intent.created")]
    IntentCreated,
    /// The wearer accepted; an order was recorded (see `order.created`).
    #[serde(rename = "intent.accepted")]
    IntentAccepted,
    /// Nobody answered the prompt in time.
    #[serde(rename = "intent.expired")]
    IntentExpired,
    /// The wearer declined.
    #[serde(rename = "intent.rejected")]
    IntentRejected,
    /// An order was recorded (PENDING), not yet sent to the provider.
    #[serde(rename = "order.created")]
    OrderCreated,
    /// The order was sent to the commerce provider (SUBMITTED).
    #[serde(rename = "order.submitted")]
    OrderSubmitted,
    /// The provider confirmed the order.
    #[serde(rename = "order.confirmed")]
    OrderConfirmed,
    /// The provider refused the order, or never answered in time.
    #[serde(rename = "order.failed")]
    OrderFailed,
    /// Any other status change: SHIPPED, DELIVERED, REFUNDED.
    #[serde(rename = "order.status_changed")]
    OrderStatusChanged,
    /// The order was cancelled (by the wearer, the merchant or the provider).
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    /// A device was registered, re-registered or moved.
    #[serde(rename = "device.registered")]
    DeviceRegistered,
    /// A device's token was revoked.
    #[serde(rename = "device.revoked")]
    DeviceRevoked,
    /// The tenant's plan, limits or active flag changed.
    #[serde(rename = "tenant.limits_changed")]
    TenantLimitsChanged,
    /// A webhook endpoint was disabled after failing for too long.
    #[serde(rename = "endpoint.disabled")]
    EndpointDisabled,
}

wire_enum!(EventType, "EventType" {
    IntentCreated => "intent.created", IntentAccepted => "intent.accepted", IntentExpired => "intent.expired",
    IntentRejected => "intent.rejected", OrderCreated => "order.created", OrderSubmitted => "order.submitted",
    OrderConfirmed => "order.confirmed", OrderFailed => "order.failed", OrderStatusChanged => "order.status_changed",
    OrderCancelled => "order.cancelled", DeviceRegistered => "device.registered", DeviceRevoked => "device.revoked",
    TenantLimitsChanged => "tenant.limits_changed", EndpointDisabled => "endpoint.disabled",
});

impl EventType {
    /// The kind of object the event is about (`intent`, `order`, `device`,
    /// `tenant`, `endpoint`): the part of the wire form before the dot.
    pub fn object_kind(self) -> &'static str {
        let name = self.as_str();
        name.split_once('.').map_or(name, |(kind, _)| kind)
    }
}

/// One event, as listed by `GET /api/v1/events` and as the body POSTed to
/// webhook endpoints (byte for byte the same JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "0b8f3f5e-6d0c-4c55-9a2e-2f1f0e7d9a10",
    "type": "order.confirmed",
    "created_at": "2026-05-01T09:00:03Z",
    "tenant_id": "acme",
    "object": "order",
    "object_id": "6f1c2d0e-3b9a-4e8f-a1d2-7c5b4a3e2f10",
    "test": false,
    "data": {"order_id": "6f1c2d0e-3b9a-4e8f-a1d2-7c5b4a3e2f10", "status": "CONFIRMED", "total_usd": 24.99}
})))]
pub struct Event {
    /// Event id: a receiver that sees the same id twice is seeing a retry.
    pub id: Uuid,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When it happened (the time of the change's transaction).
    pub created_at: DateTime<Utc>,
    /// The tenant whose object changed.
    pub tenant_id: String,
    /// The kind of object: `intent`, `order`, `device`, `tenant` or `endpoint`.
    pub object: String,
    /// The object's id. Events of one object reach an endpoint in the order they were written.
    pub object_id: String,
    /// Whether the event concerns a test device (its orders went to the mock provider).
    #[serde(default)]
    pub test: bool,
    /// The object as the API showed it right after the change (the `IntentView`,
    /// `OrderView`, `DeviceView`, `TenantView` or `WebhookEndpointView`).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}
