//! The webhooks pages: the tenant's endpoints, one endpoint's recent
//! deliveries, and redelivery of an event to it (behind the session's CSRF
//! token). They read through the webhooks domain, scoped to the session's
//! tenant, so another tenant's endpoint or event is a 404.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use uuid::Uuid;

use crate::dashboard::error::DashError;
use crate::dashboard::pages::{link, render, see_other};
use crate::dashboard::session::{CsrfForm, Session};
use crate::dashboard::views::{self, Section};
use crate::error::Error;
use crate::http::{PageQuery, ResourceId, resource};
use crate::state::AppState;
use crate::webhooks::delivery_repo::{self, DeliveryFilter};
use crate::webhooks::{deliveries, endpoints, repo};

/// Deliveries shown on an endpoint's page.
const RECENT_DELIVERIES: u64 = 50;

/// Mounts the webhooks pages inside the `/dashboard` scope.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/webhooks", [(Method::GET, web::to(endpoint_list))]))
        .service(resource("/webhooks/{endpoint}", [(Method::GET, web::to(endpoint_page))]))
        .service(resource("/webhooks/{endpoint}/redeliver/{event}", [(Method::POST, web::to(redeliver))]));
}

/// `GET /dashboard/webhooks`: the endpoints.
async fn endpoint_list(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, DashError> {
    let page = PageQuery { limit: Some(100), cursor: query.cursor.clone() }.validate()?;
    let now = state.clock.now();
    let rows = repo::list(&state.db, &session.tenant, &page).await?;
    let views = rows.iter().map(|row| endpoints::view(row, None, now)).collect::<Result<Vec<_>, _>>()?;
    let found = crate::http::Page::from_overfetch(views, &page, |e| e.endpoint_id.clone());
    let next = found.next_cursor.map(|c| link("/dashboard/webhooks", &[("cursor", &c)]));
    Ok(render(&session, Section::Webhooks, "Webhooks", views::webhooks::endpoints(&found.items, next)))
}

fn endpoint_id(raw: &str) -> Result<ResourceId, Error> {
    ResourceId::parse(raw).map_err(|_| Error::NotFound("webhook endpoint"))
}

/// `GET /dashboard/webhooks/{endpoint}`: one endpoint and its recent deliveries.
async fn endpoint_page(
    session: Session,
    state: web::Data<AppState>,
    endpoint: web::Path<String>,
) -> Result<HttpResponse, DashError> {
    let id = endpoint_id(&endpoint)?;
    let row = repo::find(&state.db, &session.tenant, id.as_str()).await?.ok_or(Error::NotFound("webhook endpoint"))?;
    let view = endpoints::view(&row, None, state.clock.now())?;
    let filter = DeliveryFilter { outcome: None, after: None, limit: RECENT_DELIVERIES };
    let rows = delivery_repo::list(&state.db, &session.tenant, id.as_str(), &filter).await?;
    let shown = rows.iter().take(RECENT_DELIVERIES as usize).map(deliveries::view).collect::<Result<Vec<_>, _>>()?;
    let title = format!("Webhook endpoint {}", id.as_str());
    let body = views::webhooks::endpoint(&view, &shown, None, &session.csrf);
    Ok(render(&session, Section::Webhooks, &title, body))
}

/// `POST /dashboard/webhooks/{endpoint}/redeliver/{event}`: the API's
/// redelivery to this one endpoint.
async fn redeliver(
    session: Session,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashError> {
    session.check_csrf(form.csrf.as_deref())?;
    let (endpoint, event) = path.into_inner();
    let id = endpoint_id(&endpoint)?;
    let event = Uuid::parse_str(&event).map_err(|_| Error::NotFound("event"))?;
    let now = state.clock.now();
    deliveries::redeliver(&state.db, &session.tenant, event, Some(id.as_str()), now).await?;
    tracing::info!(tenant = %session.tenant, endpoint = %id, %event, "event redelivered from the dashboard");
    Ok(see_other(format!("/dashboard/webhooks/{}", id.as_str())))
}
