//! The SQL of the event log: writing events inside a change's transaction,
//! listing a tenant's, and pruning old ones.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::events::entity::event;
use crate::events::model::NewEvent;

/// Writes `new` for `tenant` at `at`, inside the transaction of the change it
/// describes (call it after the change's own statements, so the object's row
/// lock is held and events of one object are numbered in commit order). The
/// event's id.
pub async fn record(
    txn: &impl ConnectionTrait,
    tenant: &TenantScope,
    new: NewEvent,
    at: DateTime<Utc>,
) -> Result<Uuid, Error> {
    let id = Uuid::new_v4();
    event::Entity::insert(active(tenant, new, id, at)).exec_without_returning(txn).await?;
    Ok(id)
}

/// Writes several events of one change (a bulk expiry) in one statement.
pub async fn record_all(
    txn: &impl ConnectionTrait,
    tenant: &TenantScope,
    events: Vec<NewEvent>,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events.into_iter().map(|new| active(tenant, new, Uuid::new_v4(), at));
    event::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(())
}

/// Writes events of several changes, possibly of several tenants, each with
/// its own time, in one statement (a batch of prompt candidates).
pub async fn record_each(
    txn: &impl ConnectionTrait,
    events: Vec<(TenantScope, NewEvent, DateTime<Utc>)>,
) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events.into_iter().map(|(tenant, new, at)| active(&tenant, new, Uuid::new_v4(), at));
    event::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(())
}

fn active(tenant: &TenantScope, new: NewEvent, id: Uuid, at: DateTime<Utc>) -> event::ActiveModel {
    event::ActiveModel {
        seq: NotSet,
        id: Set(id),
        tenant_id: Set(tenant.as_str().to_owned()),
        event_type: Set(new.event_type.as_str().to_owned()),
        object_kind: Set(new.event_type.object_kind().to_owned()),
        object_id: Set(new.object_id),
        test: Set(new.test),
        data: Set(new.data),
        created_at: Set(at),
        fanned_out: Set(false),
    }
}

/// Which events a listing wants.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only these types (wire forms); empty for all.
    pub types: Vec<String>,
    /// Only this object's.
    pub object_id: Option<String>,
    /// Created at or after.
    pub since: Option<DateTime<Utc>>,
    /// Created before.
    pub until: Option<DateTime<Utc>>,
    /// Oldest first (a feed read forward) instead of newest first.
    pub oldest_first: bool,
    /// The `seq` of the last event already seen.
    pub after: Option<i64>,
    /// Page size.
    pub limit: u64,
}

/// Up to `f.limit + 1` of the tenant's events matching `f` (the extra one
/// says another page exists).
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    f: &EventFilter,
) -> Result<Vec<event::Model>, Error> {
    let mut query = tenant.find::<event::Entity>();
    if !f.types.is_empty() {
        query = query.filter(event::Column::EventType.is_in(f.types.iter().map(String::as_str)));
    }
    if let Some(object_id) = &f.object_id {
        query = query.filter(event::Column::ObjectId.eq(object_id.as_str()));
    }
    if let Some(since) = f.since {
        query = query.filter(event::Column::CreatedAt.gte(since));
    }
    if let Some(until) = f.until {
        query = query.filter(event::Column::CreatedAt.lt(until));
    }
    query = match (f.after, f.oldest_first) {
        (Some(after), true) => query.filter(event::Column::Seq.gt(after)),
        (Some(after), false) => query.filter(event::Column::Seq.lt(after)),
        (None, _) => query,
    };
    query =
        if f.oldest_first { query.order_by_asc(event::Column::Seq) } else { query.order_by_desc(event::Column::Seq) };
    Ok(query.limit(f.limit + 1).all(db).await?)
}

/// One of the tenant's events by id.
pub async fn find(db: &impl ConnectionTrait, tenant: &TenantScope, id: Uuid) -> Result<Option<event::Model>, Error> {
    Ok(tenant.find::<event::Entity>().filter(event::Column::Id.eq(id)).one(db).await?)
}

/// Most events one pruning statement deletes, so a large backlog is pruned
/// in short transactions rather than one long one.
const PRUNE_BATCH: u64 = 5_000;

/// Deletes up to one batch of fanned-out events created before `before`, of every
/// tenant (`tenant: None`, the platform's app) or of one (a dedicated
/// tenant's app). How many were deleted.
pub async fn prune(
    db: &impl ConnectionTrait,
    tenant: Option<&TenantScope>,
    _: AcrossTenants,
    before: DateTime<Utc>,
) -> Result<u64, Error> {
    let mut oldest = Query::select();
    // An event not yet fanned out is kept however old it is: pruning must never lose
    // an event no endpoint has had the chance to receive (a dispatcher down for weeks).
    oldest
        .column(event::Column::Seq)
        .from(event::Entity)
        .and_where(Expr::col(event::Column::CreatedAt).lt(before))
        .and_where(Expr::col(event::Column::FannedOut).eq(true));
    if let Some(tenant) = tenant {
        oldest.and_where(Expr::col(event::Column::TenantId).eq(tenant.as_str()));
    }
    oldest.order_by(event::Column::Seq, sea_orm::Order::Asc).limit(PRUNE_BATCH);
    let deleted =
        event::Entity::delete_many().filter(event::Column::Seq.in_subquery(oldest.to_owned())).exec(db).await?;
    Ok(deleted.rows_affected)
}
