//! What the merchant API says about stores. The wire types live in
//! `replenish_api::stores`; this module adds their stored form.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::stores::entity;

pub use replenish_api::stores::{CommerceProviderKind, CommerceSettings, MockOutcome, StoreSpec, StoreView};

/// The provider-specific part of [`CommerceSettings`], as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct StoredCommerceSettings {
    #[serde(default, skip_serializing_if = "MockOutcome::is_confirm")]
    mock_outcome: MockOutcome,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancel_url: Option<String>,
    // The webhook signing secret, kept in the row because every call needs it;
    // the API never shows it (see `CommerceSettingsExt::redacted`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

/// The stored form of [`CommerceSettings`]: a provider name column and a JSON column.
pub trait CommerceSettingsExt: Sized {
    /// The JSON stored next to the provider name.
    fn stored_json(&self) -> String;
    /// Rebuilds the settings from the stored columns, secret included.
    fn from_stored(provider: &str, json: &str) -> Result<Self, Error>;
    /// The settings as the API shows them: the secret replaced by `secret_set`.
    fn redacted(self) -> Self;
}

impl CommerceSettingsExt for CommerceSettings {
    fn stored_json(&self) -> String {
        serde_json::to_string(&StoredCommerceSettings {
            mock_outcome: self.mock_outcome,
            endpoint: self.endpoint.clone(),
            url: self.url.clone(),
            cancel_url: self.cancel_url.clone(),
            secret: self.secret.clone(),
        })
        .unwrap_or_else(|_| "{}".to_owned())
    }

    fn from_stored(provider: &str, json: &str) -> Result<Self, Error> {
        let stored: StoredCommerceSettings = serde_json::from_str(json)
            .map_err(|e| Error::Internal(format!("stored commerce settings do not parse: {e}")))?;
        Ok(Self {
            provider: CommerceProviderKind::parse(provider)?,
            mock_outcome: stored.mock_outcome,
            endpoint: stored.endpoint,
            url: stored.url,
            cancel_url: stored.cancel_url,
            secret_set: stored.secret.is_some(),
            secret: stored.secret,
        })
    }

    fn redacted(self) -> Self {
        Self { secret_set: self.secret.is_some(), secret: None, ..self }
    }
}

/// Builds the API view of a stored store.
pub trait StoreViewExt: Sized {
    /// Builds the view of a stored store.
    fn from_model(model: &entity::Model) -> Result<Self, Error>;
}

impl StoreViewExt for StoreView {
    fn from_model(model: &entity::Model) -> Result<Self, Error> {
        Ok(Self {
            store_id: model.id.clone(),
            name: model.name.clone(),
            timezone: model.timezone.clone(),
            commerce: CommerceSettings::from_stored(&model.commerce_provider, &model.commerce_settings)?.redacted(),
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}
