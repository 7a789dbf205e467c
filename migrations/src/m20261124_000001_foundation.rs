//! Tenants, API keys, stores, products, variants, devices and platform secrets.
//!
//! Every tenant-owned table carries `tenant_id` as the first column of its
//! primary key, so every lookup and every foreign key is scoped to one tenant.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates the foundation schema.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000001_foundation"
    }
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    DisplayName,
    Plan,
    Limits,
    Active,
    CreatedAt,
    UpdatedAt,
    DeactivatedAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    TenantId,
    TokenHash,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Stores {
    Table,
    TenantId,
    Id,
    Name,
    Timezone,
    CommerceProvider,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Products {
    Table,
    TenantId,
    Id,
    ObjectClass,
    DisplayName,
    ReorderThreshold,
    DefaultSku,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ProductVariants {
    Table,
    TenantId,
    ProductId,
    Sku,
    Label,
    Size,
    UnitPriceCents,
    Position,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    TenantId,
    Id,
    StoreId,
    Owner,
    Model,
    Serial,
    TokenHash,
    Active,
    CreatedAt,
    UpdatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum PlatformSecrets {
    Table,
    Name,
    ValueHash,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(string(Tenants::Id).primary_key())
                    .col(string(Tenants::DisplayName))
                    .col(string(Tenants::Plan))
                    .col(text(Tenants::Limits))
                    .col(boolean(Tenants::Active))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .col(timestamp_with_time_zone(Tenants::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Tenants::DeactivatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .col(uuid(ApiKeys::Id).primary_key())
                    .col(string(ApiKeys::TenantId))
                    .col(string_uniq(ApiKeys::TokenHash))
                    .col(timestamp_with_time_zone(ApiKeys::CreatedAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::ExpiresAt))
                    .col(timestamp_with_time_zone_null(ApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create().from(ApiKeys::Table, ApiKeys::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_api_keys_tenant").table(ApiKeys::Table).col(ApiKeys::TenantId).to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Stores::Table)
                    .col(string(Stores::TenantId))
                    .col(string(Stores::Id))
                    .col(string(Stores::Name))
                    .col(string(Stores::Timezone))
                    .col(string(Stores::CommerceProvider))
                    .col(timestamp_with_time_zone(Stores::CreatedAt))
                    .col(timestamp_with_time_zone(Stores::UpdatedAt))
                    .primary_key(Index::create().col(Stores::TenantId).col(Stores::Id))
                    .foreign_key(
                        ForeignKey::create().from(Stores::Table, Stores::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Products::Table)
                    .col(string(Products::TenantId))
                    .col(string(Products::Id))
                    .col(string(Products::ObjectClass))
                    .col(string(Products::DisplayName))
                    .col(string(Products::ReorderThreshold))
                    .col(string(Products::DefaultSku))
                    .col(timestamp_with_time_zone(Products::CreatedAt))
                    .col(timestamp_with_time_zone(Products::UpdatedAt))
                    .primary_key(Index::create().col(Products::TenantId).col(Products::Id))
                    .foreign_key(
                        ForeignKey::create().from(Products::Table, Products::TenantId).to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        // One product per object class per tenant: detections map a class to exactly one product.
        manager
            .create_index(
                Index::create()
                    .name("uq_products_tenant_object_class")
                    .table(Products::Table)
                    .col(Products::TenantId)
                    .col(Products::ObjectClass)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProductVariants::Table)
                    .col(string(ProductVariants::TenantId))
                    .col(string(ProductVariants::ProductId))
                    .col(string(ProductVariants::Sku))
                    .col(string(ProductVariants::Label))
                    .col(string_null(ProductVariants::Size))
                    .col(big_integer(ProductVariants::UnitPriceCents))
                    .col(integer(ProductVariants::Position))
                    .primary_key(
                        Index::create()
                            .col(ProductVariants::TenantId)
                            .col(ProductVariants::ProductId)
                            .col(ProductVariants::Sku),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(ProductVariants::Table, (ProductVariants::TenantId, ProductVariants::ProductId))
                            .to(Products::Table, (Products::TenantId, Products::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A SKU names one variant of one product within a tenant, so an order's SKU is unambiguous.
        manager
            .create_index(
                Index::create()
                    .name("uq_product_variants_tenant_sku")
                    .table(ProductVariants::Table)
                    .col(ProductVariants::TenantId)
                    .col(ProductVariants::Sku)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Devices::Table)
                    .col(string(Devices::TenantId))
                    .col(string(Devices::Id))
                    .col(string(Devices::StoreId))
                    .col(string(Devices::Owner))
                    .col(string(Devices::Model))
                    .col(string_null(Devices::Serial))
                    .col(string_uniq(Devices::TokenHash))
                    .col(boolean(Devices::Active))
                    .col(timestamp_with_time_zone(Devices::CreatedAt))
                    .col(timestamp_with_time_zone(Devices::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Devices::RevokedAt))
                    .primary_key(Index::create().col(Devices::TenantId).col(Devices::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Devices::Table, (Devices::TenantId, Devices::StoreId))
                            .to(Stores::Table, (Stores::TenantId, Stores::Id)),
                    )
                    .to_owned(),
            )
            .await?;
        // Household rules look devices up by owner.
        manager
            .create_index(
                Index::create()
                    .name("idx_devices_tenant_owner")
                    .table(Devices::Table)
                    .col(Devices::TenantId)
                    .col(Devices::Owner)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PlatformSecrets::Table)
                    .col(string(PlatformSecrets::Name).primary_key())
                    .col(string(PlatformSecrets::ValueHash))
                    .col(timestamp_with_time_zone(PlatformSecrets::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(PlatformSecrets::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Devices::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ProductVariants::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Products::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Stores::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(ApiKeys::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Tenants::Table).to_owned()).await
    }
}
