//! Order placement: one call to the store's commerce provider, recorded once.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::commerce::{OrderRequest, provider_for, submit_with_timeout};
use crate::orders::entity::order;
use crate::stores::model::CommerceSettings;
use crate::stores::model::CommerceSettingsExt as _;
use crate::telemetry::Metrics;

/// Submits orders to their store's provider and records the answers.
pub struct OrderPlacement {
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    commerce_timeout: Duration,
    clock: Clock,
}

impl OrderPlacement {
    /// Placement over `db`, giving each provider call `commerce_timeout`,
    /// stamping order changes with `clock`.
    pub fn new(db: DatabaseConnection, metrics: Arc<Metrics>, commerce_timeout: Duration, clock: Clock) -> Self {
        Self { db, metrics, commerce_timeout, clock }
    }

    /// How long one provider call may take.
    pub fn commerce_timeout(&self) -> Duration {
        self.commerce_timeout
    }

    /// Submits an order of `tenant` to its store's provider and records the answer, once.
    pub async fn submit(
        &self,
        tenant: &TenantScope,
        order: &order::Model,
    ) -> Result<(intent::Model, order::Model), Error> {
        let store = crate::stores::repo::find(&self.db, tenant, &order.store_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("store {} is gone", order.store_id)))?;
        let settings = CommerceSettings::from_stored(&store.commerce_provider, &store.commerce_settings)?;
        crate::orders::repo::mark_submitted(&self.db, tenant, order, self.clock.now()).await?;
        let request = OrderRequest {
            order_id: order.id,
            sku: order.sku.clone(),
            quantity: 1,
            total_cents: order.total_cents,
            timezone: store.timezone,
            placed_at: order.created_at,
        };
        let provider = provider_for(&settings);
        let outcome = submit_with_timeout(provider.as_ref(), &request, self.commerce_timeout).await;
        if let Err(err) = &outcome {
            tracing::warn!(order = %order.id, error = %err, "order failed");
        }
        let (intent, order) = crate::orders::repo::finish(&self.db, tenant, order, &outcome, self.clock.now()).await?;
        self.metrics.order(&order.status);
        Ok((intent, order))
    }
}
