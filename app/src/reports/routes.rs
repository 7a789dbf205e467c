//! `GET /api/v1/telemetry/summary?since=&until=`: the merchant's funnel.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::web;

use crate::auth::Merchant;
use crate::error::Error;
use crate::http::resource;
use crate::problem::Problem;
use crate::reports::model::{Summary, SummaryQuery};
use crate::state::AppState;

/// What bounds a report's cost besides its window: the statement timeout of its queries.
#[derive(Debug, Clone, Copy)]
pub struct ReportLimits {
    /// Statement timeout of each query of a report (Postgres only).
    pub statement_timeout: Duration,
}

/// Mounts the summary route inside `/api/v1`; its queries get `statement_timeout`.
pub fn configure(cfg: &mut web::ServiceConfig, statement_timeout: Duration) {
    let limits = web::Data::new(ReportLimits { statement_timeout });
    cfg.service(resource("/telemetry/summary", [(Method::GET, web::to(get_summary))]).app_data(limits));
}

/// The tenant's funnel for a time window (years 0001-9999, at most 366 days;
/// default the last 24 hours).
#[utoipa::path(
    get, path = "/api/v1/telemetry/summary", tag = "merchant",
    params(SummaryQuery),
    responses(
        (status = 200, body = Summary),
        (status = 400, description = "A time out of range, since not before until, or a window over 366 days (`invalid-query`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The report ran past its statement timeout (`unavailable`); retry after Retry-After", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_summary(
    merchant: Merchant,
    state: web::Data<AppState>,
    limits: web::Data<ReportLimits>,
    query: web::Query<SummaryQuery>,
) -> Result<web::Json<Summary>, Error> {
    let now = state.clock.now();
    let (since, until) = query.window(now)?;
    let summary =
        crate::reports::summarize(&state.db, &merchant.scope(), (since, until), now, limits.statement_timeout).await?;
    Ok(web::Json(summary))
}
