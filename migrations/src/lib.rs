//! Schema migrations for Replenish.
//!
//! This crate is the only place the schema changes. Migrations describe tables
//! with `sea-query` identifiers of their own and never import the app's
//! entities, so an old migration keeps its meaning when the entities move on.

pub use sea_orm_migration::prelude::*;

mod m20261124_000001_foundation;
mod m20261124_000002_replenishment;
mod m20261124_000003_assistant_usage;
mod m20261130_000010_order_claims_budget_zone;
mod m20261130_000011_webhook_provider;
mod m20261130_000012_order_lifecycle;
mod m20261130_000013_idempotency_keys;
mod m20261130_000014_events;
mod m20261130_000015_webhook_endpoints;
mod m20261130_000016_dashboard_sessions;
mod m20261130_000017_store_total_shards;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261124_000001_foundation::Migration),
            Box::new(m20261124_000002_replenishment::Migration),
            Box::new(m20261124_000003_assistant_usage::Migration),
            Box::new(m20261130_000010_order_claims_budget_zone::Migration),
            Box::new(m20261130_000011_webhook_provider::Migration),
            Box::new(m20261130_000013_idempotency_keys::Migration),
            Box::new(m20261130_000012_order_lifecycle::Migration),
            Box::new(m20261130_000014_events::Migration),
            Box::new(m20261130_000015_webhook_endpoints::Migration),
            Box::new(m20261130_000016_dashboard_sessions::Migration),
            Box::new(m20261130_000017_store_total_shards::Migration),
        ]
    }
}
