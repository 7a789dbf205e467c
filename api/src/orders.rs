//! Orders and the intent/order lifecycle states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

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

/// Lifecycle of an order: PENDING → SUBMITTED → CONFIRMED | FAILED.
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
}

wire_enum!(OrderStatus, "OrderStatus" {
    Pending => "PENDING", Submitted => "SUBMITTED", Confirmed => "CONFIRMED", Failed => "FAILED",
});

impl OrderStatus {
    /// Whether the provider has had its say.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Confirmed | OrderStatus::Failed)
    }
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
}

impl OrderView {
    /// The short form used in decision responses.
    pub fn summary(&self) -> OrderSummary {
        OrderSummary { order_id: self.order_id, status: self.status, total_usd: self.total_usd, eta: self.eta.clone() }
    }
}
