//! The device-facing loop (detections and decisions) and intents as the APIs show them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::FillLevel;
use crate::orders::{IntentStatus, OrderSummary};
use crate::problem::{Invalid, Violations, storable_text};

/// How sure the device's classifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Confidence {
    /// Below the device's threshold.
    Low,
    /// Usable.
    Medium,
    /// Sure.
    High,
}

wire_enum!(Confidence, "confidence" { Low => "LOW", Medium => "MEDIUM", High => "HIGH" });

/// Body of `POST /api/v1/detections`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "event_id": "evt-0042-000117",
    "object_class": "water_bottle",
    "fill_level": "NEARLY_EMPTY",
    "confidence": "HIGH",
    "captured_at_ms": 1777626000000_i64
})))]
pub struct DetectionRequest {
    /// The device's id for this event (1-128 printable ASCII characters); a repeat gets the same answer.
    pub event_id: String,
    /// Detector class, e.g. `water_bottle`.
    pub object_class: String,
    /// How full the container looks.
    pub fill_level: FillLevel,
    /// Classifier confidence.
    pub confidence: Confidence,
    /// When the frame was captured, Unix milliseconds; within 24 h of server time.
    pub captured_at_ms: i64,
}

/// How far `captured_at_ms` and `decided_at_ms` may be from server time.
pub const MAX_CLOCK_SKEW_MS: i64 = 24 * 60 * 60 * 1000;

/// Rejects a device timestamp more than 24 h from `now`.
pub fn check_device_time(field: &str, at_ms: i64, now: DateTime<Utc>) -> Result<(), Invalid> {
    // Saturating: any i64 is a well-formed body, and `i64::MIN - now` would
    // overflow (a panic in debug builds, a wrap to "in range" in release).
    if at_ms.saturating_sub(now.timestamp_millis()).saturating_abs() > MAX_CLOCK_SKEW_MS {
        return Err(Invalid::Timestamp(format!("{field} is more than 24 h away from server time")));
    }
    Ok(())
}

impl DetectionRequest {
    /// Checks the rules serde cannot express.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), Invalid> {
        check_device_time("captured_at_ms", self.captured_at_ms, now)?;
        let mut v = Violations::default();
        v.check(
            self.event_id.is_empty()
                || self.event_id.len() > 128
                || !self.event_id.chars().all(|c| c.is_ascii_graphic()),
            "event_id",
            "must be 1-128 printable ASCII characters",
        );
        v.check(
            self.object_class.is_empty() || self.object_class.len() > 64 || !storable_text(&self.object_class),
            "object_class",
            "must be 1-64 characters, without NUL",
        );
        v.finish()
    }
}

/// Why a detection did or did not prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Reason {
    /// A new intent was created; the glasses should ask.
    Prompt,
    /// Fuller than the product's reorder threshold.
    AboveThreshold,
    /// The classifier was not sure enough.
    LowConfidence,
    /// This device already has an open prompt for the product.
    PendingIntent,
    /// The household ordered this product within the cooldown.
    AlreadyOrdered,
    /// The wearer decided about this product within the cooldown.
    Cooldown,
    /// The household has an order of this product on its way (not yet
    /// delivered, cancelled, refunded or failed, and placed within the
    /// tenant's `order_in_progress_days`); `order_id` and `eta` name it.
    OrderInProgress,
}

wire_enum!(Reason, "reason" {
    Prompt => "PROMPT", AboveThreshold => "ABOVE_THRESHOLD", LowConfidence => "LOW_CONFIDENCE",
    PendingIntent => "PENDING_INTENT", AlreadyOrdered => "ALREADY_ORDERED", Cooldown => "COOLDOWN",
    OrderInProgress => "ORDER_IN_PROGRESS",
});

/// The product a detection maps to, as the device shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProductOffer {
    /// Product id.
    pub product_id: String,
    /// The SKU that would be ordered.
    pub sku: String,
    /// Its label.
    pub label: String,
    /// Its price.
    pub unit_price_usd: f64,
}

/// Response of `POST /api/v1/detections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "should_prompt": true,
    "intent_id": "0196a2b4-3c5d-7e6f-8091-a2b3c4d5e6f7",
    "reason": "PROMPT",
    "cooldown_remaining_ms": 0,
    "product": {
        "product_id": "water-bottle",
        "sku": "WTR-24x500",
        "label": "Spring water 24 x 500 ml",
        "unit_price_usd": 12.99
    },
    "prompt": "Your water bottle is running low. Reorder Spring water 24 x 500 ml for $12.99?"
})))]
pub struct DetectionResponse {
    /// Whether the glasses should ask the wearer now.
    pub should_prompt: bool,
    /// The new or open intent, if any.
    pub intent_id: Option<Uuid>,
    /// Why.
    pub reason: Reason,
    /// Time left in the cooldown that suppressed the prompt (0 otherwise).
    pub cooldown_remaining_ms: u64,
    /// The matched product.
    pub product: ProductOffer,
    /// What the glasses say, when they should prompt.
    pub prompt: Option<String>,
    /// The household's order on its way (`ORDER_IN_PROGRESS` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    /// That order's expected delivery date, `YYYY-MM-DD`, when the provider gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<String>,
}

/// How the wearer answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Channel {
    /// A hand gesture.
    Gesture,
    /// A spoken answer.
    Voice,
}

wire_enum!(Channel, "channel" { Gesture => "GESTURE", Voice => "VOICE" });

/// Body of `POST /api/v1/decisions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "intent_id": "0196a2b4-3c5d-7e6f-8091-a2b3c4d5e6f7",
    "accepted": true,
    "channel": "GESTURE",
    "decided_at_ms": 1777626005000_i64
})))]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "intent_id": "0196a2b4-3c5d-7e6f-8091-a2b3c4d5e6f7",
    "status": "CONFIRMED",
    "order": {
        "order_id": "0196a2b4-4d5e-7f60-8192-b3c4d5e6f708",
        "status": "CONFIRMED",
        "total_usd": 12.99,
        "eta": "2026-05-03"
    },
    "message": "Ordered Spring water 24 x 500 ml; it arrives 2026-05-03."
})))]
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

/// An intent as the APIs show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "intent_id": "0196a2b4-3c5d-7e6f-8091-a2b3c4d5e6f7",
    "device_id": "glasses-0042",
    "product_id": "water-bottle",
    "store_id": "mission-st",
    "owner": "household-17",
    "sku": "WTR-24x500",
    "label": "Spring water 24 x 500 ml",
    "unit_price_usd": 12.99,
    "status": "CONFIRMED",
    "created_at": "2026-05-01T09:00:00Z",
    "expires_at": "2026-05-01T09:15:00Z",
    "decided_at": "2026-05-01T09:00:05Z",
    "accepted": true,
    "channel": "GESTURE"
})))]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_clocks_may_be_a_day_off_but_no_more() {
        let now = Utc::now();
        let ms = now.timestamp_millis();
        assert!(check_device_time("t", ms - MAX_CLOCK_SKEW_MS + 1000, now).is_ok());
        assert!(check_device_time("t", ms + MAX_CLOCK_SKEW_MS + 1000, now).is_err());
        assert!(check_device_time("t", 0, now).is_err());
        assert!(check_device_time("t", i64::MIN, now).is_err());
        assert!(check_device_time("t", i64::MAX, now).is_err());
    }

    #[test]
    fn enums_keep_their_wire_spelling() -> Result<(), serde_json::Error> {
        assert_eq!(serde_json::to_string(&Reason::AboveThreshold)?, "\"ABOVE_THRESHOLD\"");
        for reason in Reason::ALL {
            assert_eq!(serde_json::to_string(reason)?, format!("\"{reason}\""));
        }
        assert_eq!(serde_json::from_str::<FillLevel>("\"NEARLY_EMPTY\"")?, FillLevel::NearlyEmpty);
        Ok(())
    }
}
