//! The pages behind a session. Each reads through the domain's own service or
//! repository, scoped to the session's tenant, so another tenant's id is a 404
//! exactly as in the API.

use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpResponse, web};
use maud::Markup;
use serde::Deserialize;

use crate::dashboard::error::DashError;
use crate::dashboard::session::{CsrfForm, DashboardConfig, Session};
use crate::dashboard::views::{self, Chrome, Section};
use crate::error::Error;
use crate::history::HistoryQuery;
use crate::http::{PageQuery, ResourceId, parse_uuid, resource};
use crate::orders::lifecycle::CANCELLABLE;
use crate::orders::model::CancelRequest;
use crate::state::AppState;
use crate::telemetry::Metrics;

/// Mounts the pages inside the `/dashboard` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("", [(Method::GET, web::to(overview))]))
        .service(resource("/", [(Method::GET, web::to(overview))]))
        .service(resource("/devices", [(Method::GET, web::to(devices))]))
        .service(resource("/devices/{device}/revoke", [(Method::POST, web::to(revoke_device))]))
        .service(resource("/intents", [(Method::GET, web::to(intents))]))
        .service(resource("/orders", [(Method::GET, web::to(orders))]))
        .service(resource("/orders/{order}", [(Method::GET, web::to(order))]))
        .service(resource("/orders/{order}/cancel", [(Method::POST, web::to(cancel_order))]))
        .service(resource("/catalog", [(Method::GET, web::to(catalog))]));
}

pub(crate) fn render(session: &Session, section: Section, title: &str, body: Markup) -> HttpResponse {
    let chrome = Chrome { tenant: session.tenant.as_str(), csrf: &session.csrf, section };
    views::html_response(StatusCode::OK, views::page(title, &chrome, body))
}

/// After a POST: back to a page with GET (post/redirect/get).
pub(crate) fn see_other(to: String) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// Percent-encodes a query value (everything but unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `path?k=v&…` of the non-empty pairs.
pub(crate) fn link(path: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> =
        pairs.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", encode(v))).collect();
    if query.is_empty() { path.to_owned() } else { format!("{path}?{}", query.join("&")) }
}

/// `?period=`.
#[derive(Debug, Deserialize)]
struct OverviewQuery {
    period: Option<String>,
}

/// `GET /dashboard`: the funnel of the chosen period.
async fn overview(
    session: Session,
    state: web::Data<AppState>,
    config: web::Data<DashboardConfig>,
    metrics: Option<web::Data<Metrics>>,
    query: web::Query<OverviewQuery>,
) -> Result<HttpResponse, DashError> {
    let periods = &views::overview::PERIODS;
    let (period, _, hours) =
        periods.iter().find(|(value, _, _)| Some(*value) == query.period.as_deref()).unwrap_or(&periods[0]);
    let now = state.clock.now();
    let window = (now - chrono::Duration::hours(*hours), now);
    let summary = crate::reports::summarize(&state.db, &session.tenant, window, now, config.report_timeout).await?;
    let rate_limited = metrics.map_or(0, |m| m.tenant_rate_limited(session.tenant.as_str()));
    let shown = views::overview::Overview { period, summary: &summary, rate_limited };
    Ok(render(&session, Section::Overview, "Overview", views::overview::body(&shown)))
}

/// `?q=&status=&cursor=` of the devices page.
#[derive(Debug, Deserialize)]
struct DeviceQuery {
    q: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

/// `GET /dashboard/devices`: the fleet, searchable.
async fn devices(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<DeviceQuery>,
) -> Result<HttpResponse, DashError> {
    let q = query.q.as_deref().unwrap_or("").trim();
    let status = match query.status.as_deref() {
        Some("active") => "active",
        Some("revoked") => "revoked",
        _ => "all",
    };
    let page = PageQuery { limit: Some(100), cursor: query.cursor.clone() }.validate()?;
    let search = crate::devices::repo::DeviceSearch {
        text: q,
        active: match status {
            "active" => Some(true),
            "revoked" => Some(false),
            _ => None,
        },
    };
    let found = crate::devices::repo::search(&state.db, &session.tenant, &search, &page).await?;
    let found = crate::http::Page::from_overfetch(found, &page, |d| d.device_id.clone());
    let ids: Vec<String> = found.items.iter().map(|d| d.device_id.clone()).collect();
    let last_seen = crate::detections::repo::last_seen(&state.db, &session.tenant, &ids).await?;
    let next = found
        .next_cursor
        .map(|cursor| link("/dashboard/devices", &[("q", q), ("status", status), ("cursor", &cursor)]));
    let filter = views::devices::DeviceFilter { q, status };
    let body = views::devices::body(&filter, &found.items, &last_seen, next, &session.csrf);
    Ok(render(&session, Section::Devices, "Devices", body))
}

/// `POST /dashboard/devices/{device}/revoke`: the API's revoke, behind the session's CSRF token.
async fn revoke_device(
    session: Session,
    state: web::Data<AppState>,
    device: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashError> {
    session.check_csrf(form.csrf.as_deref())?;
    let id = ResourceId::parse(&device).map_err(|_| Error::NotFound("device"))?;
    crate::devices::repo::revoke(&state.db, &session.tenant, &id).await?.applied(&state.changes);
    tracing::info!(tenant = %session.tenant, device = %id, "device revoked from the dashboard");
    Ok(see_other(link("/dashboard/devices", &[("q", id.as_str())])))
}

/// `?status=&device=&cursor=` of the history pages.
#[derive(Debug, Deserialize)]
struct HistoryParams {
    status: Option<String>,
    device: Option<String>,
    cursor: Option<String>,
}

impl HistoryParams {
    fn status(&self) -> &str {
        self.status.as_deref().unwrap_or("").trim()
    }

    fn device(&self) -> &str {
        self.device.as_deref().unwrap_or("").trim()
    }

    /// The API's history query of these filters (validated by the same rules).
    fn query(&self) -> HistoryQuery {
        let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        HistoryQuery {
            status: non_empty(self.status()),
            device: non_empty(self.device()),
            since: None,
            until: None,
            limit: Some(50),
            cursor: self.cursor.clone(),
        }
    }

    fn next(&self, path: &str, cursor: Option<String>) -> Option<String> {
        cursor.map(|c| link(path, &[("status", self.status()), ("device", self.device()), ("cursor", &c)]))
    }
}

/// `GET /dashboard/intents`.
async fn intents(
    session: Session,
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, DashError> {
    let history = params.query().validate(crate::intents::listing::is_intent_status)?;
    let page = crate::intents::listing::intents(&state.db, &session.tenant, None, &history, state.clock.now()).await?;
    let filter = views::orders::HistoryFilter { status: params.status(), device: params.device() };
    let next = params.next("/dashboard/intents", page.next_cursor);
    Ok(render(&session, Section::Intents, "Intents", views::orders::intents(&filter, &page.items, next)))
}

/// `GET /dashboard/orders`.
async fn orders(
    session: Session,
    state: web::Data<AppState>,
    params: web::Query<HistoryParams>,
) -> Result<HttpResponse, DashError> {
    let history = params.query().validate(crate::orders::listing::is_order_status)?;
    let page = crate::orders::listing::orders(&state.db, &session.tenant, None, &history).await?;
    let filter = views::orders::HistoryFilter { status: params.status(), device: params.device() };
    let next = params.next("/dashboard/orders", page.next_cursor);
    Ok(render(&session, Section::Orders, "Orders", views::orders::list(&filter, &page.items, next)))
}

/// The tenant's cancel window, as the API's cancel reads it.
async fn cancel_window(state: &AppState, session: &Session) -> Result<Duration, Error> {
    let limits = &state.tenants.get(session.tenant.as_str()).await?.limits;
    Ok(Duration::from_secs(u64::from(limits.cancel_window_seconds)))
}

/// `GET /dashboard/orders/{order}`: one order with its timeline.
async fn order(
    session: Session,
    state: web::Data<AppState>,
    order: web::Path<String>,
) -> Result<HttpResponse, DashError> {
    let id = parse_uuid(&order).map_err(|_| Error::NotFound("order"))?;
    let view = state.orders.order(&session.tenant, None, id).await?;
    let window = cancel_window(&state, &session).await?;
    let closes = view.created_at + chrono::Duration::from_std(window).unwrap_or_default();
    let open = !window.is_zero() && state.clock.now() < closes && CANCELLABLE.contains(&view.status);
    let body = views::orders::detail(&view, open.then_some(closes), &session.csrf);
    Ok(render(&session, Section::Orders, "Order", body))
}

/// `POST /dashboard/orders/{order}/cancel`: the API's cancel (the same service
/// and window), as the merchant.
async fn cancel_order(
    session: Session,
    state: web::Data<AppState>,
    order: web::Path<String>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashError> {
    session.check_csrf(form.csrf.as_deref())?;
    let id = parse_uuid(&order).map_err(|_| Error::NotFound("order"))?;
    let window = cancel_window(&state, &session).await?;
    let request = CancelRequest { channel: None, reason: Some("cancelled from the merchant dashboard".into()) };
    state.orders.cancel(&session.tenant, None, id, &request, window).await?;
    tracing::info!(tenant = %session.tenant, order = %id, "order cancelled from the dashboard");
    Ok(see_other(format!("/dashboard/orders/{id}")))
}

/// `GET /dashboard/catalog`: products and variants, read-only.
async fn catalog(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, DashError> {
    let page = PageQuery { limit: Some(100), cursor: query.cursor.clone() }.validate()?;
    let products = crate::catalog::repo::list(&state.db, &session.tenant, &page).await?;
    let products = crate::http::Page::from_overfetch(products, &page, |p| p.product_id.clone());
    let next = products.next_cursor.map(|c| link("/dashboard/catalog", &[("cursor", &c)]));
    Ok(render(&session, Section::Catalog, "Catalog", views::catalog::body(&products.items, next)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_their_values_and_drop_empty_ones() {
        assert_eq!(link("/d", &[("q", "a b&c"), ("status", "")]), "/d?q=a%20b%26c");
        assert_eq!(link("/d", &[("q", "")]), "/d");
    }
}
