//! The SQL of webhook deliveries: fanning events out into deliveries, the
//! dispatcher's claim of due ones and its lease-fenced record of an attempt,
//! the delivery log, and redelivery.
//!
//! A delivery is *open* while its outcome is `pending` or `failed`. Per
//! (tenant, endpoint, object) the open deliveries form a queue in event order
//! (`event_seq`, then id): only its head may be attempted, so an object's
//! events reach an endpoint in the order they were written.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, Value,
};
use uuid::Uuid;

use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::events::entity::event;
use crate::webhooks::endpoints::subscribed;
use crate::webhooks::entity::{delivery, endpoint};
use crate::webhooks::repo;
use replenish_api::webhooks::DeliveryOutcome;

/// The outcomes of an open delivery, as SQL.
const OPEN_SQL: &str = "('pending', 'failed')";

/// Key of the Postgres advisory lock that serializes fan-out across replicas.
const FAN_OUT_LOCK: i64 = 0x7265_706c_0015;

/// Most rows one insert statement carries (18 columns: well under both
/// backends' bind-parameter limits).
const INSERT_CHUNK: usize = 500;

/// `sql` written with Postgres placeholders (`$1`) for `backend`: SQLite
/// reads numbered parameters as `?1`.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DbBackend::Sqlite { sql.replace('$', "?") } else { sql.to_owned() };
    Statement::from_sql_and_values(backend, sql, values)
}

/// A new pending delivery of `event` to endpoint `endpoint_id`, due at `now`.
pub fn new_delivery(event: &event::Model, endpoint_id: &str, now: DateTime<Utc>) -> delivery::Model {
    delivery::Model {
        id: Uuid::new_v4(),
        tenant_id: event.tenant_id.clone(),
        endpoint_id: endpoint_id.to_owned(),
        event_seq: event.seq,
        event_id: event.id,
        event_type: event.event_type.clone(),
        object_key: format!("{}:{}", event.object_kind, event.object_id),
        attempt: 0,
        outcome: DeliveryOutcome::Pending.as_str().to_owned(),
        status_code: None,
        latency_ms: None,
        response_body: None,
        attempted_at: None,
        next_attempt_at: Some(now),
        claimed_until: None,
        first_attempt_at: None,
        created_at: now,
    }
}

/// Inserts `rows` in statements of bounded size.
pub async fn insert_all(db: &impl ConnectionTrait, rows: &[delivery::Model]) -> Result<(), Error> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let models = chunk.iter().cloned().map(delivery::ActiveModel::from);
        delivery::Entity::insert_many(models).exec_without_returning(db).await?;
    }
    Ok(())
}

/// `fanned_out = false` with the literal in the SQL text: the partial index
/// `idx_events_unfanned` (`WHERE fanned_out = false`) only serves queries the
/// planner can match to it, which a bound parameter is not once Postgres
/// switches to a generic plan.
fn not_fanned_out() -> sea_orm::sea_query::SimpleExpr {
    Expr::col((event::Entity, event::Column::FannedOut)).eq(Expr::cust("false"))
}

/// Whether any event (of `only`'s tenant, when given) waits for fan-out: a
/// read, so an idle dispatcher never takes SQLite's write lock.
async fn fan_out_waiting(db: &DatabaseConnection, only: Option<&TenantScope>) -> Result<bool, Error> {
    let mut query = event::Entity::find().select_only().column(event::Column::Seq);
    query = query.filter(not_fanned_out());
    if let Some(tenant) = only {
        query = query.filter(event::Column::TenantId.eq(tenant.as_str()));
    }
    // Ordered by seq so the planner walks the partial index: without an order it
    // scans the table from the start, through every event already fanned out.
    Ok(query.order_by_asc(event::Column::Seq).limit(1).into_tuple::<i64>().one(db).await?.is_some())
}

/// Fans out up to `limit` events not yet fanned out, oldest first: one
/// pending delivery per enabled endpoint of the event's tenant subscribed to
/// its type, and the event marked fanned out, in one transaction. On Postgres
/// fan-out holds an advisory lock, so replicas fan out one after the other in
/// `seq` order: two replicas fanning out disjoint batches at once could
/// otherwise queue a later event of an object before an earlier one. The
/// types of the events fanned out.
pub async fn fan_out(
    db: &DatabaseConnection,
    only: Option<&TenantScope>,
    _: AcrossTenants,
    limit: u64,
    now: DateTime<Utc>,
) -> Result<Vec<String>, Error> {
    if !fan_out_waiting(db, only).await? {
        return Ok(Vec::new());
    }
    let txn = crate::db::begin_write(db).await?;
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({FAN_OUT_LOCK})")).await?;
    }
    let mut query = event::Entity::find().filter(not_fanned_out());
    if let Some(tenant) = only {
        query = query.filter(event::Column::TenantId.eq(tenant.as_str()));
    }
    let events = query.order_by_asc(event::Column::Seq).limit(limit).all(&txn).await?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut endpoints: HashMap<String, Vec<(endpoint::Model, Vec<String>)>> = HashMap::new();
    let mut rows = Vec::new();
    for event in &events {
        if !endpoints.contains_key(&event.tenant_id) {
            let tenant = TenantScope::parse(&event.tenant_id)?;
            let enabled = repo::enabled(&txn, &tenant).await?;
            let with_types = enabled.into_iter().map(|e| {
                // An endpoint whose stored types do not parse receives nothing rather than stopping fan-out.
                let types = subscribed(&e).unwrap_or_default().iter().map(|t| t.as_str().to_owned()).collect();
                (e, types)
            });
            endpoints.insert(event.tenant_id.clone(), with_types.collect());
        }
        for (endpoint, types) in endpoints.get(&event.tenant_id).into_iter().flatten() {
            if types.contains(&event.event_type) {
                rows.push(new_delivery(event, &endpoint.id, now));
            }
        }
    }
    insert_all(&txn, &rows).await?;
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    event::Entity::update_many()
        .col_expr(event::Column::FannedOut, Expr::value(true))
        .filter(event::Column::Seq.is_in(seqs))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(events.into_iter().map(|e| e.event_type).collect())
}

/// Open deliveries that are due, unleased and the head of their queue.
const DUE_SQL: &str = "SELECT d.* FROM webhook_deliveries d \
     WHERE d.outcome IN ('pending', 'failed') AND d.next_attempt_at <= $1 \
     AND (d.claimed_until IS NULL OR d.claimed_until <= $1) \
     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p \
         WHERE p.tenant_id = d.tenant_id AND p.endpoint_id = d.endpoint_id AND p.object_key = d.object_key \
         AND p.outcome IN ('pending', 'failed') \
         AND (p.event_seq < d.event_seq OR (p.event_seq = d.event_seq AND p.id < d.id)))";

fn due_statement(
    backend: DbBackend,
    only: Option<&TenantScope>,
    limit: u64,
    now: DateTime<Utc>,
    lock: bool,
) -> Statement {
    let mut sql = DUE_SQL.to_owned();
    let mut values: Vec<Value> = vec![now.into(), (limit as i64).into()];
    if let Some(tenant) = only {
        sql.push_str(" AND d.tenant_id = $3");
        values.push(tenant.as_str().into());
    }
    sql.push_str(" ORDER BY d.next_attempt_at, d.event_seq LIMIT $2");
    if lock && backend == DbBackend::Postgres {
        // Another replica's claim in progress holds its rows: take others instead of waiting.
        sql.push_str(" FOR UPDATE OF d SKIP LOCKED");
    }
    statement(backend, &sql, values)
}

/// Claims up to `limit` due deliveries at the head of their queues (of
/// `only`'s tenant, when given): in one transaction it picks them (`FOR
/// UPDATE SKIP LOCKED` on Postgres; SQLite has one writer), counts the
/// attempt and leases them until `lease_until`. The rows as claimed: their
/// `attempt` is the number of the attempt about to be made.
pub async fn claim(
    db: &DatabaseConnection,
    only: Option<&TenantScope>,
    _: AcrossTenants,
    limit: u64,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<delivery::Model>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // A read first, so an idle dispatcher never takes SQLite's write lock.
    let peek = due_statement(db.get_database_backend(), only, 1, now, false);
    if delivery::Entity::find().from_raw_sql(peek).one(db).await?.is_none() {
        return Ok(Vec::new());
    }
    let txn = crate::db::begin_write(db).await?;
    let picked = delivery::Entity::find()
        .from_raw_sql(due_statement(txn.get_database_backend(), only, limit, now, true))
        .all(&txn)
        .await?;
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = picked.iter().map(|d| d.id).collect();
    delivery::Entity::update_many()
        .col_expr(delivery::Column::Attempt, Expr::col(delivery::Column::Attempt).add(1))
        .col_expr(delivery::Column::ClaimedUntil, Expr::value(lease_until))
        .col_expr(
            delivery::Column::FirstAttemptAt,
            Func::coalesce([Expr::col(delivery::Column::FirstAttemptAt), Expr::value(now)]).into(),
        )
        .filter(delivery::Column::Id.is_in(ids))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(picked
        .into_iter()
        .map(|d| delivery::Model {
            attempt: d.attempt + 1,
            claimed_until: Some(lease_until),
            first_attempt_at: d.first_attempt_at.or(Some(now)),
            ..d
        })
        .collect())
}

/// What one attempt came to, as the delivery log keeps it.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    /// `succeeded`, `failed` (retried at `next_attempt_at`) or `abandoned`.
    pub outcome: DeliveryOutcome,
    /// The HTTP status, when there was an answer.
    pub status_code: Option<i32>,
    /// Round trip, ms.
    pub latency_ms: Option<i64>,
    /// The answer's body (≤ 1 KiB) or why there was none.
    pub response_body: Option<String>,
    /// When the attempt was made.
    pub attempted_at: DateTime<Utc>,
    /// When the next attempt is due (`failed` only).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records `record` on `claimed` (a delivery as [`claim`] returned it),
/// unless the claim lapsed and another attempt (a higher number) was made
/// since, or the delivery was closed meanwhile (abandoned): the fence that
/// keeps a slow replica from overwriting a newer attempt. Whether it was
/// recorded.
pub async fn record(
    db: &impl ConnectionTrait,
    claimed: &delivery::Model,
    record: &AttemptRecord,
) -> Result<bool, Error> {
    let result = delivery::Entity::update_many()
        .set(delivery::ActiveModel {
            outcome: Set(record.outcome.as_str().to_owned()),
            status_code: Set(record.status_code),
            latency_ms: Set(record.latency_ms),
            response_body: Set(record.response_body.clone()),
            attempted_at: Set(Some(record.attempted_at)),
            next_attempt_at: Set(record.next_attempt_at),
            claimed_until: Set(None),
            ..Default::default()
        })
        .filter(delivery::Column::Id.eq(claimed.id))
        .filter(delivery::Column::Attempt.eq(claimed.attempt))
        .filter(Expr::cust(format!("outcome IN {OPEN_SQL}")))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Abandons every open delivery of endpoint `endpoint_id`; how many.
pub async fn abandon_endpoint(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    endpoint_id: &str,
) -> Result<u64, Error> {
    let result = tenant
        .update::<delivery::Entity>()
        .set(abandoned())
        .filter(delivery::Column::EndpointId.eq(endpoint_id))
        .filter(Expr::cust(format!("outcome IN {OPEN_SQL}")))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

fn abandoned() -> delivery::ActiveModel {
    delivery::ActiveModel {
        outcome: Set(DeliveryOutcome::Abandoned.as_str().to_owned()),
        next_attempt_at: Set(None),
        claimed_until: Set(None),
        ..Default::default()
    }
}

/// Abandons the open deliveries of disabled endpoints (by the service, or by
/// a PUT with `enabled: false`) — of `only`'s tenant, when given; how many.
/// It runs on every poll, so it starts from the endpoints (few, and rarely
/// disabled) rather than from the open deliveries (possibly many): with no
/// disabled endpoint it is one small read, and each disabled endpoint's open
/// deliveries are found through the open-deliveries index.
pub async fn abandon_disabled(
    db: &DatabaseConnection,
    only: Option<&TenantScope>,
    _: AcrossTenants,
) -> Result<u64, Error> {
    let mut disabled = endpoint::Entity::find()
        .select_only()
        .column(endpoint::Column::TenantId)
        .column(endpoint::Column::Id)
        .filter(endpoint::Column::Enabled.eq(false));
    if let Some(tenant) = only {
        disabled = disabled.filter(endpoint::Column::TenantId.eq(tenant.as_str()));
    }
    let disabled: Vec<(String, String)> = disabled.into_tuple().all(db).await?;
    let mut abandoned_count = 0;
    for (tenant, endpoint_id) in disabled {
        let open = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Id)
            .filter(delivery::Column::TenantId.eq(tenant.as_str()))
            .filter(delivery::Column::EndpointId.eq(endpoint_id.as_str()))
            .filter(delivery::Column::Outcome.is_in(["pending", "failed"]));
        if open.limit(1).into_tuple::<Uuid>().one(db).await?.is_none() {
            continue;
        }
        let txn = crate::db::begin_write(db).await?;
        // Still disabled inside the writing transaction: a PUT may have re-enabled it meanwhile.
        let still = endpoint::Entity::find()
            .filter(endpoint::Column::TenantId.eq(tenant.as_str()))
            .filter(endpoint::Column::Id.eq(endpoint_id.as_str()))
            .filter(endpoint::Column::Enabled.eq(false))
            .one(&txn)
            .await?;
        if still.is_none() {
            continue;
        }
        let result = delivery::Entity::update_many()
            .set(abandoned())
            .filter(delivery::Column::TenantId.eq(tenant.as_str()))
            .filter(delivery::Column::EndpointId.eq(endpoint_id.as_str()))
            .filter(delivery::Column::Outcome.is_in(["pending", "failed"]))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        abandoned_count += result.rows_affected;
    }
    Ok(abandoned_count)
}

/// Which deliveries of one endpoint the log shows.
#[derive(Debug, Clone)]
pub struct DeliveryFilter {
    /// Only this outcome.
    pub outcome: Option<DeliveryOutcome>,
    /// The (created_at, event_seq, id) of the last delivery already seen.
    pub after: Option<(DateTime<Utc>, i64, Uuid)>,
    /// Page size.
    pub limit: u64,
}

/// Up to `f.limit + 1` deliveries of the tenant's endpoint `endpoint_id`,
/// newest first (and of one fan-out, the later event first).
pub async fn list(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    endpoint_id: &str,
    f: &DeliveryFilter,
) -> Result<Vec<delivery::Model>, Error> {
    let mut query = tenant.find::<delivery::Entity>().filter(delivery::Column::EndpointId.eq(endpoint_id));
    if let Some(outcome) = f.outcome {
        query = query.filter(delivery::Column::Outcome.eq(outcome.as_str()));
    }
    if let Some((at, seq, id)) = f.after {
        let older = delivery::Column::CreatedAt.lt(at);
        let earlier_event = delivery::Column::EventSeq.lt(seq);
        let tie = delivery::Column::EventSeq.eq(seq).and(delivery::Column::Id.lt(id));
        query = query.filter(older.or(delivery::Column::CreatedAt.eq(at).and(earlier_event.or(tie))));
    }
    // Deliveries made by one fan-out share their creation time: then the later event first.
    let query = query
        .order_by_desc(delivery::Column::CreatedAt)
        .order_by_desc(delivery::Column::EventSeq)
        .order_by_desc(delivery::Column::Id);
    Ok(query.limit(f.limit + 1).all(db).await?)
}
