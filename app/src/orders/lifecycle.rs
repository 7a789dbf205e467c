//! An order's life after placement: the merchant's status reports and the
//! cancel window. The state machine is [`OrderStatus::merchant_sources`] (what
//! a merchant may report from where) and [`CANCELLABLE`] (what a cancel
//! moves); every move is a compare-and-set in `repo::lifecycle`, so a repeat,
//! or two callers racing, changes the order, its timeline and the owner's
//! budget once.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::clock::Clock;
use crate::db::scope::{DeviceScope, TenantScope};
use crate::error::Error;
use crate::orders::commerce::{self, CommerceError, MockProvider, Remote};
use crate::orders::entity::order;
use crate::orders::model::OrderViewExt as _;
use crate::orders::model::{Actor, CancelRequest, EventDetails, OrderStatus, OrderView, StatusUpdate};
use crate::orders::repo::{self, lifecycle};
use crate::stores::model::CommerceSettings;
use crate::stores::model::CommerceSettingsExt as _;

/// The statuses a cancellation moves to CANCELLED: not yet sent, sent, or
/// confirmed (once shipped it is the merchant's to cancel or refund).
pub const CANCELLABLE: [OrderStatus; 3] = [OrderStatus::Pending, OrderStatus::Submitted, OrderStatus::Confirmed];

/// Status reports and cancellations of orders.
pub struct OrderLifecycle {
    db: DatabaseConnection,
    remote: Remote,
    commerce_timeout: Duration,
    clock: Clock,
}

fn invalid_transition(order: &order::Model, to: OrderStatus) -> Error {
    Error::Conflict {
        kind: "invalid-transition",
        detail: format!("order {} is {}; it cannot become {to}", order.id, order.status),
    }
}

impl OrderLifecycle {
    /// Lifecycle changes over `db`, calling merchants through `remote` and
    /// giving a provider's cancel call `commerce_timeout`, stamping changes with `clock`.
    pub fn new(db: DatabaseConnection, remote: Remote, commerce_timeout: Duration, clock: Clock) -> Self {
        Self { db, remote, commerce_timeout, clock }
    }

    async fn load(&self, tenant: &TenantScope, device: Option<&DeviceScope>, id: Uuid) -> Result<order::Model, Error> {
        repo::find(&self.db, tenant, device, id).await?.ok_or(Error::NotFound("order"))
    }

    async fn view(&self, tenant: &TenantScope, order: &order::Model) -> Result<OrderView, Error> {
        let mut view = OrderView::from_model(order)?;
        view.timeline = Some(lifecycle::timeline(&self.db, tenant, order.id).await?);
        Ok(view)
    }

    /// One order with its timeline: a device sees its own, a merchant any of the tenant's.
    pub async fn order(
        &self,
        tenant: &TenantScope,
        device: Option<&DeviceScope>,
        id: Uuid,
    ) -> Result<OrderView, Error> {
        let order = self.load(tenant, device, id).await?;
        self.view(tenant, &order).await
    }

    /// Applies a merchant's status report. The same status again is a no-op
    /// (200, no new timeline entry, no second refund); a move the state
    /// machine does not allow is 409 `invalid-transition`.
    pub async fn report_status(
        &self,
        tenant: &TenantScope,
        id: Uuid,
        update: &StatusUpdate,
    ) -> Result<OrderView, Error> {
        let to = update.status;
        let details = EventDetails {
            by: Some(Actor::Merchant),
            carrier: update.carrier.clone(),
            tracking_number: update.tracking_number.clone(),
            tracking_url: update.tracking_url.clone(),
            reason: update.reason.clone(),
            ..EventDetails::default()
        };
        let order = self.load(tenant, None, id).await?;
        if order.status != to.as_str() {
            if !to.merchant_sources().iter().any(|s| s.as_str() == order.status) {
                return Err(invalid_transition(&order, to));
            }
            let now = self.clock.now();
            if !lifecycle::transition(&self.db, tenant, &order, to.merchant_sources(), to, &details, now).await? {
                // Someone else moved it first: fine if it is where we wanted it.
                let current = self.load(tenant, None, id).await?;
                if current.status != to.as_str() {
                    return Err(invalid_transition(&current, to));
                }
            }
        }
        self.order(tenant, None, id).await
    }

    /// Cancels an order inside the tenant's cancel window (`window`, from
    /// acceptance; zero disables cancelling). Not yet sent: cancelled, and
    /// never sent afterwards. Sent: cancelled at the provider first. Either
    /// way the budget comes back once; cancelling again is a no-op.
    pub async fn cancel(
        &self,
        tenant: &TenantScope,
        device: Option<&DeviceScope>,
        id: Uuid,
        request: &CancelRequest,
        window: Duration,
    ) -> Result<OrderView, Error> {
        let order = self.load(tenant, device, id).await?;
        if order.status == OrderStatus::Cancelled.as_str() {
            return self.view(tenant, &order).await;
        }
        if !CANCELLABLE.iter().any(|s| s.as_str() == order.status) {
            return Err(invalid_transition(&order, OrderStatus::Cancelled));
        }
        let now = self.clock.now();
        let closes = order.created_at + chrono::Duration::from_std(window).unwrap_or_default();
        if window.is_zero() || now >= closes {
            return Err(Error::Conflict {
                kind: "cancel-window-closed",
                detail: format!("order {} could be cancelled until {closes}", order.id),
            });
        }
        let by = if device.is_some() { Actor::Device } else { Actor::Merchant };
        let details = EventDetails {
            by: Some(by),
            channel: request.channel,
            reason: request.reason.clone(),
            ..Default::default()
        };
        // Not sent yet: the conditional update wins or loses against the sender's in one step.
        if lifecycle::transition(
            &self.db,
            tenant,
            &order,
            &[OrderStatus::Pending],
            OrderStatus::Cancelled,
            &details,
            now,
        )
        .await?
        {
            return self.order(tenant, device, id).await;
        }
        let order = self.load(tenant, device, id).await?;
        let sent = [OrderStatus::Submitted, OrderStatus::Confirmed];
        if order.status == OrderStatus::Cancelled.as_str() {
            return self.view(tenant, &order).await;
        }
        if !sent.iter().any(|s| s.as_str() == order.status) {
            return Err(invalid_transition(&order, OrderStatus::Cancelled));
        }
        let reason = request.reason.clone().unwrap_or_else(|| format!("{by}-cancelled"));
        self.cancel_at_provider(tenant, &order, reason).await?;
        let now = self.clock.now();
        if !lifecycle::transition(&self.db, tenant, &order, &sent, OrderStatus::Cancelled, &details, now).await? {
            let current = self.load(tenant, device, id).await?;
            if current.status != OrderStatus::Cancelled.as_str() {
                return Err(invalid_transition(&current, OrderStatus::Cancelled));
            }
        }
        self.order(tenant, device, id).await
    }

    /// Asks the order's provider (the mock for a test order) to cancel it.
    async fn cancel_at_provider(
        &self,
        tenant: &TenantScope,
        order: &order::Model,
        reason: String,
    ) -> Result<(), Error> {
        let store = crate::stores::repo::find(&self.db, tenant, &order.store_id)
            .await?
            .ok_or_else(|| Error::Internal(format!("store {} is gone", order.store_id)))?;
        let settings = CommerceSettings::from_stored(&store.commerce_provider, &store.commerce_settings)?;
        let provider: Box<dyn commerce::CommerceProvider> = if order.test {
            Box::new(MockProvider::default())
        } else {
            commerce::provider_for(&settings, &self.remote)
        };
        let request = commerce::CancelRequest { order_id: order.id, provider_ref: order.provider_ref.clone(), reason };
        match tokio::time::timeout(self.commerce_timeout, provider.cancel(&request)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(CommerceError::Refused(why))) => Err(Error::Conflict {
                kind: "cancel-refused",
                detail: format!("the merchant refused to cancel order {}: {why}", order.id),
            }),
            Ok(Err(err)) => Err(Error::Unavailable(format!("the provider did not confirm the cancellation: {err}"))),
            Err(_) => Err(Error::Unavailable("the provider did not answer the cancellation in time".into())),
        }
    }
}
