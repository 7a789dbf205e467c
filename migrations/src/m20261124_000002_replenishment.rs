//! The replenishment loop: detections, intents, orders and per-owner daily spend.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the replenishment tables.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000002_replenishment"
    }
}

#[derive(DeriveIden)]
enum Stores {
    Table,
    CommerceSettings,
}

#[derive(DeriveIden)]
enum Detections {
    Table,
    TenantId,
    DeviceId,
    EventId,
    ProductId,
    Reason,
    IntentId,
    Response,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Intents {
    Table,
    Id,
    TenantId,
    DeviceId,
    ProductId,
    StoreId,
    Owner,
    Sku,
    Label,
    UnitPriceCents,
    Status,
    CreatedAt,
    ExpiresAt,
    DecidedAt,
    Accepted,
    Channel,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    TenantId,
    IntentId,
    DeviceId,
    StoreId,
    Owner,
    ProductId,
    Sku,
    TotalCents,
    BudgetDay,
    Status,
    Provider,
    ProviderRef,
    FailureReason,
    Eta,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OwnerDailySpend {
    Table,
    TenantId,
    Owner,
    Day,
    Cents,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Provider-specific settings (e.g. the mock provider's outcome), as JSON.
        manager
            .alter_table(
                Table::alter().table(Stores::Table).add_column(text(Stores::CommerceSettings).default("{}")).to_owned(),
            )
            .await?;

        // One row per (device, event id): the response given, so a repeat gets the same answer.
        manager
            .create_table(
                Table::create()
                    .table(Detections::Table)
                    .col(string(Detections::TenantId))
                    .col(string(Detections::DeviceId))
                    .col(string(Detections::EventId))
                    .col(string_null(Detections::ProductId))
                    .col(string(Detections::Reason))
                    .col(uuid_null(Detections::IntentId))
                    .col(text(Detections::Response))
                    .col(timestamp_with_time_zone(Detections::CreatedAt))
                    .primary_key(
                        Index::create().col(Detections::TenantId).col(Detections::DeviceId).col(Detections::EventId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_detections_tenant_created")
                    .table(Detections::Table)
                    .col(Detections::TenantId)
                    .col(Detections::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Intents::Table)
                    .col(uuid(Intents::Id).primary_key())
                    .col(string(Intents::TenantId))
                    .col(string(Intents::DeviceId))
                    .col(string(Intents::ProductId))
                    .col(string(Intents::StoreId))
                    .col(string(Intents::Owner))
                    .col(string(Intents::Sku))
                    .col(string(Intents::Label))
                    .col(big_integer(Intents::UnitPriceCents))
                    .col(string(Intents::Status))
                    .col(timestamp_with_time_zone(Intents::CreatedAt))
                    .col(timestamp_with_time_zone(Intents::ExpiresAt))
                    .col(timestamp_with_time_zone_null(Intents::DecidedAt))
                    .col(boolean_null(Intents::Accepted))
                    .col(string_null(Intents::Channel))
                    .col(timestamp_with_time_zone(Intents::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // At most one PENDING intent per (device, product), whichever replica creates it.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX uq_intents_one_pending ON intents (tenant_id, device_id, product_id) \
                 WHERE status = 'PENDING'",
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_intents_device_product_decided")
                    .table(Intents::Table)
                    .col(Intents::TenantId)
                    .col(Intents::DeviceId)
                    .col(Intents::ProductId)
                    .col(Intents::DecidedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_intents_tenant_created")
                    .table(Intents::Table)
                    .col(Intents::TenantId)
                    .col(Intents::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_intents_status_expires")
                    .table(Intents::Table)
                    .col(Intents::Status)
                    .col(Intents::ExpiresAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .col(uuid(Orders::Id).primary_key())
                    .col(string(Orders::TenantId))
                    // One order per intent: placement is idempotent by intent.
                    .col(uuid_uniq(Orders::IntentId))
                    .col(string(Orders::DeviceId))
                    .col(string(Orders::StoreId))
                    .col(string(Orders::Owner))
                    .col(string(Orders::ProductId))
                    .col(string(Orders::Sku))
                    .col(big_integer(Orders::TotalCents))
                    .col(string(Orders::BudgetDay))
                    .col(string(Orders::Status))
                    .col(string(Orders::Provider))
                    .col(string_null(Orders::ProviderRef))
                    .col(string_null(Orders::FailureReason))
                    .col(string_null(Orders::Eta))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create().from(Orders::Table, Orders::IntentId).to(Intents::Table, Intents::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_household_product")
                    .table(Orders::Table)
                    .col(Orders::TenantId)
                    .col(Orders::Owner)
                    .col(Orders::ProductId)
                    .col(Orders::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_tenant_created")
                    .table(Orders::Table)
                    .col(Orders::TenantId)
                    .col(Orders::CreatedAt)
                    .to_owned(),
            )
            .await?;

        // Spend per owner per local day; reserved atomically with the order.
        manager
            .create_table(
                Table::create()
                    .table(OwnerDailySpend::Table)
                    .col(string(OwnerDailySpend::TenantId))
                    .col(string(OwnerDailySpend::Owner))
                    .col(string(OwnerDailySpend::Day))
                    .col(big_integer(OwnerDailySpend::Cents))
                    .primary_key(
                        Index::create()
                            .col(OwnerDailySpend::TenantId)
                            .col(OwnerDailySpend::Owner)
                            .col(OwnerDailySpend::Day),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OwnerDailySpend::Table.into_iden(),
            Orders::Table.into_iden(),
            Intents::Table.into_iden(),
            Detections::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table(Stores::Table).drop_column(Stores::CommerceSettings).to_owned()).await
    }
}
