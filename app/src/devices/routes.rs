//! Device routes: admin registration, merchant fleet management, and the
//! device's own view of itself.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::auth::{Admin, DeviceCaller, Merchant};
use crate::db::scope::TenantScope;
use crate::devices::model::{DeviceBatch, DeviceSpec, DeviceView, NewDevice, RegisteredBatch};
use crate::devices::repo::{self, OnExisting, RegisterOutcome};
use crate::error::Error;
use crate::http::{JsonBody, ResourceId, resource, with_body_limit};
use crate::paged::id_page_handler;
use crate::problem::Problem;
use crate::state::AppState;

/// Mounts the admin device routes inside the admin scope.
pub fn configure_admin(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(
        "/tenants/{tenant}/devices/{device}",
        [(Method::PUT, web::to(admin_put_device)), (Method::DELETE, web::to(admin_delete_device))],
    ));
}

/// Mounts the merchant and device routes inside the `/api/v1` scope.
pub fn configure_api(cfg: &mut web::ServiceConfig, batch_body_limit: usize) {
    let batch = resource("/devices:batch", [(Method::POST, web::to(create_devices_batch))]);
    cfg.service(resource("/devices", [(Method::GET, web::to(list_devices)), (Method::POST, web::to(create_device))]))
        .service(with_body_limit(batch, batch_body_limit))
        .service(resource(
            "/devices/{device}",
            [(Method::GET, web::to(get_device)), (Method::DELETE, web::to(delete_device))],
        ))
        .service(resource("/device", [(Method::GET, web::to(get_self))]));
}

fn issued_or_ok(outcome: RegisterOutcome, view: DeviceView) -> HttpResponse {
    match outcome {
        RegisterOutcome::Issued => HttpResponse::Created().json(view),
        RegisterOutcome::Updated | RegisterOutcome::Unchanged => HttpResponse::Ok().json(view),
    }
}

/// Register or update a device (idempotent; used by the operator).
///
/// Creating a device, or re-registering a revoked one, returns its token once.
#[utoipa::path(
    put, path = "/admin/v1/tenants/{tenant}/devices/{device}", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id"), ("device" = String, Path, description = "Device id")),
    request_body = DeviceSpec,
    responses(
        (status = 201, description = "Registered; `token` is shown this once", body = DeviceView),
        (status = 200, description = "Updated or unchanged; no token", body = DeviceView),
    ),
)]
pub async fn admin_put_device(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(ResourceId, ResourceId)>,
    spec: JsonBody<DeviceSpec>,
) -> Result<HttpResponse, Error> {
    let (tenant, device) = path.into_inner();
    spec.validate()?;
    let (outcome, view) = repo::register(&state.db, &TenantScope::new(&tenant), &device, &spec, OnExisting::Update)
        .await?
        .applied(&state.changes);
    Ok(issued_or_ok(outcome, view))
}

/// Revoke a device's token.
#[utoipa::path(
    delete, path = "/admin/v1/tenants/{tenant}/devices/{device}", tag = "admin",
    params(("tenant" = String, Path, description = "Tenant id"), ("device" = String, Path, description = "Device id")),
    responses(
        (status = 204, description = "Revoked (or already was)"),
    ),
)]
pub async fn admin_delete_device(
    _admin: Admin,
    state: web::Data<AppState>,
    path: web::Path<(ResourceId, ResourceId)>,
) -> Result<HttpResponse, Error> {
    let (tenant, device) = path.into_inner();
    repo::revoke(&state.db, &TenantScope::new(&tenant), &device).await?.applied(&state.changes);
    Ok(HttpResponse::NoContent().finish())
}

/// Register a device; a revoked device id may be registered again.
#[utoipa::path(
    post, path = "/api/v1/devices", tag = "merchant",
    request_body = NewDevice,
    responses(
        (status = 201, description = "Registered; `token` is shown this once", body = DeviceView),
        (status = 409, description = "The device is already registered", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_device(
    merchant: Merchant,
    state: web::Data<AppState>,
    body: JsonBody<NewDevice>,
) -> Result<HttpResponse, Error> {
    let spec = body.spec();
    spec.validate()?;
    let (outcome, view) = repo::register(&state.db, &merchant.scope(), &body.device_id, &spec, OnExisting::Conflict)
        .await?
        .applied(&state.changes);
    Ok(issued_or_ok(outcome, view))
}

/// Register up to 1,000 devices at once, all or nothing.
#[utoipa::path(
    post, path = "/api/v1/devices:batch", tag = "merchant",
    request_body = DeviceBatch,
    responses(
        (status = 201, description = "All registered; tokens are shown this once", body = RegisteredBatch),
        (status = 409, description = "Some ids exist already; nothing was registered", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn create_devices_batch(
    merchant: Merchant,
    state: web::Data<AppState>,
    body: JsonBody<DeviceBatch>,
) -> Result<HttpResponse, Error> {
    body.validate()?;
    let devices = repo::register_batch(&state.db, &merchant.scope(), &body.devices).await?;
    tracing::info!(tenant = %merchant.tenant_id, count = devices.len(), "device batch registered");
    Ok(HttpResponse::Created().json(RegisteredBatch { devices }))
}

/// One device of the tenant.
#[utoipa::path(
    get, path = "/api/v1/devices/{device}", tag = "merchant",
    params(("device" = String, Path, description = "Device id")),
    responses(
        (status = 200, body = DeviceView),
    ),
)]
pub async fn get_device(
    merchant: Merchant,
    state: web::Data<AppState>,
    device: web::Path<ResourceId>,
) -> Result<web::Json<DeviceView>, Error> {
    Ok(web::Json(repo::get(&state.db, &merchant.scope(), &device).await?))
}

id_page_handler! {
    /// The tenant's devices, paginated by id.
    list_devices: "/api/v1/devices", "merchant",
    merchant: Merchant => &merchant.scope(),
    repo::list => DeviceView, device_id
}

/// Revoke a device's token.
#[utoipa::path(
    delete, path = "/api/v1/devices/{device}", tag = "merchant",
    params(("device" = String, Path, description = "Device id")),
    responses(
        (status = 204, description = "Revoked (or already was)"),
    ),
)]
pub async fn delete_device(
    merchant: Merchant,
    state: web::Data<AppState>,
    device: web::Path<ResourceId>,
) -> Result<HttpResponse, Error> {
    repo::revoke(&state.db, &merchant.scope(), &device).await?.applied(&state.changes);
    Ok(HttpResponse::NoContent().finish())
}

/// The calling device's own registration.
#[utoipa::path(
    get, path = "/api/v1/device", tag = "device",
    responses(
        (status = 200, body = DeviceView),
    ),
)]
pub async fn get_self(device: DeviceCaller, state: web::Data<AppState>) -> Result<web::Json<DeviceView>, Error> {
    Ok(web::Json(repo::get(&state.db, &TenantScope::new(&device.tenant_id), &device.device_id).await?))
}
