//! The `Device` resource: one camera device of a tenant.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::{Condition, conditions_schema};

/// A device of a tenant, declared in the tenant's namespace (`tenant-<tenant>`).
/// The operator registers it in the app and keeps its token in a Secret.
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "replenish.dev",
    version = "v1alpha1",
    kind = "Device",
    namespaced,
    shortname = "dev",
    category = "replenish",
    status = "DeviceStatus",
    doc = "A device of a tenant, registered in the app by the operator.",
    // The app's ids are DNS labels.
    validation = Rule::new("size(self.metadata.name) <= 63 && !self.metadata.name.contains('.')").message("a device name is a DNS label"),
    printcolumn(name = "Store", type_ = "string", json_path = ".spec.store"),
    printcolumn(name = "Model", type_ = "string", json_path = ".spec.model"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct DeviceSpec {
    /// Store the device orders from; the merchant must have created it in the app.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"))]
    pub store: String,
    /// Hardware model (1-64 characters).
    #[schemars(length(min = 1, max = 64))]
    pub model: String,
    /// Hardware serial number (1-128 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub serial: Option<String>,
    /// Wearer or household (1-128 characters); devices of one owner share order history.
    #[schemars(length(min = 1, max = 128))]
    pub owner: String,
    /// When true the operator leaves this device alone.
    #[serde(default)]
    pub paused: bool,
    /// A test device: its orders go to the mock provider whatever the store uses and count
    /// against no budget and no revenue (a rehearsal of the fleet without real orders).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// What the operator last observed and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatus {
    /// `Ready`, `Provisioned` and, while paused, `ReconciliationPaused`.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// Secret (in the device's namespace) holding the device token under `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret: Option<String>,
    /// When the app first issued this device's current token (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registered_at: Option<String>,
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
