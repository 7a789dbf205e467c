//! The dashboard's edge outside a session: mounting, sign-in, sign-out and
//! the static assets (served from the binary; no CDN, no files to deploy).

use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::from_fn;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use crate::auth::hash_token;
use crate::dashboard::error::DashError;
use crate::dashboard::pages;
use crate::dashboard::session::{self, CsrfForm, DashboardConfig, KeyRefusal, Session};
use crate::dashboard::views::{self, sign_in::Notice};
use crate::http::resource;
use crate::state::AppState;

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

/// Mounts `/dashboard…` with its settings.
pub fn configure(cfg: &mut web::ServiceConfig, config: DashboardConfig) {
    cfg.service(
        web::scope("/dashboard")
            // The same per-IP limit as the API: sign-in attempts and page loads count.
            .wrap(from_fn(crate::limits::middleware::ip_limit))
            .app_data(web::Data::new(config))
            // Forms and queries that do not parse are a page, not problem+json.
            .app_data(
                web::FormConfig::default()
                    .limit(16 * 1024)
                    .error_handler(|err, _| DashError::BadRequest(format!("The form could not be read: {err}")).into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                DashError::BadRequest(format!("The address has a query this page does not understand: {err}")).into()
            }))
            .app_data(
                web::PathConfig::default()
                    .error_handler(|_, _| DashError::Domain(crate::error::Error::NotFound("page")).into()),
            )
            .service(resource("/sign-in", [(Method::GET, web::to(sign_in_form)), (Method::POST, web::to(sign_in))]))
            .service(resource("/sign-out", [(Method::POST, web::to(sign_out))]))
            .service(resource("/assets/dashboard.css", [(Method::GET, web::to(css))]))
            .service(resource("/assets/dashboard.js", [(Method::GET, web::to(js))]))
            .configure(pages::configure)
            .configure(crate::dashboard::webhook_pages::configure)
            .default_service(web::to(not_found)),
    );
}

async fn not_found() -> Result<HttpResponse, DashError> {
    Err(DashError::Domain(crate::error::Error::NotFound("page")))
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

async fn css() -> HttpResponse {
    asset("text/css; charset=utf-8", CSS)
}

async fn js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", JS)
}

/// `?ended=1` / `?signed_out=1` on the sign-in page.
#[derive(Debug, Deserialize)]
struct SignInQuery {
    ended: Option<String>,
    signed_out: Option<String>,
}

/// The sign-in form, with a fresh form token in a cookie and a hidden field.
fn sign_in_page(config: &DashboardConfig, status: StatusCode, notice: Notice) -> HttpResponse {
    let token = session::random_token();
    let mut response = views::html_response(status, views::sign_in::page(&token, notice));
    if let Ok(value) = header::HeaderValue::from_str(&session::sign_in_cookie(config, &token)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /dashboard/sign-in`.
async fn sign_in_form(config: web::Data<DashboardConfig>, query: web::Query<SignInQuery>) -> HttpResponse {
    let notice = if query.ended.is_some() {
        Notice::Ended
    } else if query.signed_out.is_some() {
        Notice::SignedOut
    } else {
        Notice::None
    };
    sign_in_page(&config, StatusCode::OK, notice)
}

/// The sign-in form as posted. The key is only hashed and looked up: never
/// logged, echoed into the page or put in a URL.
#[derive(Deserialize)]
struct SignInForm {
    api_key: Option<String>,
    csrf: Option<String>,
}

/// `POST /dashboard/sign-in`: a valid key opens a session and goes to the overview.
async fn sign_in(
    state: web::Data<AppState>,
    config: web::Data<DashboardConfig>,
    req: HttpRequest,
    form: web::Form<SignInForm>,
) -> Result<HttpResponse, DashError> {
    // No session yet: the form's token must match the cookie set with the form (double submit).
    let expected = session::cookie(&req, session::SIGN_IN_COOKIE).unwrap_or_default();
    if !session::csrf_matches(&expected, form.csrf.as_deref()) {
        return Err(DashError::Csrf);
    }
    let key = form.api_key.as_deref().unwrap_or_default().trim();
    let verdict = if session::looks_like_api_key(key) {
        session::tenant_of_key(&state, &hash_token(key)).await?
    } else {
        Err(KeyRefusal::Invalid)
    };
    let tenant = match verdict {
        Ok(tenant) => tenant,
        Err(refusal) => {
            tracing::info!(?refusal, "dashboard sign-in refused");
            let notice = if refusal == KeyRefusal::Rotated { Notice::RotatedKey } else { Notice::BadKey };
            return Ok(sign_in_page(&config, StatusCode::UNAUTHORIZED, notice));
        }
    };
    let token = session::open(&state, &config, &tenant, &hash_token(key)).await?;
    tracing::info!(tenant = %tenant, "dashboard session opened");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::SET_COOKIE, session::session_cookie(&config, &token)))
        .finish())
}

/// `POST /dashboard/sign-out`: ends the session and clears the cookie.
async fn sign_out(
    state: web::Data<AppState>,
    config: web::Data<DashboardConfig>,
    session: Session,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, DashError> {
    session.check_csrf(form.csrf.as_deref())?;
    session.end(&state).await?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/dashboard/sign-in?signed_out=1"))
        .insert_header((header::SET_COOKIE, session::cleared_session_cookie(&config)))
        .finish())
}
