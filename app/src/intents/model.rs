//! The device-facing shapes of the loop (from `replenish_api::intents`) and the rules that need no database.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::catalog::model::FillLevel;
use crate::error::Error;

pub use replenish_api::intents::{
    Confidence, DetectionRequest, DetectionResponse, MAX_CLOCK_SKEW_MS, ProductOffer, Reason,
};

/// Rejects a device timestamp more than 24 h from `now`.
pub fn check_device_time(field: &str, at_ms: i64, now: DateTime<Utc>) -> Result<(), Error> {
    Ok(replenish_api::check_device_time(field, at_ms, now)?)
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

    /// The verdict for a product the device has no history with: only fill,
    /// confidence and the tenant's settings can decide it.
    fn first_sighting(fill: FillLevel, confidence: Confidence, settings: &RuleSettings) -> Verdict {
        precheck(fill, confidence, settings, &ProductMemory::default(), Utc::now())
    }

    #[test]
    fn fuller_than_threshold_never_prompts() {
        let above = first_sighting(FillLevel::Half, Confidence::High, &settings());
        assert_eq!(above, Verdict::NoPrompt(Reason::AboveThreshold, 0, None));
        for fill in [FillLevel::Low, FillLevel::NearlyEmpty, FillLevel::Empty] {
            assert_eq!(first_sighting(fill, Confidence::High, &settings()), Verdict::Candidate);
        }
    }

    #[test]
    fn low_confidence_prompts_only_when_the_tenant_allows_it() {
        let unsure = first_sighting(FillLevel::Empty, Confidence::Low, &settings());
        assert_eq!(unsure, Verdict::NoPrompt(Reason::LowConfidence, 0, None));
        let lenient = RuleSettings { prompt_on_low_confidence: true, ..settings() };
        assert_eq!(first_sighting(FillLevel::Empty, Confidence::Low, &lenient), Verdict::Candidate);
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
}
