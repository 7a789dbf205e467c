//! The merchant's funnel: `GET /api/v1/telemetry/summary?since=&until=`.

use actix_web::web;
use chrono::{DateTime, Duration, Utc};
use sea_orm::{ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};

use crate::auth::Merchant;
use crate::error::Error;
use crate::http::method_not_allowed;
use crate::intents::entity::{detection, intent};
use crate::intents::model::Reason;
use crate::orders::entity::order;
use crate::orders::model::{IntentStatus, OrderStatus};
use crate::problem::Problem;
use crate::state::AppState;

pub use replenish_api::telemetry::{AssistantUsage, Conversion, Summary, SummaryQuery};

/// Mounts the summary route inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/telemetry/summary")
            .route(web::get().to(get_summary))
            .default_service(method_not_allowed("GET")),
    );
}

fn ratio(numerator: u64, denominator: u64) -> f64 {
    if denominator == 0 { 0.0 } else { numerator as f64 / denominator as f64 }
}

/// The tenant's funnel for a time window.
#[utoipa::path(
    get, path = "/api/v1/telemetry/summary", tag = "merchant",
    params(SummaryQuery),
    responses(
        (status = 200, body = Summary),
        (status = "4XX", description = "Client error", body = Problem, content_type = "application/problem+json"),
    ),
    security(("tenant_api_key" = []))
)]
pub async fn get_summary(
    merchant: Merchant,
    state: web::Data<AppState>,
    query: web::Query<SummaryQuery>,
) -> Result<web::Json<Summary>, Error> {
    let now = state.clock.now();
    let until = query.until.unwrap_or(now);
    let since = query.since.unwrap_or(until - Duration::hours(24));
    if since >= until {
        return Err(Error::InvalidQuery("since must be before until".into()));
    }
    Ok(web::Json(summarize(&state.db, merchant.tenant_id.as_str(), since, until, now).await?))
}

/// Counts the funnel stages of `tenant` between `since` and `until`; a
/// pending intent counts as expired when it lapsed before `now`.
pub async fn summarize(
    db: &DatabaseConnection,
    tenant: &str,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Summary, Error> {
    let detections_in = || {
        Condition::all()
            .add(detection::Column::TenantId.eq(tenant))
            .add(detection::Column::CreatedAt.gte(since))
            .add(detection::Column::CreatedAt.lt(until))
    };
    let intents_in = || {
        Condition::all()
            .add(intent::Column::TenantId.eq(tenant))
            .add(intent::Column::CreatedAt.gte(since))
            .add(intent::Column::CreatedAt.lt(until))
    };
    let orders_in = |status: OrderStatus| {
        Condition::all()
            .add(order::Column::TenantId.eq(tenant))
            .add(order::Column::CreatedAt.gte(since))
            .add(order::Column::CreatedAt.lt(until))
            .add(order::Column::Status.eq(status.as_str()))
    };
    let detections = detection::Entity::find().filter(detections_in()).count(db).await?;
    let prompts = detection::Entity::find()
        .filter(detections_in().add(detection::Column::Reason.eq(Reason::Prompt.as_str())))
        .count(db)
        .await?;
    let accepted = intent::Entity::find().filter(intents_in().add(intent::Column::Accepted.eq(true))).count(db).await?;
    let rejected =
        intent::Entity::find().filter(intents_in().add(intent::Column::Accepted.eq(false))).count(db).await?;
    let expired = intent::Entity::find()
        .filter(
            intents_in().add(
                Condition::any().add(intent::Column::Status.eq(IntentStatus::Expired.as_str())).add(
                    Condition::all()
                        .add(intent::Column::Status.eq(IntentStatus::Pending.as_str()))
                        .add(intent::Column::ExpiresAt.lte(now)),
                ),
            ),
        )
        .count(db)
        .await?;
    let orders_confirmed = order::Entity::find().filter(orders_in(OrderStatus::Confirmed)).count(db).await?;
    let orders_failed = order::Entity::find().filter(orders_in(OrderStatus::Failed)).count(db).await?;
    let (calls, tokens) = crate::assistant::usage::totals(db, tenant, since, until).await?;
    Ok(Summary {
        since,
        until,
        detections,
        prompts,
        accepted,
        rejected,
        expired,
        orders_confirmed,
        orders_failed,
        conversion: Conversion {
            prompt_rate: ratio(prompts, detections),
            acceptance_rate: ratio(accepted, prompts),
            order_success_rate: ratio(orders_confirmed, orders_confirmed + orders_failed),
            detection_to_order_rate: ratio(orders_confirmed, detections),
        },
        assistant: AssistantUsage {
            calls,
            prompt_tokens: tokens.prompt_tokens,
            completion_tokens: tokens.completion_tokens,
            total_tokens: tokens.total_tokens,
        },
    })
}
