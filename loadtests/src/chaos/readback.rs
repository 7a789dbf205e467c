//! What a chaos run reads back afterwards: the tenant's rows in the private
//! Postgres and the merchant receiver's own record.

use std::collections::{BTreeMap, BTreeSet};

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
}
