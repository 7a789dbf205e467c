//! Credentials and callers.
//!
//! Three kinds of caller send `Authorization: Bearer <token>`: the platform
//! admin, a merchant (a tenant's API key, `rpl_t_…`) and a device (`rpl_d_…`).
//! Tokens carry 190 random bits; only their SHA-256 is stored, and hashes are
//! compared in constant time. A middleware authenticates before any extractor
//! runs, so a request with bad credentials is always a 401, whatever else is
//! wrong with it; handlers then ask for the caller they need as an argument.

pub mod credentials;

use std::future::{Ready, ready};

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use rand::distr::{Alphanumeric, SampleString};
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::Error;
use crate::http::ResourceId;
use crate::startup::AppState;
use crate::{devices, tenants};

/// The kinds of token this service issues, told apart by prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Platform admin (`rpl_a_`); an admin token set by the operator may have any form.
    Admin,
    /// A tenant's API key (`rpl_t_`).
    Tenant,
    /// A device token (`rpl_d_`).
    Device,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Admin => "rpl_a_",
            TokenKind::Tenant => "rpl_t_",
            TokenKind::Device => "rpl_d_",
        }
    }
}

/// A freshly minted token: the secret for the caller, the hash for the database.
pub struct IssuedToken {
    /// Shown to the caller once, never stored.
    pub secret: SecretString,
    /// Hex SHA-256 of the secret, the only form that is stored.
    pub hash: String,
}

/// Mints a random token of `kind`: its prefix and 32 alphanumerics (~190 bits).
pub fn issue_token(kind: TokenKind) -> IssuedToken {
    let secret = format!("{}{}", kind.prefix(), Alphanumeric.sample_string(&mut rand::rng(), 32));
    let hash = hash_token(&secret);
    IssuedToken { secret: SecretString::from(secret), hash }
}

/// Hex SHA-256 of a token. Tokens are high-entropy, so a fast hash suffices.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of two token hashes.
pub fn hashes_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// An authenticated merchant: requests act on this tenant only.
#[derive(Debug, Clone)]
pub struct Merchant {
    /// The tenant the API key belongs to.
    pub tenant_id: ResourceId,
}

/// An authenticated device.
#[derive(Debug, Clone)]
pub struct DeviceCaller {
    /// The device's tenant.
    pub tenant_id: ResourceId,
    /// The device itself.
    pub device_id: ResourceId,
}

/// The platform admin.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

/// Whoever the middleware authenticated.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The platform admin.
    Admin,
    /// A merchant.
    Merchant(Merchant),
    /// A device.
    Device(DeviceCaller),
}

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
        if let Some(caller) = state.credentials.get(&hash, crate::db::now()) {
            return Ok(caller);
        }
        let ticket = state.credentials.ticket();
        let (caller, expires_at) = if is_tenant_key {
            let (tenant_id, expires_at) =
                tenants::repo::authenticate_api_key(&state.db, &hash).await?.ok_or(Error::Unauthorized)?;
            (Caller::Merchant(Merchant { tenant_id }), expires_at)
        } else {
            let (tenant_id, device_id) =
                devices::repo::authenticate_token(&state.db, &hash).await?.ok_or(Error::Unauthorized)?;
            (Caller::Device(DeviceCaller { tenant_id, device_id }), None)
        };
        state.credentials.insert(ticket, hash, caller.clone(), expires_at);
        return Ok(caller);
    }
    if hashes_match(&hash, &state.admin_token_hash) {
        return Ok(Caller::Admin);
    }
    Err(Error::Unauthorized)
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
    req.extensions_mut().insert(caller);
    next.call(req).await
}

fn caller(req: &HttpRequest) -> Result<Caller, Error> {
    req.extensions().get::<Caller>().cloned().ok_or(Error::Unauthorized)
}

impl FromRequest for Caller {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(caller(req))
    }
}

impl Caller {
    /// The tenant a merchant or device acts for, and the device when it is one;
    /// the admin has no tenant here.
    pub fn tenant_scope(&self) -> Result<(&ResourceId, Option<&ResourceId>), Error> {
        match self {
            Caller::Merchant(m) => Ok((&m.tenant_id, None)),
            Caller::Device(d) => Ok((&d.tenant_id, Some(&d.device_id))),
            Caller::Admin => Err(Error::Forbidden("this route needs a tenant API key or a device token")),
        }
    }
}

impl FromRequest for Admin {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match caller(req) {
            Ok(Caller::Admin) => Ok(Admin),
            Ok(_) => Err(Error::Forbidden("this route needs the platform admin token")),
            Err(e) => Err(e),
        })
    }
}

impl FromRequest for Merchant {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match caller(req) {
            Ok(Caller::Merchant(merchant)) => Ok(merchant),
            Ok(_) => Err(Error::Forbidden("this route needs a tenant API key")),
            Err(e) => Err(e),
        })
    }
}

impl FromRequest for DeviceCaller {
    type Error = Error;
    type Future = Ready<Result<Self, Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(match caller(req) {
            Ok(Caller::Device(device)) => Ok(device),
            Ok(_) => Err(Error::Forbidden("this route needs a device token")),
            Err(e) => Err(e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_are_prefixed_unique_and_hashed() {
        let a = issue_token(TokenKind::Tenant);
        let b = issue_token(TokenKind::Tenant);
        assert!(a.secret.expose_secret().starts_with("rpl_t_"));
        assert_eq!(a.secret.expose_secret().len(), 6 + 32);
        assert_ne!(a.secret.expose_secret(), b.secret.expose_secret());
        assert_eq!(a.hash, hash_token(a.secret.expose_secret()));
        assert!(!a.hash.contains(a.secret.expose_secret()));
        assert!(hashes_match(&a.hash, &hash_token(a.secret.expose_secret())));
        assert!(!hashes_match(&a.hash, &b.hash));
    }
}
