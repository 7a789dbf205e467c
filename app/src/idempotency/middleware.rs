//! The HTTP edge of idempotency keys: a middleware on the merchant and admin
//! scopes, inside authentication (it needs the caller) and inside the rate
//! limits (a throttled request never touches a key). Only POSTs with an
//! `Idempotency-Key` of a merchant or the admin are affected; anything else
//! passes through untouched.

use actix_web::body::{BoxBody, MessageBody, to_bytes};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use chrono::Duration as ChronoDuration;
use futures_util::StreamExt as _;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::auth::Caller;
use crate::error::Error;
use crate::idempotency::repo::{self, Claim, KeyedRequest, Principal, StoredResponse};
use crate::idempotency::{HEADER, KeyPolicy, REPLAYED_HEADER, fingerprint, parse_key, verdict};
use crate::problem::EdgeError;
use crate::state::AppState;

/// Response headers stored and replayed besides the body.
const REPLAYED_HEADERS: [&str; 2] = ["content-type", "location"];

/// Middleware: honours `Idempotency-Key` on the POSTs of merchants and the admin.
pub async fn idempotency(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(raw_key) = req.headers().get(HEADER).map(|value| value.as_bytes().to_vec()) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let principal = match req.extensions().get::<Caller>() {
        Some(Caller::Merchant(merchant)) => Some(Principal::Tenant(merchant.scope())),
        Some(Caller::Admin) => Some(Principal::Admin),
        // Devices' POSTs are idempotent by their own event ids.
        Some(Caller::Device(_)) | None => None,
    };
    let Some(principal) = principal.filter(|_| req.method() == Method::POST) else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let key = parse_key(&raw_key)?;
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| Error::Internal("application state missing".into()))?
        .clone();
    let policy = *req.app_data::<KeyPolicy>().ok_or_else(|| Error::Internal("idempotency policy missing".into()))?;
    let body = read_body(&mut req, policy.max_body_bytes).await?;
    let request = KeyedRequest {
        principal,
        key,
        method: req.method().as_str().to_owned(),
        path: req.uri().path_and_query().map_or_else(|| req.path().to_owned(), |pq| pq.as_str().to_owned()),
        fingerprint: fingerprint(&body),
    };
    req.set_payload(Payload::from(body));
    let now = state.clock.now();
    let expires_at = now + ChronoDuration::from_std(policy.ttl).unwrap_or(ChronoDuration::days(1));
    let stale_before = now - ChronoDuration::from_std(policy.stale_after).unwrap_or(ChronoDuration::minutes(5));
    match repo::claim(&state.db, &request, now, expires_at, stale_before).await? {
        Claim::Existing(record) => {
            let stored = verdict(record, &request)?;
            Ok(req.into_response(replay(&stored)))
        }
        Claim::Claimed(claim_id) => {
            let held = HeldKey { db: state.db.clone(), principal: request.principal, key: request.key, claim_id };
            run_and_store(req, next, held).await
        }
    }
}

/// Reads the whole body, up to `limit` bytes (413 above it).
async fn read_body(req: &mut ServiceRequest, limit: usize) -> Result<web::Bytes, EdgeError> {
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|err| EdgeError::MalformedJson(format!("the body could not be read: {err}")))?;
        if body.len() + chunk.len() > limit {
            return Err(EdgeError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Runs the request holding the key; stores its response unless it is a 5xx
/// (then, or on any failure, the key is released).
async fn run_and_store(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    mut held: HeldKey,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let response = next.call(req).await?;
    if response.status().is_server_error() {
        held.release().await;
        return Ok(response.map_into_boxed_body());
    }
    let (req, response) = response.into_parts();
    let (head, body) = response.into_parts();
    let bytes = match to_bytes(body).await {
        Ok(bytes) => bytes,
        Err(err) => {
            let err: Box<dyn std::error::Error> = err.into();
            return Err(Error::Internal(format!("response body: {err}")).into());
        }
    };
    let stored = StoredResponse {
        status: head.status().as_u16(),
        headers: REPLAYED_HEADERS
            .iter()
            .filter_map(|name| {
                let value = head.headers().get(*name)?.to_str().ok()?;
                Some(((*name).to_owned(), value.to_owned()))
            })
            .collect(),
        body: bytes.to_vec(),
    };
    match repo::complete(&held.db, &held.principal, &held.key, held.claim_id, &stored).await {
        Ok(true) => held.disarm(),
        Ok(false) => tracing::warn!("an idempotency key was taken over while its request ran"),
        // The response still goes out; the key is released below, so a retry runs again.
        Err(err) => tracing::warn!(error = %err, "storing an idempotent response failed"),
    }
    held.release().await;
    Ok(ServiceResponse::new(req, head.set_body(BoxBody::new(bytes))))
}

/// The stored response, as sent the first time, marked as a replay.
fn replay(stored: &StoredResponse) -> HttpResponse {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = HttpResponse::build(status);
    for (name, value) in &stored.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name.as_str()), HeaderValue::from_str(value)) {
            response.insert_header((name, value));
        }
    }
    response.insert_header((REPLAYED_HEADER, "true"));
    response.body(stored.body.clone())
}

/// A key this request holds in progress: released when the request fails,
/// and released in the background when the request is dropped (the client
/// went away), so a retry is not refused until the claim goes stale.
struct HeldKey {
    db: DatabaseConnection,
    principal: Principal,
    key: String,
    claim_id: Uuid,
}

impl HeldKey {
    /// Releases the key now (a no-op once the response is stored).
    async fn release(&mut self) {
        if self.claim_id.is_nil() {
            return;
        }
        if let Err(err) = repo::release(&self.db, &self.principal, &self.key, self.claim_id).await {
            tracing::warn!(error = %err, "releasing an idempotency key failed");
        }
        self.claim_id = Uuid::nil();
    }

    /// The response is stored: nothing to release.
    fn disarm(&mut self) {
        self.claim_id = Uuid::nil();
    }
}

impl Drop for HeldKey {
    fn drop(&mut self) {
        if self.claim_id.is_nil() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (db, principal, key, claim_id) = (self.db.clone(), self.principal.clone(), self.key.clone(), self.claim_id);
        runtime.spawn(async move {
            if let Err(err) = repo::release(&db, &principal, &key, claim_id).await {
                tracing::warn!(error = %err, "releasing an abandoned idempotency key failed");
            }
        });
    }
}
