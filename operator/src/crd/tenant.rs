//! The `Tenant` resource: one merchant on the platform.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::{Condition, conditions_schema};
use super::store::TenantStore;
use super::webhook::TenantWebhook;

/// A merchant on Replenish. The operator provisions it in the app and gives it the
/// namespace `tenant-<name>` holding its API key (and, when dedicated, its own app).
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "replenish.dev",
    version = "v1alpha1",
    kind = "Tenant",
    shortname = "tn",
    category = "replenish",
    status = "TenantStatus",
    doc = "A merchant on Replenish, provisioned in the app by the operator.",
    // The namespace is `tenant-<name>`: a DNS label of at most 63 characters.
    validation = Rule::new("size(self.metadata.name) <= 56 && !self.metadata.name.contains('.')").message("a tenant name is a DNS label of at most 56 characters"),
    printcolumn(name = "Plan", type_ = "string", json_path = ".spec.plan"),
    printcolumn(name = "Isolation", type_ = "string", json_path = ".spec.isolation"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Devices", type_ = "integer", json_path = ".status.devices"),
    printcolumn(name = "Webhooks", type_ = "integer", json_path = ".status.webhooks"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct TenantSpec {
    /// Name shown to people (1-200 characters).
    #[schemars(length(min = 1, max = 200))]
    pub display_name: String,
    /// Commercial plan; it sets default limits and, when dedicated, default scaling.
    pub plan: Plan,
    /// Whether the tenant is served by the shared app or by an app of its own.
    #[serde(default)]
    pub isolation: Isolation,
    /// Overrides of the plan's limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<TenantLimits>,
    /// Replica bounds of a dedicated app; the plan's defaults apply when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling: Option<Scaling>,
    /// When true the operator leaves this tenant alone.
    #[serde(default)]
    pub paused: bool,
    /// Stores the operator creates or updates in the app (by id). Stores made through the
    /// merchant API and not listed here are left alone; removing one from the list does not
    /// delete it from the app.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub stores: Vec<TenantStore>,
    /// Webhook endpoints the operator creates, updates and deletes in the app (by name), each
    /// signed with the secret from a Secret in the tenant's namespace. An endpoint removed from
    /// the list is deleted from the app; endpoints made through the merchant API and never
    /// listed here are left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50))]
    pub webhooks: Vec<TenantWebhook>,
}

/// A tenant's commercial plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Small merchants.
    Starter,
    /// Growing fleets.
    Growth,
    /// Large fleets.
    Enterprise,
}

impl Plan {
    /// The name the app and the plan defaults file use.
    pub fn as_str(self) -> &'static str {
        self.api().as_str()
    }

    /// The app's name for this plan.
    pub fn api(self) -> replenish_api::Plan {
        match self {
            Plan::Starter => replenish_api::Plan::Starter,
            Plan::Growth => replenish_api::Plan::Growth,
            Plan::Enterprise => replenish_api::Plan::Enterprise,
        }
    }
}

/// How a tenant is served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    /// By the platform's shared app.
    #[default]
    Shared,
    /// By an app of its own that serves only this tenant, with its own autoscaler: Deployment
    /// `tenant-<name>` in the operator's namespace (the platform's secrets never reach the tenant's).
    Dedicated,
}

/// Overrides of the plan's limits; absent fields keep the plan's value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TenantLimits {
    /// Requests per minute per device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub device_per_minute: Option<u32>,
    /// Requests per second for the whole tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub tenant_per_second: Option<u32>,
    /// Daily order budget per device owner, in USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1_000_000))]
    pub daily_order_budget_usd: Option<f64>,
    /// Seconds between prompts for one product on one device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 2_592_000))]
    pub cooldown_seconds: Option<u32>,
    /// Seconds before an unanswered prompt expires. When absent, the value set through the
    /// app's API (or else the plan's) stands: the operator never resets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86_400))]
    pub intent_ttl_seconds: Option<u32>,
    /// Whether LOW-confidence detections may prompt. When absent, the value set through the
    /// app's API (or else the plan's) stands: the operator never resets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt_on_low_confidence: Option<bool>,
    /// Seconds after acceptance during which the wearer or merchant may cancel an order; 0
    /// disables cancelling. When absent, the value set through the app's API (or else 900) stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 86_400))]
    pub cancel_window_seconds: Option<u32>,
    /// Days an order without a final status (delivered, cancelled, refunded, failed) holds off
    /// prompts for its product in the household. When absent, the app's value (or else 14) stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 365))]
    pub order_in_progress_days: Option<u32>,
    /// Seconds an accepted order is held before it is sent to the merchant, so most cancels
    /// never reach it. When absent, the app's value (or else 0) stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 3_600))]
    pub submit_delay_seconds: Option<u32>,
}

/// Replica bounds and CPU target of a dedicated tenant's autoscaler.
#[derive(KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.maxReplicas >= self.minReplicas").message("maxReplicas must be at least minReplicas"))]
pub struct Scaling {
    /// Fewest replicas.
    #[schemars(range(min = 1, max = 1000))]
    pub min_replicas: i32,
    /// Most replicas.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Average CPU utilisation the autoscaler aims for, in percent; the plan's when absent.
    #[serde(default, rename = "targetCPUUtilizationPercentage", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub target_cpu_utilization_percentage: Option<i32>,
}

/// What the operator last observed and did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TenantStatus {
    /// `Ready`, `Provisioned` and, while paused, `ReconciliationPaused`.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The tenant's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Secret (in `namespace`) holding the API key under `api-key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
    /// Base URL of the app serving this tenant, inside the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Number of Device resources in the tenant's namespace.
    #[serde(default)]
    pub devices: i32,
    /// The generation last reconciled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// For each declared store the app has accepted, a fingerprint of what was sent (the
    /// store and the version of its secret's Secret, never the secret): an unchanged store
    /// is not sent again.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub applied_stores: std::collections::BTreeMap<String, String>,
    /// For each webhook endpoint the operator put in the app, a fingerprint of what was sent
    /// (the declaration and the version of its secret's Secret, never the secret). An
    /// unchanged endpoint is not sent again; one listed here but no longer declared is deleted.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub applied_webhooks: std::collections::BTreeMap<String, String>,
    /// Number of declared webhook endpoints in place in the app.
    #[serde(default)]
    pub webhooks: i32,
}
