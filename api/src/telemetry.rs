//! The merchant's funnel: `GET /api/v1/telemetry/summary`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `?since=&until=` (RFC 3339, years 0001-9999); the default window is the
/// last 24 hours, the longest 366 days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Window start (inclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// Window end (exclusive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl SummaryQuery {
    /// The validated `[since, until)` of this query at `now` (see [`crate::time::report_window`]).
    pub fn window(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), crate::Invalid> {
        crate::time::report_window(self.since, self.until, now)
    }
}

/// Conversion rates of the funnel, 0-1 (0 when the denominator is 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "since": "2026-04-30T09:00:00Z",
    "until": "2026-05-01T09:00:00Z",
    "detections": 1200,
    "prompts": 300,
    "accepted": 240,
    "rejected": 45,
    "expired": 15,
    "orders_confirmed": 236,
    "orders_failed": 4,
    "conversion": {
        "prompt_rate": 0.25,
        "acceptance_rate": 0.8,
        "order_success_rate": 0.9833,
        "detection_to_order_rate": 0.1967
    },
    "assistant": {"calls": 52, "prompt_tokens": 41600, "completion_tokens": 5200, "total_tokens": 46800}
})))]
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
    /// Orders confirmed by the provider (including those since shipped or
    /// delivered; not cancelled or refunded ones). Test orders are never counted here.
    pub orders_confirmed: u64,
    /// Orders failed.
    pub orders_failed: u64,
    /// Orders cancelled (by the wearer, the merchant or the provider).
    #[serde(default)]
    pub orders_cancelled: u64,
    /// Orders refunded by the merchant.
    #[serde(default)]
    pub orders_refunded: u64,
    /// Orders of test devices in the window, whatever their status: counted
    /// here alone, in no other figure (and against no budget).
    #[serde(default)]
    pub test_orders: u64,
    /// Rates.
    pub conversion: Conversion,
    /// The vision assistant's metered provider calls and tokens.
    pub assistant: AssistantUsage,
    /// Each store's confirmed orders and revenue per store-local day, for
    /// the days from the (UTC) date of `since` to the date of `until`.
    #[serde(default)]
    pub store_days: Vec<StoreDay>,
}

/// One store's confirmed orders and their revenue on one store-local day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoreDay {
    /// Store id.
    pub store_id: String,
    /// `YYYY-MM-DD` in the store's time zone (of when the orders were placed).
    pub day: String,
    /// Orders confirmed by the store's provider.
    pub orders: u64,
    /// Their totals, in dollars.
    pub revenue_usd: f64,
}

/// Provider calls of the vision assistant that used tokens, and the tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
