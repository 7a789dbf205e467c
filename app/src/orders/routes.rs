//! Order history for devices and merchants: `/api/v1/orders…`.

use actix_web::http::Method;
use actix_web::web;

use crate::auth::{Caller, Merchant};
use crate::error::Error;
use crate::history::HistoryQuery;
use crate::http::{Page, parse_uuid, resource};
use crate::orders::listing::{self, is_order_status};
use crate::orders::model::OrderView;
use crate::state::AppState;

/// Mounts the order routes inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/orders", [(Method::GET, web::to(list_orders))]))
        .service(resource("/orders/{order}", [(Method::GET, web::to(get_order))]));
}

/// One order: a device sees its own, a merchant any of the tenant's.
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
    Ok(web::Json(listing::order(&state.db, &tenant, device.as_ref(), id).await?))
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
