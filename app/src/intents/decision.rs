//! Decisions: the wearer's answer to a prompt, and intents as the APIs show them
//! (wire types from `replenish_api::intents`; here what needs the database).

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::model::{IntentStatus, OrderStatus, OrderView, usd};

pub use replenish_api::intents::{Channel, DecisionRequest, DecisionResponse, IntentView};

fn weekday_name(date: NaiveDate) -> &'static str {
    match date.weekday() {
        chrono::Weekday::Mon => "Monday",
        chrono::Weekday::Tue => "Tuesday",
        chrono::Weekday::Wed => "Wednesday",
        chrono::Weekday::Thu => "Thursday",
        chrono::Weekday::Fri => "Friday",
        chrono::Weekday::Sat => "Saturday",
        chrono::Weekday::Sun => "Sunday",
    }
}

/// Builds decision responses from stored intents.
pub trait DecisionResponseExt: Sized {
    /// The response for an intent in its current state (and its order, if any).
    fn build(intent: &intent::Model, order: Option<&OrderView>) -> Result<Self, Error>;
}

impl DecisionResponseExt for DecisionResponse {
    fn build(intent: &intent::Model, order: Option<&OrderView>) -> Result<Self, Error> {
        let status = IntentStatus::parse(&intent.status)?;
        let message = match (status, order) {
            (IntentStatus::Rejected, _) => "Okay, no order.".to_owned(),
            (_, Some(order)) if order.status == OrderStatus::Confirmed => {
                match order.eta.as_deref().and_then(|eta| NaiveDate::parse_from_str(eta, "%Y-%m-%d").ok()) {
                    Some(eta) => format!("Order placed! Arriving {}.", weekday_name(eta)),
                    None => "Order placed!".to_owned(),
                }
            }
            (_, Some(order)) if order.status == OrderStatus::Failed => {
                "Sorry, the order could not be placed.".to_owned()
            }
            (_, Some(_)) => "Placing your order…".to_owned(),
            (IntentStatus::Expired, None) => "This offer has expired.".to_owned(),
            _ => "Waiting for your answer.".to_owned(),
        };
        Ok(Self { intent_id: intent.id, status, order: order.map(OrderView::summary), message })
    }
}

/// Builds the API view of a stored intent.
pub trait IntentViewExt: Sized {
    /// Builds the view of a stored intent; a lapsed PENDING one shows as EXPIRED.
    fn from_model(m: &intent::Model, now: DateTime<Utc>) -> Result<Self, Error>;
}

impl IntentViewExt for IntentView {
    fn from_model(m: &intent::Model, now: DateTime<Utc>) -> Result<Self, Error> {
        let mut status = IntentStatus::parse(&m.status)?;
        if status == IntentStatus::Pending && m.expires_at <= now {
            status = IntentStatus::Expired;
        }
        Ok(Self {
            intent_id: m.id,
            device_id: m.device_id.clone(),
            product_id: m.product_id.clone(),
            store_id: m.store_id.clone(),
            owner: m.owner.clone(),
            sku: m.sku.clone(),
            label: m.label.clone(),
            unit_price_usd: usd(m.unit_price_cents),
            status,
            created_at: m.created_at,
            expires_at: m.expires_at,
            decided_at: m.decided_at,
            accepted: m.accepted,
            channel: m.channel.clone(),
        })
    }
}
