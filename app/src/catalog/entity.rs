//! Table mappings for products and their variants.

/// The `products` table.
pub mod product {
    use sea_orm::entity::prelude::*;

    /// A product row, keyed by (tenant, product).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        /// Owning tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Product id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Detector class that maps to this product (unique per tenant).
        pub object_class: String,
        /// Name shown to people.
        pub display_name: String,
        /// Fill level at or below which a detection may prompt.
        pub reorder_threshold: String,
        /// SKU ordered unless another is chosen.
        pub default_sku: String,
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
}

/// The `product_variants` table.
pub mod variant {
    use sea_orm::entity::prelude::*;

    /// One purchasable variant of a product.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "product_variants")]
    pub struct Model {
        /// Owning tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Owning product.
        #[sea_orm(primary_key, auto_increment = false)]
        pub product_id: String,
        /// Stock-keeping unit (unique per tenant).
        #[sea_orm(primary_key, auto_increment = false)]
        pub sku: String,
        /// Name shown to people.
        pub label: String,
        /// Free-form size, e.g. `24 x 500 ml`.
        pub size: Option<String>,
        /// Price in US cents.
        pub unit_price_cents: i64,
        /// Order within the product, as submitted.
        pub position: i32,
    }

    /// No navigable relations; queries join explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}
