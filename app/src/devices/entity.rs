//! Table mapping for devices.

use sea_orm::entity::prelude::*;

/// A device row, keyed by (tenant, device).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    /// Owning tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    /// Device id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Store the device orders from.
    pub store_id: String,
    /// Wearer or household; household rules group devices by it.
    pub owner: String,
    /// Hardware model, e.g. `spectacles-5`.
    pub model: String,
    /// Hardware serial number.
    pub serial: Option<String>,
    /// Hex SHA-256 of the device token.
    pub token_hash: String,
    /// False once revoked.
    pub active: bool,
    /// Registration time.
    pub created_at: DateTimeUtc,
    /// Last change.
    pub updated_at: DateTimeUtc,
    /// Last revocation.
    pub revoked_at: Option<DateTimeUtc>,
    /// A test device: its orders are test orders (mock provider, no budget, no revenue).
    pub test: bool,
}

/// No navigable relations; queries join explicitly.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::db::scope::owned_by!(tenant: TenantId, device: Id);
