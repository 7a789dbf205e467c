//! Stores a Tenant declares (`spec.stores`): the operator creates or updates each one in
//! the app through the merchant API, taking a webhook's signing secret from a Secret.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One store of the tenant, as `PUT /api/v1/stores/{id}` takes it. Stores the tenant has
/// in the app but does not declare here are left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantStore {
    /// Store id in the app: a DNS label (1-63 lowercase letters, digits and `-`).
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub id: String,
    /// Name shown to people (1-200 characters).
    #[schemars(length(min = 1, max = 200))]
    pub name: String,
    /// IANA time zone name, e.g. `America/Los_Angeles`; `UTC` when absent.
    #[serde(default = "utc")]
    pub timezone: String,
    /// How the store places orders.
    pub commerce: StoreCommerce,
}

fn utc() -> String {
    "UTC".into()
}

/// A store's commerce provider. There is no plain-text secret here: a webhook's secret
/// comes from a Secret in the tenant's namespace, named by `secretRef`.
#[derive(KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(
    validation = Rule::new("self.provider == 'webhook' || (!has(self.url) && !has(self.cancelUrl) && !has(self.secretRef))").message("url, cancelUrl and secretRef are for the webhook provider only"),
    validation = Rule::new("self.provider != 'webhook' || has(self.url)").message("the webhook provider needs a url")
)]
pub struct StoreCommerce {
    /// `mock` (confirms every order; demos and tests) or `webhook` (POSTs each order, signed).
    pub provider: StoreProvider,
    /// For `webhook` (required there): the `https://` URL each order is POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub url: Option<String>,
    /// For `webhook`: the `https://` URL cancellations are POSTed to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub cancel_url: Option<String>,
    /// For `webhook`: the key of a Secret in the tenant's namespace holding the signing
    /// secret (16-256 characters). When absent the store keeps the secret it has in the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
}

/// The commerce providers a declared store can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StoreProvider {
    /// Confirms every order with a deterministic ETA.
    Mock,
    /// POSTs each order, signed with the secret, to `url`.
    Webhook,
}

/// A key of a Secret in the tenant's namespace (`tenant-<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}
