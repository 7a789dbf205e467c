//! Admin routes for tenants: `/admin/v1/tenants…`.

use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Admin;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::http::{JsonBody, Page, PageQuery, ResourceId, method_not_allowed, parse_optional_json};
use crate::problem::EdgeError;
use crate::state::AppState;
use crate::tenants::model::{RotateKeyRequest, RotatedKey, TenantSpec, TenantView};
use crate::tenants::repo::{self, UpsertOutcome};

/// Mounts the tenant routes inside the admin scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/tenants").route(web::get().to(list_tenants)).default_service(method_not_allowed("GET")),
    )
    .service(
        web::resource("/tenants/{tenant}")
            .route(web::put().to(put_tenant))
            .route(web::get().to(get_tenant))
            .route(web::delete().to(delete_tenant))
            .default_service(method_not_allowed("GET, PUT, DELETE")),
    )
    .service(
        web::resource("/tenants/{tenant}/api-keys")
            .route(web::post().to(rotate_api_key))
            .default_service(method_not_allowed("POST")),
    );
}

/// Create, update or reactivate a tenant (idempotent).
#[utoipa::path(
    put, path = "/admin/v1/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = TenantSpec,
    responses(
        (status = 201, description = "Created or reactivated; `api_key` is shown this once", body = TenantView),
        (status = 200, description = "Updated or already as requested; no key", body = TenantView),
    ),
)]
pub async fn put_tenant(
    _admin: Admin,
    state: web::Data<AppState>,
    tenant: web::Path<ResourceId>,
    spec: JsonBody<TenantSpec>,
) -> Result<HttpResponse, Error> {
    spec.validate()?;
    let (outcome, view) = repo::upsert(&state.db, &TenantScope::new(&tenant), &spec).await?.applied(&state.changes);
    tracing::info!(tenant = %tenant, ?outcome, "tenant upserted");
    Ok(match outcome {
        UpsertOutcome::Issued => HttpResponse::Created().json(view),
        UpsertOutcome::Updated | UpsertOutcome::Unchanged => HttpResponse::Ok().json(view),
    })
}

/// One tenant.
#[utoipa::path(
    get, path = "/admin/v1/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 200, body = TenantView),
    ),
)]
pub async fn get_tenant(
    _admin: Admin,
    state: web::Data<AppState>,
    tenant: web::Path<ResourceId>,
) -> Result<web::Json<TenantView>, Error> {
    Ok(web::Json(repo::get(&state.db, &TenantScope::new(&tenant)).await?))
}

/// All tenants, paginated by id.
#[utoipa::path(
    get, path = "/admin/v1/tenants", tag = "admin",
    params(PageQuery),
    responses(
        (status = 200, body = Page<TenantView>),
    ),
)]
pub async fn list_tenants(
    _admin: Admin,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<TenantView>>, Error> {
    let page = query.validate()?;
    let items = repo::list(&state.db, AcrossTenants, &page).await?;
    Ok(web::Json(Page::from_overfetch(items, &page, |t| t.tenant_id.clone())))
}

/// Rotate the tenant's API key.
///
/// Without a body (or with `grace_period_seconds: 0`) the previous keys stop
/// working at once; with a grace period they keep working until it ends.
#[utoipa::path(
    post, path = "/admin/v1/tenants/{tenant}/api-keys", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body(content = Option<RotateKeyRequest>),
    responses(
        (status = 201, body = RotatedKey),
    ),
)]
pub async fn rotate_api_key(
    _admin: Admin,
    state: web::Data<AppState>,
    tenant: web::Path<ResourceId>,
    http: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, EdgeError> {
    let request = parse_optional_json::<RotateKeyRequest>(&http, &body)?;
    if request.grace_period_seconds > 86_400 {
        let error = crate::error::FieldError::new("grace_period_seconds", "must be at most 86400");
        return Err(Error::Validation(vec![error]).into());
    }
    let rotated = repo::rotate_api_key(&state.db, &TenantScope::new(&tenant), &request, state.clock.now())
        .await?
        .applied(&state.changes);
    tracing::info!(tenant = %tenant, grace = request.grace_period_seconds, "api key rotated");
    Ok(HttpResponse::Created().json(rotated))
}

/// Deactivate a tenant: every key and device token stops at once; data is kept.
#[utoipa::path(
    delete, path = "/admin/v1/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses(
        (status = 204, description = "Deactivated (or already was)"),
    ),
)]
pub async fn delete_tenant(
    _admin: Admin,
    state: web::Data<AppState>,
    tenant: web::Path<ResourceId>,
) -> Result<HttpResponse, Error> {
    repo::deactivate(&state.db, &TenantScope::new(&tenant)).await?.applied(&state.changes);
    tracing::info!(tenant = %tenant, "tenant deactivated");
    Ok(HttpResponse::NoContent().finish())
}
