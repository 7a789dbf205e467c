//! The request limits at the HTTP edge: per client IP before authentication,
//! per tenant after it; and the `RateLimit` fields on every response.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};

use crate::auth::Caller;
use crate::error::RateLimitInfo;
use crate::limits::report::{LimitReport, Standing, write_headers};
use crate::request_id::render_error;
use crate::state::AppState;

/// Middleware, outermost of `/api/v1`: gives the request a [`LimitReport`]
/// the limits inside record into, and writes it as the `RateLimit-Policy`
/// and `RateLimit` fields of whatever response comes back, a refusal
/// included (whose refusing limit it names first, with nothing left).
pub async fn report_limits(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let report = LimitReport::default();
    req.extensions_mut().insert(report.clone());
    match next.call(req).await {
        Ok(mut response) => {
            fill(&report, response.response_mut());
            Ok(response)
        }
        // Rendered here rather than further out, so the refusal gets the fields too.
        Err(err) => Err(render_error(err, |response| fill(&report, response))),
    }
}

/// Writes `report` into `response`, the limit that refused it first.
fn fill<B>(report: &LimitReport, response: &mut HttpResponse<B>) {
    // A 429's problem response carries the refusing limit (see `crate::problem`).
    let refused = response.extensions().get::<RateLimitInfo>().cloned();
    if let Some(info) = refused {
        report.refuse(Standing::refused(&info));
    }
    write_headers(response.headers_mut(), &report.standings());
}

/// Middleware: the per-IP limit, before authentication so floods cost no lookups.
pub async fn ip_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let Some(state) = req.app_data::<web::Data<AppState>>().cloned()
        && let Some(ip) = state.client_ip.client_ip(req.peer_addr().map(|addr| addr.ip()), req.headers())
    {
        let standing = state.limiter.check_ip(ip).await?;
        record(&req, standing);
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
        let standing = state.limiter.check_tenant(tenant.as_str(), snapshot.limits.tenant_per_second).await?;
        record(&req, standing);
    }
    next.call(req).await
}

fn record(req: &ServiceRequest, standing: Standing) {
    if let Some(report) = req.extensions().get::<LimitReport>() {
        report.record(standing);
    }
}
