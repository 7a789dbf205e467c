//! The stores' daily order and revenue counters (`store_daily_totals`),
//! counted in the transaction that confirms an order, so each confirmed
//! order counts exactly once and the merchant summary reads a few rows.

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, QueryFilter, QueryOrder};

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::orders::entity::store_day;

/// Adds one order of `cents` to `store`'s totals of store-local `day`.
pub async fn count_confirmed(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    store: &str,
    day: &str,
    cents: i64,
) -> Result<(), Error> {
    let current = |c: store_day::Column| Expr::col((store_day::Entity, c));
    let incoming = |c: store_day::Column| Expr::col((Alias::new("excluded"), c));
    let orders = store_day::Column::Orders;
    let revenue = store_day::Column::RevenueCents;
    let statement = Query::insert()
        .into_table(store_day::Entity)
        .columns([store_day::Column::TenantId, store_day::Column::StoreId, store_day::Column::Day, orders, revenue])
        .values_panic([tenant.as_str().into(), store.into(), day.into(), 1i64.into(), cents.into()])
        .on_conflict(
            OnConflict::columns([store_day::Column::TenantId, store_day::Column::StoreId, store_day::Column::Day])
                .value(orders, current(orders).add(incoming(orders)))
                .value(revenue, current(revenue).add(incoming(revenue)))
                .to_owned(),
        )
        .to_owned();
    db.execute(&statement).await?;
    Ok(())
}

/// The tenant's store totals for store-local days `from..=to` (`YYYY-MM-DD`),
/// by store then day.
pub async fn days(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    from: &str,
    to: &str,
) -> Result<Vec<store_day::Model>, Error> {
    Ok(tenant
        .find::<store_day::Entity>()
        .filter(store_day::Column::Day.gte(from))
        .filter(store_day::Column::Day.lte(to))
        .order_by_asc(store_day::Column::StoreId)
        .order_by_asc(store_day::Column::Day)
        .all(db)
        .await?)
}
