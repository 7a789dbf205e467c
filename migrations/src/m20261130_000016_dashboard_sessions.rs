//! Server-side sessions of the merchant dashboard. A row holds only the SHA-256
//! of the session cookie's token (a stolen table cannot be replayed as cookies),
//! the tenant, which credential signed in (the API key's own stored hash, so the
//! session can be checked against that key on every request), the session's
//! CSRF token and when it ends.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `dashboard_sessions` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000016_dashboard_sessions"
    }
}

#[derive(DeriveIden)]
enum DashboardSessions {
    Table,
    TokenHash,
    TenantId,
    CredentialHash,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(DashboardSessions::Table)
                    .col(string_len(DashboardSessions::TokenHash, 64).primary_key())
                    .col(string(DashboardSessions::TenantId))
                    .col(string_len(DashboardSessions::CredentialHash, 64))
                    .col(string_len(DashboardSessions::CsrfToken, 64))
                    .col(timestamp_with_time_zone(DashboardSessions::CreatedAt))
                    .col(timestamp_with_time_zone(DashboardSessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        // Every sign-in prunes the lapsed sessions (of any tenant) by expiry.
        manager
            .create_index(
                Index::create()
                    .name("idx_dashboard_sessions_expires_at")
                    .table(DashboardSessions::Table)
                    .col(DashboardSessions::ExpiresAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DashboardSessions::Table).to_owned()).await
    }
}
