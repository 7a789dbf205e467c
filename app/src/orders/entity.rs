//! Table mappings for orders, their timeline, per-owner daily spend, the
//! owner's budget zone and the stores' daily totals.

/// The `orders` table.
pub mod order {
    use sea_orm::entity::prelude::*;

    /// One order, at most one per intent.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        /// Order id, also the idempotency key sent to the provider.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Owning tenant.
        pub tenant_id: String,
        /// The accepted intent.
        pub intent_id: Uuid,
        /// Device whose wearer accepted.
        pub device_id: String,
        /// Store that fulfils it.
        pub store_id: String,
        /// Household that pays.
        pub owner: String,
        /// Product ordered.
        pub product_id: String,
        /// SKU ordered.
        pub sku: String,
        /// Total in cents.
        pub total_cents: i64,
        /// The owner's budget day the spend counts against (`YYYY-MM-DD`, in the owner's budget zone).
        pub budget_day: String,
        /// An [`crate::orders::model::OrderStatus`].
        pub status: String,
        /// Commerce provider name.
        pub provider: String,
        /// The provider's reference once confirmed.
        pub provider_ref: Option<String>,
        /// Why it failed.
        pub failure_reason: Option<String>,
        /// Expected delivery date (`YYYY-MM-DD`).
        pub eta: Option<String>,
        /// Creation time.
        pub created_at: DateTimeUtc,
        /// Last change.
        pub updated_at: DateTimeUtc,
        /// When a replica last took the order to its provider: while the
        /// claim is fresh no other replica (nor the sweeper) works on it.
        pub claimed_at: Option<DateTimeUtc>,
        /// When an order without a definite answer may go to its merchant
        /// again (backoff, `Retry-After`, an open breaker); none: at once.
        pub next_attempt_at: Option<DateTimeUtc>,
        /// Calls made to the merchant for this order so far.
        pub attempts: i32,
        /// Placed by a test device: mock provider, no budget, no revenue.
        pub test: bool,
        /// Not sent to the provider before this time (the tenant's submit delay).
        pub send_after: Option<DateTimeUtc>,
    }

    /// No navigable relations; queries join explicitly.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId, device: DeviceId);
}

/// The `owner_daily_spend` table.
pub mod spend {
    use sea_orm::entity::prelude::*;

    /// Cents an owner has committed to orders on one budget day (in the owner's budget zone).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "owner_daily_spend")]
    pub struct Model {
        /// Owning tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Household.
        #[sea_orm(primary_key, auto_increment = false)]
        pub owner: String,
        /// `YYYY-MM-DD`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        /// Cents committed.
        pub cents: i64,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}

/// The `owner_budget_zones` table.
pub mod budget_zone {
    use sea_orm::entity::prelude::*;

    /// The zone whose calendar day an owner's daily budget counts in: the
    /// zone of the store of the owner's first order, kept from then on.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "owner_budget_zones")]
    pub struct Model {
        /// Owning tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Household.
        #[sea_orm(primary_key, auto_increment = false)]
        pub owner: String,
        /// IANA time zone.
        pub timezone: String,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl crate::db::scope::TenantOwned for Entity {
        fn tenant_column() -> Column {
            Column::TenantId
        }
    }
}

/// The `store_daily_total_shards` table.
pub mod store_day {
    use sea_orm::entity::prelude::*;

    /// Confirmed orders and their revenue for one store on one store-local
    /// day, in one of several shards (so concurrent confirmations of one
    /// store do not wait for one row's lock); a day's total is their sum.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "store_daily_total_shards")]
    pub struct Model {
        /// Owning tenant.
        #[sea_orm(primary_key, auto_increment = false)]
        pub tenant_id: String,
        /// Store.
        #[sea_orm(primary_key, auto_increment = false)]
        pub store_id: String,
        /// `YYYY-MM-DD` in the store's time zone, of when the order was placed.
        #[sea_orm(primary_key, auto_increment = false)]
        pub day: String,
        /// Which of the day's rows (chosen by order id).
        #[sea_orm(primary_key, auto_increment = false)]
        pub shard: i16,
        /// Orders confirmed.
        pub orders: i64,
        /// Their totals, in cents.
        pub revenue_cents: i64,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}

/// The `order_events` table.
pub mod order_event {
    use sea_orm::entity::prelude::*;

    /// One entry of an order's timeline, written with the change it records.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_events")]
    pub struct Model {
        /// Insertion order.
        #[sea_orm(primary_key)]
        pub id: i32,
        /// Owning tenant.
        pub tenant_id: String,
        /// The order.
        pub order_id: Uuid,
        /// The status it took.
        pub status: String,
        /// JSON of [`crate::orders::model::EventDetails`].
        pub details: String,
        /// When.
        pub at: DateTimeUtc,
    }

    /// No navigable relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    crate::db::scope::owned_by!(tenant: TenantId);
}
