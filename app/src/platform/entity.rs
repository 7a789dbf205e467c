//! The `platform_secrets` table.

use sea_orm::entity::prelude::*;

/// A named platform secret, stored only as a hash.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "platform_secrets")]
pub struct Model {
    /// Secret name, e.g. `admin_token`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub value_hash: String,
    /// When it was generated.
    pub created_at: DateTimeUtc,
}

/// No relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
