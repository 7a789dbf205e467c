//! The funnel's counting queries, all within one tenant.

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

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
    let detections_in = || {
        tenant
            .condition::<detection::Entity>()
            .add(detection::Column::CreatedAt.gte(since))
            .add(detection::Column::CreatedAt.lt(until))
    };
    let intents_in = || {
        tenant
            .condition::<intent::Entity>()
            .add(intent::Column::CreatedAt.gte(since))
            .add(intent::Column::CreatedAt.lt(until))
    };
    let orders_in = |status: OrderStatus| {
        tenant
            .condition::<order::Entity>()
            .add(order::Column::CreatedAt.gte(since))
            .add(order::Column::CreatedAt.lt(until))
            .add(order::Column::Status.eq(status.as_str()))
    };
    let lapsed = Condition::any().add(intent::Column::Status.eq(IntentStatus::Expired.as_str())).add(
        Condition::all()
            .add(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
            .add(intent::Column::ExpiresAt.lte(now)),
    );
    let prompted = detection::Column::Reason.eq(Reason::Prompt.as_str());
    Ok(FunnelCounts {
        detections: detection::Entity::find().filter(detections_in()).count(db).await?,
        prompts: detection::Entity::find().filter(detections_in().add(prompted)).count(db).await?,
        accepted: intent::Entity::find().filter(intents_in().add(intent::Column::Accepted.eq(true))).count(db).await?,
        rejected: intent::Entity::find().filter(intents_in().add(intent::Column::Accepted.eq(false))).count(db).await?,
        expired: intent::Entity::find().filter(intents_in().add(lapsed)).count(db).await?,
        orders_confirmed: order::Entity::find().filter(orders_in(OrderStatus::Confirmed)).count(db).await?,
        orders_failed: order::Entity::find().filter(orders_in(OrderStatus::Failed)).count(db).await?,
    })
}
