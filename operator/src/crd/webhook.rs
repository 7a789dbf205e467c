//! Webhook endpoints a Tenant declares (`spec.webhooks`): the operator creates, updates and
//! deletes each one in the app through the merchant API, its signing secret read from a Secret.

use replenish_api::EventType;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::store::SecretKeyRef;

/// One webhook endpoint of the tenant, as `PUT /api/v1/webhook-endpoints/{id}` takes it.
/// Endpoints the operator created and that are no longer listed are deleted from the app;
/// endpoints made through the merchant API and never listed here are left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantWebhook {
    /// Endpoint id in the app: a DNS label (1-63 lowercase letters, digits and `-`).
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// The `https://` URL events are POSTed to, signed (`Replenish-Signature`).
    #[schemars(length(min = 1, max = 2048), regex(pattern = r"^https?://\S+$"))]
    pub url: String,
    /// The event types the endpoint receives (at least one, no repeats), e.g. `order.confirmed`.
    #[schemars(schema_with = "event_types_schema")]
    pub event_types: Vec<String>,
    /// Whether events are delivered (default true). The app disables an endpoint that kept
    /// failing for days; it is enabled again the next time this declaration (or its Secret)
    /// changes and is sent.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// What the endpoint is for, shown to people (1-200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub description: Option<String>,
    /// The key of a Secret in the tenant's namespace holding the signing secret (32-256
    /// characters). A changed value rolls the endpoint's secret in the app: the old one keeps
    /// signing beside the new one for 24 hours, so receivers can switch without missing events.
    pub secret_ref: SecretKeyRef,
}

fn enabled_by_default() -> bool {
    true
}

/// The event type names, as the schema's enum: a typo is refused when the Tenant is applied.
fn event_types_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "maxItems": names.len(),
        "items": {"type": "string", "enum": names},
        // A set: the API server refuses a type named twice.
        "x-kubernetes-list-type": "set"
    })
}
