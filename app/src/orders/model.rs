//! Orders as the APIs show them, and intent/order lifecycle states. The wire
//! types live in `replenish_api::orders`; this module adds what needs the database.

use crate::error::Error;
use crate::orders::entity::order;

pub use replenish_api::orders::{
    Actor, CancelRequest, EventDetails, IntentStatus, OrderEvent, OrderStatus, OrderSummary, OrderView, StatusUpdate,
};

/// Cents as dollars for the wire.
pub fn usd(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// Builds the API view of a stored order.
pub trait OrderViewExt: Sized {
    /// Builds the view of a stored order.
    fn from_model(m: &order::Model) -> Result<Self, Error>;
}

impl OrderViewExt for OrderView {
    fn from_model(m: &order::Model) -> Result<Self, Error> {
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
            test: m.test,
            timeline: None,
        })
    }
}
