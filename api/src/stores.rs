//! Stores (merchant API): the store body and view and their commerce settings.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::problem::{Invalid, Violations, text_ok};

/// The commerce providers a store can order through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CommerceProviderKind {
    /// Confirms every order with a deterministic ETA; for demos and tests.
    Mock,
    /// Deprecated: the webhook provider without a signature, POSTing to
    /// `endpoint`. Kept so stores set up with it keep working; use `webhook`.
    Http,
    /// POSTs each order, signed, to the merchant's `url` (see README,
    /// "Merchant integration guide").
    Webhook,
}

wire_enum!(CommerceProviderKind, "commerce provider" { Mock => "mock", Http => "http", Webhook => "webhook" });

/// What the `mock` provider does with an order; lets a merchant (and the
/// tests) rehearse failures without a real provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum MockOutcome {
    /// Confirm with a deterministic ETA (the default).
    #[default]
    Confirm,
    /// Refuse every order.
    Fail,
    /// Never answer, so the provider timeout applies: the outcome is unknown
    /// and the order is retried until the retry horizon.
    Timeout,
}

wire_enum!(MockOutcome, "mock outcome" { Confirm => "confirm", Fail => "fail", Timeout => "timeout" });

impl MockOutcome {
    /// Whether this is the default, [`MockOutcome::Confirm`] (which the wire form leaves out).
    pub fn is_confirm(&self) -> bool {
        *self == MockOutcome::Confirm
    }
}

/// How a store places orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CommerceSettings {
    /// Which provider.
    pub provider: CommerceProviderKind,
    /// For the `mock` provider only: what it does with orders.
    #[serde(default, skip_serializing_if = "MockOutcome::is_confirm")]
    pub mock_outcome: MockOutcome,
    /// For the deprecated `http` provider only (and required there): the URL
    /// each order is POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// For the `webhook` provider (required there): the `https://` URL each
    /// order is POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// For the `webhook` provider: the `https://` URL cancellations are POSTed
    /// to; without it an order already sent cannot be cancelled at the merchant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
    /// For the `webhook` provider: the shared secret that signs every call
    /// (16-256 characters). Write-only: never shown back. Left out of a PUT,
    /// the store keeps the secret it has.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// Shown back instead of the secret: whether the store has one. Ignored on input.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret_set: bool,
}

/// Whether `url` is an absolute http(s) URL of sane length (the service
/// checks where it points when it is stored and when it is called).
fn url_shape_ok(url: Option<&str>) -> bool {
    url.is_some_and(|e| {
        (e.starts_with("http://") || e.starts_with("https://")) && e.len() <= 2048 && !e.contains(char::is_whitespace)
    })
}

impl CommerceSettings {
    /// Settings of a provider with nothing but its kind set.
    pub fn of(provider: CommerceProviderKind) -> Self {
        Self {
            provider,
            mock_outcome: MockOutcome::Confirm,
            endpoint: None,
            url: None,
            cancel_url: None,
            secret: None,
            secret_set: false,
        }
    }

    /// Checks that the provider-specific fields fit the provider.
    fn check(&self, violations: &mut Violations) {
        let http = self.provider == CommerceProviderKind::Http;
        let webhook = self.provider == CommerceProviderKind::Webhook;
        let mock = self.provider == CommerceProviderKind::Mock;
        let needs = "the http provider needs an http(s) URL";
        violations.check(http && !url_shape_ok(self.endpoint.as_deref()), "commerce.endpoint", needs);
        violations.check(!http && self.endpoint.is_some(), "commerce.endpoint", "only the http provider takes one");
        violations.check(
            webhook && !url_shape_ok(self.url.as_deref()),
            "commerce.url",
            "the webhook provider needs a URL",
        );
        violations.check(!webhook && self.url.is_some(), "commerce.url", "only the webhook provider takes one");
        let cancel_bad = self.cancel_url.as_deref().is_some_and(|u| !url_shape_ok(Some(u)));
        violations.check(webhook && cancel_bad, "commerce.cancel_url", "must be an http(s) URL");
        violations.check(!webhook && self.cancel_url.is_some(), "commerce.cancel_url", "only for the webhook provider");
        let secret_bad = self.secret.as_deref().is_some_and(|s| !(16..=256).contains(&s.len()) || !text_ok(s, 256));
        violations.check(webhook && secret_bad, "commerce.secret", "must be 16-256 characters");
        violations.check(!webhook && self.secret.is_some(), "commerce.secret", "only for the webhook provider");
        violations.check(
            !mock && !self.mock_outcome.is_confirm(),
            "commerce.mock_outcome",
            "only for the mock provider",
        );
    }
}

/// Body of `PUT /api/v1/stores/{store}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "name": "Mission St.",
    "timezone": "America/Los_Angeles",
    "commerce": {"provider": "mock"}
})))]
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
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut violations = Violations::default();
        violations.check(!text_ok(&self.name, 200), "name", "must be 1-200 characters, without NUL");
        violations.check(
            !looks_like_iana_zone(&self.timezone),
            "timezone",
            "must be an IANA time zone name such as America/Los_Angeles or UTC",
        );
        self.commerce.check(&mut violations);
        violations.finish()
    }
}

/// Whether `zone` names a zone of the IANA database (`America/Los_Angeles`, `UTC`).
fn looks_like_iana_zone(zone: &str) -> bool {
    zone.parse::<chrono_tz::Tz>().is_ok()
}

/// A store as the merchant API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "store_id": "mission-st",
    "name": "Mission St.",
    "timezone": "America/Los_Angeles",
    "commerce": {"provider": "mock"},
    "created_at": "2026-05-01T09:00:00Z",
    "updated_at": "2026-05-01T09:00:00Z"
})))]
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
