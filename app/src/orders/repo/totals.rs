//! The stores' daily order and revenue counters (`store_daily_total_shards`),
//! counted in the transaction that confirms an order, so each confirmed
//! order counts exactly once and the merchant summary reads a few rows. Each
//! (store, day) is spread over [`SHARDS`] rows chosen by order id, so
//! confirmations of one busy store do not queue for one row's lock.

use std::collections::BTreeMap;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter};
use uuid::Uuid;

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::orders::entity::store_day;

/// Rows per (store, day).
const SHARDS: u128 = 16;

/// One store's confirmed orders and revenue on one store-local day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTotal {
    /// The store.
    pub store_id: String,
    /// `YYYY-MM-DD` in the store's time zone.
    pub day: String,
    /// Orders confirmed.
    pub orders: i64,
    /// Their totals, in cents.
    pub revenue_cents: i64,
}

/// Adds order `order` of `cents` to `store`'s totals of store-local `day`.
pub async fn count_confirmed(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    store: &str,
    day: &str,
    order: Uuid,
    cents: i64,
) -> Result<(), Error> {
    let current = |c: store_day::Column| Expr::col((store_day::Entity, c));
    let incoming = |c: store_day::Column| Expr::col((Alias::new("excluded"), c));
    let orders = store_day::Column::Orders;
    let revenue = store_day::Column::RevenueCents;
    let shard = (order.as_u128() % SHARDS) as i16;
    let statement = Query::insert()
        .into_table(store_day::Entity)
        .columns([
            store_day::Column::TenantId,
            store_day::Column::StoreId,
            store_day::Column::Day,
            store_day::Column::Shard,
            orders,
            revenue,
        ])
        .values_panic([tenant.as_str().into(), store.into(), day.into(), shard.into(), 1i64.into(), cents.into()])
        .on_conflict(
            OnConflict::columns([
                store_day::Column::TenantId,
                store_day::Column::StoreId,
                store_day::Column::Day,
                store_day::Column::Shard,
            ])
            .value(orders, current(orders).add(incoming(orders)))
            .value(revenue, current(revenue).add(incoming(revenue)))
            .to_owned(),
        )
        .to_owned();
    db.execute(&statement).await?;
    Ok(())
}

/// The tenant's store totals for store-local days `from..=to` (`YYYY-MM-DD`),
/// by store then day, each the sum of its shards.
pub async fn days(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    from: &str,
    to: &str,
) -> Result<Vec<DayTotal>, Error> {
    let rows = tenant
        .find::<store_day::Entity>()
        .filter(store_day::Column::Day.gte(from))
        .filter(store_day::Column::Day.lte(to))
        .all(db)
        .await?;
    let mut summed: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for row in rows {
        let total = summed.entry((row.store_id, row.day)).or_default();
        total.0 += row.orders;
        total.1 += row.revenue_cents;
    }
    Ok(summed
        .into_iter()
        .map(|((store_id, day), (orders, revenue_cents))| DayTotal { store_id, day, orders, revenue_cents })
        .collect())
}
