//! The event log (a transactional outbox): one row per change a merchant
//! cares about, written in the transaction that makes the change. `seq` is
//! the write order: listings page by it, and for one object it is also the
//! commit order, because every change of an object first takes that object's
//! row lock. The dispatcher fans each event out to the subscribed webhook
//! endpoints once (`fanned_out`); events are pruned after a retention period.

use sea_orm_migration::{prelude::*, schema::*};

/// Creates `events` and its indexes.
pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261130_000014_events"
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    Id,
    TenantId,
    EventType,
    ObjectKind,
    ObjectId,
    Test,
    Data,
    CreatedAt,
    FannedOut,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .col(big_pk_auto(Events::Seq))
                    .col(uuid_uniq(Events::Id))
                    .col(string(Events::TenantId))
                    .col(string_len(Events::EventType, 40))
                    .col(string_len(Events::ObjectKind, 16))
                    .col(string(Events::ObjectId))
                    .col(boolean(Events::Test).default(false))
                    .col(text(Events::Data))
                    .col(timestamp_with_time_zone(Events::CreatedAt))
                    .col(boolean(Events::FannedOut).default(false))
                    .to_owned(),
            )
            .await?;
        // A tenant's listing pages by seq, filtered by type and time.
        manager
            .create_index(
                Index::create()
                    .name("idx_events_tenant_seq")
                    .table(Events::Table)
                    .col(Events::TenantId)
                    .col(Events::Seq)
                    .to_owned(),
            )
            .await?;
        // Pruning deletes by age.
        manager
            .create_index(
                Index::create().name("idx_events_created_at").table(Events::Table).col(Events::CreatedAt).to_owned(),
            )
            .await?;
        // The dispatcher's queue: only the few events not yet fanned out (same SQL on both backends).
        manager
            .get_connection()
            .execute_unprepared("CREATE INDEX idx_events_unfanned ON events (seq) WHERE fanned_out = false")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Events::Table).to_owned()).await
    }
}
