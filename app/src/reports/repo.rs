//! The funnel's counting queries, all within one tenant.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, PaginatorTrait, QueryFilter, RuntimeErr};

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::intents::entity::{detection, intent};
use crate::intents::model::Reason;
use crate::orders::entity::order;
use crate::orders::model::{IntentStatus, OrderStatus};

/// How many objects reached each stage of the funnel in a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FunnelCounts {
    /// Detections processed.
    pub detections: u64,
    /// Detections that prompted.
    pub prompts: u64,
    /// Prompts accepted.
    pub accepted: u64,
    /// Prompts rejected.
    pub rejected: u64,
    /// Prompts nobody answered before they lapsed (by `now`).
    pub expired: u64,
    /// Orders confirmed (and then shipped or delivered).
    pub orders_confirmed: u64,
    /// Orders failed.
    pub orders_failed: u64,
    /// Orders cancelled.
    pub orders_cancelled: u64,
    /// Orders refunded.
    pub orders_refunded: u64,
    /// Orders of test devices, whatever their status (in none of the counts above).
    pub test_orders: u64,
}

/// Counts the funnel stages of `tenant` in `[since, until)`: intents by when
/// they were prompted, orders by when they were placed.
pub async fn funnel_counts<C: ConnectionTrait>(
    db: &C,
    tenant: &TenantScope,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<FunnelCounts, Error> {
    let detections = tenant
        .find::<detection::Entity>()
        .filter(detection::Column::CreatedAt.gte(since))
        .filter(detection::Column::CreatedAt.lt(until));
    let intents = tenant
        .find::<intent::Entity>()
        .filter(intent::Column::CreatedAt.gte(since))
        .filter(intent::Column::CreatedAt.lt(until));
    let orders = tenant
        .find::<order::Entity>()
        .filter(order::Column::CreatedAt.gte(since))
        .filter(order::Column::CreatedAt.lt(until));
    // Test devices' orders are rehearsals: counted apart, never as business.
    let orders_in = |statuses: &[OrderStatus]| {
        orders
            .clone()
            .filter(order::Column::Test.eq(false))
            .filter(order::Column::Status.is_in(statuses.iter().map(|s| s.as_str())))
    };
    let placed = [OrderStatus::Confirmed, OrderStatus::Shipped, OrderStatus::Delivered];
    let lapsed = Condition::any().add(intent::Column::Status.eq(IntentStatus::Expired.as_str())).add(
        Condition::all()
            .add(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
            .add(intent::Column::ExpiresAt.lte(now)),
    );
    let prompted = detection::Column::Reason.eq(Reason::Prompt.as_str());
    Ok(FunnelCounts {
        detections: detections.clone().count(db).await?,
        prompts: detections.filter(prompted).count(db).await?,
        accepted: intents.clone().filter(intent::Column::Accepted.eq(true)).count(db).await?,
        rejected: intents.clone().filter(intent::Column::Accepted.eq(false)).count(db).await?,
        expired: intents.filter(lapsed).count(db).await?,
        orders_confirmed: orders_in(&placed).count(db).await?,
        orders_failed: orders_in(&[OrderStatus::Failed]).count(db).await?,
        orders_cancelled: orders_in(&[OrderStatus::Cancelled]).count(db).await?,
        orders_refunded: orders_in(&[OrderStatus::Refunded]).count(db).await?,
        test_orders: orders.filter(order::Column::Test.eq(true)).count(db).await?,
    })
}

/// Gives every later statement of `txn` at most `timeout` (Postgres
/// `SET LOCAL statement_timeout`, which ends with the transaction). SQLite has
/// no statement timeout, so there it does nothing.
pub async fn limit_statement_time<C: ConnectionTrait>(txn: &C, timeout: Duration) -> Result<(), Error> {
    if txn.get_database_backend() == DbBackend::Postgres {
        // At least 1 ms: 0 would switch the timeout off.
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128);
        txn.execute_unprepared(&format!("SET LOCAL statement_timeout = {ms}")).await?;
    }
    Ok(())
}

/// Whether Postgres cancelled a statement (SQLSTATE 57014, `query_canceled`:
/// the statement timeout ran out).
fn is_statement_timeout(err: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e))) = err else {
        return false;
    };
    e.as_database_error().and_then(|d| d.code()).is_some_and(|code| code == "57014")
}

/// A report that ran out of time is the server's, not the client's, and
/// worth retrying: 503 `unavailable`, not a 500.
pub fn timed_out_is_unavailable(err: Error) -> Error {
    match err {
        Error::Database(db) if is_statement_timeout(&db) => {
            Error::Unavailable("the report ran past its statement timeout".into())
        }
        other => other,
    }
}
