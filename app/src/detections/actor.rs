//! `DeviceActor`: one per active device. It serialises the device's requests,
//! applies its rate limit, remembers open intents, cooldowns and recent event
//! ids, and passivates after an idle timeout. The database stays the source
//! of truth: memory only settles the cases it can settle safely.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use actix::fut::{ActorFutureExt, ready, wrap_future};
use actix::{Actor, ActorContext, AsyncContext, AtomicResponse, Context, Handler, Message};
use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::actors::{ActorSettings, Registry};
use crate::clock::Clock;
use crate::detections::candidates::Candidate;
use crate::detections::prompts::PromptWriter;
use crate::detections::repo;
use crate::detections::writer::DetectionWriter;
use crate::devices::context::DeviceContext;
use crate::error::Error;
use crate::intents::decision::DecisionResponseExt as _;
use crate::intents::decision::{DecisionRequest, DecisionResponse};
use crate::intents::model::{
    DetectionRequest, DetectionResponse, ProductMemory, ProductOffer, Reason, RuleSettings, Verdict, precheck,
    prompt_sentence,
};
use crate::limits::limit::{Limit, LocalLimiter};
use crate::limits::report::LimitReport;
use crate::orders::actor::StoreActors;
use crate::orders::model::OrderStatus;
use crate::orders::model::OrderViewExt as _;
use crate::orders::repo::{Decided, OrderTerms};
use crate::telemetry::Metrics;
use crate::tenants::cache::TenantCache;
use crate::tenants::snapshot::TenantSnapshot;

/// How many recent event ids each device remembers in memory (the database
/// remembers all). Retries come within seconds, so a few suffice; each costs
/// a stored response (~300 bytes), and memory per active device is a budget
/// of a few KiB.
const RECENT_EVENTS: usize = 4;

/// Reports a detection.
#[derive(Message)]
#[rtype(result = "Result<DetectionResponse, Error>")]
pub struct Detect {
    /// The detection.
    pub request: DetectionRequest,
    /// Server time when it arrived.
    pub now: DateTime<Utc>,
    /// The device's rate limit already admitted it ([`TakeSlot`]).
    pub admitted: bool,
    /// Where the device's limit stands after it is recorded here.
    pub report: LimitReport,
}

/// Takes one request from the device's rate limit without recording
/// anything: frame detection checks the limit before it pays the model
/// provider, then sends the [`Detect`] as already admitted.
#[derive(Message)]
#[rtype(result = "Result<(), Error>")]
pub struct TakeSlot(pub LimitReport);

/// Answers a prompt.
#[derive(Message)]
#[rtype(result = "Result<DecisionResponse, Error>")]
pub struct Decide {
    /// The decision.
    pub request: DecisionRequest,
    /// Server time when it arrived.
    pub now: DateTime<Utc>,
    /// Where the device's limit stands after it is recorded here.
    pub report: LimitReport,
}

/// Asks whether the actor's device is still as the database holds it now;
/// if not, the actor leaves the registry and stops (its memory belongs to
/// the old store and household) and answers `false`.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct Recheck(pub DeviceContext);

/// (tenant, device).
pub type DeviceKey = (String, String);

/// What a device actor works with, and nothing more.
pub struct DeviceDeps {
    /// The database, for the detection and decision repositories.
    pub db: DatabaseConnection,
    /// Tenant limits and catalogs.
    pub tenants: Arc<TenantCache>,
    /// Group commit for settled detections.
    pub writer: DetectionWriter,
    /// Group commit for prompt candidates.
    pub prompts: PromptWriter,
    /// Where accepted decisions are placed as orders.
    pub stores: Arc<StoreActors>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Idle timeout, mailbox bound, deadline.
    pub settings: ActorSettings,
    /// The registry an actor leaves when it passivates.
    pub registry: Arc<Registry<DeviceKey, DeviceActor>>,
    /// Time for idle checks, cooldowns and intent expiry.
    pub clock: Clock,
}

/// The per-device actor.
pub struct DeviceActor {
    device: DeviceContext,
    deps: Arc<DeviceDeps>,
    generation: u64,
    limiter: LocalLimiter,
    memory: HashMap<String, ProductMemory>,
    recent: VecDeque<(String, DetectionResponse)>,
    last_active: Instant,
}

impl DeviceActor {
    /// A device actor whose state was loaded by the registry.
    pub fn new(
        device: DeviceContext,
        deps: Arc<DeviceDeps>,
        generation: u64,
        quota_per_minute: u32,
        memory: HashMap<String, ProductMemory>,
    ) -> Self {
        Self {
            device,
            generation,
            limiter: LocalLimiter::new(Limit::per_minute("device", quota_per_minute)),
            memory,
            // Grows with use instead of reserving room for every device up front.
            recent: VecDeque::new(),
            last_active: deps.clock.instant(),
            deps,
        }
    }

    fn admit(&mut self, report: &LimitReport) -> Result<(), Error> {
        self.last_active = self.deps.clock.instant();
        let standing = self.limiter.check().inspect_err(|_| {
            self.deps.metrics.rate_limited("device");
            self.deps.metrics.tenant_rate_limited_by(&self.device.tenant_id, "device");
        })?;
        report.record(standing);
        Ok(())
    }

    fn recent(&self, event_id: &str) -> Option<DetectionResponse> {
        self.recent.iter().find(|(id, _)| id == event_id).map(|(_, r)| r.clone())
    }

    fn remember(
        &mut self,
        event_id: &str,
        response: &DetectionResponse,
        now: DateTime<Utc>,
        settings: &RuleSettings,
        ttl: chrono::Duration,
    ) {
        if self.recent.len() == RECENT_EVENTS {
            self.recent.pop_front();
        }
        self.recent.push_back((event_id.to_owned(), response.clone()));
        let entry = self.memory.entry(response.product.product_id.clone()).or_default();
        match response.reason {
            Reason::Prompt => entry.pending = response.intent_id.map(|id| (id, now + ttl)),
            Reason::AlreadyOrdered => {
                let started =
                    now - settings.cooldown + chrono::Duration::milliseconds(response.cooldown_remaining_ms as i64);
                entry.last_ordered = entry.last_ordered.max(Some(started));
            }
            Reason::Cooldown => {
                let started =
                    now - settings.cooldown + chrono::Duration::milliseconds(response.cooldown_remaining_ms as i64);
                entry.last_decided = entry.last_decided.max(Some(started));
            }
            _ => {}
        }
    }

    fn adopt_quota(&mut self, per_minute: u32) {
        self.limiter.adopt(Limit::per_minute("device", per_minute));
    }
}

impl Actor for DeviceActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.deps.settings.mailbox_capacity);
        self.deps.metrics.actor_started("device");
        let idle = self.deps.settings.idle_timeout;
        ctx.run_interval(idle / 4, move |act, ctx| {
            if act.deps.clock.elapsed(act.last_active) >= idle {
                let key = (act.device.tenant_id.clone(), act.device.device_id.clone());
                act.deps.registry.remove(&key, act.generation);
                ctx.stop();
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.deps.metrics.actor_stopped("device");
    }
}

impl Handler<TakeSlot> for DeviceActor {
    type Result = Result<(), Error>;

    fn handle(&mut self, msg: TakeSlot, _: &mut Self::Context) -> Result<(), Error> {
        self.admit(&msg.0)
    }
}

impl Handler<Recheck> for DeviceActor {
    type Result = bool;

    fn handle(&mut self, msg: Recheck, ctx: &mut Self::Context) -> bool {
        let current = self.device == msg.0;
        if !current {
            let key = (self.device.tenant_id.clone(), self.device.device_id.clone());
            self.deps.registry.remove(&key, self.generation);
            ctx.stop();
        }
        current
    }
}

/// What the synchronous part of a detection decided.
enum Plan {
    Settled(DetectionResponse),
    /// The prompt it would be, the unit price, and how far back an order still on its way holds it off.
    Candidate(DetectionResponse, i64, chrono::Duration),
}

impl DeviceActor {
    /// Applies the tenant's limits and the prompt rules to a detection: what
    /// the device is told, and the settings its memory keeps it by.
    fn plan(
        &mut self,
        snapshot: &TenantSnapshot,
        request: &DetectionRequest,
        now: DateTime<Utc>,
    ) -> Result<(Plan, RuleSettings, chrono::Duration), Error> {
        self.adopt_quota(snapshot.limits.device_per_minute);
        let entry = snapshot.catalog.get(&request.object_class).ok_or(Error::NotFound("product"))?;
        let settings = RuleSettings {
            threshold: entry.threshold,
            prompt_on_low_confidence: snapshot.limits.prompt_on_low_confidence,
            cooldown: chrono::Duration::seconds(i64::from(snapshot.limits.cooldown_seconds)),
        };
        let ttl = chrono::Duration::seconds(i64::from(snapshot.limits.intent_ttl_seconds));
        let offer = ProductOffer {
            product_id: entry.product_id.clone(),
            sku: entry.sku.clone(),
            label: entry.label.clone(),
            unit_price_usd: entry.unit_price_cents as f64 / 100.0,
        };
        let memory = self.memory.get(&entry.product_id).copied().unwrap_or_default();
        let plan = match precheck(request.fill_level, request.confidence, &settings, &memory, now) {
            Verdict::NoPrompt(reason, remaining, intent_id) => Plan::Settled(DetectionResponse {
                should_prompt: false,
                intent_id,
                reason,
                cooldown_remaining_ms: remaining,
                product: offer,
                prompt: None,
                order_id: None,
                eta: None,
            }),
            Verdict::Candidate => {
                let prompt = prompt_sentence(&request.object_class, request.fill_level, &offer);
                let response = DetectionResponse {
                    should_prompt: true,
                    intent_id: None,
                    reason: Reason::Prompt,
                    cooldown_remaining_ms: 0,
                    product: offer,
                    prompt: Some(prompt),
                    order_id: None,
                    eta: None,
                };
                let horizon = chrono::Duration::days(i64::from(snapshot.limits.order_in_progress_days));
                Plan::Candidate(response, entry.unit_price_cents, horizon)
            }
        };
        Ok((plan, settings, ttl))
    }
}

/// Makes a planned detection durable: a settled one through the group
/// commit of detections, a prompt candidate through the group commit of
/// candidates (decided against the database, intent + detection row).
async fn record(
    deps: &DeviceDeps,
    device: &DeviceContext,
    event_id: &str,
    plan: Plan,
    cooldown: chrono::Duration,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<DetectionResponse, Error> {
    match plan {
        Plan::Settled(response) => repo::record_settled(&deps.db, &deps.writer, device, event_id, response, now).await,
        Plan::Candidate(prompt_response, unit_price_cents, order_horizon) => {
            let (device, event_id) = (device.clone(), event_id.to_owned());
            let candidate =
                Candidate { device, event_id, prompt_response, unit_price_cents, cooldown, ttl, order_horizon, now };
            deps.prompts.decide(candidate).await
        }
    }
}

impl Handler<Detect> for DeviceActor {
    type Result = AtomicResponse<Self, Result<DetectionResponse, Error>>;

    fn handle(&mut self, msg: Detect, _: &mut Self::Context) -> Self::Result {
        if msg.admitted {
            self.last_active = self.deps.clock.instant();
        } else if let Err(err) = self.admit(&msg.report) {
            return AtomicResponse::new(Box::pin(ready(Err(err))));
        }
        if let Some(response) = self.recent(&msg.request.event_id) {
            return AtomicResponse::new(Box::pin(ready(Ok(response))));
        }
        let deps = self.deps.clone();
        let tenant = self.device.tenant_id.clone();
        let load = wrap_future::<_, Self>(async move { deps.tenants.get(&tenant).await });
        let fut = load.then(move |snapshot, act, _| {
            let (deps, device, now) = (act.deps.clone(), act.device.clone(), msg.now);
            let planned = snapshot.and_then(|snapshot| act.plan(&snapshot, &msg.request, now));
            let event_id = msg.request.event_id;
            wrap_future::<_, Self>(async move {
                let (plan, settings, ttl) = planned?;
                let response = record(&deps, &device, &event_id, plan, settings.cooldown, ttl, now).await?;
                Ok((event_id, response, settings, ttl))
            })
            .map(move |result: Result<_, Error>, act: &mut Self, _| {
                let (event_id, response, settings, ttl) = result?;
                act.deps.metrics.detection(response.reason.as_str(), response.reason == Reason::Prompt);
                act.remember(&event_id, &response, now, &settings, ttl);
                Ok(response)
            })
        });
        AtomicResponse::new(Box::pin(fut))
    }
}

impl Handler<Decide> for DeviceActor {
    type Result = AtomicResponse<Self, Result<DecisionResponse, Error>>;

    fn handle(&mut self, msg: Decide, _: &mut Self::Context) -> Self::Result {
        if let Err(err) = self.admit(&msg.report) {
            return AtomicResponse::new(Box::pin(ready(Err(err))));
        }
        let deps = self.deps.clone();
        let device = self.device.clone();
        let request = msg.request;
        let now = msg.now;
        let fut = wrap_future::<_, Self>(async move {
            let snapshot = deps.tenants.get(&device.tenant_id).await?;
            let terms = OrderTerms {
                daily_budget_cents: (snapshot.limits.daily_order_budget_usd * 100.0).round() as i64,
                submit_delay: chrono::Duration::seconds(i64::from(snapshot.limits.submit_delay_seconds)),
            };
            let (decided, fresh) = crate::orders::repo::decide(&deps.db, &device, &request, terms, now).await?;
            if fresh {
                deps.metrics.decision(request.channel.as_str(), request.accepted);
            }
            let response = match decided {
                Decided::Settled(intent, order) => {
                    let order = order.as_ref().map(crate::orders::model::OrderView::from_model).transpose()?;
                    DecisionResponse::build(&intent, order.as_ref())?
                }
                Decided::Place(_, order) => {
                    let (intent, order) = deps.stores.place(device.scope.tenant().clone(), order).await?;
                    DecisionResponse::build(&intent, Some(&order))?
                }
            };
            Ok((response, request))
        })
        .map(move |result: Result<_, Error>, act: &mut Self, _| {
            let (response, request) = result?;
            let ordered = response.order.as_ref().is_some_and(|o| o.status != OrderStatus::Failed);
            for memory in act.memory.values_mut() {
                if memory.pending.is_some_and(|(id, _)| id == request.intent_id) {
                    memory.pending = None;
                    memory.last_decided = Some(now);
                    if ordered {
                        memory.last_ordered = Some(now);
                    }
                }
            }
            Ok(response)
        });
        AtomicResponse::new(Box::pin(fut))
    }
}
