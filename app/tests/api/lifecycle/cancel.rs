//! The cancel window: inside it an order is cancelled — before it is sent
//! (with a submit delay the provider never sees it) or after (cancelled at
//! the provider) — and the budget comes back exactly once; after it, 409.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::{accepted, cancel, committed_cents, detect_at, order, order_of, timeline};
use crate::helpers::{Backend, now_ms, spawn_app, spawn_app_with};

/// A merchant's order endpoint on a local port that records every order's idempotency key.
#[derive(Clone, Default)]
struct Merchant {
    keys: Arc<Mutex<Vec<String>>>,
}

impl Respond for Merchant {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let key = request.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        self.keys.lock().unwrap().push(key.clone());
        ResponseTemplate::new(200).set_body_json(json!({"provider_ref": format!("m-{key}"), "eta": "2026-12-02"}))
    }
}

impl Merchant {
    async fn start() -> (Merchant, MockServer) {
        let merchant = Merchant::default();
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("POST")).respond_with(merchant.clone()).mount(&server).await;
        (merchant, server)
    }

    fn keys(&self) -> Vec<String> {
        self.keys.lock().unwrap().clone()
    }
}

async fn cancelled_before_sending_never_reaches_the_merchant(backend: Backend) {
    let (merchant, server) = Merchant::start().await;
    let app = spawn_app_with(backend, |s| s.sweep_interval_secs = 1).await;
    let (key, device) = app.seeded_tenant("acme").await;
    let store = json!({"name": "Main", "timezone": "UTC",
        "commerce": {"provider": "http", "endpoint": format!("{}/orders", server.uri())}});
    app.call(Method::PUT, "/api/v1/stores/main", Some(&key), Some(store)).await.assert_status(200);
    // $20 a day: a second $12.99 order fits only if the first was refunded.
    let limits = json!({"cooldown_seconds": 0, "submit_delay_seconds": 60, "daily_order_budget_usd": 20.0});
    app.set_limits("acme", limits).await;

    let held = accepted(&app, &device, "ev-1", "water_bottle", "ACCEPTED").await;
    assert_eq!(held["order"]["status"], "PENDING", "held for the submit delay: {held}");
    let first = order_of(&held);
    cancel(&app, &device, &first, json!({"reason": "oops"})).await.assert_problem(422, "validation-failed");
    let cancelled = cancel(&app, &device, &first, json!({"channel": "VOICE"})).await;
    let cancelled = cancelled.assert_status(200).clone();
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(timeline(&cancelled), ["PENDING", "CANCELLED"]);
    assert_eq!(cancelled["timeline"][1]["details"]["channel"], "VOICE");
    assert_eq!(cancelled["timeline"][1]["details"]["by"], "device");
    // Again, by the device or the merchant: the same answer, no second refund.
    let again = cancel(&app, &key, &first, json!({})).await;
    assert_eq!(timeline(again.assert_status(200)), ["PENDING", "CANCELLED"]);
    assert_eq!(committed_cents(&app.db.url).await, 0, "refunded exactly once");

    // A cancelled order is not on its way: the household may order again, within the budget.
    let second = order_of(&accepted(&app, &device, "ev-2", "water_bottle", "ACCEPTED").await);
    app.advance(Duration::from_secs(61));
    app.eventually("the second order reaches the merchant when due", || async {
        order(&app, &key, &second).await.body["status"] == "CONFIRMED"
    })
    .await;
    assert_eq!(merchant.keys(), std::slice::from_ref(&second), "the cancelled order was never sent, the held one once");
    let seen = order(&app, &device, &first).await;
    assert_eq!(seen.assert_status(200)["status"], "CANCELLED", "still cancelled after the sweeps");
    // A cooldown of 0 and the order on its way: no third prompt, so the budget is not tested further.
    let held = detect_at(&app, &device, "ev-3", "water_bottle", 61_000).await;
    assert_eq!(held.assert_status(200)["reason"], "ORDER_IN_PROGRESS");
}

async fn cancelled_after_sending_is_cancelled_at_the_provider(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.put_product(&key, "soap", "soap_dispenser", "SOAP-1").await.assert_status(201);
    app.set_limits("acme", json!({"cooldown_seconds": 0, "daily_order_budget_usd": 20.0})).await;
    let first = order_of(&accepted(&app, &device, "ev-1", "water_bottle", "CONFIRMED").await);

    // Another device (even of the household) cannot cancel it; the merchant can.
    let sibling = app.add_device(&key, "glasses-2", "household-1").await;
    cancel(&app, &sibling, &first, json!({"channel": "GESTURE"})).await.assert_problem(404, "not-found");
    let (other_key, _) = app.seeded_tenant("globex").await;
    cancel(&app, &other_key, &first, json!({})).await.assert_problem(404, "not-found");
    let by_merchant = cancel(&app, &key, &first, json!({"reason": "out of stock"})).await;
    let by_merchant = by_merchant.assert_status(200).clone();
    assert_eq!(timeline(&by_merchant), ["PENDING", "SUBMITTED", "CONFIRMED", "CANCELLED"]);
    assert_eq!(by_merchant["timeline"][3]["details"]["by"], "merchant");
    let again = cancel(&app, &device, &first, json!({"channel": "GESTURE"})).await;
    assert_eq!(again.assert_status(200)["status"], "CANCELLED");
    assert_eq!(committed_cents(&app.db.url).await, 0, "refunded exactly once");
    // The refund is spendable: a $12.99 order fits the $20 budget again, a second does not.
    accepted(&app, &device, "ev-2", "water_bottle", "CONFIRMED").await;
    let intent = app.prompted(&device, "ev-3", "soap_dispenser").await;
    app.decide(&device, &intent, true, "VOICE").await.assert_problem(422, "budget-exceeded");
}

async fn after_the_window_an_order_stands(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.set_limits("acme", json!({"cooldown_seconds": 0, "cancel_window_seconds": 600})).await;
    let id = order_of(&accepted(&app, &device, "ev-1", "water_bottle", "CONFIRMED").await);
    app.advance(Duration::from_secs(601));
    cancel(&app, &device, &id, json!({"channel": "VOICE"})).await.assert_problem(409, "cancel-window-closed");
    cancel(&app, &key, &id, json!({})).await.assert_problem(409, "cancel-window-closed");
    assert_eq!(committed_cents(&app.db.url).await, 1299, "no refund");
    let seen = order(&app, &device, &id).await;
    assert_eq!(timeline(seen.assert_status(200)), ["PENDING", "SUBMITTED", "CONFIRMED"]);

    // A window of 0 switches cancelling off; a shipped order is the merchant's to cancel or refund.
    app.set_limits("acme", json!({"cooldown_seconds": 0, "cancel_window_seconds": 0})).await;
    let body = json!({"status": "DELIVERED"});
    let path = format!("/api/v1/orders/{id}/status");
    app.call(Method::POST, &path, Some(&key), Some(body)).await.assert_status(200);
    let detection = json!({"event_id": "ev-2", "object_class": "water_bottle", "fill_level": "EMPTY",
        "confidence": "HIGH", "captured_at_ms": now_ms() + 601_000});
    let prompt = app.call(Method::POST, "/api/v1/detections", Some(&device), Some(detection)).await;
    let intent = prompt.assert_status(200)["intent_id"].as_str().expect("a prompt after delivery").to_owned();
    let body = json!({"intent_id": intent, "accepted": true, "channel": "VOICE", "decided_at_ms": now_ms() + 601_000});
    let placed = app.call(Method::POST, "/api/v1/decisions", Some(&device), Some(body)).await;
    let second = order_of(placed.assert_status(200));
    cancel(&app, &device, &second, json!({"channel": "VOICE"})).await.assert_problem(409, "cancel-window-closed");
    app.set_limits("acme", json!({"cooldown_seconds": 0})).await;
    app.call(Method::POST, &format!("/api/v1/orders/{second}/status"), Some(&key), Some(json!({"status": "SHIPPED"})))
        .await
        .assert_status(200);
    cancel(&app, &device, &second, json!({"channel": "VOICE"})).await.assert_problem(409, "invalid-transition");
}

on_both_backends!(
    cancelled_before_sending_never_reaches_the_merchant,
    cancelled_after_sending_is_cancelled_at_the_provider,
    after_the_window_an_order_stands,
);
