//! Admin routes for tenants: `/admin/v1/tenants…`.

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::auth::Admin;
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::http::{JsonBody, ResourceId, parse_optional_json, resource};
use crate::paged::id_page_handler;
use crate::problem::EdgeError;
use crate::state::AppState;
use crate::tenants::model::{RotateKeyRequest, RotatedKey, TenantSpec, TenantView};
use crate::tenants::repo::{self, UpsertOutcome};

/// Mounts the tenant routes inside the admin scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/tenants", [(Method::GET, web::to(list_tenants))]))
        .service(resource(
            "/tenants/{tenant}",
            [
                (Method::GET, web::to(get_tenant)),
                (Method::PUT, web::to(put_tenant)),
                (Method::DELETE, web::to(delete_tenant)),
            ],
        ))
        .service(resource("/tenants/{tenant}/api-keys", [(Method::POST, web::to(rotate_api_key))]));
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

id_page_handler! {
    /// All tenants, paginated by id.
    list_tenants: "/admin/v1/tenants", "admin",
    _admin: Admin => AcrossTenants,
    repo::list => TenantView, tenant_id
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
