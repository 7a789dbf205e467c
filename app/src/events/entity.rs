//! Table mapping of the event log.

/// The `events` table.
pub mod event {
    use sea_orm::entity::prelude::*;

    /// One event, written in the transaction of the change it describes.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        /// Write order: the listing's cursor and, per object, the delivery order.
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// Public event id.
        pub id: Uuid,
        /// Owning tenant.
        pub tenant_id: String,
        /// Wire form of [`replenish_api::EventType`].
        pub event_type: String,
        /// `intent`, `order`, `device`, `tenant` or `endpoint`.
        pub object_kind: String,
        /// The object's id.
        pub object_id: String,
        /// Whether it concerns a test device.
        pub test: bool,
        /// JSON snapshot of the object right after the change.
        pub data: String,
        /// When the change happened.
        pub created_at: DateTimeUtc,
        /// Whether the dispatcher has made this event's deliveries.
        pub fanned_out: bool,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}
