//! Detection queries. Every acknowledged outcome is committed
//! before the caller answers, and every cross-replica guarantee rests on a
//! constraint: one detection row per (device, event id), one PENDING intent
//! per (device, product), one order per intent.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect};

use crate::db::scope::{DeviceScope, TenantScope};
use crate::detections::writer::{DetectionWriter, Written};
use crate::devices::context::DeviceContext;
use crate::error::Error;
use crate::intents::entity::{detection, intent};
use crate::intents::model::{DetectionResponse, ProductMemory};
use crate::orders::entity::order;
use crate::orders::model::{IntentStatus, OrderStatus};

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

/// What each of `devices` remembers per product after activation — open
/// intents, decisions and household orders within its tenant's cooldown —
/// read for all of them in two statements, keyed by (tenant, device).
pub async fn load_memories(
    db: &DatabaseConnection,
    devices: &[(&DeviceContext, Duration)],
    now: DateTime<Utc>,
) -> Result<HashMap<(String, String), HashMap<String, ProductMemory>>, Error> {
    let mut memories: HashMap<(String, String), HashMap<String, ProductMemory>> =
        devices.iter().map(|(d, _)| ((d.tenant_id.clone(), d.device_id.clone()), HashMap::new())).collect();
    if devices.is_empty() {
        return Ok(memories);
    }
    let intents = devices.iter().fold(Condition::any(), |any, (d, cooldown)| {
        let open_or_recent =
            intent::Column::Status.eq(IntentStatus::Pending.as_str()).or(intent::Column::DecidedAt.gt(now - *cooldown));
        any.add(d.scope.condition::<intent::Entity>().add(open_or_recent))
    });
    let households = devices.iter().fold(Condition::any(), |any, (d, cooldown)| {
        any.add(
            d.scope
                .tenant()
                .condition::<order::Entity>()
                .add(order::Column::Owner.eq(d.owner.as_str()))
                .add(order::Column::CreatedAt.gt(now - *cooldown)),
        )
    });
    let intents = intent::Entity::find().filter(intents).all(db).await?;
    let orders = order::Entity::find()
        .filter(order::Column::Status.ne(OrderStatus::Failed.as_str()))
        .filter(households)
        .all(db)
        .await?;
    for (d, cooldown) in devices {
        let memory = memories.entry((d.tenant_id.clone(), d.device_id.clone())).or_default();
        let household = orders.iter().filter(|o| o.tenant_id == d.tenant_id && o.owner == d.owner);
        for order in household.filter(|o| o.created_at > now - *cooldown) {
            let entry = memory.entry(order.product_id.clone()).or_default();
            entry.last_ordered = Ord::max(entry.last_ordered, Some(order.created_at));
        }
    }
    for row in intents {
        let Some(memory) = memories.get_mut(&(row.tenant_id.clone(), row.device_id.clone())) else { continue };
        let entry = memory.entry(row.product_id.clone()).or_default();
        if row.status == IntentStatus::Pending.as_str() && row.expires_at > now {
            entry.pending = Some((row.id, row.expires_at));
        }
        if let Some(decided) = row.decided_at {
            entry.last_decided = Ord::max(entry.last_decided, Some(decided));
        }
    }
    Ok(memories)
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
