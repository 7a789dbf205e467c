//! Merchant routes for stores: `/api/v1/stores…`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::auth::Merchant;
use crate::error::{Error, FieldError};
use crate::http::{JsonBody, ResourceId, resource};
use crate::outbound::UrlPolicy;
use crate::paged::id_page_handler;
use crate::state::AppState;
use crate::stores::model::{CommerceSettings, StoreSpec, StoreView};
use crate::stores::repo;

/// Mounts the store routes inside the merchant scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/stores", [(Method::GET, web::to(list_stores))]))
        .service(resource("/stores/{store}", [(Method::GET, web::to(get_store)), (Method::PUT, web::to(put_store))]));
}

/// Create or update a store.
#[utoipa::path(
    put, path = "/api/v1/stores/{store}", tag = "merchant",
    params(("store" = String, Path, description = "Store id")),
    request_body = StoreSpec,
    responses(
        (status = 201, description = "Created", body = StoreView),
        (status = 200, description = "Updated or unchanged", body = StoreView),
        (status = 422, description = "Invalid settings, or a merchant URL the service may not call (not https, or a private, loopback or link-local address) (`validation-failed`)", body = crate::problem::Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn put_store(
    merchant: Merchant,
    state: web::Data<AppState>,
    store: web::Path<ResourceId>,
    spec: JsonBody<StoreSpec>,
) -> Result<HttpResponse, Error> {
    spec.validate()?;
    check_urls(&state.merchant_urls, &spec.commerce).await?;
    let (created, view) = repo::upsert(&state.db, &merchant.scope(), &store, &spec).await?;
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// Refuses merchant URLs the service may not call (see `crate::outbound`):
/// a clear 422 now rather than orders that can never be delivered.
async fn check_urls(policy: &UrlPolicy, commerce: &CommerceSettings) -> Result<(), Error> {
    let urls = [
        ("commerce.url", &commerce.url),
        ("commerce.cancel_url", &commerce.cancel_url),
        ("commerce.endpoint", &commerce.endpoint),
    ];
    let mut errors = Vec::new();
    for (field, url) in urls {
        if let Some(url) = url
            && let Err(reason) = policy.check(url).await
        {
            errors.push(FieldError::new(field, reason));
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

/// One store.
#[utoipa::path(
    get, path = "/api/v1/stores/{store}", tag = "merchant",
    params(("store" = String, Path, description = "Store id")),
    responses(
        (status = 200, body = StoreView),
    ),
)]
pub async fn get_store(
    merchant: Merchant,
    state: web::Data<AppState>,
    store: web::Path<ResourceId>,
) -> Result<web::Json<StoreView>, Error> {
    Ok(web::Json(repo::get(&state.db, &merchant.scope(), &store).await?))
}

id_page_handler! {
    /// The tenant's stores, paginated by id.
    list_stores: "/api/v1/stores", "merchant",
    merchant: Merchant => &merchant.scope(),
    repo::list => StoreView, store_id
}
