//! Test devices rehearse a fleet: their orders go to the mock provider
//! whatever the store uses, spend no budget, count as no business in the
//! summary, and say `test: true` wherever they are listed.

use std::sync::{Arc, Mutex};

use reqwest::Method;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{accepted, committed_cents, order, order_of};
use crate::helpers::{Backend, spawn_app};

/// A merchant endpoint that counts the orders it receives.
#[derive(Clone, Default)]
struct Counter(Arc<Mutex<usize>>);

impl Respond for Counter {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        *self.0.lock().unwrap() += 1;
        ResponseTemplate::new(200).set_body_json(json!({"provider_ref": "real", "eta": "2026-12-02"}))
    }
}

async fn test_devices_are_counted_nowhere(backend: Backend) {
    let counter = Counter::default();
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::method("POST")).respond_with(counter.clone()).mount(&server).await;
    let app = spawn_app(backend).await;
    let (key, real) = app.seeded_tenant("acme").await;
    app.put_product(&key, "soap", "soap_dispenser", "SOAP-1").await.assert_status(201);
    let store = json!({"name": "Main", "timezone": "UTC",
        "commerce": {"provider": "http", "endpoint": format!("{}/orders", server.uri())}});
    app.call(Method::PUT, "/api/v1/stores/main", Some(&key), Some(store)).await.assert_status(200);
    // $20 a day for the household: two $12.99 orders fit only if the test order spends nothing.
    app.set_limits("acme", json!({"daily_order_budget_usd": 20.0})).await;

    let body = json!({"device_id": "rehearsal", "store": "main", "owner": "household-1", "model": "spectacles-5",
        "test": true});
    let registered = app.call(Method::POST, "/api/v1/devices", Some(&key), Some(body)).await;
    let registered = registered.assert_status(201).clone();
    assert_eq!(registered["test"], true);
    let rehearsal = registered["token"].as_str().expect("token").to_owned();
    let batch = json!({"devices": [
        {"device_id": "fleet-1", "store": "main", "owner": "h-9", "model": "spectacles-5", "test": true},
        {"device_id": "fleet-2", "store": "main", "owner": "h-9", "model": "spectacles-5"}]});
    let batch = app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(batch)).await;
    let batch = batch.assert_status(201).clone();
    assert_eq!(
        (batch["devices"][0]["test"].as_bool(), batch["devices"][1]["test"].as_bool()),
        (Some(true), Some(false))
    );
    let listed = app.call(Method::GET, "/api/v1/devices", Some(&key), None).await;
    let tests: Vec<bool> = listed.assert_status(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|d| d["test"].as_bool().expect("test flag"))
        .collect();
    assert_eq!(tests, [true, false, false, true], "fleet-1, fleet-2, glasses, rehearsal");

    let test_order = accepted(&app, &rehearsal, "t-1", "water_bottle", "CONFIRMED").await;
    let test_order = order_of(&test_order);
    let seen = order(&app, &key, &test_order).await;
    let seen = seen.assert_status(200);
    assert_eq!((seen["test"].as_bool(), seen["provider"].as_str()), (Some(true), Some("mock")));
    assert_eq!(*counter.0.lock().unwrap(), 0, "the merchant never sees a test order");
    assert_eq!(committed_cents(&app.db.url).await, 0, "a test order spends no budget");

    // The household's real device still has its whole $20.
    accepted(&app, &real, "r-1", "soap_dispenser", "CONFIRMED").await;
    assert_eq!(*counter.0.lock().unwrap(), 1);
    assert_eq!(committed_cents(&app.db.url).await, 1299);
    let orders = app.call(Method::GET, "/api/v1/orders", Some(&key), None).await;
    let flags: Vec<(String, bool)> = orders.assert_status(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| (o["device_id"].as_str().unwrap_or_default().to_owned(), o["test"].as_bool().unwrap_or_default()))
        .collect();
    assert_eq!(flags, [("glasses".to_owned(), false), ("rehearsal".to_owned(), true)], "newest first");
    let summary = app.summary(&key).await;
    assert_eq!(summary["orders_confirmed"], 1, "only the real order is business: {summary}");
    assert_eq!(summary["test_orders"], 1, "{summary}");
    // A cancelled test order gives back nothing it never took.
    super::cancel(&app, &rehearsal, &test_order, json!({"channel": "GESTURE"})).await.assert_status(200);
    assert_eq!(committed_cents(&app.db.url).await, 1299);
}

on_both_backends!(test_devices_are_counted_nowhere);
