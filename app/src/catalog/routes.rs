//! Merchant routes for the catalog: `/api/v1/products…`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::auth::Merchant;
use crate::catalog::model::{ProductSpec, ProductView};
use crate::catalog::repo;
use crate::error::Error;
use crate::http::{JsonBody, ResourceId, resource};
use crate::paged::id_page_handler;
use crate::problem::Problem;
use crate::state::AppState;

/// Mounts the product routes inside the merchant scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/products", [(Method::GET, web::to(list_products))])).service(resource(
        "/products/{product}",
        [
            (Method::GET, web::to(get_product)),
            (Method::PUT, web::to(put_product)),
            (Method::DELETE, web::to(delete_product)),
        ],
    ));
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

id_page_handler! {
    /// The tenant's products, paginated by id.
    list_products: "/api/v1/products", "merchant",
    merchant: Merchant => &merchant.scope(),
    repo::list => ProductView, product_id
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
