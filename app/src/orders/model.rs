//! Orders as the APIs show them, and intent/order lifecycle states.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;
use crate::orders::entity::order;

/// Lifecycle of an intent: PENDING → ACCEPTED → ORDERED → CONFIRMED | FAILED; PENDING → REJECTED | EXPIRED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

/// Lifecycle of an order: PENDING → SUBMITTED → CONFIRMED | FAILED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

macro_rules! stored_enum {
    ($ty:ty { $($variant:ident => $text:literal),* $(,)? }) => {
        impl $ty {
            /// The stored (and wire) form.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }

            /// Parses the stored form.
            pub fn parse(value: &str) -> Result<Self, Error> {
                match value {
                    $($text => Ok(Self::$variant),)*
                    other => Err(Error::Internal(format!("unknown {} {other:?} in database", stringify!($ty)))),
                }
            }
        }
    };
}

stored_enum!(IntentStatus {
    Pending => "PENDING", Accepted => "ACCEPTED", Ordered => "ORDERED", Confirmed => "CONFIRMED",
    Failed => "FAILED", Rejected => "REJECTED", Expired => "EXPIRED",
});
stored_enum!(OrderStatus { Pending => "PENDING", Submitted => "SUBMITTED", Confirmed => "CONFIRMED", Failed => "FAILED" });

impl OrderStatus {
    /// Whether the provider has had its say.
    pub fn is_final(self) -> bool {
        matches!(self, OrderStatus::Confirmed | OrderStatus::Failed)
    }
}

/// The order part of a decision response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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

/// Cents as dollars for the wire.
pub fn usd(cents: i64) -> f64 {
    cents as f64 / 100.0
}

impl OrderView {
    /// Builds the view of a stored order.
    pub fn from_model(m: &order::Model) -> Result<Self, Error> {
        Ok(Self {
            order_id: m.id,
            intent_id: m.intent_id,
            device_id: m.device_id.clone(),
            store_id: m.store_id.clone(),
            owner: m.owner.clone(),
            product_id: m.product_id.clone(),
            sku: m.sku.clone(),
            total_usd: usd(m.total_cents),
            status: OrderStatus::parse(&m.status)?,
            provider: m.provider.clone(),
            provider_ref: m.provider_ref.clone(),
            failure_reason: m.failure_reason.clone(),
            eta: m.eta.clone(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }

    /// The short form used in decision responses.
    pub fn summary(&self) -> OrderSummary {
        OrderSummary { order_id: self.order_id, status: self.status, total_usd: self.total_usd, eta: self.eta.clone() }
    }
}
