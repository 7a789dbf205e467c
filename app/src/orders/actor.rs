//! `StoreActor`: one per active store. It places its store's orders through the
//! store's commerce provider (idempotent by order id, with a deadline) and
//! keeps the store's daily order counters; it passivates when idle.

use std::sync::Arc;
use std::time::Instant;

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, ResponseFuture};

use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::entity::order;
use crate::orders::model::OrderViewExt as _;
use crate::orders::model::{OrderStatus, OrderView};
use crate::replenishment::Services;

/// Sends an accepted intent's order to the provider.
#[derive(Message)]
#[rtype(result = "Result<(intent::Model, OrderView), Error>")]
pub struct PlaceOrder {
    /// The order as recorded with the decision.
    pub order: order::Model,
}

/// Orders and spend of the current store-local day, as this replica saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DailyCounters {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Orders confirmed.
    pub confirmed: u64,
    /// Orders failed.
    pub failed: u64,
    /// Cents confirmed.
    pub confirmed_cents: i64,
}

/// The per-store actor.
pub struct StoreActor {
    key: (String, String),
    services: Arc<Services>,
    generation: u64,
    counters: DailyCounters,
    last_active: Instant,
}

impl StoreActor {
    /// A store actor for (tenant, store).
    pub fn new(key: (String, String), services: Arc<Services>, generation: u64) -> Self {
        Self { key, services, generation, counters: DailyCounters::default(), last_active: Instant::now() }
    }
}

impl Actor for StoreActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.services.settings.store_mailbox_capacity);
        self.services.metrics.actor_started("store");
        let idle = self.services.settings.idle_timeout;
        ctx.run_interval(idle / 4, move |act, ctx| {
            if act.last_active.elapsed() >= idle {
                act.services.stores.remove(&act.key, act.generation);
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.services.metrics.actor_stopped("store");
    }
}

/// Record of one finished placement, for the counters.
#[derive(Message)]
#[rtype(result = "()")]
struct Count {
    day: String,
    status: OrderStatus,
    cents: i64,
}

impl Handler<Count> for StoreActor {
    type Result = ();

    fn handle(&mut self, msg: Count, _: &mut Self::Context) {
        if self.counters.day != msg.day {
            self.counters = DailyCounters { day: msg.day, ..DailyCounters::default() };
        }
        match msg.status {
            OrderStatus::Confirmed => {
                self.counters.confirmed += 1;
                self.counters.confirmed_cents += msg.cents;
            }
            OrderStatus::Failed => self.counters.failed += 1,
            _ => {}
        }
    }
}

impl Handler<PlaceOrder> for StoreActor {
    // Not atomic: one slow provider call must not hold up the store's other orders.
    type Result = ResponseFuture<Result<(intent::Model, OrderView), Error>>;

    fn handle(&mut self, msg: PlaceOrder, ctx: &mut Self::Context) -> Self::Result {
        self.last_active = Instant::now();
        let services = self.services.clone();
        let me = ctx.address();
        Box::pin(async move {
            let (intent, order) = services.submit(&msg.order).await?;
            let view = OrderView::from_model(&order)?;
            me.do_send(Count { day: order.budget_day.clone(), status: view.status, cents: order.total_cents });
            Ok((intent, view))
        })
    }
}
