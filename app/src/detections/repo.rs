//! Detection queries. Every acknowledged outcome is committed
//! before the caller answers, and every cross-replica guarantee rests on a
//! constraint: one detection row per (device, event id), one PENDING intent
//! per (device, product), one order per intent.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use replenish_api::EventType;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, QuerySelect, Select,
    Set,
};
use uuid::Uuid;

use crate::db::retry::{CONTENDED_ATTEMPTS, failed_transiently, retry};
use crate::db::scope::{DeviceScope, TenantScope};
use crate::detections::writer::{DetectionWriter, Written};
use crate::devices::context::DeviceContext;
use crate::error::Error;
use crate::events;
use crate::intents::entity::{detection, intent};
use crate::intents::model::{DetectionResponse, ProductMemory, Reason, cooldown_remaining};
use crate::intents::repo::{expire_lapsed, intent_event};
use crate::orders::entity::order;
use crate::orders::model::{IntentStatus, OrderStatus};
use crate::orders::repo::lifecycle;

/// Everything a prompt candidate needs to become an intent.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// The device.
    pub device: &'a DeviceContext,
    /// The event id.
    pub event_id: &'a str,
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

/// The stored answer to a device's repeated event id.
pub async fn stored_response(
    db: &impl ConnectionTrait,
    device: &DeviceScope,
    event_id: &str,
) -> Result<Option<DetectionResponse>, Error> {
    let row = device.find::<detection::Entity>().filter(detection::Column::EventId.eq(event_id)).one(db).await?;
    row.map(|r| {
        serde_json::from_str(&r.response).map_err(|e| Error::Internal(format!("stored detection does not parse: {e}")))
    })
    .transpose()
}

fn detection_row(
    device: &DeviceContext,
    event_id: &str,
    response: &DetectionResponse,
    now: DateTime<Utc>,
) -> Result<detection::ActiveModel, Error> {
    Ok(detection::ActiveModel {
        tenant_id: Set(device.tenant_id.clone()),
        device_id: Set(device.device_id.clone()),
        event_id: Set(event_id.to_owned()),
        product_id: Set(Some(response.product.product_id.clone())),
        reason: Set(response.reason.as_str().to_owned()),
        intent_id: Set(response.intent_id),
        response: Set(serde_json::to_string(response).map_err(|e| Error::Internal(e.to_string()))?),
        created_at: Set(now),
    })
}

/// Records a detection whose outcome memory settled, through the group-commit
/// writer. If the event id was seen before (by this or another replica), the
/// stored answer is returned instead.
pub async fn record_settled(
    db: &DatabaseConnection,
    writer: &DetectionWriter,
    device: &DeviceContext,
    event_id: &str,
    response: DetectionResponse,
    now: DateTime<Utc>,
) -> Result<DetectionResponse, Error> {
    let row = detection::Model {
        tenant_id: device.tenant_id.clone(),
        device_id: device.device_id.clone(),
        event_id: event_id.to_owned(),
        product_id: Some(response.product.product_id.clone()),
        reason: response.reason.as_str().to_owned(),
        intent_id: response.intent_id,
        response: serde_json::to_string(&response).map_err(|e| Error::Internal(e.to_string()))?,
        created_at: now,
    };
    match writer.write(row).await? {
        Written::Inserted => Ok(response),
        Written::Duplicate => stored_response(db, &device.scope, event_id)
            .await?
            .ok_or_else(|| Error::Internal("detection vanished after a conflict".into())),
    }
}

/// Decides a prompt candidate against the database and records it, in one
/// transaction: the open intent, the household's recent orders and this
/// device's recent decisions are read where every replica writes them.
pub async fn record_candidate(db: &DatabaseConnection, candidate: &Candidate<'_>) -> Result<DetectionResponse, Error> {
    retry(CONTENDED_ATTEMPTS, failed_transiently, || try_candidate(db, candidate)).await
}

async fn try_candidate(db: &DatabaseConnection, c: &Candidate<'_>) -> Result<DetectionResponse, Error> {
    let d = c.device;
    let product_id = c.prompt_response.product.product_id.clone();
    let txn = crate::db::begin_write(db).await?;
    if let Some(stored) = stored_response(&txn, &d.scope, c.event_id).await? {
        return Ok(stored);
    }
    expire_lapsed(&txn, &d.scope, Some(&product_id), d.test, c.now).await?;
    let response = match suppression(&txn, c, &product_id).await? {
        Some(suppressed) => suppressed,
        None => {
            let mut response = c.prompt_response.clone();
            let created = insert_intent(&txn, c, &response).await?;
            response.intent_id = Some(created.id);
            let event = intent_event(EventType::IntentCreated, &created, d.test, c.now)?;
            events::record(&txn, d.scope.tenant(), event, c.now).await?;
            response
        }
    };
    detection_row(d, c.event_id, &response, c.now)?.insert(&txn).await?;
    txn.commit().await?;
    Ok(response)
}

/// Why the database holds a candidate's prompt off, in order of precedence:
/// an open intent, a household order within the cooldown, a household order
/// still on its way (within the tenant's horizon), a decision within the
/// cooldown. `None`: prompt.
async fn suppression(
    txn: &impl ConnectionTrait,
    c: &Candidate<'_>,
    product_id: &str,
) -> Result<Option<DetectionResponse>, Error> {
    let d = c.device;
    let suppressed = |reason: Reason, remaining: u64, intent: Option<Uuid>| DetectionResponse {
        should_prompt: false,
        intent_id: intent,
        reason,
        cooldown_remaining_ms: remaining,
        prompt: None,
        ..c.prompt_response.clone()
    };
    let open = d
        .scope
        .find::<intent::Entity>()
        .filter(intent::Column::ProductId.eq(product_id))
        .filter(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
        .one(txn)
        .await?;
    if let Some(open) = open {
        return Ok(Some(suppressed(Reason::PendingIntent, 0, Some(open.id))));
    }
    let household_order = household_orders_since(d, c.now - c.cooldown)
        .filter(order::Column::ProductId.eq(product_id))
        .order_by_desc(order::Column::CreatedAt)
        .one(txn)
        .await?;
    if let Some(remaining) = household_order.and_then(|o| cooldown_remaining(Some(o.created_at), c.cooldown, c.now)) {
        return Ok(Some(suppressed(Reason::AlreadyOrdered, remaining, None)));
    }
    let since = c.now - c.order_horizon;
    if let Some(on_its_way) = lifecycle::in_progress(txn, d.scope.tenant(), &d.owner, product_id, since).await? {
        let held = suppressed(Reason::OrderInProgress, 0, None);
        return Ok(Some(DetectionResponse { order_id: Some(on_its_way.id), eta: on_its_way.eta, ..held }));
    }
    let decided = last_decision(txn, d, product_id, c.now - c.cooldown).await?;
    Ok(cooldown_remaining(decided, c.cooldown, c.now).map(|remaining| suppressed(Reason::Cooldown, remaining, None)))
}

/// Records the candidate's new PENDING intent.
async fn insert_intent(
    txn: &impl ConnectionTrait,
    c: &Candidate<'_>,
    response: &DetectionResponse,
) -> Result<intent::Model, Error> {
    let d = c.device;
    let row = intent::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(d.tenant_id.clone()),
        device_id: Set(d.device_id.clone()),
        product_id: Set(response.product.product_id.clone()),
        store_id: Set(d.store_id.clone()),
        owner: Set(d.owner.clone()),
        sku: Set(response.product.sku.clone()),
        label: Set(response.product.label.clone()),
        unit_price_cents: Set(c.unit_price_cents),
        status: Set(IntentStatus::Pending.as_str().to_owned()),
        created_at: Set(c.now),
        expires_at: Set(c.now + c.ttl),
        decided_at: Set(None),
        accepted: Set(None),
        channel: Set(None),
        updated_at: Set(c.now),
    };
    Ok(row.insert(txn).await?)
}

async fn last_decision(
    db: &impl ConnectionTrait,
    d: &DeviceContext,
    product_id: &str,
    since: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let last = d
        .scope
        .find::<intent::Entity>()
        .filter(intent::Column::ProductId.eq(product_id))
        .filter(intent::Column::DecidedAt.gt(since))
        .order_by_desc(intent::Column::DecidedAt)
        .one(db)
        .await?;
    Ok(last.and_then(|i| i.decided_at))
}

/// The orders of `d`'s household (every device of its owner) placed after
/// `since` that were not refused: the ones that hold off a prompt, both when a
/// candidate is decided and when a device's memory is loaded.
fn household_orders_since(d: &DeviceContext, since: DateTime<Utc>) -> Select<order::Entity> {
    d.scope
        .tenant()
        .find::<order::Entity>()
        .filter(order::Column::Owner.eq(d.owner.as_str()))
        .filter(order::Column::Status.ne(OrderStatus::Failed.as_str()))
        .filter(order::Column::CreatedAt.gt(since))
}

/// What a device remembers per product after activation: open intents,
/// decisions and household orders within `cooldown`.
pub async fn load_memory(
    db: &DatabaseConnection,
    d: &DeviceContext,
    cooldown: Duration,
    now: DateTime<Utc>,
) -> Result<HashMap<String, ProductMemory>, Error> {
    let rows = d
        .scope
        .find::<intent::Entity>()
        .filter(
            intent::Column::Status.eq(IntentStatus::Pending.as_str()).or(intent::Column::DecidedAt.gt(now - cooldown)),
        )
        .limit(1_000)
        .all(db)
        .await?;
    let orders = household_orders_since(d, now - cooldown).limit(1_000).all(db).await?;
    let mut memory: HashMap<String, ProductMemory> = HashMap::new();
    for order in orders {
        let entry = memory.entry(order.product_id.clone()).or_default();
        entry.last_ordered = Ord::max(entry.last_ordered, Some(order.created_at));
    }
    for row in rows {
        let entry = memory.entry(row.product_id.clone()).or_default();
        if row.status == IntentStatus::Pending.as_str() && row.expires_at > now {
            entry.pending = Some((row.id, row.expires_at));
        }
        if let Some(decided) = row.decided_at {
            entry.last_decided = Ord::max(entry.last_decided, Some(decided));
        }
    }
    Ok(memory)
}

/// When each of `devices` (of `tenant`) last reported a detection, for the
/// dashboard's fleet page; devices that never did are absent.
pub async fn last_seen(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    devices: &[String],
) -> Result<HashMap<String, DateTime<Utc>>, Error> {
    if devices.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, Option<DateTime<Utc>>)> = tenant
        .find::<detection::Entity>()
        .select_only()
        .column(detection::Column::DeviceId)
        .column_as(detection::Column::CreatedAt.max(), "last_seen")
        .filter(detection::Column::DeviceId.is_in(devices.iter().map(String::as_str)))
        .group_by(detection::Column::DeviceId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|(device, at)| Some((device, at?))).collect())
}
