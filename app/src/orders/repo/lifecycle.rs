//! An order's life after placement: its timeline (`order_events`), status
//! changes as compare-and-set updates, and the budget they give back.
//!
//! Every change of an order's status is one conditional `UPDATE … WHERE
//! status IN (<allowed sources>)` in a transaction that also writes the
//! timeline entry and, when the new status gives money back, the refund. Of
//! two racing writers (a merchant's status call, a wearer's cancel, the
//! store actor sending the order) exactly one moves the row, so a timeline
//! entry is written once and a refund happens once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::events::{self, NewEvent};
use crate::orders::entity::{order, order_event, spend};
use crate::orders::model::{EventDetails, OrderEvent, OrderStatus, OrderView, OrderViewExt as _};
use replenish_api::EventType;

/// Appends an entry to an order's timeline and writes the matching event
/// (`order.created`, `order.submitted`, `order.confirmed`, `order.failed`,
/// `order.cancelled`, else `order.status_changed`), its snapshot the order as
/// it stands after the change: inside the change's transaction, after the
/// change's own statements.
pub async fn record_event(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    order_id: Uuid,
    status: OrderStatus,
    details: &EventDetails,
    at: DateTime<Utc>,
) -> Result<(), Error> {
    let details = serde_json::to_string(details).map_err(|e| Error::Internal(e.to_string()))?;
    order_event::ActiveModel {
        tenant_id: Set(tenant.as_str().to_owned()),
        order_id: Set(order_id),
        status: Set(status.as_str().to_owned()),
        details: Set(details),
        at: Set(at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let order = tenant
        .find::<order::Entity>()
        .filter(order::Column::Id.eq(order_id))
        .one(db)
        .await?
        .ok_or_else(|| Error::Internal(format!("order {order_id} vanished inside its own change")))?;
    let event = NewEvent::of(event_type_of(status), order.id, order.test, &OrderView::from_model(&order)?)?;
    events::record(db, tenant, event, at).await?;
    Ok(())
}

/// The event type of an order's move to `status`.
fn event_type_of(status: OrderStatus) -> EventType {
    match status {
        OrderStatus::Pending => EventType::OrderCreated,
        OrderStatus::Submitted => EventType::OrderSubmitted,
        OrderStatus::Confirmed => EventType::OrderConfirmed,
        OrderStatus::Failed => EventType::OrderFailed,
        OrderStatus::Cancelled => EventType::OrderCancelled,
        OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::Refunded => EventType::OrderStatusChanged,
    }
}

/// The order's timeline, oldest first.
pub async fn timeline(db: &DatabaseConnection, tenant: &TenantScope, order_id: Uuid) -> Result<Vec<OrderEvent>, Error> {
    let rows = tenant
        .find::<order_event::Entity>()
        .filter(order_event::Column::OrderId.eq(order_id))
        .order_by_asc(order_event::Column::Id)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| {
            let details = serde_json::from_str(&row.details)
                .map_err(|e| Error::Internal(format!("stored order event does not parse: {e}")))?;
            Ok(OrderEvent { status: OrderStatus::parse(&row.status)?, at: row.at, details })
        })
        .collect()
}

/// Gives an order's amount back to its owner's spend on its budget day. A
/// test order reserved nothing, so it gives nothing back. Call it only from
/// the transaction that moved the order into a refunding status.
pub async fn refund_budget(db: &impl ConnectionTrait, tenant: &TenantScope, order: &order::Model) -> Result<(), Error> {
    if order.test {
        return Ok(());
    }
    tenant
        .update::<spend::Entity>()
        .col_expr(spend::Column::Cents, Expr::col(spend::Column::Cents).sub(order.total_cents))
        .filter(spend::Column::Owner.eq(order.owner.as_str()))
        .filter(spend::Column::Day.eq(order.budget_day.as_str()))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves `order` to `to` if its status is still one of `from`, writing the
/// timeline entry and (for CANCELLED and REFUNDED) the refund in the same
/// transaction. Whether this call moved it; false means another writer
/// changed the order first (read it again to see how).
pub async fn transition(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    order: &order::Model,
    from: &[OrderStatus],
    to: OrderStatus,
    details: &EventDetails,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let txn = crate::db::begin_write(db).await?;
    let moved = tenant
        .update::<order::Entity>()
        .col_expr(order::Column::Status, Expr::value(to.as_str()))
        .col_expr(order::Column::UpdatedAt, Expr::value(now))
        .filter(order::Column::Id.eq(order.id))
        .filter(order::Column::Status.is_in(from.iter().map(|s| s.as_str())))
        .exec(&txn)
        .await?
        .rows_affected
        == 1;
    if moved {
        record_event(&txn, tenant, order.id, to, details, now).await?;
        if to.refunds_budget() {
            refund_budget(&txn, tenant, order).await?;
        }
        txn.commit().await?;
    }
    Ok(moved)
}

/// The household's most recent order of `product_id` still on its way:
/// placed after `since` (the tenant's `order_in_progress_days` ago) and not
/// yet delivered, cancelled, refunded or failed. Read inside a prompt
/// candidate's transaction, so every replica sees the same orders.
pub async fn in_progress(
    db: &impl ConnectionTrait,
    tenant: &TenantScope,
    owner: &str,
    product_id: &str,
    since: DateTime<Utc>,
) -> Result<Option<order::Model>, Error> {
    let open = OrderStatus::ALL.iter().filter(|s| s.in_progress()).map(|s| s.as_str());
    Ok(tenant
        .find::<order::Entity>()
        .filter(order::Column::Owner.eq(owner))
        .filter(order::Column::ProductId.eq(product_id))
        .filter(order::Column::CreatedAt.gt(since))
        .filter(order::Column::Status.is_in(open))
        .order_by_desc(order::Column::CreatedAt)
        .one(db)
        .await?)
}
