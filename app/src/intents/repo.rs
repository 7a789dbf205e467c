//! Intent queries outside a detection: expiry of lapsed prompts, and the
//! intent history.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, UpdateMany,
};

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
    expire_in_chunks(db, None, now).await
}

/// Marks every lapsed PENDING intent of one tenant EXPIRED, with their
/// events: the sweeper of a dedicated tenant's app, which touches no other
/// tenant's rows.
pub async fn expire_tenant_lapsed(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    expire_in_chunks(db, Some(tenant), now).await
}

/// Most intents one sweeper transaction expires. One transaction for every
/// lapsed intent held their row locks (and the write turn) for seconds under
/// load (5.6 s per sweep in `replenish-load bench`'s fleet mix), while prompt
/// batches waited to expire the same rows.
const EXPIRY_CHUNK: u64 = 500;

/// Expires lapsed intents (of `tenant`, or of all) in transactions of at most
/// [`EXPIRY_CHUNK`] rows until none is left.
async fn expire_in_chunks(
    db: &DatabaseConnection,
    tenant: Option<&TenantScope>,
    now: DateTime<Utc>,
) -> Result<u64, Error> {
    let mut total = 0;
    loop {
        let expired = expire_chunk(db, tenant, now).await?;
        total += expired;
        if expired < EXPIRY_CHUNK {
            return Ok(total);
        }
    }
}

/// Runs one chunk of a bulk expiry and writes one `intent.expired` event per
/// moved row, in one transaction, so an expiry and its event commit together.
/// On Postgres the chunk skips rows another transaction holds (a prompt batch
/// expiring the same intent): that one expires it.
async fn expire_chunk(db: &DatabaseConnection, tenant: Option<&TenantScope>, now: DateTime<Utc>) -> Result<u64, Error> {
    let txn = crate::db::begin_write(db).await?;
    let mut lapsed = Query::select()
        .column(intent::Column::Id)
        .from(intent::Entity)
        .and_where(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
        .and_where(intent::Column::ExpiresAt.lte(now))
        .limit(EXPIRY_CHUNK)
        .to_owned();
    if let Some(tenant) = tenant {
        lapsed.cond_where(tenant.condition::<intent::Entity>());
    }
    if txn.get_database_backend() == DbBackend::Postgres {
        lapsed.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let update = match tenant {
        Some(tenant) => tenant.update::<intent::Entity>(),
        None => intent::Entity::update_many(),
    };
    let expired =
        lapsed_to_expired(update.filter(intent::Column::Id.in_subquery(lapsed)), now).exec_with_returning(&txn).await?;
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
