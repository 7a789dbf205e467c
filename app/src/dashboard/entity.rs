//! The `dashboard_sessions` table: one signed-in browser.

use sea_orm::entity::prelude::*;

/// A dashboard session; the cookie's token itself is never stored.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dashboard_sessions")]
pub struct Model {
    /// Hex SHA-256 of the session cookie's token.
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// The tenant the session acts for.
    pub tenant_id: String,
    /// Hex SHA-256 of the API key that signed in (as `api_keys` stores it).
    pub credential_hash: String,
    /// The synchronizer token every form of this session must carry.
    pub csrf_token: String,
    /// When the session was created.
    pub created_at: DateTimeUtc,
    /// When it ends, whatever happens to the key.
    pub expires_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::db::scope::owned_by!(tenant: TenantId);
