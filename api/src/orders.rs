//! Orders and the intent/order lifecycle states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::intents::Channel;
use crate::problem::{Invalid, Violations, text_ok};

/// Lifecycle of an intent: PENDING → ACCEPTED → ORDERED → CONFIRMED | FAILED; PENDING → REJECTED | EXPIRED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IntentStatus {
    /// Prompted, waiting for the wearer.
    Pending,
    /// The wearer accepted; the order is being prepared.
    Accepted,
    /// The order was submitted to the provider.
    Ordered,
    /// The provider confirmed the order.
    Confirmed,
    /// The provider refused or did not answer.
    Failed,
    /// The wearer declined.
    Rejected,
    /// Nobody answered in time.
    Expired,
}

wire_enum!(IntentStatus, "IntentStatus" {
    Pending => "PENDING", Accepted => "ACCEPTED", Ordered => "ORDERED", Confirmed => "CONFIRMED",
    Failed => "FAILED", Rejected => "REJECTED", Expired => "EXPIRED",
});

/// Lifecycle of an order. Placement: PENDING → SUBMITTED → CONFIRMED | FAILED.
/// Afterwards, from the merchant (`POST /api/v1/orders/{order}/status`):
/// SUBMITTED | CONFIRMED → SHIPPED → DELIVERED; SUBMITTED | CONFIRMED | SHIPPED → CANCELLED;
/// SUBMITTED | CONFIRMED | SHIPPED | DELIVERED → REFUNDED (and SUBMITTED | CONFIRMED → DELIVERED).
/// A cancellation inside the cancel window (`POST /api/v1/orders/{order}/cancel`) moves
/// PENDING | SUBMITTED | CONFIRMED → CANCELLED. FAILED, CANCELLED and REFUNDED are terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Recorded, not yet sent.
    Pending,
    /// Sent to the provider.
    Submitted,
    /// Confirmed by the provider.
    Confirmed,
    /// Refused, or no answer in time.
    Failed,
    /// Handed to a carrier.
    Shipped,
    /// Delivered to the household.
    Delivered,
    /// Cancelled (by the wearer, the merchant or the provider); the budget was given back.
    Cancelled,
    /// Refunded by the merchant; the budget was given back.
    Refunded,
}

wire_enum!(OrderStatus, "OrderStatus" {
    Pending => "PENDING", Submitted => "SUBMITTED", Confirmed => "CONFIRMED", Failed => "FAILED",
    Shipped => "SHIPPED", Delivered => "DELIVERED", Cancelled => "CANCELLED", Refunded => "REFUNDED",
});

impl OrderStatus {
    /// Whether placement is over: the provider has had its say (or the order
    /// was cancelled), so it is never sent (again).
    pub fn is_final(self) -> bool {
        !matches!(self, OrderStatus::Pending | OrderStatus::Submitted)
    }

    /// Whether the order is still on its way to the household: it holds off
    /// new prompts for its product (`ORDER_IN_PROGRESS`).
    pub fn in_progress(self) -> bool {
        matches!(self, OrderStatus::Pending | OrderStatus::Submitted | OrderStatus::Confirmed | OrderStatus::Shipped)
    }

    /// The statuses a merchant may report with `POST /api/v1/orders/{order}/status`.
    pub const MERCHANT_REPORTED: &'static [OrderStatus] =
        &[OrderStatus::Shipped, OrderStatus::Delivered, OrderStatus::Cancelled, OrderStatus::Refunded];

    /// The statuses from which a merchant may move an order to `self`; empty
    /// for a status the merchant cannot report.
    pub fn merchant_sources(self) -> &'static [OrderStatus] {
        use OrderStatus::*;
        match self {
            Shipped => &[Submitted, Confirmed],
            Delivered => &[Submitted, Confirmed, Shipped],
            Cancelled => &[Submitted, Confirmed, Shipped],
            Refunded => &[Submitted, Confirmed, Shipped, Delivered],
            Pending | Submitted | Confirmed | Failed => &[],
        }
    }

    /// Whether reaching this status gives the order's amount back to the owner's budget.
    pub fn refunds_budget(self) -> bool {
        matches!(self, OrderStatus::Failed | OrderStatus::Cancelled | OrderStatus::Refunded)
    }
}

/// Body of `POST /api/v1/orders/{order}/status` (merchant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "status": "SHIPPED",
    "carrier": "UPS",
    "tracking_number": "1Z999AA10123456784",
    "tracking_url": "https://www.ups.com/track?tracknum=1Z999AA10123456784"
})))]
#[serde(deny_unknown_fields)]
pub struct StatusUpdate {
    /// SHIPPED, DELIVERED, CANCELLED or REFUNDED.
    pub status: OrderStatus,
    /// Carrier name (SHIPPED), 1-100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Tracking number (SHIPPED), 1-100 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// Tracking page (SHIPPED), an http(s) URL of at most 2048 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// Why (CANCELLED, REFUNDED), 1-500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl StatusUpdate {
    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut v = Violations::default();
        v.check(
            !OrderStatus::MERCHANT_REPORTED.contains(&self.status),
            "status",
            "must be SHIPPED, DELIVERED, CANCELLED or REFUNDED",
        );
        let bad = |value: &Option<String>, max: usize| value.as_deref().is_some_and(|s| !text_ok(s, max));
        v.check(bad(&self.carrier, 100), "carrier", "must be 1-100 characters, without NUL");
        v.check(bad(&self.tracking_number, 100), "tracking_number", "must be 1-100 characters, without NUL");
        v.check(
            self.tracking_url
                .as_deref()
                .is_some_and(|u| !text_ok(u, 2048) || !(u.starts_with("https://") || u.starts_with("http://"))),
            "tracking_url",
            "must be an http(s) URL of at most 2048 characters",
        );
        v.check(bad(&self.reason, 500), "reason", "must be 1-500 characters, without NUL");
        v.finish()
    }
}

/// Body of `POST /api/v1/orders/{order}/cancel` (device or merchant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"channel": "VOICE", "reason": "bought it in a shop"})))]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// How the wearer cancelled (a device must say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Why, 1-500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl CancelRequest {
    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut v = Violations::default();
        v.check(
            self.reason.as_deref().is_some_and(|s| !text_ok(s, 500)),
            "reason",
            "must be 1-500 characters, without NUL",
        );
        v.finish()
    }
}

/// Who moved an order to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The wearer, through the device.
    Device,
    /// The merchant, through its API key.
    Merchant,
    /// The commerce provider's answer.
    Provider,
    /// Replenish itself (placement, the sweeper).
    System,
}

wire_enum!(Actor, "actor" { Device => "device", Merchant => "merchant", Provider => "provider", System => "system" });

/// What came with a status change; absent fields did not apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventDetails {
    /// Who made the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Actor>,
    /// The wearer's channel of a cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    /// Carrier of a shipment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// Tracking number of a shipment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    /// Tracking page of a shipment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_url: Option<String>,
    /// Why (a failure, cancellation or refund).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The provider's reference of a confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<String>,
    /// The expected delivery date of a confirmation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,
}

/// One entry of an order's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderEvent {
    /// The status the order took.
    pub status: OrderStatus,
    /// When.
    pub at: DateTime<Utc>,
    /// What came with it.
    pub details: EventDetails,
}

/// The order part of a decision response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OrderSummary {
    /// Order id.
    pub order_id: Uuid,
    /// Order status.
    pub status: OrderStatus,
    /// Total charged.
    pub total_usd: f64,
    /// Expected delivery date, `YYYY-MM-DD`, once confirmed.
    pub eta: Option<String>,
}

/// An order as the APIs show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "order_id": "0196a2b4-4d5e-7f60-8192-b3c4d5e6f708",
    "intent_id": "0196a2b4-3c5d-7e6f-8091-a2b3c4d5e6f7",
    "device_id": "glasses-0042",
    "store_id": "mission-st",
    "owner": "household-17",
    "product_id": "water-bottle",
    "sku": "WTR-24x500",
    "total_usd": 12.99,
    "status": "CONFIRMED",
    "provider": "mock",
    "provider_ref": "mock-7f3a9c",
    "failure_reason": null,
    "eta": "2026-05-03",
    "created_at": "2026-05-01T09:00:05Z",
    "updated_at": "2026-05-01T09:00:06Z"
})))]
pub struct OrderView {
    /// Order id.
    pub order_id: Uuid,
    /// The intent it fulfils.
    pub intent_id: Uuid,
    /// Device whose wearer accepted.
    pub device_id: String,
    /// Store that fulfils it.
    pub store_id: String,
    /// Household.
    pub owner: String,
    /// Product.
    pub product_id: String,
    /// SKU.
    pub sku: String,
    /// Total charged.
    pub total_usd: f64,
    /// Status.
    pub status: OrderStatus,
    /// Commerce provider.
    pub provider: String,
    /// Provider's reference.
    pub provider_ref: Option<String>,
    /// Why it failed.
    pub failure_reason: Option<String>,
    /// Expected delivery date.
    pub eta: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Placed by a test device: sent to the mock provider, counted against no budget and no revenue.
    #[serde(default)]
    pub test: bool,
    /// Every status the order took, oldest first (in `GET /api/v1/orders/{order}` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<OrderEvent>>,
}

impl OrderView {
    /// The short form used in decision responses.
    pub fn summary(&self) -> OrderSummary {
        OrderSummary { order_id: self.order_id, status: self.status, total_usd: self.total_usd, eta: self.eta.clone() }
    }
}
