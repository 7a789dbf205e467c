//! Decisions: the wearer's answer to a prompt, and intents as the APIs show them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::model::{IntentStatus, OrderStatus, OrderSummary, OrderView, usd};

/// How the wearer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    /// A hand gesture.
    Gesture,
    /// A spoken answer.
    Voice,
}

impl Channel {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Gesture => "GESTURE",
            Channel::Voice => "VOICE",
        }
    }
}

/// Body of `POST /api/v1/decisions`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The intent being answered.
    pub intent_id: Uuid,
    /// Yes or no.
    pub accepted: bool,
    /// How the wearer answered.
    pub channel: Channel,
    /// When, Unix milliseconds; within 24 h of server time.
    pub decided_at_ms: i64,
}

/// Response of `POST /api/v1/decisions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DecisionResponse {
    /// The intent.
    pub intent_id: Uuid,
    /// Its status now.
    pub status: IntentStatus,
    /// The order, when one was placed.
    pub order: Option<OrderSummary>,
    /// What the glasses say.
    pub message: String,
}

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

impl DecisionResponse {
    /// The response for an intent in its current state (and its order, if any).
    pub fn build(intent: &intent::Model, order: Option<&OrderView>) -> Result<Self, Error> {
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

/// An intent as the APIs show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IntentView {
    /// Intent id.
    pub intent_id: Uuid,
    /// Device that was prompted.
    pub device_id: String,
    /// Product offered.
    pub product_id: String,
    /// Store that would fulfil it.
    pub store_id: String,
    /// Household.
    pub owner: String,
    /// SKU offered.
    pub sku: String,
    /// Its label.
    pub label: String,
    /// Its price.
    pub unit_price_usd: f64,
    /// Status.
    pub status: IntentStatus,
    /// When the prompt was created.
    pub created_at: DateTime<Utc>,
    /// When it expires (or expired) unanswered.
    pub expires_at: DateTime<Utc>,
    /// When the wearer decided.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decision.
    pub accepted: Option<bool>,
    /// How the wearer answered.
    pub channel: Option<String>,
}

impl IntentView {
    /// Builds the view of a stored intent; a lapsed PENDING one shows as EXPIRED.
    pub fn from_model(m: &intent::Model, now: DateTime<Utc>) -> Result<Self, Error> {
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
