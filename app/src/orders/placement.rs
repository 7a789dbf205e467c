//! Order placement: one call to the store's commerce provider, recorded once
//! it is definite. A timeout, connection error or 5xx does not say whether the
//! provider placed the order, so it is no answer: the order stays SUBMITTED
//! (the wearer is told it is being placed, and is not prompted again) and the
//! sweeper asks again under the same idempotency key until the provider
//! answers or the retry horizon passes.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::commerce::{
    CommerceProvider, HttpProvider, MockProvider, OrderRequest, provider_for, submit_with_timeout,
};
use crate::orders::entity::order;
use crate::orders::repo::placing::{self, Settlement};
use crate::stores::model::CommerceSettings;
use crate::stores::model::CommerceSettingsExt as _;
use crate::telemetry::Metrics;

/// The failure reason of an order the provider never answered within the horizon.
pub const PROVIDER_UNREACHABLE: &str = "provider-unreachable";

/// Submits orders to their store's provider and records the answers.
pub struct OrderPlacement {
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    commerce_timeout: Duration,
    retry_horizon: Duration,
    http: commerce_http::Client,
    clock: Clock,
}

impl OrderPlacement {
    /// Placement over `db`, giving each provider call `commerce_timeout` and
    /// an order with no definite answer `retry_horizon` from its acceptance
    /// before it fails, stamping order changes with `clock`.
    pub fn new(
        db: DatabaseConnection,
        metrics: Arc<Metrics>,
        commerce_timeout: Duration,
        retry_horizon: Duration,
        clock: Clock,
    ) -> Self {
        Self { db, metrics, commerce_timeout, retry_horizon, http: HttpProvider::client(), clock }
    }

    /// How long one provider call may take.
    pub fn commerce_timeout(&self) -> Duration {
        self.commerce_timeout
    }

    /// Submits an order of `tenant` to its store's provider. A definite answer
    /// is recorded once (a refusal fails the order and refunds its budget); an
    /// unknown one leaves the order SUBMITTED for the sweeper, unless the
    /// retry horizon has passed, when it fails as `provider-unreachable`.
    pub async fn submit(
        &self,
        tenant: &TenantScope,
        order: &order::Model,
    ) -> Result<(intent::Model, order::Model), Error> {
        let store = crate::stores::repo::find(&self.db, tenant, &order.store_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("store {} is gone", order.store_id)))?;
        let settings = CommerceSettings::from_stored(&store.commerce_provider, &store.commerce_settings)?;
        if !placing::mark_submitted(&self.db, tenant, order, self.clock.now()).await? {
            // Cancelled (or settled) meanwhile: it must never reach the provider.
            return placing::current(&self.db, tenant, order).await;
        }
        let request = OrderRequest {
            order_id: order.id,
            sku: order.sku.clone(),
            quantity: 1,
            total_cents: order.total_cents,
            timezone: store.timezone,
            placed_at: order.created_at,
        };
        // A test device's order goes to the mock provider, whatever the store uses.
        let provider: Box<dyn CommerceProvider> =
            if order.test { Box::new(MockProvider::default()) } else { provider_for(&settings, &self.http) };
        let settlement = match submit_with_timeout(provider.as_ref(), &request, self.commerce_timeout).await {
            Ok(confirmation) => Settlement::Confirmed(confirmation),
            Err(err) if err.is_definite() => {
                tracing::warn!(order = %order.id, error = %err, "order refused");
                Settlement::Failed(err.to_string())
            }
            Err(err) => {
                let waited = self.clock.now().signed_duration_since(order.created_at);
                if waited.to_std().unwrap_or_default() < self.retry_horizon {
                    tracing::warn!(order = %order.id, error = %err, "order outcome unknown; will ask again");
                    return placing::current(&self.db, tenant, order).await;
                }
                tracing::warn!(order = %order.id, error = %err, "no answer within the retry horizon; giving up");
                Settlement::Failed(PROVIDER_UNREACHABLE.to_owned())
            }
        };
        let (intent, order) = placing::finish(&self.db, tenant, order, &settlement, self.clock.now()).await?;
        self.metrics.order(&order.status);
        Ok((intent, order))
    }
}
