//! Orders for devices and merchants: `/api/v1/orders…` — the history, one
//! order with its timeline, the merchant's status reports and cancellation.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::web;

use crate::auth::{Caller, Merchant};
use crate::error::{Error, FieldError};
use crate::history::HistoryQuery;
use crate::http::{JsonBody, Page, parse_uuid, resource};
use crate::orders::listing::{self, is_order_status};
use crate::orders::model::{CancelRequest, OrderView, StatusUpdate};
use crate::problem::Problem;
use crate::state::AppState;

/// Mounts the order routes inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/orders", [(Method::GET, web::to(list_orders))]))
        .service(resource("/orders/{order}", [(Method::GET, web::to(get_order))]))
        .service(resource("/orders/{order}/status", [(Method::POST, web::to(post_status))]))
        .service(resource("/orders/{order}/cancel", [(Method::POST, web::to(post_cancel))]));
}

/// One order with its timeline: a device sees its own, a merchant any of the tenant's.
#[utoipa::path(
    get, path = "/api/v1/orders/{order}", tag = "device",
    params(("order" = String, Path, description = "Order id (UUID)")),
    responses(
        (status = 200, body = OrderView),
    ),
    security(("device_token" = []), ("tenant_api_key" = []))
)]
pub async fn get_order(
    caller: Caller,
    state: web::Data<AppState>,
    order: web::Path<String>,
) -> Result<web::Json<OrderView>, Error> {
    let (tenant, device) = caller.tenant_scope()?;
    let id = parse_uuid(&order)?;
    Ok(web::Json(state.orders.order(&tenant, device.as_ref(), id).await?))
}

/// The merchant reports an order's progress: SHIPPED, DELIVERED, CANCELLED or REFUNDED.
#[utoipa::path(
    post, path = "/api/v1/orders/{order}/status", tag = "merchant",
    params(("order" = String, Path, description = "Order id (UUID)")),
    request_body = StatusUpdate,
    responses(
        (status = 200, description = "The order with its timeline (also for a repeat)", body = OrderView),
        (status = 404, description = "No such order in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not allowed from the order's status (`invalid-transition`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn post_status(
    merchant: Merchant,
    state: web::Data<AppState>,
    order: web::Path<String>,
    body: JsonBody<StatusUpdate>,
) -> Result<web::Json<OrderView>, Error> {
    let id = parse_uuid(&order)?;
    body.0.validate()?;
    Ok(web::Json(state.orders.report_status(&merchant.scope(), id, &body.0).await?))
}

/// Cancels an order within the tenant's cancel window: the wearer (its own
/// orders, with the `channel` used) or the merchant.
#[utoipa::path(
    post, path = "/api/v1/orders/{order}/cancel", tag = "device",
    params(("order" = String, Path, description = "Order id (UUID)")),
    request_body = CancelRequest,
    responses(
        (status = 200, description = "The cancelled order with its timeline (also for a repeat)", body = OrderView),
        (status = 404, description = "No such order for this caller", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "After the window (`cancel-window-closed`), already shipped or over (`invalid-transition`), or refused by the merchant (`cancel-refused`)", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The merchant did not confirm the cancellation; retry", body = Problem, content_type = "application/problem+json"),
    ),
    security(("device_token" = []), ("tenant_api_key" = []))
)]
pub async fn post_cancel(
    caller: Caller,
    state: web::Data<AppState>,
    order: web::Path<String>,
    body: JsonBody<CancelRequest>,
) -> Result<web::Json<OrderView>, Error> {
    let (tenant, device) = caller.tenant_scope()?;
    let id = parse_uuid(&order)?;
    body.0.validate()?;
    if device.is_some() && body.0.channel.is_none() {
        return Err(Error::Validation(vec![FieldError::new("channel", "a device must say how the wearer cancelled")]));
    }
    let limits = &state.tenants.get(tenant.as_str()).await?.limits;
    let window = Duration::from_secs(u64::from(limits.cancel_window_seconds));
    Ok(web::Json(state.orders.cancel(&tenant, device.as_ref(), id, &body.0, window).await?))
}

/// The tenant's orders, newest first, filtered by status, device and time.
#[utoipa::path(
    get, path = "/api/v1/orders", tag = "merchant",
    params(HistoryQuery),
    responses(
        (status = 200, body = Page<OrderView>),
    ),
)]
pub async fn list_orders(
    merchant: Merchant,
    state: web::Data<AppState>,
    query: web::Query<HistoryQuery>,
) -> Result<web::Json<Page<OrderView>>, Error> {
    let history = query.validate(is_order_status)?;
    Ok(web::Json(listing::orders(&state.db, &merchant.scope(), None, &history).await?))
}
