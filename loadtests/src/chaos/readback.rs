//! What a chaos run reads back afterwards: the tenant's rows in the private
//! Postgres and the merchant's receivers' own records.

use std::collections::{BTreeMap, BTreeSet};

pub use crate::receiver::DeliveredEvent;
use crate::receiver::Tally;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A stored detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DetectionRow {
    /// Device id.
    pub device_id: String,
    /// Event id.
    pub event_id: String,
}

/// A stored intent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentRow {
    /// Intent id.
    pub id: Uuid,
    /// Device id.
    pub device_id: String,
    /// Status.
    pub status: String,
    /// The decision, once made.
    pub accepted: Option<bool>,
}

/// A stored order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRow {
    /// Order id.
    pub id: Uuid,
    /// Its intent.
    pub intent_id: Uuid,
    /// The owner whose budget it draws on.
    pub owner: String,
    /// The owner's budget day.
    pub budget_day: String,
    /// Amount.
    pub total_cents: i64,
    /// Status.
    pub status: String,
    /// A test device's order reserves no budget.
    pub test: bool,
}

/// An owner's reserved spend on one budget day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendRow {
    /// Owner.
    pub owner: String,
    /// Budget day.
    pub day: String,
    /// Reserved cents.
    pub cents: i64,
}

/// What the merchant's webhook receiver did with each order id it was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MerchantLedger {
    /// Orders it placed, with how many times it was asked for each.
    pub placed: BTreeMap<Uuid, u64>,
    /// Orders it refused definitely (a 4xx that is not 408/409/429).
    pub refused: BTreeSet<Uuid>,
}

/// A stored event (a row of the private `events` table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    /// Event id.
    pub id: Uuid,
    /// Type, e.g. `order.confirmed`.
    pub event_type: String,
    /// Tenant.
    pub tenant_id: String,
    /// Kind of object.
    pub object_kind: String,
    /// The object's id.
    pub object_id: String,
}

impl EventRow {
    /// What a delivery of this event must say about it.
    pub fn as_delivered(&self) -> DeliveredEvent {
        DeliveredEvent {
            event_type: self.event_type.clone(),
            tenant_id: self.tenant_id.clone(),
            object: self.object_kind.clone(),
            object_id: self.object_id.clone(),
        }
    }
}

/// What the merchant's webhook receiver accepted (signature verified) for the chaos endpoint.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebhookLedger {
    /// Per event id: accepted deliveries (more than one: retries).
    pub deliveries: BTreeMap<Uuid, u32>,
    /// Per event id: the distinct bodies those deliveries carried.
    pub bodies: BTreeMap<Uuid, Vec<DeliveredEvent>>,
}

impl WebhookLedger {
    /// The part of `tally` that concerns `endpoint`.
    pub fn of(tally: &Tally, endpoint: &str) -> Self {
        let mut ledger = Self::default();
        for ((e, id), n) in &tally.per_event {
            if e == endpoint {
                ledger.deliveries.insert(*id, *n);
            }
        }
        for ((e, id), bodies) in &tally.bodies {
            if e == endpoint {
                ledger.bodies.insert(*id, bodies.clone());
            }
        }
        ledger
    }
}

/// Everything read back after the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReadBack {
    /// The tenant's detections.
    pub detections: Vec<DetectionRow>,
    /// The tenant's intents.
    pub intents: Vec<IntentRow>,
    /// The tenant's orders.
    pub orders: Vec<OrderRow>,
    /// The tenant's owners' spend.
    pub spend: Vec<SpendRow>,
    /// The merchant's own record.
    pub merchant: MerchantLedger,
    /// The tenant's events, in write order.
    #[serde(default)]
    pub events: Vec<EventRow>,
    /// The merchant's webhook receiver's record.
    #[serde(default)]
    pub webhooks: WebhookLedger,
}
