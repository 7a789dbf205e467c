//! Intent queries outside a detection: expiry of lapsed prompts, and the
//! intent history.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, UpdateMany};

use crate::db::scope::{AcrossTenants, DeviceScope, TenantScope};
use crate::devices::entity as device;
use crate::error::Error;
use crate::events::{self, NewEvent};
use crate::intents::decision::{IntentView, IntentViewExt as _};
use crate::intents::entity::intent;
use crate::orders::model::IntentStatus;
use replenish_api::EventType;

/// One (device, product) whose lapsed PENDING intent a prompt candidate
/// clears before it decides, and whether the device is a test device.
pub struct LapsedProduct<'a> {
    /// The device.
    pub device: &'a DeviceScope,
    /// The product.
    pub product_id: &'a str,
    /// Whether the device is a test device (its events say so).
    pub test: bool,
}

/// Marks the lapsed PENDING intents of every (device, product) in `products`
/// EXPIRED and writes their `intent.expired` events, inside the caller's
/// transaction, in one statement whatever their number.
pub async fn expire_lapsed_products(
    txn: &impl ConnectionTrait,
    products: &[LapsedProduct<'_>],
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    if products.is_empty() {
        return Ok(0);
    }
    let any = products.iter().fold(Condition::any(), |any, p| {
        any.add(p.device.condition::<intent::Entity>().add(intent::Column::ProductId.eq(p.product_id)))
    });
    let expired = lapsed_to_expired(intent::Entity::update_many().filter(any), now).exec_with_returning(txn).await?;
    let mut by_tenant: BTreeMap<&str, (&TenantScope, Vec<NewEvent>)> = BTreeMap::new();
    for row in &expired {
        let Some(of) = products
            .iter()
            .find(|p| p.device.tenant().as_str() == row.tenant_id && p.device.device_id() == row.device_id)
        else {
            return Err(Error::Internal("an expired intent matched no device of the batch".into()));
        };
        let entry = by_tenant.entry(of.device.tenant().as_str()).or_insert((of.device.tenant(), Vec::new()));
        entry.1.push(expired_event(row, of.test, now)?);
    }
    for (_, (tenant, events)) in by_tenant {
        events::record_all(txn, tenant, events, now).await?;
    }
    Ok(expired.len() as u64)
}

/// Marks every lapsed PENDING intent of every tenant EXPIRED, with their
/// events. Across tenants because one sweeper serves them all; it touches
/// only rows already lapsed.
pub async fn expire_all_lapsed(db: &DatabaseConnection, _: AcrossTenants, now: DateTime<Utc>) -> Result<u64, Error> {
    expire_with_events(db, intent::Entity::update_many(), now).await
}

/// Marks every lapsed PENDING intent of one tenant EXPIRED, with their
/// events: the sweeper of a dedicated tenant's app, which touches no other
/// tenant's rows.
pub async fn expire_tenant_lapsed(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    expire_with_events(db, tenant.update::<intent::Entity>(), now).await
}

/// Runs a bulk expiry and writes one `intent.expired` event per moved row,
/// in one transaction, so an expiry and its event commit together.
async fn expire_with_events(
    db: &DatabaseConnection,
    update: UpdateMany<intent::Entity>,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let txn = crate::db::begin_write(db).await?;
    let expired = lapsed_to_expired(update, now).exec_with_returning(&txn).await?;
    if expired.is_empty() {
        return Ok(0);
    }
    let tests = test_devices(&txn, &expired).await?;
    let mut by_tenant: BTreeMap<&str, Vec<NewEvent>> = BTreeMap::new();
    for row in &expired {
        let test = tests.contains(&(row.tenant_id.as_str(), row.device_id.as_str()));
        by_tenant.entry(&row.tenant_id).or_default().push(expired_event(row, test, now)?);
    }
    for (tenant, events) in by_tenant {
        events::record_all(&txn, &TenantScope::parse(tenant)?, events, now).await?;
    }
    txn.commit().await?;
    Ok(expired.len() as u64)
}

/// Which of the devices behind `intents` are test devices, as (tenant, device).
async fn test_devices<'a>(
    txn: &impl ConnectionTrait,
    intents: &'a [intent::Model],
) -> Result<HashSet<(&'a str, &'a str)>, Error> {
    let ids: HashSet<&str> = intents.iter().map(|i| i.device_id.as_str()).collect();
    let flagged = device::Entity::find()
        .filter(device::Column::Test.eq(true))
        .filter(device::Column::Id.is_in(ids))
        .all(txn)
        .await?;
    let flagged: HashSet<(String, String)> = flagged.into_iter().map(|d| (d.tenant_id, d.id)).collect();
    Ok(intents
        .iter()
        .map(|i| (i.tenant_id.as_str(), i.device_id.as_str()))
        .filter(|(t, d)| flagged.contains(&((*t).to_owned(), (*d).to_owned())))
        .collect())
}

/// The `intent.expired` event of a row just expired.
fn expired_event(row: &intent::Model, test: bool, now: DateTime<Utc>) -> Result<NewEvent, Error> {
    intent_event(EventType::IntentExpired, row, test, now)
}

/// An event about `row`, its snapshot the intent as the API shows it.
pub fn intent_event(
    event_type: EventType,
    row: &intent::Model,
    test: bool,
    now: DateTime<Utc>,
) -> Result<NewEvent, Error> {
    NewEvent::of(event_type, row.id, test, &IntentView::from_model(row, now)?)
}

/// Narrows `update` to the PENDING intents lapsed at `now` and marks them
/// EXPIRED: what expiry means is written once, whichever scope (a device, a
/// tenant, every tenant) the update starts from.
fn lapsed_to_expired(update: UpdateMany<intent::Entity>, now: DateTime<Utc>) -> UpdateMany<intent::Entity> {
    update
        .col_expr(intent::Column::Status, Expr::value(IntentStatus::Expired.as_str()))
        .col_expr(intent::Column::UpdatedAt, Expr::value(now))
        .filter(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
        .filter(intent::Column::ExpiresAt.lte(now))
}

crate::history::repo::history_queries!(intent);
