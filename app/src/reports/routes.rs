//! `GET /api/v1/telemetry/summary?since=&until=`: the merchant's funnel.

use actix_web::web;
use chrono::Duration;

use crate::auth::Merchant;
use crate::error::Error;
use crate::http::method_not_allowed;
use crate::problem::Problem;
use crate::reports::model::{Summary, SummaryQuery};
use crate::state::AppState;

/// Mounts the summary route inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/telemetry/summary")
            .route(web::get().to(get_summary))
            .default_service(method_not_allowed("GET")),
    );
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
    Ok(web::Json(crate::reports::summarize(&state.db, &merchant.scope(), since, until, now).await?))
}
