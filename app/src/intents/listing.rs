//! Filtered, paginated history of intents and orders (newest first).

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::Error;
use crate::http::{MAX_PAGE_SIZE, Page, ResourceId};
use crate::intents::decision::IntentView;
use crate::intents::decision::IntentViewExt as _;
use crate::intents::entity::intent;
use crate::orders::entity::order;
use crate::orders::model::OrderViewExt as _;
use crate::orders::model::{IntentStatus, OrderStatus, OrderView};

/// `?status=&device=&since=&until=&limit=&cursor=` for history listings.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Only this device.
    pub device: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// A validated history query.
#[derive(Debug, Clone)]
pub struct History {
    status: Option<String>,
    device: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: u64,
    /// (created_at, id) of the last item already seen.
    after: Option<(DateTime<Utc>, Uuid)>,
}

fn cursor_of(created_at: DateTime<Utc>, id: Uuid) -> String {
    format!("{}-{}", created_at.timestamp_micros(), id.simple())
}

fn parse_cursor(cursor: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (micros, id) = cursor.split_once('-')?;
    Some((DateTime::from_timestamp_micros(micros.parse().ok()?)?, Uuid::parse_str(id).ok()?))
}

impl HistoryQuery {
    /// Validates against the statuses of `T`.
    pub fn validate(&self, valid_status: impl Fn(&str) -> bool) -> Result<History, Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::InvalidQuery(format!("limit must be between 1 and {MAX_PAGE_SIZE}")));
        }
        if let Some(status) = &self.status
            && !valid_status(status)
        {
            return Err(Error::InvalidQuery(format!("unknown status {status:?}")));
        }
        if let Some(device) = &self.device {
            ResourceId::parse(device).map_err(|_| Error::InvalidQuery("device is not a valid id".into()))?;
        }
        let after = match &self.cursor {
            Some(cursor) => Some(
                parse_cursor(cursor)
                    .ok_or_else(|| Error::InvalidQuery("cursor is not one this service issued".into()))?,
            ),
            None => None,
        };
        Ok(History {
            status: self.status.clone(),
            device: self.device.clone(),
            since: self.since,
            until: self.until,
            limit,
            after,
        })
    }
}

macro_rules! history_condition {
    ($entity:ident, $tenant:expr, $device:expr, $h:expr) => {{
        let mut condition = Condition::all().add($entity::Column::TenantId.eq($tenant));
        if let Some(device) = $device.or($h.device.as_deref()) {
            condition = condition.add($entity::Column::DeviceId.eq(device));
        }
        if let Some(status) = &$h.status {
            condition = condition.add($entity::Column::Status.eq(status.as_str()));
        }
        if let Some(since) = $h.since {
            condition = condition.add($entity::Column::CreatedAt.gte(since));
        }
        if let Some(until) = $h.until {
            condition = condition.add($entity::Column::CreatedAt.lt(until));
        }
        if let Some((at, id)) = $h.after {
            condition = condition.add(
                Condition::any()
                    .add($entity::Column::CreatedAt.lt(at))
                    .add(Condition::all().add($entity::Column::CreatedAt.eq(at)).add($entity::Column::Id.lt(id))),
            );
        }
        condition
    }};
}

/// A page of the tenant's intents (optionally only one device's).
pub async fn intents(
    db: &DatabaseConnection,
    tenant: &str,
    device: Option<&str>,
    h: &History,
) -> Result<Page<IntentView>, Error> {
    let rows = intent::Entity::find()
        .filter(history_condition!(intent, tenant, device, h))
        .order_by_desc(intent::Column::CreatedAt)
        .order_by_desc(intent::Column::Id)
        .limit(h.limit + 1)
        .all(db)
        .await?;
    let now = Utc::now();
    let cursors: Vec<String> = rows.iter().map(|r| cursor_of(r.created_at, r.id)).collect();
    let items = rows.iter().map(|r| IntentView::from_model(r, now)).collect::<Result<Vec<_>, _>>()?;
    Ok(page(items, cursors, h.limit))
}

/// A page of the tenant's orders (optionally only one device's).
pub async fn orders(
    db: &DatabaseConnection,
    tenant: &str,
    device: Option<&str>,
    h: &History,
) -> Result<Page<OrderView>, Error> {
    let rows = order::Entity::find()
        .filter(history_condition!(order, tenant, device, h))
        .order_by_desc(order::Column::CreatedAt)
        .order_by_desc(order::Column::Id)
        .limit(h.limit + 1)
        .all(db)
        .await?;
    let cursors: Vec<String> = rows.iter().map(|r| cursor_of(r.created_at, r.id)).collect();
    let items = rows.iter().map(OrderView::from_model).collect::<Result<Vec<_>, _>>()?;
    Ok(page(items, cursors, h.limit))
}

fn page<T>(mut items: Vec<T>, cursors: Vec<String>, limit: u64) -> Page<T> {
    let has_more = items.len() as u64 > limit;
    items.truncate(limit as usize);
    let next_cursor = if has_more { cursors.get(items.len().saturating_sub(1)).cloned() } else { None };
    Page { items, next_cursor }
}

/// Whether `s` names an intent status.
pub fn is_intent_status(s: &str) -> bool {
    IntentStatus::parse(s).is_ok()
}

/// Whether `s` names an order status.
pub fn is_order_status(s: &str) -> bool {
    OrderStatus::parse(s).is_ok()
}

/// One intent of the tenant (and, for a device, of that device).
pub async fn intent(
    db: &DatabaseConnection,
    tenant: &str,
    device: Option<&str>,
    id: Uuid,
) -> Result<IntentView, Error> {
    let mut query = intent::Entity::find_by_id(id).filter(intent::Column::TenantId.eq(tenant));
    if let Some(device) = device {
        query = query.filter(intent::Column::DeviceId.eq(device));
    }
    let row = query.one(db).await?.ok_or(Error::NotFound("intent"))?;
    IntentView::from_model(&row, Utc::now())
}

/// One order of the tenant (and, for a device, of that device).
pub async fn order(db: &DatabaseConnection, tenant: &str, device: Option<&str>, id: Uuid) -> Result<OrderView, Error> {
    let mut query = order::Entity::find_by_id(id).filter(order::Column::TenantId.eq(tenant));
    if let Some(device) = device {
        query = query.filter(order::Column::DeviceId.eq(device));
    }
    OrderView::from_model(&query.one(db).await?.ok_or(Error::NotFound("order"))?)
}
