//! The vision assistant's token meter: one row per provider call, summed by
//! the telemetry summary. Never holds prompts, images or replies.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `assistant_usage`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261124_000003_assistant_usage"
    }
}

#[derive(DeriveIden)]
enum AssistantUsage {
    Table,
    Id,
    TenantId,
    DeviceId,
    Route,
    PromptTokens,
    CompletionTokens,
    TotalTokens,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AssistantUsage::Table)
                    .col(uuid(AssistantUsage::Id).primary_key())
                    .col(string(AssistantUsage::TenantId))
                    .col(string(AssistantUsage::DeviceId))
                    .col(string(AssistantUsage::Route))
                    .col(big_integer(AssistantUsage::PromptTokens))
                    .col(big_integer(AssistantUsage::CompletionTokens))
                    .col(big_integer(AssistantUsage::TotalTokens))
                    .col(timestamp_with_time_zone(AssistantUsage::CreatedAt))
                    .to_owned(),
            )
            .await?;
        // The summary sums a tenant's rows over a time window.
        manager
            .create_index(
                Index::create()
                    .name("idx_assistant_usage_tenant_created")
                    .table(AssistantUsage::Table)
                    .col(AssistantUsage::TenantId)
                    .col(AssistantUsage::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(AssistantUsage::Table).to_owned()).await
    }
}
