//! `/api/v1/decisions` (a device answers a prompt) and the intent history for
//! devices and merchants.

use actix_web::http::Method;
use actix_web::web;

use crate::auth::{Caller, DeviceCaller, Merchant};
use crate::error::Error;
use crate::history::HistoryQuery;
use crate::http::{JsonBody, Page, parse_uuid, resource};
use crate::intents::decision::{DecisionRequest, DecisionResponse, IntentView};
use crate::intents::listing::{self, is_intent_status};
use crate::limits::report::LimitReport;
use crate::problem::Problem;
use crate::state::AppState;

/// Mounts decisions and the intent history inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/decisions", [(Method::POST, web::to(post_decision))]))
        .service(resource("/intents", [(Method::GET, web::to(list_intents))]))
        .service(resource("/intents/{intent}", [(Method::GET, web::to(get_intent))]));
}

/// Answer a prompt: accepting places exactly one order.
#[utoipa::path(
    post, path = "/api/v1/decisions", tag = "device",
    request_body = DecisionRequest,
    responses(
        (status = 200, body = DecisionResponse),
        (status = 404, description = "No such intent for this device", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The intent was decided the other way", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "The intent expired", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Over the owner's daily budget (`budget-exceeded`) or invalid", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn post_decision(
    device: DeviceCaller,
    state: web::Data<AppState>,
    body: JsonBody<DecisionRequest>,
    limits: LimitReport,
) -> Result<web::Json<DecisionResponse>, Error> {
    Ok(web::Json(state.devices.decide(&device, body.0, &limits).await?))
}

/// One intent: a device sees its own, a merchant any of the tenant's.
#[utoipa::path(
    get, path = "/api/v1/intents/{intent}", tag = "device",
    params(("intent" = String, Path, description = "Intent id (UUID)")),
    responses(
        (status = 200, body = IntentView),
    ),
    security(("device_token" = []), ("tenant_api_key" = []))
)]
pub async fn get_intent(
    caller: Caller,
    state: web::Data<AppState>,
    intent: web::Path<String>,
) -> Result<web::Json<IntentView>, Error> {
    let (tenant, device) = caller.tenant_scope()?;
    let id = parse_uuid(&intent)?;
    Ok(web::Json(listing::intent(&state.db, &tenant, device.as_ref(), id, state.clock.now()).await?))
}

/// The tenant's intents, newest first, filtered by status, device and time.
#[utoipa::path(
    get, path = "/api/v1/intents", tag = "merchant",
    params(HistoryQuery),
    responses(
        (status = 200, body = Page<IntentView>),
    ),
)]
pub async fn list_intents(
    merchant: Merchant,
    state: web::Data<AppState>,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<Page<IntentView>>, Error> {
    let history = query.validate(is_intent_status)?;
    Ok(web::Json(listing::intents(&state.db, &merchant.scope(), None, &history, state.clock.now()).await?))
}
