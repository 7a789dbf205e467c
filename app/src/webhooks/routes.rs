//! Merchant routes for webhook endpoints: `/api/v1/webhook-endpoints…`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::auth::Merchant;
use crate::error::{Error, FieldError};
use crate::http::{JsonBody, Page, PageQuery, ResourceId, resource};
use crate::problem::Problem;
use crate::state::AppState;
use crate::webhooks::{endpoints, repo};
use replenish_api::webhooks::{RollSecret, WebhookEndpointSpec, WebhookEndpointView};

/// Mounts the endpoint routes inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/webhook-endpoints", [(Method::GET, web::to(list_endpoints))]))
        .service(resource(
            "/webhook-endpoints/{endpoint}",
            [
                (Method::GET, web::to(get_endpoint)),
                (Method::PUT, web::to(put_endpoint)),
                (Method::DELETE, web::to(delete_endpoint)),
            ],
        ))
        .service(resource("/webhook-endpoints/{endpoint}/roll-secret", [(Method::POST, web::to(roll_secret))]));
}

/// Create or replace a webhook endpoint. On creation without a `secret` the
/// response carries the generated signing secret, shown this once.
#[utoipa::path(
    put, path = "/api/v1/webhook-endpoints/{endpoint}", tag = "merchant",
    params(("endpoint" = String, Path, description = "Endpoint id")),
    request_body = WebhookEndpointSpec,
    responses(
        (status = 201, description = "Created (with the secret, once)", body = WebhookEndpointView),
        (status = 200, description = "Replaced or unchanged", body = WebhookEndpointView),
        (status = 422, description = "Invalid settings, or a URL the service may not call (not https, or a private, loopback or link-local address) (`validation-failed`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn put_endpoint(
    merchant: Merchant,
    state: web::Data<AppState>,
    endpoint: web::Path<ResourceId>,
    spec: JsonBody<WebhookEndpointSpec>,
) -> Result<HttpResponse, Error> {
    spec.validate()?;
    if let Err(reason) = state.merchant_urls.check(&spec.url).await {
        return Err(Error::Validation(vec![FieldError::new("url", reason)]));
    }
    let now = state.clock.now();
    let (created, view) = endpoints::put(&state.db, &merchant.scope(), &endpoint, &spec, now).await?;
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// One webhook endpoint (never its secret).
#[utoipa::path(
    get, path = "/api/v1/webhook-endpoints/{endpoint}", tag = "merchant",
    params(("endpoint" = String, Path, description = "Endpoint id")),
    responses(
        (status = 200, body = WebhookEndpointView),
        (status = 404, description = "No such endpoint in this tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_endpoint(
    merchant: Merchant,
    state: web::Data<AppState>,
    endpoint: web::Path<ResourceId>,
) -> Result<web::Json<WebhookEndpointView>, Error> {
    let row = repo::find(&state.db, &merchant.scope(), endpoint.as_str()).await?;
    let row = row.ok_or(Error::NotFound("webhook endpoint"))?;
    Ok(web::Json(endpoints::view(&row, None, state.clock.now())?))
}

/// Delete a webhook endpoint and its delivery log; deliveries not yet made are dropped.
#[utoipa::path(
    delete, path = "/api/v1/webhook-endpoints/{endpoint}", tag = "merchant",
    params(("endpoint" = String, Path, description = "Endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such endpoint in this tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn delete_endpoint(
    merchant: Merchant,
    state: web::Data<AppState>,
    endpoint: web::Path<ResourceId>,
) -> Result<HttpResponse, Error> {
    if repo::delete(&state.db, &merchant.scope(), endpoint.as_str()).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(Error::NotFound("webhook endpoint"))
    }
}

/// The tenant's webhook endpoints, paginated by id.
#[utoipa::path(
    get, path = "/api/v1/webhook-endpoints", tag = "merchant",
    params(PageQuery),
    responses((status = 200, body = Page<WebhookEndpointView>)),
)]
pub async fn list_endpoints(
    merchant: Merchant,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<WebhookEndpointView>>, Error> {
    let page = query.validate()?;
    let now = state.clock.now();
    let rows = repo::list(&state.db, &merchant.scope(), &page).await?;
    let views = rows.iter().map(|row| endpoints::view(row, None, now)).collect::<Result<Vec<_>, _>>()?;
    Ok(web::Json(Page::from_overfetch(views, &page, |v| v.endpoint_id.clone())))
}

/// Roll an endpoint's signing secret. During the grace period (24 h by
/// default) deliveries carry two `v1=` signatures, one per secret, so the
/// receiver can switch without missing an event.
#[utoipa::path(
    post, path = "/api/v1/webhook-endpoints/{endpoint}/roll-secret", tag = "merchant",
    params(("endpoint" = String, Path, description = "Endpoint id")),
    request_body = RollSecret,
    responses(
        (status = 200, description = "Rolled; `secret` shows a generated one once", body = WebhookEndpointView),
        (status = 404, description = "No such endpoint in this tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn roll_secret(
    merchant: Merchant,
    state: web::Data<AppState>,
    endpoint: web::Path<ResourceId>,
    body: JsonBody<RollSecret>,
) -> Result<web::Json<WebhookEndpointView>, Error> {
    body.validate()?;
    let now = state.clock.now();
    Ok(web::Json(endpoints::roll_secret(&state.db, &merchant.scope(), &endpoint, &body, now).await?))
}
