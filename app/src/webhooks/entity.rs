//! Table mappings of webhook endpoints and deliveries.

/// The `webhook_endpoints` table.
pub mod endpoint {
    use sea_orm::entity::prelude::*;

    /// One endpoint of one tenant.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        /// Owning tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Endpoint id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        /// Where events are POSTed.
        pub url: String,
        /// JSON array of subscribed event type names.
        pub event_types: String,
        /// Whether events are delivered.
        pub enabled: bool,
        /// Why the service disabled it.
        pub disabled_reason: Option<String>,
        /// What it is for.
        pub description: Option<String>,
        /// The current signing secret.
        pub secret: String,
        /// The secret before the last roll, signing too until `previous_secret_expires_at`.
        pub previous_secret: Option<String>,
        /// End of the last roll's grace period.
        pub previous_secret_expires_at: Option<DateTimeUtc>,
        /// Creation time.
        pub created_at: DateTimeUtc,
        /// Last change.
        pub updated_at: DateTimeUtc,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}

/// The `webhook_deliveries` table.
pub mod delivery {
    use sea_orm::entity::prelude::*;

    /// One event's delivery to one endpoint, with its last attempt.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_deliveries")]
    pub struct Model {
        /// Delivery id.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Owning tenant.
        pub tenant_id: String,
        /// The endpoint.
        pub endpoint_id: String,
        /// The event's `seq`.
        pub event_seq: i64,
        /// The event's id.
        pub event_id: Uuid,
        /// The event's type.
        pub event_type: String,
        /// `<object kind>:<object id>`: deliveries of one key go out in event order.
        pub object_key: String,
        /// Attempts made.
        pub attempt: i32,
        /// Wire form of [`replenish_api::webhooks::DeliveryOutcome`].
        pub outcome: String,
        /// The last attempt's HTTP status.
        pub status_code: Option<i32>,
        /// The last attempt's round trip, ms.
        pub latency_ms: Option<i64>,
        /// The last attempt's response body (≤ 1 KiB) or error.
        pub response_body: Option<String>,
        /// When the last attempt was made.
        pub attempted_at: Option<DateTimeUtc>,
        /// When the next attempt is due.
        pub next_attempt_at: Option<DateTimeUtc>,
        /// A dispatcher's lease while it makes an attempt.
        pub claimed_until: Option<DateTimeUtc>,
        /// When the first attempt was made: the retry horizon counts from it.
        pub first_attempt_at: Option<DateTimeUtc>,
        /// Creation time.
        pub created_at: DateTimeUtc,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}
