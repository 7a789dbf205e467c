//! The `assistant_usage` table: one row per metered provider call.

use sea_orm::entity::prelude::*;

/// One metered provider call.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "assistant_usage")]
pub struct Model {
    /// Row id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Tenant billed.
    pub tenant_id: String,
    /// Calling device.
    pub device_id: String,
    /// `assistant` or `frame`.
    pub route: String,
    /// Prompt tokens.
    pub prompt_tokens: i64,
    /// Completion tokens.
    pub completion_tokens: i64,
    /// Their sum as the provider reports it.
    pub total_tokens: i64,
    /// When the call finished.
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::db::scope::owned_by!(tenant: TenantId, device: DeviceId);
