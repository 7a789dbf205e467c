//! The dashboard's webhooks pages: endpoints, an endpoint's recent deliveries,
//! redelivery behind the CSRF token, and tenant isolation.

use reqwest::Method;
use serde_json::json;

use super::Dash;
use crate::helpers::{Backend, spawn_app};

on_both_backends!(the_webhooks_pages_show_deliveries_and_redeliver);

async fn the_webhooks_pages_show_deliveries_and_redeliver(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, _) = app.seeded_tenant("acme").await;
    // Nothing listens on port 9: every attempt fails and is retried later.
    let endpoint = json!({"url": "http://127.0.0.1:9/hook", "event_types": ["order.confirmed"], "description": "erp"});
    let put = app.call(Method::PUT, "/api/v1/webhook-endpoints/erp", Some(&key), Some(endpoint)).await;
    put.assert_status(201);
    tenant_with_order_of(&app, &key).await;
    let mut dash = Dash::new(&app);
    dash.sign_in(&key).await;
    let list = dash.get("/dashboard/webhooks").await;
    let list = list.assert_html(200);
    assert!(list.contains("/dashboard/webhooks/erp") && list.contains("http://127.0.0.1:9/hook"), "{list}");
    // The dispatcher tries (and fails) in the background.
    app.eventually("a failed delivery is logged", || async {
        dash.get("/dashboard/webhooks/erp").await.body.contains("failed, retrying")
    })
    .await;
    let page = dash.get("/dashboard/webhooks/erp").await;
    let body = page.assert_html(200);
    assert!(body.contains("order.confirmed"), "{body}");
    let buttons = body.matches("Redeliver event ").count();
    assert_eq!(buttons, 1, "one delivery so far: {body}");
    let event = first_event_id(body);
    let csrf = page.csrf();
    // Without the token: refused, nothing queued.
    let forged = dash.post(&format!("/dashboard/webhooks/erp/redeliver/{event}"), &[]).await;
    assert_eq!(forged.status.as_u16(), 403, "{}", forged.body);
    let redelivered = dash.post(&format!("/dashboard/webhooks/erp/redeliver/{event}"), &[("csrf", &csrf)]).await;
    assert_eq!(redelivered.status.as_u16(), 303, "{}", redelivered.body);
    assert_eq!(redelivered.location(), "/dashboard/webhooks/erp");
    let after = dash.get("/dashboard/webhooks/erp").await;
    assert_eq!(after.assert_html(200).matches("Redeliver event ").count(), 2, "a new delivery is listed");
    // Another tenant sees none of it.
    let (other_key, _) = app.seeded_tenant("globex").await;
    let mut other = Dash::new(&app);
    other.sign_in(&other_key).await;
    let theirs = other.get("/dashboard/webhooks").await;
    assert!(!theirs.assert_html(200).contains("127.0.0.1:9"));
    other.get("/dashboard/webhooks/erp").await.assert_html(404);
    let other_csrf = other.csrf().await;
    let foreign = other.post(&format!("/dashboard/webhooks/erp/redeliver/{event}"), &[("csrf", &other_csrf)]).await;
    foreign.assert_html(404);
}

/// An accepted (and, by the mock provider, confirmed) order of the tenant
/// whose key is `key` (store `main`, device `glasses` exist).
async fn tenant_with_order_of(app: &crate::helpers::TestApp, key: &str) -> (String, String, String) {
    let token = app.create_device(key, "glasses-2", "main").await;
    let intent = app.prompted(&token, "w-e1", "water_bottle").await;
    let decided = app.decide(&token, &intent, true, "GESTURE").await;
    let order = decided.assert_status(200)["order"]["order_id"].as_str().expect("order").to_owned();
    (key.to_owned(), token, order)
}

/// The first event id in a delivery table (the `code` under the event type).
fn first_event_id(body: &str) -> String {
    let marker = "Redeliver event ";
    let start = body.find(marker).expect("a redeliver button") + marker.len();
    body[start..].chars().take_while(|c| c.is_ascii_hexdigit() || *c == '-').collect()
}
