//! Sessions, cookies and CSRF tokens of the dashboard.
//!
//! The cookie holds 43 random alphanumerics (~256 bits); the table keeps only
//! their SHA-256 ([`crate::auth::hash_token`]), so a copy of the table gives no
//! usable cookie. A session is valid while it has not expired, the API key that
//! opened it is live and not rotated (a key in its rotation grace still works
//! for the API, but ends dashboard sessions), and its tenant is active: checked
//! on every request with the same query the API's authentication uses.
//!
//! Cookies are parsed and written here rather than through actix-web's
//! `cookies` feature, which would bring two crates for two header values.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, Utc};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;

use crate::auth::{TokenKind, hash_token, hashes_match};
use crate::dashboard::error::DashError;
use crate::dashboard::repo::{self, NewSession};
use crate::db::scope::{AcrossTenants, TenantScope};
use crate::error::Error;
use crate::state::AppState;

/// Name of the session cookie (scoped to `/dashboard`).
pub const SESSION_COOKIE: &str = "replenish_dashboard";
/// Name of the sign-in form's CSRF cookie (double submit: there is no session yet).
pub const SIGN_IN_COOKIE: &str = "replenish_dashboard_signin";
/// Where the session cookie is sent.
const SESSION_PATH: &str = "/dashboard";
/// Where the sign-in cookie is sent.
const SIGN_IN_PATH: &str = "/dashboard/sign-in";
/// How long a sign-in form stays usable.
const SIGN_IN_FORM_SECS: u64 = 3600;

/// The dashboard's settings, shared by its handlers.
#[derive(Debug, Clone, Copy)]
pub struct DashboardConfig {
    /// How long a session lasts from sign-in.
    pub session_ttl: Duration,
    /// Whether cookies carry `Secure` (everywhere but local development).
    pub secure_cookies: bool,
    /// Statement timeout of the overview's report queries.
    pub report_timeout: Duration,
}

/// A random token of ~256 bits, for cookies and CSRF tokens.
pub fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 43)
}

/// The value of cookie `name` in the request, if any.
pub fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers().get_all(header::COOKIE).filter_map(|value| value.to_str().ok()).flat_map(|v| v.split(';')).find_map(
        |pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name && !value.is_empty()).then(|| value.to_owned())
        },
    )
}

fn set_cookie(config: &DashboardConfig, name: &str, value: &str, path: &str, max_age: u64) -> String {
    let secure = if config.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// `Set-Cookie` value that hands the browser a session token.
pub fn session_cookie(config: &DashboardConfig, token: &str) -> String {
    set_cookie(config, SESSION_COOKIE, token, SESSION_PATH, config.session_ttl.as_secs())
}

/// `Set-Cookie` value that removes the session cookie.
pub fn cleared_session_cookie(config: &DashboardConfig) -> String {
    set_cookie(config, SESSION_COOKIE, "", SESSION_PATH, 0)
}

/// `Set-Cookie` value of the sign-in form's CSRF token.
pub fn sign_in_cookie(config: &DashboardConfig, token: &str) -> String {
    set_cookie(config, SIGN_IN_COOKIE, token, SIGN_IN_PATH, SIGN_IN_FORM_SECS)
}

/// Whether a submitted CSRF token matches the expected one (constant time).
pub fn csrf_matches(expected: &str, submitted: Option<&str>) -> bool {
    submitted.is_some_and(|submitted| !expected.is_empty() && hashes_match(expected, submitted))
}

/// Why an API key cannot open (or keep) a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRefusal {
    /// Unknown, revoked, expired, or its tenant is deactivated (or not this app's).
    Invalid,
    /// Rotated: it works for the API until its grace ends, but not here.
    Rotated,
}

/// The tenant whose live, unrotated API key has hash `key_hash`.
pub async fn tenant_of_key(state: &AppState, key_hash: &str) -> Result<Result<TenantScope, KeyRefusal>, Error> {
    let found = crate::auth::repo::authenticate_api_key(&state.db, AcrossTenants, key_hash, state.clock.now()).await?;
    let Some((tenant, grace_ends)) = found else { return Ok(Err(KeyRefusal::Invalid)) };
    let tenant = TenantScope::new(&tenant);
    if state.audience.dedicated_tenant().is_some_and(|only| only != &tenant) {
        return Ok(Err(KeyRefusal::Invalid));
    }
    Ok(if grace_ends.is_some() { Err(KeyRefusal::Rotated) } else { Ok(tenant) })
}

/// Whether `key` even looks like a tenant API key (the rest is not looked up).
pub fn looks_like_api_key(key: &str) -> bool {
    key.starts_with(TokenKind::Tenant.prefix()) && key.len() < 200
}

/// Opens a session for `tenant` signed in with the key of `key_hash`; returns
/// the cookie token (to hand to the browser once).
pub async fn open(
    state: &AppState,
    config: &DashboardConfig,
    tenant: &TenantScope,
    key_hash: &str,
) -> Result<String, Error> {
    let token = random_token();
    let now: DateTime<Utc> = state.clock.now();
    let ttl = chrono::Duration::from_std(config.session_ttl).unwrap_or(chrono::Duration::hours(8));
    let session = NewSession {
        token_hash: &hash_token(&token),
        tenant,
        credential_hash: key_hash,
        csrf_token: &random_token(),
        created_at: now,
        expires_at: now + ttl,
    };
    repo::create(&state.db, AcrossTenants, &session).await?;
    Ok(token)
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's synchronizer token.
    pub csrf: Option<String>,
}

/// A signed-in browser: the extractor every page behind sign-in takes.
/// Without a valid session it is [`DashError::SignIn`] (a redirect to the form).
#[derive(Debug, Clone)]
pub struct Session {
    /// The tenant it sees.
    pub tenant: TenantScope,
    /// The token its forms carry.
    pub csrf: String,
    token_hash: String,
}

impl Session {
    /// Refuses a form without this session's CSRF token (403).
    pub fn check_csrf(&self, submitted: Option<&str>) -> Result<(), DashError> {
        if csrf_matches(&self.csrf, submitted) { Ok(()) } else { Err(DashError::Csrf) }
    }

    /// Ends this session (sign-out).
    pub async fn end(&self, state: &AppState) -> Result<(), Error> {
        repo::delete(&state.db, AcrossTenants, &self.token_hash).await
    }

    async fn load(state: web::Data<AppState>, token: Option<String>) -> Result<Self, DashError> {
        let token = token.ok_or(DashError::SignIn { ended: false })?;
        let token_hash = hash_token(&token);
        let row = repo::find_live(&state.db, AcrossTenants, &token_hash, state.clock.now())
            .await?
            .ok_or(DashError::SignIn { ended: true })?;
        match tenant_of_key(&state, &row.credential_hash).await? {
            Ok(tenant) if tenant.as_str() == row.tenant_id => Ok(Self { tenant, csrf: row.csrf_token, token_hash }),
            _ => {
                // The key was revoked or rotated, or the tenant deactivated: the session is over.
                repo::delete(&state.db, AcrossTenants, &token_hash).await?;
                Err(DashError::SignIn { ended: true })
            }
        }
    }
}

impl FromRequest for Session {
    type Error = DashError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, DashError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let token = cookie(req, SESSION_COOKIE);
        Box::pin(async move {
            let state = state.ok_or_else(|| Error::Internal("application state missing".into()))?;
            Self::load(state, token).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_must_be_present_and_equal() {
        assert!(csrf_matches("abc", Some("abc")));
        assert!(!csrf_matches("abc", Some("abd")));
        assert!(!csrf_matches("abc", None));
        assert!(!csrf_matches("", Some("")));
    }

    #[test]
    fn cookies_carry_every_attribute() {
        let config = DashboardConfig {
            session_ttl: Duration::from_secs(60),
            secure_cookies: true,
            report_timeout: Duration::from_secs(1),
        };
        assert_eq!(
            session_cookie(&config, "t"),
            "replenish_dashboard=t; Path=/dashboard; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
        let local = DashboardConfig { secure_cookies: false, ..config };
        assert!(!cleared_session_cookie(&local).contains("Secure"));
        assert!(cleared_session_cookie(&local).contains("Max-Age=0"));
    }
}
