//! Tenants (admin API): plans, limits, the tenant body and view, key rotation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::problem::{Invalid, Violations, text_ok};

/// A tenant's commercial plan; it sets the default limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// Small merchants.
    Starter,
    /// Growing fleets.
    Growth,
    /// Large fleets.
    Enterprise,
}

wire_enum!(Plan, "plan" { Starter => "starter", Growth => "growth", Enterprise => "enterprise" });

impl Plan {
    /// The limits a tenant on this plan gets unless overridden.
    pub fn default_limits(self) -> EffectiveLimits {
        let tenant_per_second = match self {
            Plan::Starter => 50,
            Plan::Growth => 500,
            Plan::Enterprise => 5_000,
        };
        EffectiveLimits {
            device_per_minute: 100,
            tenant_per_second,
            daily_order_budget_usd: 500.0,
            cooldown_seconds: 300,
            intent_ttl_seconds: 900,
            prompt_on_low_confidence: false,
            cancel_window_seconds: DEFAULT_CANCEL_WINDOW_SECONDS,
            order_in_progress_days: DEFAULT_ORDER_IN_PROGRESS_DAYS,
            submit_delay_seconds: 0,
        }
    }
}

/// Optional per-tenant overrides of the plan's limits. Unknown fields are rejected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TenantLimits {
    /// Requests per minute per device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_per_minute: Option<u32>,
    /// Requests per second for the whole tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_per_second: Option<u32>,
    /// Daily order budget per device owner, in USD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daily_order_budget_usd: Option<f64>,
    /// Seconds between prompts for one product on one device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown_seconds: Option<u32>,
    /// Seconds before an unanswered prompt expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub intent_ttl_seconds: Option<u32>,
    /// Whether LOW-confidence detections may prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_on_low_confidence: Option<bool>,
    /// Seconds after acceptance during which the wearer or merchant may cancel an order (0-86400; 0 disables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_window_seconds: Option<u32>,
    /// Days an order without a final status holds off new prompts for its product (1-365).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_in_progress_days: Option<u32>,
    /// Seconds an accepted order waits before it is sent to the provider (0-3600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submit_delay_seconds: Option<u32>,
}

impl TenantLimits {
    fn check(&self, violations: &mut Violations) {
        let positive = |v: Option<u32>| v.is_some_and(|v| v == 0 || v > 10_000_000);
        violations.check(positive(self.device_per_minute), "limits.device_per_minute", "must be 1-10000000");
        violations.check(positive(self.tenant_per_second), "limits.tenant_per_second", "must be 1-10000000");
        violations.check(
            self.daily_order_budget_usd.is_some_and(|v| !v.is_finite() || !(0.0..=1_000_000.0).contains(&v)),
            "limits.daily_order_budget_usd",
            "must be between 0 and 1000000",
        );
        violations.check(
            self.cooldown_seconds.is_some_and(|v| v > 30 * 86_400),
            "limits.cooldown_seconds",
            "must be at most 30 days",
        );
        violations.check(
            self.intent_ttl_seconds.is_some_and(|v| v == 0 || v > 86_400),
            "limits.intent_ttl_seconds",
            "must be 1-86400",
        );
        violations.check(
            self.cancel_window_seconds.is_some_and(|v| v > 86_400),
            "limits.cancel_window_seconds",
            "must be 0-86400",
        );
        violations.check(
            self.order_in_progress_days.is_some_and(|v| v == 0 || v > 365),
            "limits.order_in_progress_days",
            "must be 1-365",
        );
        violations.check(
            self.submit_delay_seconds.is_some_and(|v| v > 3_600),
            "limits.submit_delay_seconds",
            "must be 0-3600",
        );
    }

    /// The overrides laid over `plan`'s defaults.
    pub fn effective(&self, plan: Plan) -> EffectiveLimits {
        let d = plan.default_limits();
        EffectiveLimits {
            device_per_minute: self.device_per_minute.unwrap_or(d.device_per_minute),
            tenant_per_second: self.tenant_per_second.unwrap_or(d.tenant_per_second),
            daily_order_budget_usd: self.daily_order_budget_usd.unwrap_or(d.daily_order_budget_usd),
            cooldown_seconds: self.cooldown_seconds.unwrap_or(d.cooldown_seconds),
            intent_ttl_seconds: self.intent_ttl_seconds.unwrap_or(d.intent_ttl_seconds),
            prompt_on_low_confidence: self.prompt_on_low_confidence.unwrap_or(d.prompt_on_low_confidence),
            cancel_window_seconds: self.cancel_window_seconds.unwrap_or(d.cancel_window_seconds),
            order_in_progress_days: self.order_in_progress_days.unwrap_or(d.order_in_progress_days),
            submit_delay_seconds: self.submit_delay_seconds.unwrap_or(d.submit_delay_seconds),
        }
    }
}

/// The limits in force for a tenant: plan defaults with overrides applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveLimits {
    /// Requests per minute per device.
    pub device_per_minute: u32,
    /// Requests per second for the whole tenant.
    pub tenant_per_second: u32,
    /// Daily order budget per device owner, in USD.
    pub daily_order_budget_usd: f64,
    /// Seconds between prompts for one product on one device.
    pub cooldown_seconds: u32,
    /// Seconds before an unanswered prompt expires.
    pub intent_ttl_seconds: u32,
    /// Whether LOW-confidence detections may prompt.
    pub prompt_on_low_confidence: bool,
    /// Seconds after acceptance during which an order may be cancelled; 0: never.
    #[serde(default = "default_cancel_window")]
    pub cancel_window_seconds: u32,
    /// Days an order without a final status holds off new prompts for its product.
    #[serde(default = "default_order_in_progress_days")]
    pub order_in_progress_days: u32,
    /// Seconds an accepted order waits before it is sent to the provider.
    #[serde(default)]
    pub submit_delay_seconds: u32,
}

/// Every plan's cancel window: 15 minutes.
pub const DEFAULT_CANCEL_WINDOW_SECONDS: u32 = 900;
/// Every plan's order-in-progress horizon: two weeks.
pub const DEFAULT_ORDER_IN_PROGRESS_DAYS: u32 = 14;

fn default_cancel_window() -> u32 {
    DEFAULT_CANCEL_WINDOW_SECONDS
}

fn default_order_in_progress_days() -> u32 {
    DEFAULT_ORDER_IN_PROGRESS_DAYS
}

/// Body of `PUT /admin/v1/tenants/{tenant}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "display_name": "Acme Outdoor",
    "plan": "growth",
    "limits": {"device_per_minute": 120}
})))]
pub struct TenantSpec {
    /// Name shown to people (1-200 characters).
    pub display_name: String,
    /// Commercial plan.
    pub plan: Plan,
    /// Overrides of the plan's limits.
    #[serde(default)]
    pub limits: TenantLimits,
}

impl TenantSpec {
    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), Invalid> {
        let mut violations = Violations::default();
        violations.check(!text_ok(&self.display_name, 200), "display_name", "must be 1-200 characters, without NUL");
        self.limits.check(&mut violations);
        violations.finish()
    }
}

/// Lifecycle state of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Keys and device tokens work.
    Active,
    /// Every key and device token was revoked; data is kept.
    Deactivated,
}

wire_enum!(TenantStatus, "tenant status" { Active => "active", Deactivated => "deactivated" });

/// A tenant as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "tenant_id": "acme",
    "display_name": "Acme Outdoor",
    "plan": "growth",
    "limits": {"device_per_minute": 120},
    "effective_limits": {
        "device_per_minute": 120,
        "tenant_per_second": 500,
        "daily_order_budget_usd": 500.0,
        "cooldown_seconds": 300,
        "intent_ttl_seconds": 900,
        "prompt_on_low_confidence": false
    },
    "status": "active",
    "created_at": "2026-05-01T09:00:00Z",
    "updated_at": "2026-05-01T09:00:00Z",
    "deactivated_at": null,
    "api_key": "rpl_t_Zx4cV7bN1mQ8wE5rT2yU9iO3"
})))]
pub struct TenantView {
    /// Tenant id.
    pub tenant_id: String,
    /// Name shown to people.
    pub display_name: String,
    /// Commercial plan.
    pub plan: Plan,
    /// The overrides as set.
    pub limits: TenantLimits,
    /// The limits in force.
    pub effective_limits: EffectiveLimits,
    /// Active or deactivated.
    pub status: TenantStatus,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Last deactivation, if any.
    pub deactivated_at: Option<DateTime<Utc>>,
    /// The new API key: present only in the response that issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// Optional body of `POST /admin/v1/tenants/{tenant}/api-keys`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", schema(example = json!({"grace_period_seconds": 3600})))]
pub struct RotateKeyRequest {
    /// Seconds the previous keys keep working (0-86400, default 0: they stop at once).
    #[serde(default)]
    pub grace_period_seconds: u32,
}

/// Response of a key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "tenant_id": "acme",
    "api_key": "rpl_t_Hk2jG5fD8sA1lP4oI7uY0tR6",
    "previous_keys_expire_at": "2026-05-01T10:00:00Z"
})))]
pub struct RotatedKey {
    /// Tenant id.
    pub tenant_id: String,
    /// The new key, shown once.
    pub api_key: String,
    /// When the previous keys stop working.
    pub previous_keys_expire_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_validate_and_lay_over_the_plan() {
        let spec = TenantSpec {
            display_name: " ".into(),
            plan: Plan::Growth,
            limits: TenantLimits { intent_ttl_seconds: Some(0), ..TenantLimits::default() },
        };
        let Err(Invalid::Fields(errors)) = spec.validate() else { panic!("expected field errors") };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "limits.intent_ttl_seconds"]);
        let limits = TenantLimits { prompt_on_low_confidence: Some(true), ..TenantLimits::default() };
        let effective = limits.effective(Plan::Growth);
        assert_eq!((effective.tenant_per_second, effective.prompt_on_low_confidence), (500, true));
        assert_eq!(Plan::parse("growth"), Ok(Plan::Growth));
        assert!(Plan::parse("gold").is_err());
    }
}
