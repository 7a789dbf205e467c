//! `Idempotency-Key` records of merchant and admin POSTs: one row per key of
//! one caller (a tenant, or the platform admin), first marked in progress,
//! then holding the response to replay. Rows lapse after a retention window
//! (`expires_at`) and are pruned by a periodic task.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `idempotency_keys` and its pruning index.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000013_idempotency_keys"
    }
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Principal,
    IdemKey,
    ClaimId,
    Method,
    Path,
    Fingerprint,
    Status,
    Headers,
    Body,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    // `tenant:<id>` or `admin`: tenant ids never contain ':'.
                    .col(string(IdempotencyKeys::Principal))
                    .col(string_len(IdempotencyKeys::IdemKey, 255))
                    .col(uuid(IdempotencyKeys::ClaimId))
                    .col(string_len(IdempotencyKeys::Method, 16))
                    .col(text(IdempotencyKeys::Path))
                    .col(string_len(IdempotencyKeys::Fingerprint, 64))
                    // NULL while the first request is in progress.
                    .col(integer_null(IdempotencyKeys::Status))
                    .col(text_null(IdempotencyKeys::Headers))
                    .col(blob_null(IdempotencyKeys::Body))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .col(timestamp_with_time_zone(IdempotencyKeys::ExpiresAt))
                    .primary_key(Index::create().col(IdempotencyKeys::Principal).col(IdempotencyKeys::IdemKey))
                    .to_owned(),
            )
            .await?;
        // The pruning task deletes by expiry.
        manager
            .create_index(
                Index::create()
                    .name("idx_idempotency_keys_expires_at")
                    .table(IdempotencyKeys::Table)
                    .col(IdempotencyKeys::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned()).await
    }
}
