//! Reports over a tenant's activity: the merchant's funnel
//! (`GET /api/v1/telemetry/summary`).

pub mod model;
pub mod repo;
pub mod routes;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::reports::model::{AssistantUsage, Conversion, Summary};

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

/// The funnel of `tenant` between `since` and `until`, with its rates; a
/// pending intent counts as expired when it lapsed before `now`.
pub async fn summarize(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Summary, Error> {
    let c = repo::funnel_counts(db, tenant, since, until, now).await?;
    let (calls, tokens) = crate::assistant::repo::usage_totals(db, tenant, since, until).await?;
    Ok(Summary {
        since,
        until,
        detections: c.detections,
        prompts: c.prompts,
        accepted: c.accepted,
        rejected: c.rejected,
        expired: c.expired,
        orders_confirmed: c.orders_confirmed,
        orders_failed: c.orders_failed,
        conversion: Conversion {
            prompt_rate: ratio(c.prompts, c.detections),
            acceptance_rate: ratio(c.accepted, c.prompts),
            order_success_rate: ratio(c.orders_confirmed, c.orders_confirmed + c.orders_failed),
            detection_to_order_rate: ratio(c.orders_confirmed, c.detections),
        },
        assistant: AssistantUsage {
            calls,
            prompt_tokens: tokens.prompt_tokens,
            completion_tokens: tokens.completion_tokens,
            total_tokens: tokens.total_tokens,
        },
    })
}
