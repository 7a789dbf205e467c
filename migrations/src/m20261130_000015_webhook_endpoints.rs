//! Webhook endpoints and their deliveries.
//!
//! `webhook_endpoints`: where a tenant's events are POSTed, which types, and
//! the signing secret (with the previous one while a roll's grace lasts).
//!
//! `webhook_deliveries`: one row per (event, endpoint) made when the
//! dispatcher fans an event out (and one more per manual redelivery), holding
//! the last attempt's outcome for the delivery log. Deleting an event (pruning)
//! or an endpoint deletes its deliveries.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `webhook_endpoints` and `webhook_deliveries`.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000015_webhook_endpoints"
    }
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    TenantId,
    Id,
    Url,
    EventTypes,
    Enabled,
    DisabledReason,
    Description,
    Secret,
    PreviousSecret,
    PreviousSecretExpiresAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    TenantId,
    EndpointId,
    EventSeq,
    EventId,
    EventType,
    ObjectKey,
    Attempt,
    Outcome,
    StatusCode,
    LatencyMs,
    ResponseBody,
    AttemptedAt,
    NextAttemptAt,
    ClaimedUntil,
    FirstAttemptAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .col(string(WebhookEndpoints::TenantId))
                    .col(string(WebhookEndpoints::Id))
                    .col(text(WebhookEndpoints::Url))
                    // JSON array of event type names.
                    .col(text(WebhookEndpoints::EventTypes))
                    .col(boolean(WebhookEndpoints::Enabled).default(true))
                    .col(text_null(WebhookEndpoints::DisabledReason))
                    .col(string_null(WebhookEndpoints::Description))
                    .col(string(WebhookEndpoints::Secret))
                    .col(string_null(WebhookEndpoints::PreviousSecret))
                    .col(timestamp_with_time_zone_null(WebhookEndpoints::PreviousSecretExpiresAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .col(timestamp_with_time_zone(WebhookEndpoints::UpdatedAt))
                    .primary_key(Index::create().col(WebhookEndpoints::TenantId).col(WebhookEndpoints::Id))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(string(WebhookDeliveries::TenantId))
                    .col(string(WebhookDeliveries::EndpointId))
                    .col(big_integer(WebhookDeliveries::EventSeq))
                    .col(uuid(WebhookDeliveries::EventId))
                    .col(string_len(WebhookDeliveries::EventType, 40))
                    // `<object kind>:<object id>`: deliveries of one key go out in event order.
                    .col(string(WebhookDeliveries::ObjectKey))
                    .col(integer(WebhookDeliveries::Attempt).default(0))
                    .col(string_len(WebhookDeliveries::Outcome, 16))
                    .col(integer_null(WebhookDeliveries::StatusCode))
                    .col(big_integer_null(WebhookDeliveries::LatencyMs))
                    .col(text_null(WebhookDeliveries::ResponseBody))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::AttemptedAt))
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::NextAttemptAt))
                    // A dispatcher's lease on the delivery while it makes an attempt.
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::ClaimedUntil))
                    // The first attempt's time: the retry horizon counts from it.
                    .col(timestamp_with_time_zone_null(WebhookDeliveries::FirstAttemptAt))
                    .col(timestamp_with_time_zone(WebhookDeliveries::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(WebhookDeliveries::Table, WebhookDeliveries::EventSeq)
                            .to(Events::Table, Events::Seq)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(
                                WebhookDeliveries::Table,
                                (WebhookDeliveries::TenantId, WebhookDeliveries::EndpointId),
                            )
                            .to(WebhookEndpoints::Table, (WebhookEndpoints::TenantId, WebhookEndpoints::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The delivery log of one endpoint, newest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_endpoint")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::TenantId)
                    .col(WebhookDeliveries::EndpointId)
                    .col(WebhookDeliveries::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // Pruning's cascade finds an event's deliveries.
        manager
            .create_index(
                Index::create()
                    .name("idx_webhook_deliveries_event")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::EventSeq)
                    .to_owned(),
            )
            .await?;
        // The dispatcher's queue: unfinished deliveries only, by endpoint and object in event order
        // (the head-of-queue test). Endpoint ids are per tenant, so the tenant leads.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_webhook_deliveries_open ON webhook_deliveries \
                 (tenant_id, endpoint_id, object_key, event_seq) WHERE outcome IN ('pending', 'failed')",
            )
            .await?;
        // The dispatcher's claim: unfinished deliveries in the order it takes them (due time, then
        // event), so the claim walks the index and stops at its limit instead of sorting every due row.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX idx_webhook_deliveries_due ON webhook_deliveries \
                 (next_attempt_at, event_seq) WHERE outcome IN ('pending', 'failed')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(WebhookDeliveries::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(WebhookEndpoints::Table).to_owned()).await
    }
}
