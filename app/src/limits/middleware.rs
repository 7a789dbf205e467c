//! The request limits at the HTTP edge: per client IP before authentication,
//! per tenant after it.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use crate::auth::Caller;
use crate::state::AppState;

/// Middleware: the per-IP limit, before authentication so floods cost no lookups.
pub async fn ip_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>().cloned()
        && let Some(ip) = state.client_ip.client_ip(req.peer_addr().map(|addr| addr.ip()), req.headers())
    {
        state.limiter.check_ip(ip).await?;
    }
    next.call(req).await
}

/// Middleware: the tenant's per-second limit, after authentication.
pub async fn tenant_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let caller = req.extensions().get::<Caller>().cloned();
    if let (Some(state), Some(caller)) = (req.app_data::<web::Data<AppState>>().cloned(), caller)
        && let Ok((tenant, _)) = caller.tenant_scope()
    {
        let snapshot = state.tenants.get(tenant.as_str()).await?;
        state.limiter.check_tenant(tenant.as_str(), snapshot.limits.tenant_per_second).await?;
    }
    next.call(req).await
}
