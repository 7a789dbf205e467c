//! `StoreActor`: one per active store. Every device of the store places its
//! orders through it; placements run side by side so one slow provider call
//! does not hold up the store's other orders. Calls to the store's merchant
//! pass its gate (`orders::gate`: concurrency bound, rate limit, circuit
//! breaker), which the sweeper's resubmissions on this replica share, so the
//! store's bounds hold for both.

use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, MailboxError, Message, ResponseFuture};

use crate::actors::{ActorSettings, Registry};
use crate::clock::Clock;
use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::entity::order;
use crate::orders::model::OrderView;
use crate::orders::model::OrderViewExt as _;
use crate::orders::placement::OrderPlacement;
use crate::telemetry::Metrics;

type StoreKey = (String, String);

/// Sends an accepted intent's order to the provider.
#[derive(Message)]
#[rtype(result = "Result<(intent::Model, OrderView), Error>")]
pub struct PlaceOrder {
    /// The order's tenant.
    pub tenant: TenantScope,
    /// The order as recorded with the decision.
    pub order: order::Model,
}

/// The live store actors of this replica, and the way to place an order through one.
pub struct StoreActors {
    registry: Arc<Registry<StoreKey, StoreActor>>,
    placement: Arc<OrderPlacement>,
    settings: ActorSettings,
    metrics: Arc<Metrics>,
    clock: Clock,
}

impl StoreActors {
    /// Store actors placing orders through `placement`; they start on first
    /// use and passivate when idle by `clock`.
    pub fn new(placement: Arc<OrderPlacement>, settings: ActorSettings, metrics: Arc<Metrics>, clock: Clock) -> Self {
        Self { registry: Arc::new(Registry::default()), placement, settings, metrics, clock }
    }

    /// Places an accepted intent's order of `tenant` through its store's actor.
    pub async fn place(&self, tenant: TenantScope, order: order::Model) -> Result<(intent::Model, OrderView), Error> {
        let key = (order.tenant_id.clone(), order.store_id.clone());
        let entry = self.registry.get_or_start(&key, |generation| {
            StoreActor {
                key: key.clone(),
                placement: self.placement.clone(),
                registry: self.registry.clone(),
                settings: self.settings,
                metrics: self.metrics.clone(),
                generation,
                last_active: self.clock.instant(),
                clock: self.clock.clone(),
            }
            .start()
        })?;
        let _slot = entry
            .admission
            .reserve(self.settings.mailbox_capacity, "store")
            .inspect_err(|_| self.metrics.mailbox_full("store"))?;
        let deadline = self.placement.commerce_timeout() + self.settings.answer_timeout;
        entry.addr.send(PlaceOrder { tenant, order }).timeout(deadline).await.map_err(mailbox_error)?
    }
}

/// An actor that did not answer: full or gone.
pub fn mailbox_error(err: MailboxError) -> Error {
    match err {
        MailboxError::Timeout => Error::Overloaded("device"),
        MailboxError::Closed => Error::Unavailable("the actor stopped; retry".into()),
    }
}

/// The per-store actor.
pub struct StoreActor {
    key: StoreKey,
    placement: Arc<OrderPlacement>,
    registry: Arc<Registry<StoreKey, StoreActor>>,
    settings: ActorSettings,
    metrics: Arc<Metrics>,
    generation: u64,
    last_active: Instant,
    clock: Clock,
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.settings.mailbox_capacity);
        self.metrics.actor_started("store");
        let idle = self.settings.idle_timeout;
        ctx.run_interval(idle / 4, move |act, ctx| {
            if act.clock.elapsed(act.last_active) >= idle {
                act.registry.remove(&act.key, act.generation);
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.metrics.actor_stopped("store");
    }
}

impl Handler<PlaceOrder> for StoreActor {
    // Not atomic: one slow provider call must not hold up the store's other orders.
    type Result = ResponseFuture<Result<(intent::Model, OrderView), Error>>;

    fn handle(&mut self, msg: PlaceOrder, _: &mut Self::Context) -> Self::Result {
        self.last_active = self.clock.instant();
        let placement = self.placement.clone();
        Box::pin(async move {
            let (intent, order) = placement.submit(&msg.tenant, &msg.order).await?;
            Ok((intent, OrderView::from_model(&order)?))
        })
    }
}
