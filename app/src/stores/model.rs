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
}

/// The stored form of [`CommerceSettings`]: a provider name column and a JSON column.
pub trait CommerceSettingsExt: Sized {
    /// The JSON stored next to the provider name.
    fn stored_json(&self) -> String;
    /// Rebuilds the settings from the stored columns.
    fn from_stored(provider: &str, json: &str) -> Result<Self, Error>;
}

impl CommerceSettingsExt for CommerceSettings {
    fn stored_json(&self) -> String {
        serde_json::to_string(&StoredCommerceSettings {
            mock_outcome: self.mock_outcome,
            endpoint: self.endpoint.clone(),
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
        })
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
            commerce: CommerceSettings::from_stored(&model.commerce_provider, &model.commerce_settings)?,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}
