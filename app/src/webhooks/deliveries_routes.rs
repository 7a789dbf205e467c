//! Merchant routes of the delivery log and redelivery:
//! `GET /api/v1/webhook-endpoints/{endpoint}/deliveries` and
//! `POST /api/v1/events/{event}/redeliver`.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::auth::Merchant;
use crate::error::Error;
use crate::http::{MAX_PAGE_SIZE, Page, ResourceId, parse_uuid, resource};
use crate::problem::Problem;
use crate::state::AppState;
use crate::webhooks::delivery_repo::{self, DeliveryFilter};
use crate::webhooks::entity::delivery;
use crate::webhooks::{deliveries, repo};
use replenish_api::webhooks::{DeliveryOutcome, DeliveryView, Redelivery};

/// Mounts the delivery routes inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/webhook-endpoints/{endpoint}/deliveries", [(Method::GET, web::to(list_deliveries))]))
        .service(resource("/events/{event}/redeliver", [(Method::POST, web::to(redeliver))]));
}

/// `?outcome=&limit=&cursor=` of the delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Only deliveries with this outcome: `pending`, `succeeded`, `failed` or `abandoned`.
    pub outcome: Option<String>,
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl DeliveryQuery {
    /// Validates the query into a repository filter.
    pub fn validate(&self) -> Result<DeliveryFilter, Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::InvalidQuery(format!("limit must be between 1 and {MAX_PAGE_SIZE}")));
        }
        let outcome = match self.outcome.as_deref() {
            Some(name) => Some(
                DeliveryOutcome::parse(name).map_err(|_| Error::InvalidQuery(format!("unknown outcome {name:?}")))?,
            ),
            None => None,
        };
        let after = self.cursor.as_deref().map(parse_cursor).transpose()?;
        Ok(DeliveryFilter { outcome, after, limit })
    }
}

/// A cursor is `<created_at in µs>_<event seq>_<delivery id>` of the last item shown.
fn cursor_of(row: &delivery::Model) -> String {
    format!("{}_{}_{}", row.created_at.timestamp_micros(), row.event_seq, row.id.simple())
}

fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, i64, Uuid), Error> {
    let not_ours = || Error::InvalidQuery("cursor is not one this service issued".into());
    let mut parts = cursor.splitn(3, '_');
    let (Some(micros), Some(seq), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(not_ours());
    };
    let at = micros.parse::<i64>().ok().and_then(DateTime::from_timestamp_micros).ok_or_else(not_ours)?;
    let seq = seq.parse::<i64>().map_err(|_| not_ours())?;
    let id = Uuid::try_parse(id).map_err(|_| not_ours())?;
    Ok((at, seq, id))
}

/// The delivery log of one endpoint, newest first: each event's delivery
/// with its last attempt (number, status code, latency, response body cut to
/// 1 KiB) and, while open, when the next attempt is due.
#[utoipa::path(
    get, path = "/api/v1/webhook-endpoints/{endpoint}/deliveries", tag = "merchant",
    params(("endpoint" = String, Path, description = "Endpoint id"), DeliveryQuery),
    responses(
        (status = 200, body = Page<DeliveryView>),
        (status = 400, description = "Bad filter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such endpoint in this tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_deliveries(
    merchant: Merchant,
    state: web::Data<AppState>,
    endpoint: web::Path<ResourceId>,
    query: web::Query<DeliveryQuery>,
) -> Result<web::Json<Page<DeliveryView>>, Error> {
    let filter = query.validate()?;
    let tenant = merchant.scope();
    repo::find(&state.db, &tenant, endpoint.as_str()).await?.ok_or(Error::NotFound("webhook endpoint"))?;
    let rows = delivery_repo::list(&state.db, &tenant, endpoint.as_str(), &filter).await?;
    let has_more = rows.len() as u64 > filter.limit;
    let shown = &rows[..rows.len().min(filter.limit as usize)];
    let items = shown.iter().map(deliveries::view).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if has_more { shown.last().map(cursor_of) } else { None };
    Ok(web::Json(Page { items, next_cursor }))
}

/// `?endpoint=` of a redelivery.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RedeliverQuery {
    /// Only to this endpoint, which must be enabled; it receives the event
    /// even if it does not subscribe to its type.
    pub endpoint: Option<String>,
}

/// Queue an event for delivery again: to every enabled endpoint subscribed
/// to its type, or only to `?endpoint=` (subscribed or not). Each gets a new
/// delivery (attempts from 1, the same event id and body); it goes out ahead
/// of later events of the same object still waiting for that endpoint.
#[utoipa::path(
    post, path = "/api/v1/events/{event}/redeliver", tag = "merchant",
    params(("event" = String, Path, description = "Event id (UUID)"), RedeliverQuery),
    responses(
        (status = 202, description = "Queued", body = Redelivery),
        (status = 404, description = "No such event, or endpoint, in this tenant", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The named endpoint is disabled (`endpoint-disabled`)", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn redeliver(
    merchant: Merchant,
    state: web::Data<AppState>,
    event: web::Path<String>,
    query: web::Query<RedeliverQuery>,
) -> Result<HttpResponse, Error> {
    let id = parse_uuid(&event)?;
    let endpoint = query.endpoint.as_deref().map(ResourceId::parse).transpose()?;
    let now = state.clock.now();
    let queued =
        deliveries::redeliver(&state.db, &merchant.scope(), id, endpoint.as_ref().map(ResourceId::as_str), now).await?;
    Ok(HttpResponse::Accepted().json(Redelivery { deliveries: queued }))
}
