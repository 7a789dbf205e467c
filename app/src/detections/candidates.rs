//! Prompt candidates decided against the database, many in one transaction.
//!
//! A candidate is a detection the device's memory would prompt for; only the
//! database knows whether another replica, the household or an order on its
//! way holds it off. A batch of candidates (of distinct devices) costs the
//! same dozen statements as one: each read covers every candidate of the
//! batch, each write inserts all their rows at once. A batch either commits
//! whole or not at all.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use replenish_api::EventType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter,
};
use uuid::Uuid;

use crate::db::scope::TenantScope;
use crate::devices::context::DeviceContext;
use crate::error::Error;
use crate::events::{self, NewEvent};

use crate::intents::entity::{detection, intent};
use crate::intents::model::{DetectionResponse, Reason, cooldown_remaining};
use crate::intents::repo::{LapsedProduct, expire_lapsed_products, intent_event};
use crate::orders::entity::order;
use crate::orders::model::{IntentStatus, OrderStatus};

/// Everything a prompt candidate needs to become an intent.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The device.
    pub device: DeviceContext,
    /// The event id.
    pub event_id: String,
    /// The response if it prompts; reason and intent are filled in here.
    pub prompt_response: DetectionResponse,
    /// Label, SKU and price offered.
    pub unit_price_cents: i64,
    /// Cooldown after decisions and household orders.
    pub cooldown: Duration,
    /// How long the prompt stays open.
    pub ttl: Duration,
    /// How long after its placement an order without a final status holds off prompts.
    pub order_horizon: Duration,
    /// Now.
    pub now: DateTime<Utc>,
}

impl Candidate {
    fn product_id(&self) -> &str {
        &self.prompt_response.product.product_id
    }

    fn device_key(&self) -> (&str, &str) {
        (&self.device.tenant_id, &self.device.device_id)
    }

    fn product_key(&self) -> (&str, &str, &str) {
        (&self.device.tenant_id, &self.device.device_id, self.product_id())
    }

    fn household_key(&self) -> (&str, &str, &str) {
        (&self.device.tenant_id, &self.device.owner, self.product_id())
    }

    /// The answer when the database holds the prompt off.
    fn suppressed(&self, reason: Reason, remaining: u64, intent: Option<Uuid>) -> DetectionResponse {
        DetectionResponse {
            should_prompt: false,
            intent_id: intent,
            reason,
            cooldown_remaining_ms: remaining,
            prompt: None,
            ..self.prompt_response.clone()
        }
    }
}

/// Decides `batch` (candidates of distinct devices) and records every
/// outcome in one transaction: a repeated event id gets its stored answer,
/// the rest an intent or the reason they were held off. Answers come in the
/// batch's order.
pub async fn record_batch(db: &DatabaseConnection, batch: &[Candidate]) -> Result<Vec<DetectionResponse>, Error> {
    let txn = crate::db::begin_write(db).await?;
    let stored = stored_responses(&txn, batch).await?;
    let fresh: Vec<&Candidate> =
        batch.iter().filter(|c| !stored.contains_key(&(c.device_key(), c.event_id.as_str()))).collect();
    let lapsed: Vec<LapsedProduct<'_>> = fresh
        .iter()
        .map(|c| LapsedProduct { device: &c.device.scope, product_id: c.product_id(), test: c.device.test })
        .collect();
    // Clearing lapsed prompts first lets the same (device, product) prompt again.
    if let Some(now) = fresh.iter().map(|c| c.now).max() {
        expire_lapsed_products(&txn, &lapsed, now).await?;
    }
    let held = HeldOff::load(&txn, &fresh).await?;
    let mut written = Written::default();
    let mut answers = Vec::with_capacity(batch.len());
    for c in batch {
        if let Some(answer) = stored.get(&(c.device_key(), c.event_id.as_str())) {
            answers.push(answer.clone());
            continue;
        }
        let response = match held.answer(c) {
            Some(suppressed) => suppressed,
            None => written.prompt(c)?,
        };
        written.detection(c, &response)?;
        answers.push(response);
    }
    written.insert(&txn).await?;
    txn.commit().await?;
    Ok(answers)
}

/// The stored answers of the batch's event ids that were seen before.
async fn stored_responses<'a>(
    txn: &impl ConnectionTrait,
    batch: &'a [Candidate],
) -> Result<HashMap<((&'a str, &'a str), &'a str), DetectionResponse>, Error> {
    let any = batch.iter().fold(Condition::any(), |any, c| {
        any.add(c.device.scope.condition::<detection::Entity>().add(detection::Column::EventId.eq(&c.event_id)))
    });
    let rows = detection::Entity::find().filter(any).all(txn).await?;
    let mut stored = HashMap::new();
    for row in rows {
        let matches = |c: &&Candidate| {
            c.device.tenant_id == row.tenant_id && c.device.device_id == row.device_id && c.event_id == row.event_id
        };
        let Some(c) = batch.iter().find(matches) else {
            continue;
        };
        let response = serde_json::from_str(&row.response)
            .map_err(|e| Error::Internal(format!("stored detection does not parse: {e}")))?;
        stored.insert((c.device_key(), c.event_id.as_str()), response);
    }
    Ok(stored)
}

/// What the database holds against the batch's candidates, read in four
/// statements: open intents, recent household orders, household orders on
/// their way, and recent decisions.
#[derive(Default)]
struct HeldOff {
    open: HashMap<(String, String, String), Uuid>,
    ordered: HashMap<(String, String, String), DateTime<Utc>>,
    on_its_way: HashMap<(String, String, String), order::Model>,
    decided: HashMap<(String, String, String), DateTime<Utc>>,
}

fn owned(key: (&str, &str, &str)) -> (String, String, String) {
    (key.0.to_owned(), key.1.to_owned(), key.2.to_owned())
}

impl HeldOff {
    async fn load(txn: &impl ConnectionTrait, fresh: &[&Candidate]) -> Result<Self, Error> {
        let mut held = Self::default();
        if fresh.is_empty() {
            return Ok(held);
        }
        let per_product = |extra: &dyn Fn(&Candidate) -> Condition| {
            fresh.iter().fold(Condition::any(), |any, c| {
                any.add(
                    c.device
                        .scope
                        .condition::<intent::Entity>()
                        .add(intent::Column::ProductId.eq(c.product_id()))
                        .add(extra(c)),
                )
            })
        };
        let open_filter = per_product(&|_| Condition::all());
        let open = intent::Entity::find()
            .filter(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
            .filter(open_filter)
            .all(txn)
            .await?;
        for row in open {
            held.open.insert((row.tenant_id, row.device_id, row.product_id), row.id);
        }
        let decided_filter = per_product(&|c| Condition::all().add(intent::Column::DecidedAt.gt(c.now - c.cooldown)));
        for row in intent::Entity::find().filter(decided_filter).all(txn).await? {
            let Some(at) = row.decided_at else { continue };
            let entry = held.decided.entry((row.tenant_id, row.device_id, row.product_id)).or_insert(at);
            *entry = (*entry).max(at);
        }
        let per_household = |since: &dyn Fn(&Candidate) -> DateTime<Utc>| {
            fresh.iter().fold(Condition::any(), |any, c| {
                any.add(
                    c.device
                        .scope
                        .tenant()
                        .condition::<order::Entity>()
                        .add(order::Column::Owner.eq(c.device.owner.as_str()))
                        .add(order::Column::ProductId.eq(c.product_id()))
                        .add(order::Column::CreatedAt.gt(since(c))),
                )
            })
        };
        let recent = order::Entity::find()
            .filter(order::Column::Status.ne(OrderStatus::Failed.as_str()))
            .filter(per_household(&|c| c.now - c.cooldown))
            .all(txn)
            .await?;
        for row in recent {
            let entry = held.ordered.entry((row.tenant_id, row.owner, row.product_id)).or_insert(row.created_at);
            *entry = (*entry).max(row.created_at);
        }
        let open_statuses = OrderStatus::ALL.iter().filter(|s| s.in_progress()).map(|s| s.as_str());
        let on_its_way = order::Entity::find()
            .filter(order::Column::Status.is_in(open_statuses))
            .filter(per_household(&|c| c.now - c.order_horizon))
            .all(txn)
            .await?;
        for row in on_its_way {
            let key = (row.tenant_id.clone(), row.owner.clone(), row.product_id.clone());
            match held.on_its_way.get(&key) {
                Some(newer) if newer.created_at >= row.created_at => {}
                _ => {
                    held.on_its_way.insert(key, row);
                }
            }
        }
        Ok(held)
    }

    /// Why the database holds `c` off, in order of precedence: an open
    /// intent, a household order within the cooldown, a household order still
    /// on its way (within the tenant's horizon), a decision within the
    /// cooldown. `None`: prompt.
    fn answer(&self, c: &Candidate) -> Option<DetectionResponse> {
        if let Some(open) = self.open.get(&owned(c.product_key())) {
            return Some(c.suppressed(Reason::PendingIntent, 0, Some(*open)));
        }
        let ordered = self.ordered.get(&owned(c.household_key())).copied();
        if let Some(remaining) = cooldown_remaining(ordered, c.cooldown, c.now) {
            return Some(c.suppressed(Reason::AlreadyOrdered, remaining, None));
        }
        if let Some(order) =
            self.on_its_way.get(&owned(c.household_key())).filter(|o| o.created_at > c.now - c.order_horizon)
        {
            let held = c.suppressed(Reason::OrderInProgress, 0, None);
            return Some(DetectionResponse { order_id: Some(order.id), eta: order.eta.clone(), ..held });
        }
        let decided = self.decided.get(&owned(c.product_key())).copied();
        cooldown_remaining(decided, c.cooldown, c.now).map(|remaining| c.suppressed(Reason::Cooldown, remaining, None))
    }
}

/// The rows a batch writes, each kind in one statement.
#[derive(Default)]
struct Written {
    intents: Vec<intent::ActiveModel>,
    events: Vec<(TenantScope, NewEvent, DateTime<Utc>)>,
    detections: Vec<detection::ActiveModel>,
}

impl Written {
    /// A new PENDING intent for `c`, its `intent.created` event, and the prompt naming it.
    fn prompt(&mut self, c: &Candidate) -> Result<DetectionResponse, Error> {
        let d = &c.device;
        let product = &c.prompt_response.product;
        let created = intent::Model {
            id: Uuid::new_v4(),
            tenant_id: d.tenant_id.clone(),
            device_id: d.device_id.clone(),
            product_id: product.product_id.clone(),
            store_id: d.store_id.clone(),
            owner: d.owner.clone(),
            sku: product.sku.clone(),
            label: product.label.clone(),
            unit_price_cents: c.unit_price_cents,
            status: IntentStatus::Pending.as_str().to_owned(),
            created_at: c.now,
            expires_at: c.now + c.ttl,
            decided_at: None,
            accepted: None,
            channel: None,
            updated_at: c.now,
        };
        let event = intent_event(EventType::IntentCreated, &created, d.test, c.now)?;
        self.events.push((d.scope.tenant().clone(), event, c.now));
        let response = DetectionResponse { intent_id: Some(created.id), ..c.prompt_response.clone() };
        self.intents.push(created.into_active_model().reset_all());
        Ok(response)
    }

    /// The detection row recording `response` as `c`'s answer.
    fn detection(&mut self, c: &Candidate, response: &DetectionResponse) -> Result<(), Error> {
        let row = detection::Model {
            tenant_id: c.device.tenant_id.clone(),
            device_id: c.device.device_id.clone(),
            event_id: c.event_id.clone(),
            product_id: Some(response.product.product_id.clone()),
            reason: response.reason.as_str().to_owned(),
            intent_id: response.intent_id,
            response: serde_json::to_string(response).map_err(|e| Error::Internal(e.to_string()))?,
            created_at: c.now,
        };
        self.detections.push(row.into_active_model().reset_all());
        Ok(())
    }

    async fn insert(self, txn: &impl ConnectionTrait) -> Result<(), Error> {
        if !self.intents.is_empty() {
            intent::Entity::insert_many(self.intents).exec_without_returning(txn).await?;
        }
        // Events after their intents, so a reader of the feed finds the intent they name.
        events::record_each(txn, self.events).await?;
        if !self.detections.is_empty() {
            detection::Entity::insert_many(self.detections).exec_without_returning(txn).await?;
        }
        Ok(())
    }
}
