//! What the app should hold for the stores a Tenant declares (`spec.stores`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Secret;
use replenish_api::CommerceProviderKind;
use serde::Serialize;

use crate::crd::{SecretKeyRef, StoreProvider, TenantStore};

/// Body of `PUT /api/v1/stores/{id}`. Its own type rather than the API crate's, whose
/// `secret` is write-only and so never serialized.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct StoreBody {
    /// Name shown to people.
    pub name: String,
    /// IANA time zone.
    pub timezone: String,
    /// Commerce provider settings.
    pub commerce: CommerceBody,
}

/// The `commerce` part of a [`StoreBody`].
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CommerceBody {
    /// Which provider.
    pub provider: CommerceProviderKind,
    /// Where orders go (webhook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Where cancellations go (webhook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<String>,
    /// The signing secret (webhook); left out, the app keeps the one it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for StoreBody {
    // The secret must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBody")
            .field("name", &self.name)
            .field("timezone", &self.timezone)
            .field("provider", &self.commerce.provider)
            .field("url", &self.commerce.url)
            .field("cancel_url", &self.commerce.cancel_url)
            .field("secret_set", &self.commerce.secret.is_some())
            .finish()
    }
}

/// The body for `store`, with the secret read from its Secret (when it has a `secretRef`).
pub fn store_body(store: &TenantStore, secret: Option<String>) -> StoreBody {
    let provider = match store.commerce.provider {
        StoreProvider::Mock => CommerceProviderKind::Mock,
        StoreProvider::Webhook => CommerceProviderKind::Webhook,
    };
    StoreBody {
        name: store.name.clone(),
        timezone: store.timezone.clone(),
        commerce: CommerceBody {
            provider,
            url: store.commerce.url.clone(),
            cancel_url: store.commerce.cancel_url.clone(),
            secret,
        },
    }
}

/// The value under `key` in `secret`, when the Secret exists and holds a non-empty one.
/// `Err` says what is missing, for the `SecretNotFound` condition.
pub fn secret_value(reference: &SecretKeyRef, secret: Option<&Secret>, namespace: &str) -> Result<String, String> {
    let Some(secret) = secret else {
        return Err(format!("Secret {namespace}/{} does not exist", reference.name));
    };
    let data = secret.data.as_ref().and_then(|d| d.get(&reference.key)).map(|v| v.0.clone());
    // `stringData` is write-only in a real cluster, but is honoured when a client reads it back.
    let text = data
        .or_else(|| secret.string_data.as_ref().and_then(|d| d.get(&reference.key)).map(|v| v.clone().into_bytes()));
    match text.map(String::from_utf8) {
        Some(Ok(value)) if !value.is_empty() => Ok(value),
        Some(Err(_)) => {
            Err(format!("key {} of Secret {namespace}/{} is not UTF-8 text", reference.key, reference.name))
        }
        _ => Err(format!("Secret {namespace}/{} has no key {}", reference.name, reference.key)),
    }
}

/// A fingerprint of what is sent for `store`: the store as declared and the
/// `resourceVersion` of its secret's Secret (so a changed secret is sent again) — never
/// the secret itself. FNV-1a, written out so it stays the same across Rust releases.
pub fn fingerprint(store: &TenantStore, secret_version: Option<&str>) -> String {
    let declared = serde_json::to_string(store).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in declared.bytes().chain([0]).chain(secret_version.unwrap_or("").bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether `store` must be sent: the app has not accepted this exact fingerprint.
pub fn needs_put(applied: &BTreeMap<String, String>, id: &str, fingerprint: &str) -> bool {
    applied.get(id).map(String::as_str) != Some(fingerprint)
}

/// The first store id declared twice, if any (the CRD cannot say so itself cheaply).
pub fn duplicate_id(stores: &[TenantStore]) -> Option<&str> {
    let mut seen = BTreeSet::new();
    stores.iter().map(|s| s.id.as_str()).find(|id| !seen.insert(*id))
}

#[cfg(test)]
#[path = "stores_tests.rs"]
mod tests;
