//! Order state changes of placement: SUBMITTED before the provider call, the
//! definite end (CONFIRMED, or FAILED with the budget given back), and the
//! sweeper's claims on orders whose outcome is still unknown.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, QueryTrait, Select};

use crate::db::WriteTxn;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::intents::entity::intent;
use crate::orders::commerce::Confirmation;
use crate::orders::entity::order;
use crate::orders::model::{Actor, EventDetails, IntentStatus, OrderStatus};
use crate::orders::repo::{lifecycle, reload_intent, set_intent_status, totals};

/// How an order's placement ended, definitely.
#[derive(Debug, Clone)]
pub enum Settlement {
    /// The provider placed it.
    Confirmed(Confirmation),
    /// It was not placed (a refusal, or no answer until the retry horizon), for this reason.
    Failed(String),
}

/// Marks an order SUBMITTED (and its intent ORDERED) just before the provider
/// is called. Whether the provider may be called: false when the order is no
/// longer PENDING or SUBMITTED (cancelled meanwhile, or already settled), so
/// a cancelled order is never sent.
pub async fn mark_submitted(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    order: &order::Model,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let txn = crate::db::begin_write(db).await?;
    let moved = tenant
        .update::<order::Entity>()
        .col_expr(order::Column::Status, Expr::value(OrderStatus::Submitted.as_str()))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Status.eq(OrderStatus::Pending.as_str()))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if moved {
        lifecycle::record_event(&txn, tenant, order.id, OrderStatus::Submitted, &system(), now).await?;
        set_intent_status(&txn, tenant, order.intent_id, IntentStatus::Accepted, IntentStatus::Ordered, now).await?;
        txn.commit().await?;
        return Ok(true);
    }
    // Not PENDING any more: a resubmission may go ahead only while the order is still SUBMITTED.
    let stored = tenant.find::<order::Entity>().filter(order::Column::Id.eq(order.id)).one(&txn).await?;
    Ok(stored.is_some_and(|o| o.status == OrderStatus::Submitted.as_str()))
}

fn system() -> EventDetails {
    EventDetails { by: Some(Actor::System), ..EventDetails::default() }
}

/// Records a definite end once: the order and intent become CONFIRMED or
/// FAILED, and a failure gives the reserved budget back.
pub async fn finish(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    order: &order::Model,
    settlement: &Settlement,
    now: DateTime<Utc>,
) -> Result<(intent::Model, order::Model), Error> {
    let txn = crate::db::begin_write(db).await?;
    let (order_status, intent_status) = match settlement {
        Settlement::Confirmed(_) => (OrderStatus::Confirmed, IntentStatus::Confirmed),
        Settlement::Failed(_) => (OrderStatus::Failed, IntentStatus::Failed),
    };
    let mut update = tenant
        .update::<order::Entity>()
        .col_expr(order::Column::Status, Expr::value(order_status.as_str()))
        .col_expr(order::Column::UpdatedAt, Expr::value(now));
    update = match settlement {
        Settlement::Confirmed(confirmation) => update
            .col_expr(order::Column::ProviderRef, Expr::value(confirmation.provider_ref.clone()))
            .col_expr(order::Column::Eta, Expr::value(confirmation.eta.clone())),
        Settlement::Failed(reason) => update.col_expr(order::Column::FailureReason, Expr::value(reason.clone())),
    };
    let changed = update
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Status.is_in(UNFINISHED))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    // Only the replica that moved the order does the rest, so a refund happens once.
    if changed {
        let details = match settlement {
            Settlement::Confirmed(c) => EventDetails {
                by: Some(Actor::Provider),
                provider_ref: c.provider_ref.clone(),
                eta: c.eta.clone(),
                ..EventDetails::default()
            },
            Settlement::Failed(reason) => EventDetails { reason: Some(reason.clone()), ..system() },
        };
        lifecycle::record_event(&txn, tenant, order.id, order_status, &details, now).await?;
        tenant
            .update::<intent::Entity>()
            .col_expr(intent::Column::Status, Expr::value(intent_status.as_str()))
            .col_expr(intent::Column::UpdatedAt, Expr::value(now))
            .filter(intent::Column::Id.eq(order.intent_id))
            .exec(&txn)
            .await?;
        // Test orders count against no revenue.
        if matches!(settlement, Settlement::Confirmed(_)) && !order.test {
            count_for_store(&txn, tenant, order).await?;
        }
        if matches!(settlement, Settlement::Failed(_)) {
            lifecycle::refund_budget(&txn, tenant, order).await?;
        }
    }
    txn.commit().await?;
    current(db, tenant, order).await
}

/// Schedules the next call of an order whose outcome is still unknown: not
/// before `next_attempt_at`, one more attempt counted when the merchant was
/// called (`called`; not when the store's gate held the order back), and the
/// claim released, so the sweeper of any replica takes it when it is due.
pub async fn schedule_retry(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    order: &order::Model,
    next_attempt_at: DateTime<Utc>,
    called: bool,
) -> Result<(intent::Model, order::Model), Error> {
    tenant
        .update::<order::Entity>()
        .col_expr(order::Column::NextAttemptAt, Expr::value(next_attempt_at))
        .col_expr(order::Column::Attempts, Expr::col(order::Column::Attempts).add(i32::from(called)))
        .col_expr(order::Column::ClaimedAt, Expr::value(Option::<DateTime<Utc>>::None))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Status.is_in(UNFINISHED))
        .exec(db)
        .await?;
    current(db, tenant, order).await
}

/// Counts a confirmed order in its store's totals of the store-local day it was placed.
async fn count_for_store(txn: &WriteTxn, tenant: &TenantScope, order: &order::Model) -> Result<(), Error> {
    let store = crate::stores::repo::find(txn, tenant, &order.store_id).await?;
    let tz: chrono_tz::Tz = store.and_then(|s| s.timezone.parse().ok()).unwrap_or(chrono_tz::UTC);
    let day = order.created_at.with_timezone(&tz).format("%Y-%m-%d").to_string();
    totals::count_confirmed(txn, tenant, &order.store_id, &day, order.id, order.total_cents).await
}

/// The order and its intent as stored now (after an unknown outcome, which changes neither).
pub async fn current(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    order: &order::Model,
) -> Result<(intent::Model, order::Model), Error> {
    let found = tenant.find::<order::Entity>().filter(order::Column::Id.eq(order.id)).one(db).await?;
    let order = found.ok_or(Error::NotFound("order"))?;
    Ok((reload_intent(db, tenant, order.intent_id).await?, order))
}

const UNFINISHED: [&str; 2] = ["PENDING", "SUBMITTED"];

/// Claims up to `limit` unfinished orders whose last claim is older than
/// `lapsed_before` (the replica holding it died, or the provider's answer was
/// unknown): each is stamped `claimed_at = now` and returned, so no other
/// replica takes it until its claim lapses in turn. On Postgres the scan skips
/// rows another replica is claiming at this moment (`FOR UPDATE SKIP LOCKED`);
/// SQLite runs one writer at a time, so its statement is claim enough. Across
/// tenants because one sweeper serves them all; each order is then placed
/// within its own tenant's scope.
pub async fn claim_unfinished(
    db: &DatabaseConnection,
    _: AcrossTenants,
    now: DateTime<Utc>,
    lapsed_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<order::Model>, Error> {
    claim(db, order::Entity::find(), now, lapsed_before, limit).await
}

/// Like [`claim_unfinished`], among one tenant's orders only: the sweeper of a
/// dedicated tenant's app, which touches no other tenant's rows.
pub async fn claim_unfinished_of(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    now: DateTime<Utc>,
    lapsed_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<order::Model>, Error> {
    claim(db, tenant.find::<order::Entity>(), now, lapsed_before, limit).await
}

/// Claims up to `limit` unfinished orders among `among` (see [`claim_unfinished`]).
async fn claim(
    db: &DatabaseConnection,
    among: Select<order::Entity>,
    now: DateTime<Utc>,
    lapsed_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<order::Model>, Error> {
    let lapsed =
        Condition::any().add(order::Column::ClaimedAt.is_null()).add(order::Column::ClaimedAt.lt(lapsed_before));
    // Not before its backoff, `Retry-After` or the end of its store's open breaker.
    let due = Condition::any().add(order::Column::NextAttemptAt.is_null()).add(order::Column::NextAttemptAt.lte(now));
    // An order held by the tenant's submit delay is not due before `send_after`.
    let released = Condition::any().add(order::Column::SendAfter.is_null()).add(order::Column::SendAfter.lte(now));
    let mut pick = among
        .select_only()
        .column(order::Column::Id)
        .filter(order::Column::Status.is_in(UNFINISHED))
        .filter(lapsed)
        .filter(due)
        .filter(released)
        .limit(limit);
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        pick = pick.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Ok(order::Entity::update_many()
        .col_expr(order::Column::ClaimedAt, Expr::value(now))
        .filter(order::Column::Id.in_subquery(pick.into_query()))
        .exec_with_returning(db)
        .await?)
}
