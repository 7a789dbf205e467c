//! Merchant routes for the catalog: `/api/v1/products…`.

use actix_web::{HttpResponse, web};

use crate::auth::Merchant;
use crate::catalog::model::{ProductSpec, ProductView};
use crate::catalog::repo;
use crate::error::Error;
use crate::http::{JsonBody, Page, PageQuery, ResourceId, method_not_allowed};
use crate::problem::Problem;
use crate::state::AppState;

/// Mounts the product routes inside the merchant scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/products").route(web::get().to(list_products)).default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/products/{product}")
            .route(web::put().to(put_product))
            .route(web::get().to(get_product))
            .route(web::delete().to(delete_product))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    );
}

/// Create or replace a product and its variants.
#[utoipa::path(
    put, path = "/api/v1/products/{product}", tag = "merchant",
    params(("product" = String, Path, description = "Product id")),
    request_body = ProductSpec,
    responses(
        (status = 201, description = "Created", body = ProductView),
        (status = 200, description = "Replaced or unchanged", body = ProductView),
        (status = 409, description = "object_class or a SKU belongs to another product", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn put_product(
    merchant: Merchant,
    state: web::Data<AppState>,
    product: web::Path<ResourceId>,
    spec: JsonBody<ProductSpec>,
) -> Result<HttpResponse, Error> {
    spec.validate()?;
    let (created, view) = repo::upsert(&state.db, &merchant.scope(), &product, &spec).await?.applied(&state.changes);
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// One product.
#[utoipa::path(
    get, path = "/api/v1/products/{product}", tag = "merchant",
    params(("product" = String, Path, description = "Product id")),
    responses(
        (status = 200, body = ProductView),
    ),
)]
pub async fn get_product(
    merchant: Merchant,
    state: web::Data<AppState>,
    product: web::Path<ResourceId>,
) -> Result<web::Json<ProductView>, Error> {
    Ok(web::Json(repo::get(&state.db, &merchant.scope(), &product).await?))
}

/// The tenant's products, paginated by id.
#[utoipa::path(
    get, path = "/api/v1/products", tag = "merchant",
    params(PageQuery),
    responses(
        (status = 200, body = Page<ProductView>),
    ),
)]
pub async fn list_products(
    merchant: Merchant,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<ProductView>>, Error> {
    let page = query.validate()?;
    let items = repo::list(&state.db, &merchant.scope(), &page).await?;
    Ok(web::Json(Page::from_overfetch(items, &page, |p| p.product_id.clone())))
}

/// Delete a product.
#[utoipa::path(
    delete, path = "/api/v1/products/{product}", tag = "merchant",
    params(("product" = String, Path, description = "Product id")),
    responses(
        (status = 204, description = "Deleted"),
    ),
)]
pub async fn delete_product(
    merchant: Merchant,
    state: web::Data<AppState>,
    product: web::Path<ResourceId>,
) -> Result<HttpResponse, Error> {
    repo::delete(&state.db, &merchant.scope(), &product).await?.applied(&state.changes);
    Ok(HttpResponse::NoContent().finish())
}
