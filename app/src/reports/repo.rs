//! The funnel's counting queries, all within one tenant.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, PaginatorTrait, QueryFilter};

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
    /// Orders confirmed.
    pub orders_confirmed: u64,
    /// Orders failed.
    pub orders_failed: u64,
}

/// Counts the funnel stages of `tenant` in `[since, until)`: intents by when
/// they were prompted, orders by when they were placed.
pub async fn funnel_counts(
    db: &DatabaseConnection,
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
    let orders_in = |status: OrderStatus| {
        tenant
            .find::<order::Entity>()
            .filter(order::Column::CreatedAt.gte(since))
            .filter(order::Column::CreatedAt.lt(until))
            .filter(order::Column::Status.eq(status.as_str()))
    };
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
        orders_confirmed: orders_in(OrderStatus::Confirmed).count(db).await?,
        orders_failed: orders_in(OrderStatus::Failed).count(db).await?,
    })
}
