//! The merchant dashboard over plain HTTP (no browser): sign-in and its cookies,
//! session expiry, key rotation and tenant deactivation ending sessions, CSRF
//! refusals and tenant isolation. `browser` drives it in headless Chromium.

mod browser;
mod webhooks;

use std::time::Duration;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use sea_orm::FromQueryResult;
use serde_json::json;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};

/// A browser without a browser: follows no redirects and keeps the session cookie by hand.
pub struct Dash {
    client: reqwest::Client,
    base: String,
    /// `replenish_dashboard=<token>`, once signed in.
    session: Option<String>,
}

/// A page as fetched.
pub struct Fetched {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Fetched {
    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The first `Set-Cookie` for `name`.
    pub fn set_cookie(&self, name: &str) -> String {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no Set-Cookie for {name} in {:?}", self.headers))
            .to_owned()
    }

    /// The value of the first hidden `csrf` field of the page.
    pub fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).unwrap_or_else(|| panic!("no csrf field in {}", self.body)) + marker.len();
        self.body[start..].split('"').next().unwrap_or_default().to_owned()
    }

    pub fn assert_html(&self, status: u16) -> &str {
        assert_eq!(self.status.as_u16(), status, "{}", self.body);
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        &self.body
    }
}

/// `name=value` of a `Set-Cookie` line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap_or_default().to_owned()
}

impl Dash {
    pub fn new(app: &TestApp) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Self { client, base: app.address.clone(), session: None }
    }

    async fn send(&self, request: reqwest::RequestBuilder, cookie: Option<&str>) -> Fetched {
        let request = match cookie.or(self.session.as_deref()) {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        };
        let response = request.send().await.expect("request sent");
        let (status, headers) = (response.status(), response.headers().clone());
        Fetched { status, headers, body: response.text().await.expect("body") }
    }

    pub async fn get(&self, path: &str) -> Fetched {
        self.send(self.client.get(format!("{}{path}", self.base)), None).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Fetched {
        self.send(self.client.post(format!("{}{path}", self.base)).form(form), None).await
    }

    /// Posts the sign-in form with `key` (and the form's own token): the response.
    pub async fn try_sign_in(&self, key: &str) -> Fetched {
        let form = self.get("/dashboard/sign-in").await;
        let cookie = pair(&form.set_cookie("replenish_dashboard_signin"));
        let csrf = form.csrf();
        let request =
            self.client.post(format!("{}/dashboard/sign-in", self.base)).form(&[("api_key", key), ("csrf", &csrf)]);
        self.send(request, Some(&cookie)).await
    }

    /// Signs in with `key`, keeping the session cookie; returns its `Set-Cookie` line.
    pub async fn sign_in(&mut self, key: &str) -> String {
        let signed_in = self.try_sign_in(key).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
        assert_eq!(signed_in.location(), "/dashboard");
        let line = signed_in.set_cookie("replenish_dashboard");
        self.session = Some(pair(&line));
        line
    }

    /// The session's CSRF token, read off the overview's sign-out form.
    pub async fn csrf(&self) -> String {
        self.get("/dashboard/devices").await.csrf()
    }
}

/// A tenant `id` with store `main`, product `water` and device `glasses`, and an
/// accepted order: (api key, device token, order id).
pub async fn tenant_with_order(app: &TestApp, id: &str) -> (String, String, String) {
    let (key, device) = app.seeded_tenant(id).await;
    let intent = app.prompted(&device, &format!("{id}-e1"), "water_bottle").await;
    let decided = app.decide(&device, &intent, true, "GESTURE").await;
    let order = decided.assert_status(200)["order"]["order_id"].as_str().expect("an order").to_owned();
    (key, device, order)
}

async fn signs_in_with_the_api_key_into_a_strict_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;
    let mut dash = Dash::new(&app);
    assert_eq!(dash.get("/dashboard").await.location(), "/dashboard/sign-in", "no session: the sign-in form");
    let form = dash.get("/dashboard/sign-in").await;
    form.assert_html(200);
    let form_cookie = form.set_cookie("replenish_dashboard_signin");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard/sign-in"] {
        assert!(form_cookie.contains(attribute), "{form_cookie}");
    }
    let line = dash.sign_in(&key).await;
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/dashboard", "Max-Age=28800"] {
        assert!(line.contains(attribute), "{line}");
    }
    assert!(!line.contains("Secure"), "plain-http local development: {line}");
    assert!(!line.contains(&key), "the cookie is a session token, not the key");
    let overview = dash.get("/dashboard").await;
    let page = overview.assert_html(200);
    assert!(page.contains("acme") && page.contains("Funnel"), "{page}");
    assert!(!page.contains(&key), "the key is never shown");
    assert_eq!(overview.headers["cache-control"], "no-store");
    assert!(overview.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));

    let refused = Dash::new(&app).try_sign_in("rpl_t_notarealkeyatall000000000000000").await;
    assert!(refused.assert_html(401).contains("was not accepted"));
    let refused = Dash::new(&app).try_sign_in("not even a key").await;
    assert!(refused.assert_html(401).contains("was not accepted"));
}

async fn cookies_are_secure_outside_local_development(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.environment = "production".into();
        s.dashboard_session_secs = 600;
    })
    .await;
    let key = app.create_tenant("acme").await;
    let line = Dash::new(&app).sign_in(&key).await;
    assert!(line.contains("; Secure") && line.contains("Max-Age=600"), "{line}");
}

async fn sessions_expire(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.dashboard_session_secs = 120).await;
    let key = app.create_tenant("acme").await;
    let mut dash = Dash::new(&app);
    dash.sign_in(&key).await;
    app.advance(Duration::from_secs(119));
    dash.get("/dashboard/devices").await.assert_html(200);
    app.advance(Duration::from_secs(2));
    let ended = dash.get("/dashboard/devices").await;
    assert_eq!(ended.status, StatusCode::SEE_OTHER);
    assert_eq!(ended.location(), "/dashboard/sign-in?ended=1");
    assert!(dash.get(ended.location()).await.assert_html(200).contains("Your session has ended"));

    // The next sign-in prunes the lapsed session; the table holds the token's hash, never the token.
    let line = dash.sign_in(&key).await;
    let token = pair(&line).split_once('=').map(|(_, t)| t.to_owned()).expect("a token");
    let db = sea_orm::Database::connect(&app.db.url).await.expect("test database");
    let rows = sea_orm::JsonValue::find_by_statement(sea_orm::Statement::from_string(
        db.get_database_backend(),
        "SELECT token_hash, csrf_token FROM dashboard_sessions",
    ))
    .all(&db)
    .await
    .expect("sessions");
    assert_eq!(rows.len(), 1, "only the live session is left: {rows:?}");
    assert_eq!(rows[0]["token_hash"], replenish_app::auth::hash_token(&token));
    assert_ne!(rows[0]["token_hash"], token.as_str());
}

async fn rotating_the_key_or_deactivating_the_tenant_ends_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let old_key = app.create_tenant("acme").await;
    let mut dash = Dash::new(&app);
    dash.sign_in(&old_key).await;
    // A rotation with grace: the old key still works for the API, but not for the dashboard.
    let rotated =
        app.admin(Method::POST, "/admin/v1/tenants/acme/api-keys", Some(json!({"grace_period_seconds": 600}))).await;
    let new_key = rotated.assert_status(201)["api_key"].as_str().expect("new key").to_owned();
    app.call(Method::GET, "/api/v1/devices", Some(&old_key), None).await.assert_status(200);
    assert_eq!(dash.get("/dashboard").await.location(), "/dashboard/sign-in?ended=1");
    assert!(Dash::new(&app).try_sign_in(&old_key).await.assert_html(401).contains("has been rotated"));

    dash.sign_in(&new_key).await;
    dash.get("/dashboard").await.assert_html(200);
    // A rotation without grace revokes the key at once: the same.
    let rotated = app.admin(Method::POST, "/admin/v1/tenants/acme/api-keys", None).await;
    let newest_key = rotated.assert_status(201)["api_key"].as_str().expect("newest key").to_owned();
    assert_eq!(dash.get("/dashboard").await.location(), "/dashboard/sign-in?ended=1");
    assert!(Dash::new(&app).try_sign_in(&new_key).await.assert_html(401).contains("was not accepted"));

    dash.sign_in(&newest_key).await;
    dash.get("/dashboard").await.assert_html(200);
    app.admin(Method::DELETE, "/admin/v1/tenants/acme", None).await.assert_status(204);
    assert_eq!(dash.get("/dashboard").await.location(), "/dashboard/sign-in?ended=1");
    assert!(Dash::new(&app).try_sign_in(&newest_key).await.assert_html(401).contains("was not accepted"));
}

async fn forms_without_the_session_csrf_token_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, _device, order) = tenant_with_order(&app, "acme").await;
    let mut dash = Dash::new(&app);
    dash.sign_in(&key).await;
    let csrf = dash.csrf().await;
    let fleet = dash.get("/dashboard/devices?q=glass&status=active").await;
    let row = fleet.assert_html(200).split("data-device=\"glasses\"").nth(1).expect("the device's row").to_owned();
    assert!(row.split("</tr>").next().unwrap_or_default().contains(" UTC</td>"), "last seen: {row}");
    assert!(dash.get("/dashboard/devices?q=nomatch").await.assert_html(200).contains("No devices match."));
    assert!(dash.get("/dashboard/devices?status=revoked").await.assert_html(200).contains("No devices match."));
    for form in [vec![], vec![("csrf", "forged")], vec![("csrf", "")]] {
        let refused = dash.post("/dashboard/devices/glasses/revoke", &form).await;
        assert!(refused.assert_html(403).contains("Form refused"));
        dash.post(&format!("/dashboard/orders/{order}/cancel"), &form).await.assert_html(403);
        dash.post("/dashboard/sign-out", &form).await.assert_html(403);
    }
    let device = app.call(Method::GET, "/api/v1/devices/glasses", Some(&key), None).await;
    assert_eq!(device.assert_status(200)["status"], "active", "nothing was revoked");
    let view = app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&key), None).await;
    assert_ne!(view.assert_status(200)["status"], "CANCELLED");
    // The sign-in form is protected too (its token is in a cookie: there is no session yet).
    let forged = Dash::new(&app).post("/dashboard/sign-in", &[("api_key", &key), ("csrf", "forged")]).await;
    assert!(!forged.headers.contains_key(SET_COOKIE));
    forged.assert_html(403);

    // With the token, the same forms work.
    let revoked = dash.post("/dashboard/devices/glasses/revoke", &[("csrf", &csrf)]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let device = app.call(Method::GET, "/api/v1/devices/glasses", Some(&key), None).await;
    assert_eq!(device.assert_status(200)["status"], "revoked");
    let out = dash.post("/dashboard/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.location(), "/dashboard/sign-in?signed_out=1");
    assert!(out.set_cookie("replenish_dashboard").contains("Max-Age=0"));
    assert_eq!(dash.get("/dashboard").await.location(), "/dashboard/sign-in?ended=1", "the session is gone");
}

async fn another_tenants_ids_are_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let (acme_key, _, order) = tenant_with_order(&app, "acme").await;
    let (other_key, _) = app.seeded_tenant("globex").await;
    let mut dash = Dash::new(&app);
    dash.sign_in(&other_key).await;
    let csrf = dash.csrf().await;
    assert!(dash.get(&format!("/dashboard/orders/{order}")).await.assert_html(404).contains("no such order"));
    dash.post(&format!("/dashboard/orders/{order}/cancel"), &[("csrf", &csrf)]).await.assert_html(404);
    dash.get("/dashboard/orders/not-a-uuid").await.assert_html(404);
    dash.get("/dashboard/no-such-page").await.assert_html(404);
    let orders = dash.get("/dashboard/orders").await;
    assert!(!orders.assert_html(200).contains(&order), "globex sees none of acme's orders");
    assert!(!dash.get("/dashboard/intents").await.assert_html(200).contains("acme"));
    // Both tenants have a device `glasses`: globex's revoke touches only its own.
    dash.post("/dashboard/devices/glasses/revoke", &[("csrf", &csrf)]).await;
    let acme_glasses = app.call(Method::GET, "/api/v1/devices/glasses", Some(&acme_key), None).await;
    assert_eq!(acme_glasses.assert_status(200)["status"], "active");
    dash.post("/dashboard/devices/nobody/revoke", &[("csrf", &csrf)]).await.assert_html(404);
    let acme_order = app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&acme_key), None).await;
    assert_ne!(acme_order.assert_status(200)["status"], "CANCELLED");
}

async fn the_overview_counts_the_tenants_rate_limited_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;
    app.set_limits("acme", json!({"tenant_per_second": 1})).await;
    let mut refused = 0;
    for _ in 0..10 {
        if app.call(Method::GET, "/api/v1/devices", Some(&key), None).await.status == StatusCode::TOO_MANY_REQUESTS {
            refused += 1;
        }
    }
    assert!(refused > 0, "a limit of 1/s refuses some of 10 quick requests");
    let mut dash = Dash::new(&app);
    dash.sign_in(&key).await;
    let page = dash.get("/dashboard").await;
    let expected = format!("Rate-limited requests (this server, since it started)</dt><dd>{refused}</dd>");
    assert!(page.assert_html(200).contains(&expected), "{expected} in {}", page.body);
}

on_both_backends!(
    the_overview_counts_the_tenants_rate_limited_requests,
    signs_in_with_the_api_key_into_a_strict_cookie,
    cookies_are_secure_outside_local_development,
    sessions_expire,
    rotating_the_key_or_deactivating_the_tenant_ends_sessions,
    forms_without_the_session_csrf_token_are_refused,
    another_tenants_ids_are_not_found,
);
