//! Table mappings for detections and intents.

/// The `detections` table: one row per (device, event id) with the answer given.
pub mod detection {
    use sea_orm::entity::prelude::*;

    /// A processed detection.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "detections")]
    pub struct Model {
        /// Owning tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Reporting device.
        #[sea_orm(primary_key, auto_increment = false)]
        pub device_id: String,
        /// The device's id for this event.
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        /// Matched product.
        pub product_id: Option<String>,
        /// Why it did or did not prompt.
        pub reason: String,
        /// The intent it created or pointed at.
        pub intent_id: Option<Uuid>,
        /// The JSON response given, replayed for a repeated event id.
        pub response: String,
        /// When it was processed.
        pub created_at: DateTimeUtc,
    }

    /// No navigable relations; queries join explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId, device: DeviceId);
}

/// The `intents` table: a prompt and what became of it.
pub mod intent {
    use sea_orm::entity::prelude::*;

    /// One replenishment intent.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "intents")]
    pub struct Model {
        /// Intent id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Owning tenant.
        pub tenant_id: String,
        /// Device that was prompted.
        pub device_id: String,
        /// Product offered.
        pub product_id: String,
        /// Store that would fulfil it.
        pub store_id: String,
        /// The device's owner (household) when prompted.
        pub owner: String,
        /// SKU offered.
        pub sku: String,
        /// Label of the SKU offered.
        pub label: String,
        /// Price offered, in cents.
        pub unit_price_cents: i64,
        /// PENDING, ACCEPTED, ORDERED, CONFIRMED, FAILED, REJECTED or EXPIRED.
        pub status: String,
        /// When the prompt was created.
        pub created_at: DateTimeUtc,
        /// When an unanswered prompt expires.
        pub expires_at: DateTimeUtc,
        /// When the wearer decided.
        pub decided_at: Option<DateTimeUtc>,
        /// The decision.
        pub accepted: Option<bool>,
        /// GESTURE or VOICE.
        pub channel: Option<String>,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No navigable relations; queries join explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId, device: DeviceId);
}
