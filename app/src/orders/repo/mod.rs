//! Decisions, budget reservations and the order history; `placing` holds
//! the order state changes of placement and the sweeper's claims, `totals`
//! the stores' daily order and revenue counters.

pub mod lifecycle;
pub mod placing;
pub mod totals;

use chrono::{DateTime, Utc};
use replenish_api::EventType;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, Set, UpdateMany};
use uuid::Uuid;

use crate::db::retry::{CONTENDED_ATTEMPTS, failed_transiently, retry};
use crate::db::scope::TenantScope;
use crate::db::{WriteTxn, is_transient};
use crate::devices::context::DeviceContext;
use crate::error::Error;
use crate::events;
use crate::intents::decision::DecisionRequest;
use crate::intents::entity::intent;
use crate::intents::repo::intent_event;
use crate::orders::entity::{budget_zone, order, spend};
use crate::orders::model::{Actor, EventDetails, IntentStatus, OrderStatus};
use crate::stores;

/// The tenant's terms for a new order.
#[derive(Debug, Clone, Copy)]
pub struct OrderTerms {
    /// The owner's daily budget, in cents.
    pub daily_budget_cents: i64,
    /// How long an accepted order waits before it is sent (the tenant's submit delay).
    pub submit_delay: chrono::Duration,
}

/// What a decision leads to.
#[derive(Debug, Clone)]
pub enum Decided {
    /// Nothing left to do: answer from this intent (and its order).
    Settled(intent::Model, Option<order::Model>),
    /// An accepted intent whose order still has to go to the provider.
    Place(intent::Model, order::Model),
}

/// Records a wearer's decision. Accepting reserves the owner's daily budget
/// and creates the (single) order in the same transaction. The flag says
/// whether this call recorded the decision (false for a repeat).
pub async fn decide(
    db: &DatabaseConnection,
    device: &DeviceContext,
    request: &DecisionRequest,
    terms: OrderTerms,
    now: DateTime<Utc>,
) -> Result<(Decided, bool), Error> {
    // `Ok(None)` lost a race with another replica: read again and answer from what it wrote.
    let again = |outcome: &Result<Option<_>, Error>| matches!(outcome, Ok(None)) || failed_transiently(outcome);
    let outcome = retry(CONTENDED_ATTEMPTS, again, || try_decide(db, device, request, terms, now)).await;
    match outcome {
        Ok(Some(decided)) => Ok(decided),
        Ok(None) => Err(kept_conflicting()),
        Err(Error::Database(err)) if is_transient(&err) => Err(kept_conflicting()),
        Err(err) => Err(err),
    }
}

fn kept_conflicting() -> Error {
    Error::Unavailable("the decision kept conflicting with concurrent writers".into())
}

fn conflict(intent: &intent::Model) -> Error {
    Error::Conflict {
        kind: "decision-conflict",
        detail: format!("intent {} was already decided the other way", intent.id),
    }
}

async fn try_decide(
    db: &DatabaseConnection,
    d: &DeviceContext,
    request: &DecisionRequest,
    terms: OrderTerms,
    now: DateTime<Utc>,
) -> Result<Option<(Decided, bool)>, Error> {
    let tenant = d.scope.tenant();
    let txn = crate::db::begin_write(db).await?;
    let intent = d
        .scope
        .find::<intent::Entity>()
        .filter(intent::Column::Id.eq(request.intent_id))
        .one(&txn)
        .await?
        .ok_or(Error::NotFound("intent"))?;
    let status = IntentStatus::parse(&intent.status)?;
    match status {
        IntentStatus::Pending if intent.expires_at <= now => {
            if set_intent_status(&txn, tenant, intent.id, IntentStatus::Pending, IntentStatus::Expired, now).await? {
                intent_moved(&txn, tenant, &intent, IntentStatus::Expired, None, d.test, now).await?;
            }
            txn.commit().await?;
            Err(Error::Gone(format!("intent {} expired at {}", intent.id, intent.expires_at)))
        }
        IntentStatus::Expired => Err(Error::Gone(format!("intent {} expired at {}", intent.id, intent.expires_at))),
        IntentStatus::Rejected if request.accepted => Err(conflict(&intent)),
        IntentStatus::Rejected => Ok(Some((Decided::Settled(intent, None), false))),
        IntentStatus::Accepted | IntentStatus::Ordered | IntentStatus::Confirmed | IntentStatus::Failed => {
            if !request.accepted {
                return Err(conflict(&intent));
            }
            let order = tenant
                .find::<order::Entity>()
                .filter(order::Column::IntentId.eq(intent.id))
                .one(&txn)
                .await?
                .ok_or_else(|| Error::Internal(format!("accepted intent {} has no order", intent.id)))?;
            // A held order (submit delay) is the sweeper's to send when it is due.
            if OrderStatus::parse(&order.status)?.is_final() || order.send_after.is_some_and(|t| t > now) {
                Ok(Some((Decided::Settled(intent, Some(order)), false)))
            } else {
                Ok(Some((Decided::Place(intent, order), false)))
            }
        }
        IntentStatus::Pending if !request.accepted => {
            if !record_decision(&txn, tenant, &intent, IntentStatus::Rejected, request, d.test, now).await? {
                return Ok(None);
            }
            txn.commit().await?;
            Ok(Some((Decided::Settled(reload_intent(db, tenant, intent.id).await?, None), true)))
        }
        IntentStatus::Pending => {
            let Some(order) = accept(&txn, d, &intent, request, terms, now).await? else {
                return Ok(None);
            };
            txn.commit().await?;
            let intent = reload_intent(db, tenant, intent.id).await?;
            if order.send_after.is_some() {
                return Ok(Some((Decided::Settled(intent, Some(order)), true)));
            }
            Ok(Some((Decided::Place(intent, order), true)))
        }
    }
}

/// Accepts a PENDING intent inside `txn`: reserves the owner's budget for the
/// owner's budget day and records the order (claimed by this replica, which
/// places it next; or, under a submit delay, held until `send_after` for the
/// sweeper). A test device's order reserves no budget and goes to the mock
/// provider. `None` when another replica decided first.
async fn accept(
    txn: &WriteTxn,
    d: &DeviceContext,
    intent: &intent::Model,
    request: &DecisionRequest,
    terms: OrderTerms,
    now: DateTime<Utc>,
) -> Result<Option<order::Model>, Error> {
    let tenant = d.scope.tenant();
    let daily_budget_cents = terms.daily_budget_cents;
    let store = stores::repo::find(txn, tenant, &intent.store_id)
        .await?
        .ok_or_else(|| Error::Internal(format!("store {} of intent {} is gone", intent.store_id, intent.id)))?;
    let tz = budget_zone(txn, tenant, &intent.owner, &store.timezone).await?;
    let day = now.with_timezone(&tz).format("%Y-%m-%d").to_string();
    let total = intent.unit_price_cents;
    if !d.test && !reserve_budget(txn, tenant, &intent.owner, &day, total, daily_budget_cents).await? {
        return Err(Error::BudgetExceeded(format!(
            "an order of ${:.2} would exceed the daily budget of ${:.2} for owner {}",
            total as f64 / 100.0,
            daily_budget_cents as f64 / 100.0,
            intent.owner
        )));
    }
    if !record_decision(txn, tenant, intent, IntentStatus::Accepted, request, d.test, now).await? {
        return Ok(None);
    }
    let held = terms.submit_delay > chrono::Duration::zero();
    let provider = if d.test { "mock".to_owned() } else { store.commerce_provider.clone() };
    let order = order::ActiveModel {
        id: Set(Uuid::new_v4()),
        tenant_id: Set(tenant.as_str().to_owned()),
        intent_id: Set(intent.id),
        device_id: Set(intent.device_id.clone()),
        store_id: Set(intent.store_id.clone()),
        owner: Set(intent.owner.clone()),
        product_id: Set(intent.product_id.clone()),
        sku: Set(intent.sku.clone()),
        total_cents: Set(total),
        budget_day: Set(day),
        status: Set(OrderStatus::Pending.as_str().to_owned()),
        provider: Set(provider),
        provider_ref: Set(None),
        failure_reason: Set(None),
        eta: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        // A held order is nobody's until it is due: then the sweeper claims it.
        claimed_at: Set((!held).then_some(now)),
        next_attempt_at: Set(None),
        attempts: Set(0),
        test: Set(d.test),
        send_after: Set(held.then(|| now + terms.submit_delay)),
    }
    .insert(txn)
    .await?;
    let accepted = EventDetails { by: Some(Actor::Device), channel: Some(request.channel), ..EventDetails::default() };
    lifecycle::record_event(txn, tenant, order.id, OrderStatus::Pending, &accepted, now).await?;
    Ok(Some(order))
}

pub(crate) async fn reload_intent(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    id: Uuid,
) -> Result<intent::Model, Error> {
    let found = tenant.find::<intent::Entity>().filter(intent::Column::Id.eq(id)).one(db).await?;
    found.ok_or(Error::NotFound("intent"))
}

/// The zone whose calendar day `owner`'s daily budget counts in. The first
/// order fixes it to its store's zone (`store_zone`) and every later order,
/// from any store, uses the same: one budget day per owner, never several
/// open at once, and a new device elsewhere does not move the owner's midnight.
async fn budget_zone(
    txn: &WriteTxn,
    tenant: &TenantScope,
    owner: &str,
    store_zone: &str,
) -> Result<chrono_tz::Tz, Error> {
    // Insert-if-absent then read: two replicas racing on an owner's first
    // order both read the zone of whichever committed first.
    let first = Query::insert()
        .into_table(budget_zone::Entity)
        .columns([budget_zone::Column::TenantId, budget_zone::Column::Owner, budget_zone::Column::Timezone])
        .values_panic([tenant.as_str().into(), owner.into(), store_zone.into()])
        .on_conflict(
            OnConflict::columns([budget_zone::Column::TenantId, budget_zone::Column::Owner]).do_nothing().to_owned(),
        )
        .to_owned();
    txn.execute(&first).await?;
    let zone = tenant.find::<budget_zone::Entity>().filter(budget_zone::Column::Owner.eq(owner)).one(txn).await?;
    let zone = zone.map_or_else(|| store_zone.to_owned(), |z| z.timezone);
    Ok(zone.parse().unwrap_or(chrono_tz::UTC))
}

/// Moves a PENDING intent to `to` with the decision, and writes its event;
/// false when someone else decided first.
async fn record_decision(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    intent: &intent::Model,
    to: IntentStatus,
    request: &DecisionRequest,
    test: bool,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let decision = tenant
        .update::<intent::Entity>()
        .col_expr(intent::Column::DecidedAt, Expr::value(now))
        .col_expr(intent::Column::Accepted, Expr::value(request.accepted))
        .col_expr(intent::Column::Channel, Expr::value(request.channel.as_str()));
    let moved = move_intent(db, decision, intent.id, (IntentStatus::Pending, to), now).await?;
    if moved {
        intent_moved(db, tenant, intent, to, Some(request), test, now).await?;
    }
    Ok(moved)
}

/// Writes the event of `intent`'s move to `to` (with `decision`, when the
/// wearer decided), its snapshot the intent as it now stands. Moves that
/// merchants follow through order events (ORDERED, CONFIRMED, FAILED) write none.
async fn intent_moved(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    intent: &intent::Model,
    to: IntentStatus,
    decision: Option<&DecisionRequest>,
    test: bool,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let event_type = match to {
        IntentStatus::Expired => EventType::IntentExpired,
        IntentStatus::Rejected => EventType::IntentRejected,
        IntentStatus::Accepted => EventType::IntentAccepted,
        _ => return Ok(()),
    };
    let mut after = intent.clone();
    after.status = to.as_str().to_owned();
    after.updated_at = now;
    if let Some(decision) = decision {
        after.decided_at = Some(now);
        after.accepted = Some(decision.accepted);
        after.channel = Some(decision.channel.as_str().to_owned());
    }
    events::record(db, tenant, intent_event(event_type, &after, test, now)?, now).await?;
    Ok(())
}

pub(crate) async fn set_intent_status(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    id: Uuid,
    from: IntentStatus,
    to: IntentStatus,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    move_intent(db, tenant.update::<intent::Entity>(), id, (from, to), now).await
}

/// Runs `update` on intent `id`, moving its status `from` → `to`, only while it
/// is still `from`: every intent transition is a compare-and-set, so of two
/// racing writers exactly one wins. Whether this one did.
async fn move_intent(
    db: &impl ConnectionTrait,
    update: UpdateMany<intent::Entity>,
    id: Uuid,
    (from, to): (IntentStatus, IntentStatus),
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let result = update
        .col_expr(intent::Column::Status, Expr::value(to.as_str()))
        .col_expr(intent::Column::UpdatedAt, Expr::value(now))
        .filter(intent::Column::Id.eq(id))
        .filter(intent::Column::Status.eq(from.as_str()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Adds `cents` to the owner's spend for `day` unless that would pass `budget`;
/// one statement, so concurrent replicas cannot both squeeze under the limit.
async fn reserve_budget(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    owner: &str,
    day: &str,
    cents: i64,
    budget: i64,
) -> Result<bool, Error> {
    if cents > budget {
        return Ok(false);
    }
    let current = Expr::col((spend::Entity, spend::Column::Cents));
    let incoming = Expr::col((Alias::new("excluded"), spend::Column::Cents));
    let statement = Query::insert()
        .into_table(spend::Entity)
        .columns([spend::Column::TenantId, spend::Column::Owner, spend::Column::Day, spend::Column::Cents])
        .values_panic([tenant.as_str().into(), owner.into(), day.into(), cents.into()])
        .on_conflict(
            OnConflict::columns([spend::Column::TenantId, spend::Column::Owner, spend::Column::Day])
                .value(spend::Column::Cents, current.clone().add(incoming.clone()))
                .action_and_where(current.add(incoming).lte(budget))
                .to_owned(),
        )
        .returning_col(spend::Column::Cents)
        .to_owned();
    let row = db.query_one(&statement).await?;
    Ok(row.is_some())
}

crate::history::repo::history_queries!(order);
