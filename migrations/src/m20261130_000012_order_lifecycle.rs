//! The order's life after placement.
//!
//! `order_events`: an order's timeline (every status it took, with details
//! such as tracking or a cancellation's channel), written in the transaction
//! of each change, so the timeline and the order never disagree.
//!
//! `orders.test` and `devices.test`: a test device's orders go to the mock
//! provider and count against no budget and no revenue.
//!
//! `orders.send_after`: the tenant's submit delay; until then an accepted
//! order stays PENDING (cancellable without the provider ever seeing it) and
//! the sweeper does not send it.

use sea_orm_migration::{prelude::*, schema::*};

/// Adds `order_events`, `orders.test`, `orders.send_after` and `devices.test`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000012_order_lifecycle"
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Test,
    SendAfter,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Test,
}

#[derive(DeriveIden)]
enum OrderEvents {
    Table,
    Id,
    TenantId,
    OrderId,
    Status,
    Details,
    At,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        let orders = || Table::alter().table(Orders::Table).to_owned();
        manager.alter_table(orders().add_column(boolean(Orders::Test).default(false)).to_owned()).await?;
        manager.alter_table(orders().add_column(timestamp_with_time_zone_null(Orders::SendAfter)).to_owned()).await?;
        let devices = Table::alter().table(Devices::Table).add_column(boolean(Devices::Test).default(false)).to_owned();
        manager.alter_table(devices).await?;
        manager
            .create_table(
                Table::create()
                    .table(OrderEvents::Table)
                    .col(pk_auto(OrderEvents::Id))
                    .col(string(OrderEvents::TenantId))
                    .col(uuid(OrderEvents::OrderId))
                    .col(string(OrderEvents::Status))
                    .col(text(OrderEvents::Details))
                    .col(timestamp_with_time_zone(OrderEvents::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_order_events_order")
                    .table(OrderEvents::Table)
                    .col(OrderEvents::TenantId)
                    .col(OrderEvents::OrderId)
                    .col(OrderEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(OrderEvents::Table).to_owned()).await?;
        manager.alter_table(Table::alter().table(Devices::Table).drop_column(Devices::Test).to_owned()).await?;
        manager.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::SendAfter).to_owned()).await?;
        manager.alter_table(Table::alter().table(Orders::Table).drop_column(Orders::Test).to_owned()).await
    }
}
