//! The authentication middleware: turns the bearer token into a [`Caller`]
//! before any handler or extractor runs, so bad credentials are always a 401.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, web};

use crate::auth::caller::{Caller, DeviceCaller, Merchant};
use crate::auth::repo;
use crate::auth::tokens::{TokenKind, hash_token, hashes_match};
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::state::{AppState, Audience};

fn bearer_token(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

async fn resolve(state: &AppState, token: &str) -> Result<Caller, Error> {
    let hash = hash_token(token);
    let is_tenant_key = token.starts_with(TokenKind::Tenant.prefix());
    if is_tenant_key || token.starts_with(TokenKind::Device.prefix()) {
        let now = state.clock.now();
        if let Some(caller) = state.credentials.get(&hash, now) {
            return Ok(caller);
        }
        let ticket = state.credentials.ticket();
        let (caller, expires_at) = if is_tenant_key {
            let (tenant_id, expires_at) =
                repo::authenticate_api_key(&state.db, AcrossTenants, &hash, now).await?.ok_or(Error::Unauthorized)?;
            (Caller::Merchant(Merchant { tenant_id }), expires_at)
        } else {
            let (tenant_id, device_id) =
                repo::authenticate_token(&state.db, AcrossTenants, &hash).await?.ok_or(Error::Unauthorized)?;
            (Caller::Device(DeviceCaller { tenant_id, device_id }), None)
        };
        state.credentials.insert(ticket, hash, caller.clone(), expires_at);
        return Ok(caller);
    }
    // A dedicated app has no admin token: nothing is compared, nothing matches.
    if let Audience::Platform { admin_token_hash } = &state.audience
        && hashes_match(&hash, admin_token_hash)
    {
        return Ok(Caller::Admin);
    }
    Err(Error::Unauthorized)
}

/// Whether a dedicated app of `tenant` serves `caller`: only that tenant's merchant
/// and devices, never the admin or another tenant (whose credentials are as unknown
/// here as a wrong token).
fn serves(tenant: &TenantScope, caller: &Caller) -> bool {
    match caller {
        Caller::Admin => false,
        Caller::Merchant(merchant) => merchant.tenant_id.as_str() == tenant.as_str(),
        Caller::Device(device) => device.tenant_id.as_str() == tenant.as_str(),
    }
}

/// Middleware: authenticates the bearer token and stores the [`Caller`] in the
/// request's extensions, or answers 401 before anything else runs.
pub async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let token = bearer_token(&req).ok_or(Error::Unauthorized)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| Error::Internal("application state missing".into()))?
        .clone();
    let caller = resolve(&state, &token).await?;
    if let Some(tenant) = state.audience.dedicated_tenant()
        && !serves(tenant, &caller)
    {
        return Err(Error::Unauthorized.into());
    }
    req.extensions_mut().insert(caller);
    next.call(req).await
}
