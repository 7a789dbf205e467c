//! `GET /api/v1/events` and `GET /api/v1/events/{event}`: the merchant's event log.

use actix_web::http::Method;
use actix_web::web;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Merchant;
use crate::error::Error;
use crate::events::model::{Event, EventType, to_event};
use crate::events::repo::{self, EventFilter};
use crate::http::{MAX_PAGE_SIZE, Page, parse_uuid, resource};
use crate::problem::Problem;
use crate::state::AppState;
use replenish_api::time::check_time;

/// Mounts the event routes inside `/api/v1`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/events", [(Method::GET, web::to(list_events))]))
        .service(resource("/events/{event}", [(Method::GET, web::to(get_event))]));
}

/// `?type=&object_id=&since=&until=&order=&limit=&cursor=` of the event listing.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// Only these event types, comma-separated (e.g. `order.confirmed,order.failed`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub types: Option<String>,
    /// Only events of this object (an order, intent or device id).
    pub object_id: Option<String>,
    /// Created at or after (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Created before (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// `desc` (newest first, the default) or `asc` (oldest first: read the log forward as a feed).
    pub order: Option<String>,
    /// Items per page, 1-500 (default 50).
    pub limit: Option<u64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl EventQuery {
    /// Validates the query into a repository filter.
    pub fn validate(&self) -> Result<EventFilter, Error> {
        let limit = self.limit.unwrap_or(50);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(Error::InvalidQuery(format!("limit must be between 1 and {MAX_PAGE_SIZE}")));
        }
        let mut types = Vec::new();
        for name in self.types.iter().flat_map(|t| t.split(',')).map(str::trim).filter(|t| !t.is_empty()) {
            let known =
                EventType::parse(name).map_err(|_| Error::InvalidQuery(format!("unknown event type {name:?}")))?;
            types.push(known.as_str().to_owned());
        }
        for (field, at) in [("since", self.since), ("until", self.until)] {
            if let Some(at) = at {
                check_time(field, at)?;
            }
        }
        if self.object_id.as_deref().is_some_and(|id| id.is_empty() || id.len() > 255) {
            return Err(Error::InvalidQuery("object_id must be 1-255 characters".into()));
        }
        let oldest_first = match self.order.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => return Err(Error::InvalidQuery("order must be asc or desc".into())),
        };
        let after = match &self.cursor {
            Some(cursor) => Some(parse_cursor(cursor)?),
            None => None,
        };
        Ok(EventFilter {
            types,
            object_id: self.object_id.clone(),
            since: self.since,
            until: self.until,
            oldest_first,
            after,
            limit,
        })
    }
}

fn parse_cursor(cursor: &str) -> Result<i64, Error> {
    let not_ours = || Error::InvalidQuery("cursor is not one this service issued".into());
    cursor.strip_prefix('e').and_then(|seq| seq.parse::<i64>().ok()).filter(|seq| *seq > 0).ok_or_else(not_ours)
}

/// The tenant's events, newest first (or oldest first with `order=asc`), kept
/// for the retention period (`REPLENISH_EVENT_RETENTION_DAYS`, 30 by default).
#[utoipa::path(
    get, path = "/api/v1/events", tag = "merchant",
    params(EventQuery),
    responses(
        (status = 200, body = Page<Event>),
        (status = 400, description = "Bad filter or cursor", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn list_events(
    merchant: Merchant,
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<web::Json<Page<Event>>, Error> {
    let filter = query.validate()?;
    let rows = repo::list(&state.db, &merchant.scope(), &filter).await?;
    let has_more = rows.len() as u64 > filter.limit;
    let shown = &rows[..rows.len().min(filter.limit as usize)];
    let items = shown.iter().map(to_event).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if has_more { shown.last().map(|row| format!("e{}", row.seq)) } else { None };
    Ok(web::Json(Page { items, next_cursor }))
}

/// One of the tenant's events.
#[utoipa::path(
    get, path = "/api/v1/events/{event}", tag = "merchant",
    params(("event" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, body = Event),
        (status = 404, description = "No such event in this tenant", body = Problem, content_type = "application/problem+json"),
    ),
)]
pub async fn get_event(
    merchant: Merchant,
    state: web::Data<AppState>,
    event: web::Path<String>,
) -> Result<web::Json<Event>, Error> {
    let id = parse_uuid(&event)?;
    let row = repo::find(&state.db, &merchant.scope(), id).await?.ok_or(Error::NotFound("event"))?;
    Ok(web::Json(to_event(&row)?))
}
