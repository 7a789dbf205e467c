//! Reports over a tenant's activity: the merchant's funnel
//! (`GET /api/v1/telemetry/summary`).

pub mod model;
pub mod repo;
pub mod routes;

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, TransactionTrait};

use crate::db::scope::TenantScope;
use crate::error::Error;
use crate::reports::model::{AssistantUsage, Conversion, StoreDay, Summary};

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

/// The funnel of `tenant` in the window `[since, until)`, with its rates; a
/// pending intent counts as expired when it lapsed before `now`.
///
/// The queries run in one transaction whose statements each get
/// `statement_timeout` on Postgres, so one expensive report cannot hold a
/// pooled connection for long; a report that runs out of time is
/// [`Error::Unavailable`] (503). SQLite has no statement timeout.
pub async fn summarize(
    db: &DatabaseConnection,
    tenant: &TenantScope,
    (since, until): (DateTime<Utc>, DateTime<Utc>),
    now: DateTime<Utc>,
    statement_timeout: Duration,
) -> Result<Summary, Error> {
    let txn = db.begin().await?;
    repo::limit_statement_time(&txn, statement_timeout).await?;
    let counted = async {
        let counts = repo::funnel_counts(&txn, tenant, since, until, now).await?;
        let usage = crate::assistant::repo::usage_totals(&txn, tenant, since, until).await?;
        let (first, last) = (since.format("%Y-%m-%d").to_string(), until.format("%Y-%m-%d").to_string());
        let days = crate::orders::repo::totals::days(&txn, tenant, &first, &last).await?;
        Ok::<_, Error>((counts, usage, days))
    };
    let (c, (calls, tokens), days) = counted.await.map_err(repo::timed_out_is_unavailable)?;
    // Read-only: nothing to commit, and rolling back ends the timeout with the transaction.
    txn.rollback().await?;
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
        orders_cancelled: c.orders_cancelled,
        orders_refunded: c.orders_refunded,
        test_orders: c.test_orders,
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
        store_days: days
            .into_iter()
            .map(|d| StoreDay {
                store_id: d.store_id,
                day: d.day,
                orders: u64::try_from(d.orders).unwrap_or(0),
                revenue_usd: crate::orders::model::usd(d.revenue_cents),
            })
            .collect(),
    })
}
