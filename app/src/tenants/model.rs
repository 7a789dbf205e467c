//! What the admin API says about tenants: plans, limits, views. The wire types
//! live in `replenish_api::tenants`; this module adds what needs the database.

use crate::error::Error;
use crate::tenants::entity::tenant;

pub use replenish_api::tenants::{
    EffectiveLimits, Plan, RotateKeyRequest, RotatedKey, TenantLimits, TenantSpec, TenantStatus, TenantView,
};

/// Builds the API view of a stored tenant.
pub trait TenantViewExt: Sized {
    /// Builds the view of a stored tenant.
    fn from_model(model: &tenant::Model) -> Result<Self, Error>;
}

impl TenantViewExt for TenantView {
    fn from_model(model: &tenant::Model) -> Result<Self, Error> {
        let plan = Plan::parse(&model.plan)?;
        let limits: TenantLimits = serde_json::from_str(&model.limits)
            .map_err(|e| Error::Internal(format!("stored limits of {} do not parse: {e}", model.id)))?;
        Ok(Self {
            tenant_id: model.id.clone(),
            display_name: model.display_name.clone(),
            plan,
            effective_limits: limits.effective(plan),
            limits,
            status: if model.active { TenantStatus::Active } else { TenantStatus::Deactivated },
            created_at: model.created_at,
            updated_at: model.updated_at,
            deactivated_at: model.deactivated_at,
            api_key: None,
        })
    }
}
