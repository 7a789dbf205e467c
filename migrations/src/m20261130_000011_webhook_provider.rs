//! The webhook commerce provider: retry schedule of orders and stores' daily totals.
//!
//! `orders.next_attempt_at` / `orders.attempts`: when an order whose outcome
//! is unknown (timeout, 5xx, 429, an open circuit breaker) may be sent to its
//! merchant again, and how many calls it has had. The sweeper claims only
//! orders that are due, so backoff and `Retry-After` survive a restart.
//!
//! `store_daily_totals`: confirmed orders and revenue per store and
//! store-local day, counted in the transaction that confirms an order, so
//! the merchant summary reads them without scanning orders.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds the retry schedule columns and `store_daily_totals`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000011_webhook_provider"
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    NextAttemptAt,
    Attempts,
}

#[derive(DeriveIden)]
enum StoreDailyTotals {
    Table,
    TenantId,
    StoreId,
    Day,
    Orders,
    RevenueCents,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(timestamp_with_time_zone_null(Orders::NextAttemptAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter().table(Orders::Table).add_column(integer(Orders::Attempts).default(0)).to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StoreDailyTotals::Table)
                    .col(string(StoreDailyTotals::TenantId))
                    .col(string(StoreDailyTotals::StoreId))
                    .col(string(StoreDailyTotals::Day))
                    .col(big_integer(StoreDailyTotals::Orders).default(0))
                    .col(big_integer(StoreDailyTotals::RevenueCents).default(0))
                    .primary_key(
                        Index::create()
                            .col(StoreDailyTotals::TenantId)
                            .col(StoreDailyTotals::StoreId)
                            .col(StoreDailyTotals::Day),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(StoreDailyTotals::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::Attempts).to_owned()).await?;
        manager.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::NextAttemptAt).to_owned()).await
    }
}
