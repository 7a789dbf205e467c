//! What the app should hold for the webhook endpoints a Tenant declares (`spec.webhooks`),
//! and which endpoints the operator made earlier must go.

use std::collections::{BTreeMap, BTreeSet};

use replenish_api::EventType;
use serde::Serialize;

use crate::crd::TenantWebhook;

/// Body of `PUT /api/v1/webhook-endpoints/{id}`. Its own type rather than the API crate's,
/// whose `secret` is write-only and so never serialized.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct WebhookBody {
    /// Where events are POSTed.
    pub url: String,
    /// The event types delivered.
    pub event_types: Vec<EventType>,
    /// Whether events are delivered.
    pub enabled: bool,
    /// What the endpoint is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The signing secret, from the Secret. The app treats the value it already has as no
    /// change and a different one as a roll (both sign for 24 h), so sending it on every
    /// change of the declaration never cuts a receiver off.
    pub secret: String,
}

impl std::fmt::Debug for WebhookBody {
    // The secret must not reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookBody")
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// The body for `webhook` with `secret` read from its Secret. `Err` names an event type
/// the app does not know (the CRD's schema refuses those, so only a hand-edited object
/// on an older CRD gets here).
pub fn webhook_body(webhook: &TenantWebhook, secret: String) -> Result<WebhookBody, String> {
    let event_types = webhook
        .event_types
        .iter()
        .map(|t| EventType::parse(t).map_err(|e| format!("webhook {}: {e}", webhook.name)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WebhookBody {
        url: webhook.url.clone(),
        event_types,
        enabled: webhook.enabled,
        description: webhook.description.clone(),
        secret,
    })
}

/// A fingerprint of what is sent for `webhook`: the endpoint as declared and the
/// `resourceVersion` of its secret's Secret (so a changed secret is sent again) — never
/// the secret itself. FNV-1a, written out so it stays the same across Rust releases.
pub fn fingerprint(webhook: &TenantWebhook, secret_version: Option<&str>) -> String {
    let declared = serde_json::to_string(webhook).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in declared.bytes().chain([0]).chain(secret_version.unwrap_or("").bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Whether `id` must be sent: the app has not accepted this exact fingerprint.
pub fn needs_put(applied: &BTreeMap<String, String>, id: &str, fingerprint: &str) -> bool {
    applied.get(id).map(String::as_str) != Some(fingerprint)
}

/// Endpoints the operator put in place earlier (`applied`) that the spec no longer declares:
/// they are deleted from the app. Endpoints it never made are not in `applied`, so they stay.
pub fn removed(applied: &BTreeMap<String, String>, webhooks: &[TenantWebhook]) -> Vec<String> {
    let declared: BTreeSet<&str> = webhooks.iter().map(|w| w.name.as_str()).collect();
    applied.keys().filter(|id| !declared.contains(id.as_str())).cloned().collect()
}

/// The first endpoint name declared twice, if any (the CRD cannot say so itself cheaply).
pub fn duplicate_name(webhooks: &[TenantWebhook]) -> Option<&str> {
    let mut seen = BTreeSet::new();
    webhooks.iter().map(|w| w.name.as_str()).find(|name| !seen.insert(*name))
}

#[cfg(test)]
#[path = "webhooks_tests.rs"]
mod tests;
