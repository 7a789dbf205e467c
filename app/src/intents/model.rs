//! The device-facing shapes of the loop and the rules that need no database.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::catalog::model::FillLevel;
use crate::error::{Error, Violations};

/// How sure the device's classifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Confidence {
    /// Below the device's threshold.
    Low,
    /// Usable.
    Medium,
    /// Sure.
    High,
}

/// Body of `POST /api/v1/detections`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
pub fn check_device_time(field: &str, at_ms: i64, now: DateTime<Utc>) -> Result<(), Error> {
    if (at_ms - now.timestamp_millis()).abs() > MAX_CLOCK_SKEW_MS {
        return Err(Error::InvalidTimestamp(format!("{field} is more than 24 h away from server time")));
    }
    Ok(())
}

impl DetectionRequest {
    /// Checks the rules serde cannot express.
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), Error> {
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
            self.object_class.is_empty() || self.object_class.len() > 64,
            "object_class",
            "must be 1-64 characters",
        );
        v.finish()
    }
}

/// Why a detection did or did not prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
}

impl Reason {
    /// The stored form (as on the wire).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Prompt => "PROMPT",
            Reason::AboveThreshold => "ABOVE_THRESHOLD",
            Reason::LowConfidence => "LOW_CONFIDENCE",
            Reason::PendingIntent => "PENDING_INTENT",
            Reason::AlreadyOrdered => "ALREADY_ORDERED",
            Reason::Cooldown => "COOLDOWN",
        }
    }
}

/// The product a detection maps to, as the device shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
}

/// The sentence the glasses speak for a prompt.
pub fn prompt_sentence(object_class: &str, fill: FillLevel, offer: &ProductOffer) -> String {
    let object = object_class.replace('_', " ");
    let state = if fill == FillLevel::Empty { "is empty" } else { "is running low" };
    format!("Your {object} {state}. Reorder {} for ${:.2}?", offer.label, offer.unit_price_usd)
}

/// What the device's own memory says about a product, before asking the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductMemory {
    /// An open intent and when it expires.
    pub pending: Option<(Uuid, DateTime<Utc>)>,
    /// The last decision about the product on this device.
    pub last_decided: Option<DateTime<Utc>>,
    /// The household's last (not failed) order of the product.
    pub last_ordered: Option<DateTime<Utc>>,
}

/// The settings the rules need.
#[derive(Debug, Clone, Copy)]
pub struct RuleSettings {
    /// Prompt only at or below this fill level.
    pub threshold: FillLevel,
    /// Whether LOW confidence may prompt.
    pub prompt_on_low_confidence: bool,
    /// Cooldown after a decision or a household order.
    pub cooldown: chrono::Duration,
}

/// The outcome of the rules that need no database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Settled: no prompt, for this reason, with this much cooldown left and maybe an open intent.
    NoPrompt(Reason, u64, Option<Uuid>),
    /// Worth a prompt, subject to the database's view of intents, decisions and household orders.
    Candidate,
}

/// Applies threshold, confidence, open-intent and cooldown rules from memory.
pub fn precheck(
    fill: FillLevel,
    confidence: Confidence,
    settings: &RuleSettings,
    memory: &ProductMemory,
    now: DateTime<Utc>,
) -> Verdict {
    if fill < settings.threshold {
        return Verdict::NoPrompt(Reason::AboveThreshold, 0, None);
    }
    if confidence == Confidence::Low && !settings.prompt_on_low_confidence {
        return Verdict::NoPrompt(Reason::LowConfidence, 0, None);
    }
    if let Some((intent, expires_at)) = memory.pending
        && expires_at > now
    {
        return Verdict::NoPrompt(Reason::PendingIntent, 0, Some(intent));
    }
    if let Some(remaining) = cooldown_remaining(memory.last_ordered, settings.cooldown, now) {
        return Verdict::NoPrompt(Reason::AlreadyOrdered, remaining, None);
    }
    if let Some(remaining) = cooldown_remaining(memory.last_decided, settings.cooldown, now) {
        return Verdict::NoPrompt(Reason::Cooldown, remaining, None);
    }
    Verdict::Candidate
}

/// Milliseconds left of a cooldown that started at `since`, if it is still running.
pub fn cooldown_remaining(since: Option<DateTime<Utc>>, cooldown: chrono::Duration, now: DateTime<Utc>) -> Option<u64> {
    let ends = since? + cooldown;
    (ends > now).then(|| (ends - now).num_milliseconds().max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> RuleSettings {
        RuleSettings {
            threshold: FillLevel::Low,
            prompt_on_low_confidence: false,
            cooldown: chrono::Duration::minutes(5),
        }
    }

    #[test]
    fn fuller_than_threshold_never_prompts() {
        let now = Utc::now();
        let memory = ProductMemory::default();
        assert_eq!(
            precheck(FillLevel::Half, Confidence::High, &settings(), &memory, now),
            Verdict::NoPrompt(Reason::AboveThreshold, 0, None)
        );
        for fill in [FillLevel::Low, FillLevel::NearlyEmpty, FillLevel::Empty] {
            assert_eq!(precheck(fill, Confidence::High, &settings(), &memory, now), Verdict::Candidate);
        }
    }

    #[test]
    fn low_confidence_prompts_only_when_the_tenant_allows_it() {
        let now = Utc::now();
        let memory = ProductMemory::default();
        assert_eq!(
            precheck(FillLevel::Empty, Confidence::Low, &settings(), &memory, now),
            Verdict::NoPrompt(Reason::LowConfidence, 0, None)
        );
        let lenient = RuleSettings { prompt_on_low_confidence: true, ..settings() };
        assert_eq!(precheck(FillLevel::Empty, Confidence::Low, &lenient, &memory, now), Verdict::Candidate);
    }

    #[test]
    fn open_intents_and_cooldowns_suppress_until_they_end() {
        let now = Utc::now();
        let intent = Uuid::new_v4();
        let open = ProductMemory { pending: Some((intent, now + chrono::Duration::minutes(1))), ..Default::default() };
        assert_eq!(
            precheck(FillLevel::Empty, Confidence::High, &settings(), &open, now),
            Verdict::NoPrompt(Reason::PendingIntent, 0, Some(intent))
        );
        let lapsed =
            ProductMemory { pending: Some((intent, now - chrono::Duration::seconds(1))), ..Default::default() };
        assert_eq!(precheck(FillLevel::Empty, Confidence::High, &settings(), &lapsed, now), Verdict::Candidate);
        let decided = ProductMemory { last_decided: Some(now - chrono::Duration::minutes(4)), ..Default::default() };
        assert_eq!(
            precheck(FillLevel::Empty, Confidence::High, &settings(), &decided, now),
            Verdict::NoPrompt(Reason::Cooldown, 60_000, None)
        );
        let long_ago = ProductMemory { last_decided: Some(now - chrono::Duration::minutes(6)), ..Default::default() };
        assert_eq!(precheck(FillLevel::Empty, Confidence::High, &settings(), &long_ago, now), Verdict::Candidate);
        let ordered = ProductMemory {
            last_decided: Some(now - chrono::Duration::minutes(1)),
            last_ordered: Some(now - chrono::Duration::minutes(2)),
            ..Default::default()
        };
        assert_eq!(
            precheck(FillLevel::Empty, Confidence::High, &settings(), &ordered, now),
            Verdict::NoPrompt(Reason::AlreadyOrdered, 180_000, None),
            "a household order outranks the device's own cooldown"
        );
    }

    #[test]
    fn prompt_reads_like_the_design_note() {
        let offer = ProductOffer {
            product_id: "water".into(),
            sku: "W".into(),
            label: "Spring Water 24-pack".into(),
            unit_price_usd: 12.99,
        };
        assert_eq!(
            prompt_sentence("water_bottle", FillLevel::Low, &offer),
            "Your water bottle is running low. Reorder Spring Water 24-pack for $12.99?"
        );
    }

    #[test]
    fn device_clocks_may_be_a_day_off_but_no_more() {
        let now = Utc::now();
        let ms = now.timestamp_millis();
        assert!(check_device_time("t", ms - MAX_CLOCK_SKEW_MS + 1000, now).is_ok());
        assert!(check_device_time("t", ms + MAX_CLOCK_SKEW_MS + 1000, now).is_err());
        assert!(check_device_time("t", 0, now).is_err());
    }
}
