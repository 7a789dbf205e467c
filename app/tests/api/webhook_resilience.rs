//! The webhook provider when things go wrong around it: the app killed with
//! calls in flight, and a merchant failing long enough to open its store's
//! circuit breaker.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use wiremock::ResponseTemplate;

use crate::helpers::{AppProcess, Backend, TestApp, TestDb, spawn_app_with};
use crate::webhook_merchant::{Merchant, committed_cents, use_webhook};

async fn sigkill_with_webhook_calls_in_flight_loses_no_order(backend: Backend) {
    // The first call of every order hangs: A is killed while they are in flight.
    let merchant = Merchant::on_real_time().stalling_first_calls(Duration::from_secs(60));
    let server = merchant.start().await;
    let db = TestDb::create(backend).await;
    let admin = format!("test-admin-{}", uuid::Uuid::new_v4().simple());
    let env = |timeout_ms: &str, sweep_secs: &str| {
        vec![
            ("DATABASE_URL", db.url.clone()),
            ("REPLENISH_ADMIN_TOKEN", admin.clone()),
            ("REPLENISH_IP_PER_MINUTE", "10000000".to_owned()),
            ("REPLENISH_COMMERCE_TIMEOUT_MS", timeout_ms.to_owned()),
            ("REPLENISH_SWEEP_INTERVAL_SECS", sweep_secs.to_owned()),
        ]
    };
    let a = AppProcess::start(&env("30000", "3600")).await;
    let api = TestApp::remote(&a.address, &admin);
    let (key, first) = api.seeded_tenant("acme").await;
    let mut devices = vec![first];
    for n in 2..=3 {
        devices.push(api.add_device(&key, &format!("glasses-{n}"), &format!("household-{n}")).await);
    }
    let mut intents = Vec::new();
    for device in &devices {
        intents.push(api.prompted(device, "k-1", "water_bottle").await);
    }
    use_webhook(&api, &key, &server.uri()).await;
    // Three wearers accept; their decisions wait on the hanging calls.
    let mut pending = Vec::new();
    for (device, intent) in devices.iter().zip(&intents) {
        let (api, device, intent) = (api.clone(), device.clone(), intent.clone());
        pending.push(tokio::spawn(async move { api.decide(&device, &intent, true, "VOICE").await }));
    }
    for _ in 0..100 {
        if merchant.calls().len() == 3 {
            break;
        }
        // Waits for A (another process) to make its calls.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let in_flight: Vec<String> = merchant.calls().into_iter().map(|c| c.key).collect();
    assert_eq!(in_flight.len(), 3, "three calls in flight");
    a.sigkill();
    for decision in pending {
        let _ = decision.await;
    }
    assert_eq!(committed_cents(&db.url).await, 3 * 1299, "nothing refunded by the crash");

    // B sweeps every second; A's claims lapse after two of B's 300 ms deadlines.
    let b = AppProcess::start(&env("300", "1")).await;
    let api = TestApp::remote(&b.address, &admin);
    for id in &in_flight {
        let mut status = Value::Null;
        for _ in 0..150 {
            let shown = api.call(Method::GET, &format!("/api/v1/orders/{id}"), Some(&key), None).await;
            status = shown.assert_status(200)["status"].clone();
            if status != "SUBMITTED" && status != "PENDING" {
                break;
            }
            assert_eq!(committed_cents(&db.url).await, 3 * 1299, "no refund while the outcome is unknown");
            // Waits for B's sweeper (another process).
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(status, "CONFIRMED", "order {id} reached the merchant after the restart");
    }
    let calls = merchant.calls();
    assert!(calls.iter().all(|c| in_flight.contains(&c.key) && c.verified), "same keys, all signed: {calls:?}");
    assert_eq!(merchant.orders(), 3, "each order placed once");
    assert_eq!(committed_cents(&db.url).await, 3 * 1299, "none refunded");
    drop(b);
}

/// The value of the metric line starting with `name` (labels included), or 0.
fn metric(text: &str, name: &str) -> f64 {
    text.lines().find(|l| l.starts_with(name)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

async fn the_breaker_opens_and_orders_resume_after_it_closes(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.commerce_timeout_ms = 1_000;
        s.sweep_interval_secs = 1;
        s.merchant_calls.commerce_breaker_failures = 2;
        s.merchant_calls.commerce_breaker_open_secs = 300;
        // No retry while the three orders are placed: the script is for their first calls.
        s.merchant_calls.commerce_retry_base_ms = 60_000;
    })
    .await;
    let clock = app.clock.clone();
    let merchant = Merchant::new(move || clock.now().timestamp());
    // Failing: the two calls that open the breaker get 500s.
    merchant.then([ResponseTemplate::new(500), ResponseTemplate::new(500)]);
    let server = merchant.start().await;
    let (key, first) = app.seeded_tenant("acme").await;
    use_webhook(&app, &key, &server.uri()).await;
    let mut devices = vec![first];
    for n in 2..=3 {
        devices.push(app.add_device(&key, &format!("glasses-{n}"), &format!("household-{n}")).await);
    }
    let mut orders = Vec::new();
    for device in &devices {
        let intent = app.prompted(device, "b-1", "water_bottle").await;
        let decided = app.decide(device, &intent, true, "VOICE").await.assert_status(200).clone();
        assert_eq!(decided["order"]["status"], "SUBMITTED", "{decided}");
        orders.push(decided["order"]["order_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(merchant.calls().len(), 2, "the third order was held by the open breaker, not sent");
    let text = app.metrics().await.raw;
    assert_eq!(metric(&text, "replenish_merchant_breakers_open "), 1.0, "{text}");
    assert_eq!(metric(&text, "replenish_merchant_calls_total{outcome=\"held\"}"), 1.0);
    assert_eq!(metric(&text, "replenish_merchant_calls_total{outcome=\"unknown\"}"), 2.0);

    // While it is open the sweeper sends nothing, even when the orders' backoff is over.
    app.advance(Duration::from_secs(120));
    app.eventually("the sweeper found the breaker open", || async {
        metric(&app.metrics().await.raw, "replenish_merchant_calls_total{outcome=\"held\"}") >= 3.0
    })
    .await;
    assert_eq!(merchant.calls().len(), 2, "nothing sent while open");

    // After the cool-down one trial call closes it, and every order goes through.
    app.advance(Duration::from_secs(200));
    for id in &orders {
        for _ in 0..100 {
            let shown = app.call(Method::GET, &format!("/api/v1/orders/{id}"), Some(&key), None).await;
            if shown.body["status"] == "CONFIRMED" {
                break;
            }
            app.advance(Duration::from_secs(5));
            // Waits for the sweeper, which runs on real time.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for id in &orders {
        let shown = app.call(Method::GET, &format!("/api/v1/orders/{id}"), Some(&key), None).await;
        assert_eq!(shown.body["status"], "CONFIRMED", "{id} resumed after the breaker closed");
    }
    assert_eq!(merchant.orders(), 3);
    assert_eq!(committed_cents(&app.db.url).await, 3 * 1299, "none refunded");
    let text = app.metrics().await.raw;
    assert_eq!(metric(&text, "replenish_merchant_breakers_open "), 0.0, "closed again");
    assert!(metric(&text, "replenish_merchant_breaker_changes_total{status=\"closed\"}") >= 1.0, "{text}");
}

on_both_backends!(
    sigkill_with_webhook_calls_in_flight_loses_no_order,
    the_breaker_opens_and_orders_resume_after_it_closes,
);
