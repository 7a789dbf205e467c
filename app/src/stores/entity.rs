//! Table mapping for stores.

use sea_orm::entity::prelude::*;

/// A store row, keyed by (tenant, store).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stores")]
pub struct Model {
    /// Owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// Store id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Name shown to people.
    pub name: String,
    /// IANA time zone, e.g. `America/Los_Angeles`.
    pub timezone: String,
    /// Commerce provider name.
    pub commerce_provider: String,
    /// Provider-specific settings as JSON.
    pub commerce_settings: String,
    /// Creation time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// No navigable relations; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::db::scope::owned_by!(tenant: TenantId);
