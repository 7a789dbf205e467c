//! Order placement: one call to the store's commerce provider, recorded once
//! it is definite. A timeout, connection error, 5xx, 408 or 429 does not say
//! whether the provider placed the order, so it is no answer: the order
//! stays SUBMITTED (the wearer is told it is being placed, and is not
//! prompted again), its next call is scheduled with exponential backoff and
//! jitter (or the merchant's `Retry-After`), and the sweeper asks again under
//! the same idempotency key until the provider answers or the retry horizon
//! passes. Remote calls pass through the store's gate (concurrency bound,
//! rate limit, circuit breaker; see `gate`).

use std::sync::Arc;
use std::time::Duration;

use rand::Rng as _;
use sea_orm::DatabaseConnection;

use crate::clock::Clock;
use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::commerce::{
    CommerceError, CommerceProvider, Confirmation, OrderRequest, Remote, is_remote, provider_for, submit_with_timeout,
};
use crate::orders::entity::order;
use crate::orders::gate::{CallOutcome, GateSettings, StoreGate};
use crate::orders::repo::placing::{self, Settlement};
use crate::outbound::UrlPolicy;
use crate::stores::entity as store;
use crate::stores::model::CommerceSettingsExt as _;
use crate::stores::model::{CommerceProviderKind, CommerceSettings};
use crate::telemetry::Metrics;

/// The failure reason of an order the provider never answered within the horizon.
pub const PROVIDER_UNREACHABLE: &str = "provider-unreachable";

/// The currency of every amount (prices are kept in US cents).
const CURRENCY: &str = "USD";

/// How orders are retried and which merchant URLs may be called.
#[derive(Debug, Clone, Copy)]
pub struct PlacementSettings {
    /// Deadline of one provider call.
    pub commerce_timeout: Duration,
    /// How long after acceptance an unknown outcome is still asked again.
    pub retry_horizon: Duration,
    /// First retry delay; it doubles per attempt.
    pub retry_base: Duration,
    /// Longest retry delay (also caps `Retry-After`).
    pub retry_max: Duration,
    /// Which merchant URLs may be called.
    pub urls: UrlPolicy,
    /// Every store's gate.
    pub gate: GateSettings,
}

/// Submits orders to their store's provider and records the answers.
pub struct OrderPlacement {
    db: DatabaseConnection,
    metrics: Arc<Metrics>,
    settings: PlacementSettings,
    remote: Remote,
    gates: moka::sync::Cache<(String, String), Arc<StoreGate>>,
    clock: Clock,
}

/// How one attempt went.
enum Attempt {
    /// The provider was called (or answered in process) with this result.
    Called(Result<Confirmation, CommerceError>),
    /// The store's gate kept the order back for this long: no call was made.
    Held(Duration),
}

impl OrderPlacement {
    /// Placement over `db` with `settings`, stamping order changes with `clock`.
    pub fn new(db: DatabaseConnection, metrics: Arc<Metrics>, settings: PlacementSettings, clock: Clock) -> Self {
        // A store's gate (and its breaker) is forgotten after an idle hour.
        let gates = moka::sync::Cache::builder().time_to_idle(Duration::from_secs(3600)).build();
        Self { db, metrics, remote: Remote::new(settings.urls, clock.clone()), settings, gates, clock }
    }

    /// How long one provider call may take.
    pub fn commerce_timeout(&self) -> Duration {
        self.settings.commerce_timeout
    }

    /// The provider a store's settings name, sharing this placement's client.
    pub fn provider(&self, settings: &CommerceSettings) -> Box<dyn CommerceProvider> {
        provider_for(settings, &self.remote)
    }

    /// The gate of `tenant`'s `store` on this replica.
    pub fn gate(&self, tenant: &str, store: &str) -> Arc<StoreGate> {
        let key = (tenant.to_owned(), store.to_owned());
        self.gates
            .get_with(key, || Arc::new(StoreGate::new(self.settings.gate, self.clock.clone(), self.metrics.clone())))
    }

    /// Submits an order of `tenant` to its store's provider. A definite answer
    /// is recorded once (a refusal fails the order and refunds its budget); an
    /// unknown one leaves the order SUBMITTED with its next attempt scheduled,
    /// unless the retry horizon has passed, when it fails as `provider-unreachable`.
    pub async fn submit(
        &self,
        tenant: &TenantScope,
        order: &order::Model,
    ) -> Result<(intent::Model, order::Model), Error> {
        let store = crate::stores::repo::find(&self.db, tenant, &order.store_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("store {} is gone", order.store_id)))?;
        // A test device's order goes to the mock provider, whatever the store uses.
        let settings = if order.test {
            CommerceSettings::of(CommerceProviderKind::Mock)
        } else {
            CommerceSettings::from_stored(&store.commerce_provider, &store.commerce_settings)?
        };
        if !placing::mark_submitted(&self.db, tenant, order, self.clock.now()).await? {
            // Cancelled (or settled) meanwhile: it must never reach the provider.
            return placing::current(&self.db, tenant, order).await;
        }
        let request = self.request(tenant, order, &store).await?;
        let attempt = self.attempt(&settings, &request, order).await;
        self.settle(tenant, order, attempt).await
    }

    /// What the provider is told about `order`.
    async fn request(
        &self,
        tenant: &TenantScope,
        order: &order::Model,
        store: &store::Model,
    ) -> Result<OrderRequest, Error> {
        let intent = crate::orders::repo::reload_intent(&self.db, tenant, order.intent_id).await?;
        Ok(OrderRequest {
            order_id: order.id,
            intent_id: order.intent_id,
            product_id: order.product_id.clone(),
            variant: intent.label,
            sku: order.sku.clone(),
            quantity: 1,
            unit_price_cents: intent.unit_price_cents,
            total_cents: order.total_cents,
            currency: CURRENCY.to_owned(),
            device_id: order.device_id.clone(),
            owner: order.owner.clone(),
            store_id: order.store_id.clone(),
            timezone: store.timezone.clone(),
            placed_at: order.created_at,
            test: order.test,
        })
    }

    /// Calls the provider, through the store's gate when it is remote.
    async fn attempt(&self, settings: &CommerceSettings, request: &OrderRequest, order: &order::Model) -> Attempt {
        let provider = self.provider(settings);
        let timeout = self.settings.commerce_timeout;
        if !is_remote(settings.provider) {
            return Attempt::Called(submit_with_timeout(provider.as_ref(), request, timeout).await);
        }
        let gate = self.gate(&order.tenant_id, &order.store_id);
        // Waiting for the gate plus the call stay within the claim (two deadlines).
        let _pass = match gate.admit(timeout / 2).await {
            Ok(pass) => pass,
            Err(wait) => {
                self.metrics.merchant_call("held");
                return Attempt::Held(wait);
            }
        };
        let result = submit_with_timeout(provider.as_ref(), request, timeout).await;
        let (outcome, label) = match &result {
            Ok(_) => (CallOutcome::Definite, "confirmed"),
            Err(e) if e.is_definite() => (CallOutcome::Definite, "refused"),
            Err(CommerceError::RetryAfter(_)) => (CallOutcome::Throttled, "throttled"),
            Err(_) => (CallOutcome::Unknown, "unknown"),
        };
        gate.record(outcome);
        self.metrics.merchant_call(label);
        Attempt::Called(result)
    }

    /// Records what an attempt means for the order.
    async fn settle(
        &self,
        tenant: &TenantScope,
        order: &order::Model,
        attempt: Attempt,
    ) -> Result<(intent::Model, order::Model), Error> {
        let now = self.clock.now();
        let (wait, called) = match attempt {
            Attempt::Called(Ok(confirmation)) => {
                return self.finish(tenant, order, Settlement::Confirmed(confirmation)).await;
            }
            Attempt::Called(Err(err)) if err.is_definite() => {
                tracing::warn!(order = %order.id, error = %err, "order refused");
                let reason = match err {
                    CommerceError::Refused(reason) => reason,
                    other => other.to_string(),
                };
                return self.finish(tenant, order, Settlement::Failed(reason)).await;
            }
            Attempt::Called(Err(err)) => {
                tracing::warn!(order = %order.id, error = %err, "order outcome unknown; will ask again");
                (err.retry_after(), true)
            }
            Attempt::Held(wait) => (Some(wait), false),
        };
        let give_up_at = order.created_at + chrono::Duration::from_std(self.settings.retry_horizon).unwrap_or_default();
        if now >= give_up_at {
            tracing::warn!(order = %order.id, "no answer within the retry horizon; giving up");
            return self.finish(tenant, order, Settlement::Failed(PROVIDER_UNREACHABLE.to_owned())).await;
        }
        let attempts = u32::try_from(order.attempts).unwrap_or(0) + u32::from(called);
        let delay = wait.map_or_else(|| self.backoff(attempts), |w| w.min(self.settings.retry_max));
        // Never later than the horizon, so the order fails on time.
        let next = (now + chrono::Duration::from_std(delay).unwrap_or_default()).min(give_up_at);
        placing::schedule_retry(&self.db, tenant, order, next, called).await
    }

    async fn finish(
        &self,
        tenant: &TenantScope,
        order: &order::Model,
        settlement: Settlement,
    ) -> Result<(intent::Model, order::Model), Error> {
        let (intent, order) = placing::finish(&self.db, tenant, order, &settlement, self.clock.now()).await?;
        self.metrics.order(&order.status);
        Ok((intent, order))
    }

    /// The delay before attempt `attempts + 1`: the base doubled per attempt
    /// made, capped, with "equal jitter" (half fixed, half random) so a
    /// store's backlog does not come back in one wave.
    fn backoff(&self, attempts: u32) -> Duration {
        let doubled = self.settings.retry_base.saturating_mul(1 << attempts.saturating_sub(1).min(20));
        let capped = doubled.min(self.settings.retry_max);
        let half = capped / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }
}
