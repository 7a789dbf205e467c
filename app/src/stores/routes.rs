//! Merchant routes for stores: `/api/v1/stores…`.

use actix_web::{HttpResponse, web};

use crate::auth::Merchant;
use crate::error::Error;
use crate::http::{JsonBody, Page, PageQuery, ResourceId, method_not_allowed};
use crate::state::AppState;
use crate::stores::model::{StoreSpec, StoreView};
use crate::stores::repo;

/// Mounts the store routes inside the merchant scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/stores").route(web::get().to(list_stores)).default_service(method_not_allowed("GET")))
        .service(
            web::resource("/stores/{store}")
                .route(web::put().to(put_store))
                .route(web::get().to(get_store))
                .default_service(method_not_allowed("GET, PUT")),
        );
}

/// Create or update a store.
#[utoipa::path(
    put, path = "/api/v1/stores/{store}", tag = "merchant",
    params(("store" = String, Path, description = "Store id")),
    request_body = StoreSpec,
    responses(
        (status = 201, description = "Created", body = StoreView),
        (status = 200, description = "Updated or unchanged", body = StoreView),
    ),
)]
pub async fn put_store(
    merchant: Merchant,
    state: web::Data<AppState>,
    store: web::Path<ResourceId>,
    spec: JsonBody<StoreSpec>,
) -> Result<HttpResponse, Error> {
    spec.validate()?;
    let (created, view) = repo::upsert(&state.db, &merchant.scope(), &store, &spec).await?;
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
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

/// The tenant's stores, paginated by id.
#[utoipa::path(
    get, path = "/api/v1/stores", tag = "merchant",
    params(PageQuery),
    responses(
        (status = 200, body = Page<StoreView>),
    ),
)]
pub async fn list_stores(
    merchant: Merchant,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<StoreView>>, Error> {
    let page = query.validate()?;
    let items = repo::list(&state.db, &merchant.scope(), &page).await?;
    Ok(web::Json(Page::from_overfetch(items, &page, |s| s.store_id.clone())))
}
