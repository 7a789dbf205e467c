//! Order claims and the owner's budget zone.
//!
//! `orders.claimed_at`: when a replica last took an unfinished order to talk
//! to its provider; the sweeper claims only orders whose claim has lapsed, so
//! one replica works on one order at a time. Its scan (unfinished orders by
//! claim time) has a partial index, small because finished orders leave it.
//!
//! `owner_budget_zones`: the time zone whose calendar day an owner's daily
//! budget counts in, fixed by the owner's first order, so an owner with
//! devices at stores in several zones has one budget day, not several.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `orders.claimed_at`, its index and `owner_budget_zones`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000010_order_claims_budget_zone"
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    ClaimedAt,
}

#[derive(DeriveIden)]
enum OwnerBudgetZones {
    Table,
    TenantId,
    Owner,
    Timezone,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Orders::Table)
                    .add_column(timestamp_with_time_zone_null(Orders::ClaimedAt))
                    .to_owned(),
            )
            .await?;
        // Partial, so it holds only the few orders still waiting for a provider;
        // the same statement works on Postgres and SQLite.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_orders_unfinished_claimed ON orders (claimed_at) \
                 WHERE status IN ('PENDING', 'SUBMITTED')",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OwnerBudgetZones::Table)
                    .col(string(OwnerBudgetZones::TenantId))
                    .col(string(OwnerBudgetZones::Owner))
                    .col(string(OwnerBudgetZones::Timezone))
                    .primary_key(Index::create().col(OwnerBudgetZones::TenantId).col(OwnerBudgetZones::Owner))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OwnerBudgetZones::Table).to_owned()).await?;
        manager.get_connection().execute_unprepared("DROP INDEX idx_orders_unfinished_claimed").await?;
        manager.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::ClaimedAt).to_owned()).await
    }
}
