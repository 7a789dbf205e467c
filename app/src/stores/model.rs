//! What the merchant API says about stores.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{Error, Violations};
use crate::stores::entity;

/// The commerce providers a store can order through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommerceProviderKind {
    /// Confirms every order with a deterministic ETA; for demos and tests.
    Mock,
}

impl CommerceProviderKind {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            CommerceProviderKind::Mock => "mock",
        }
    }

    /// Parses the stored form.
    pub fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "mock" => Ok(CommerceProviderKind::Mock),
            other => Err(Error::Internal(format!("unknown commerce provider {other:?} in database"))),
        }
    }
}

/// What the `mock` provider does with an order; lets a merchant (and the
/// tests) rehearse failures without a real provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MockOutcome {
    /// Confirm with a deterministic ETA (the default).
    #[default]
    Confirm,
    /// Refuse every order.
    Fail,
    /// Never answer, so the provider timeout applies.
    Timeout,
}

impl MockOutcome {
    fn is_confirm(&self) -> bool {
        *self == MockOutcome::Confirm
    }
}

/// How a store places orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommerceSettings {
    /// Which provider.
    pub provider: CommerceProviderKind,
    /// For the `mock` provider only: what it does with orders.
    #[serde(default, skip_serializing_if = "MockOutcome::is_confirm")]
    pub mock_outcome: MockOutcome,
}

/// The provider-specific part of [`CommerceSettings`], as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StoredCommerceSettings {
    #[serde(default, skip_serializing_if = "MockOutcome::is_confirm")]
    mock_outcome: MockOutcome,
}

impl CommerceSettings {
    /// The JSON stored next to the provider name.
    pub fn stored_json(&self) -> String {
        serde_json::to_string(&StoredCommerceSettings { mock_outcome: self.mock_outcome })
            .unwrap_or_else(|_| "{}".to_owned())
    }

    /// Rebuilds the settings from the stored columns.
    pub fn from_stored(provider: &str, json: &str) -> Result<Self, Error> {
        let stored: StoredCommerceSettings = serde_json::from_str(json)
            .map_err(|e| Error::Internal(format!("stored commerce settings do not parse: {e}")))?;
        Ok(Self { provider: CommerceProviderKind::parse(provider)?, mock_outcome: stored.mock_outcome })
    }
}

/// Body of `PUT /api/v1/stores/{store}`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreSpec {
    /// Name shown to people (1-200 characters).
    pub name: String,
    /// IANA time zone name, e.g. `America/Los_Angeles` or `UTC`.
    pub timezone: String,
    /// Commerce provider settings.
    pub commerce: CommerceSettings,
}

impl StoreSpec {
    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), Error> {
        let mut violations = Violations::default();
        let name = self.name.trim();
        violations.check(name.is_empty() || name.chars().count() > 200, "name", "must be 1-200 characters");
        violations.check(
            !looks_like_iana_zone(&self.timezone),
            "timezone",
            "must be an IANA time zone name such as America/Los_Angeles or UTC",
        );
        violations.finish()
    }
}

/// Whether `zone` names a zone of the IANA database (`America/Los_Angeles`, `UTC`).
fn looks_like_iana_zone(zone: &str) -> bool {
    zone.parse::<chrono_tz::Tz>().is_ok()
}

/// A store as the merchant API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StoreView {
    /// Store id.
    pub store_id: String,
    /// Name shown to people.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Commerce provider settings.
    pub commerce: CommerceSettings,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl StoreView {
    /// Builds the view of a stored store.
    pub fn from_model(model: &entity::Model) -> Result<Self, Error> {
        Ok(Self {
            store_id: model.id.clone(),
            name: model.name.clone(),
            timezone: model.timezone.clone(),
            commerce: CommerceSettings::from_stored(&model.commerce_provider, &model.commerce_settings)?,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::looks_like_iana_zone;

    #[test]
    fn zone_shape() {
        for ok in ["UTC", "America/Los_Angeles", "America/Argentina/Buenos_Aires", "Etc/GMT+5"] {
            assert!(looks_like_iana_zone(ok), "{ok}");
        }
        for bad in ["", "America/", "/Paris", "a/b/c/d", "Europe/Par is", "Europe/Paris;drop", "Mars/Olympus_Mons"] {
            assert!(!looks_like_iana_zone(bad), "{bad}");
        }
    }
}
