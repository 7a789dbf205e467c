//! The merchant's funnel report as it goes over the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `?since=&until=` (RFC 3339); the default window is the last 24 hours.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Window start (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// Window end (exclusive).
    pub until: Option<DateTime<Utc>>,
}

/// Conversion rates of the funnel, 0-1 (0 when the denominator is 0).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Conversion {
    /// prompts / detections.
    pub prompt_rate: f64,
    /// accepted / prompts.
    pub acceptance_rate: f64,
    /// orders confirmed / (confirmed + failed).
    pub order_success_rate: f64,
    /// orders confirmed / detections.
    pub detection_to_order_rate: f64,
}

/// The funnel over a window. Intents are counted by when they were prompted,
/// orders by when they were placed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    /// Window start.
    pub since: DateTime<Utc>,
    /// Window end.
    pub until: DateTime<Utc>,
    /// Detections processed.
    pub detections: u64,
    /// Detections that prompted.
    pub prompts: u64,
    /// Prompts accepted.
    pub accepted: u64,
    /// Prompts rejected.
    pub rejected: u64,
    /// Prompts nobody answered in time.
    pub expired: u64,
    /// Orders confirmed.
    pub orders_confirmed: u64,
    /// Orders failed.
    pub orders_failed: u64,
    /// Rates.
    pub conversion: Conversion,
    /// The vision assistant's metered provider calls and tokens.
    pub assistant: AssistantUsage,
}

/// Provider calls of the vision assistant that used tokens, and the tokens.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AssistantUsage {
    /// Metered calls.
    pub calls: u64,
    /// Prompt tokens.
    pub prompt_tokens: u64,
    /// Completion tokens.
    pub completion_tokens: u64,
    /// All tokens.
    pub total_tokens: u64,
}
