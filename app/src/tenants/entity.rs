//! Table mappings for tenants and their API keys.

/// The `tenants` table.
pub mod tenant {
    use sea_orm::entity::prelude::*;

    /// A tenant row; `limits` holds the JSON of [`crate::tenants::model::TenantLimits`].
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tenants")]
    pub struct Model {
        /// Tenant id (also its Kubernetes name).
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Name shown to people.
        pub display_name: String,
        /// `starter`, `growth` or `enterprise`.
        pub plan: String,
        /// Per-tenant limit overrides as JSON.
        pub limits: String,
        /// False once deactivated.
        pub active: bool,
        /// When the tenant was created.
        pub created_at: DateTimeUtc,
        /// When anything about the tenant last changed.
        pub updated_at: DateTimeUtc,
        /// When it was last deactivated.
        pub deactivated_at: Option<DateTimeUtc>,
    }

    /// No navigable relations; queries join explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: Id);
}

/// The `api_keys` table.
pub mod api_key {
    use sea_orm::entity::prelude::*;

    /// One API key of a tenant, stored as a hash.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_keys")]
    pub struct Model {
        /// Key id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Owning tenant.
        pub tenant_id: String,
        /// Hex SHA-256 of the key.
        pub token_hash: String,
        /// When the key was issued.
        pub created_at: DateTimeUtc,
        /// End of a rotation grace period, if any.
        pub expires_at: Option<DateTimeUtc>,
        /// When the key was revoked.
        pub revoked_at: Option<DateTimeUtc>,
    }

    /// No navigable relations; queries join explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}
