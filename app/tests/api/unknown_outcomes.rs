//! A provider that gives no definite answer (timeout, connection error, 5xx)
//! may have placed the order: it stays SUBMITTED and is asked again under the
//! same idempotency key, never failed and refunded on a guess.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::json;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{AppProcess, Backend, TestApp, TestDb, spawn_app_with};

/// A commerce provider on a local port that honours the idempotency key: the
/// first call for an order places it but answers only after `stall` (longer
/// than the app waits); every later call with that key answers at once with
/// the same order.
#[derive(Clone)]
struct Provider {
    /// The idempotency key of every call, in arrival order.
    calls: Arc<Mutex<Vec<String>>>,
    /// Orders placed, by idempotency key.
    placed: Arc<Mutex<HashMap<String, String>>>,
    stall: Duration,
}

impl Respond for Provider {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let key = request.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        self.calls.lock().unwrap().push(key.clone());
        let mut placed = self.placed.lock().unwrap();
        let first = !placed.contains_key(&key);
        let count = placed.len();
        let reference = placed.entry(key).or_insert_with(|| format!("prov-{count}")).clone();
        let answer = ResponseTemplate::new(200).set_body_json(json!({"provider_ref": reference, "eta": "2026-12-02"}));
        if first { answer.set_delay(self.stall) } else { answer }
    }
}

impl Provider {
    async fn start(stall: Duration) -> (Provider, MockServer) {
        let provider = Provider { calls: Arc::default(), placed: Arc::default(), stall };
        let server = MockServer::start().await;
        Mock::given(wiremock::matchers::method("POST")).respond_with(provider.clone()).mount(&server).await;
        (provider, server)
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn orders(&self) -> usize {
        self.placed.lock().unwrap().len()
    }
}

/// Points store `main` of the merchant `key` at the stand-in provider.
async fn use_provider(api: &crate::helpers::Api, key: &str, server: &MockServer) {
    let endpoint = format!("{}/orders", server.uri());
    let store = json!({"name": "Main", "timezone": "UTC", "commerce": {"provider": "http", "endpoint": endpoint}});
    api.call(Method::PUT, "/api/v1/stores/main", Some(key), Some(store)).await.assert_status(200);
}

/// Cents the tenant's households have committed: a refund would lower it.
async fn committed_cents(db_url: &str) -> i64 {
    use replenish_app::orders::entity::spend;
    let db = sea_orm::Database::connect(db_url).await.expect("test database");
    spend::Entity::find().all(&db).await.expect("spend").iter().map(|s| s.cents).sum()
}

async fn a_timeout_is_asked_again_and_confirmed_once(backend: Backend) {
    let (provider, server) = Provider::start(Duration::from_secs(30)).await;
    let app = spawn_app_with(backend, |s| {
        s.commerce_timeout_ms = 300;
        s.sweep_interval_secs = 1;
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    use_provider(&app, &key, &server).await;
    let intent = app.prompted(&device, "u-1", "water_bottle").await;

    let decided = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    assert_eq!(decided["order"]["status"], "SUBMITTED", "a timeout is no answer: {decided}");
    assert_eq!(decided["status"], "ORDERED");
    assert_eq!(decided["message"], "Placing your order…");
    let order = decided["order"]["order_id"].as_str().expect("order").to_owned();
    let again = app.detect(&device, "u-2", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(again.assert_status(200)["reason"], "ALREADY_ORDERED", "the wearer is not prompted a second time");
    assert_eq!(committed_cents(&app.db.url).await, 1299, "no refund for an unknown outcome");

    // The decision's claim lasts two provider deadlines; past it the sweeper asks again.
    app.advance(Duration::from_secs(1));
    app.eventually("the sweeper asked again and the provider confirmed", || async {
        let shown = app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&key), None).await;
        shown.body["status"] == "CONFIRMED"
    })
    .await;
    let calls = provider.calls();
    assert_eq!(calls, vec![order.clone(), order.clone()], "two calls, both under the order id");
    assert_eq!(provider.orders(), 1, "exactly one order at the provider");
    let shown = app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&key), None).await;
    assert_eq!(shown.assert_status(200)["provider_ref"], "prov-0");
    let intent_now = app.call(Method::GET, &format!("/api/v1/intents/{intent}"), Some(&device), None).await;
    assert_eq!(intent_now.assert_status(200)["status"], "CONFIRMED");
    assert_eq!(committed_cents(&app.db.url).await, 1299, "still no refund");
}

async fn a_replica_killed_between_the_calls_leaves_one_order(backend: Backend) {
    let (provider, server) = Provider::start(Duration::from_secs(30)).await;
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
    // A gives the provider 300 ms and never sweeps: its first call goes unanswered.
    let a = AppProcess::start(&env("300", "3600")).await;
    let api = TestApp::remote(&a.address, &admin);
    let (key, device) = api.seeded_tenant("acme").await;
    use_provider(&api, &key, &server).await;
    let intent = api.prompted(&device, "k-1", "water_bottle").await;
    let decided = api.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    assert_eq!(decided["order"]["status"], "SUBMITTED", "{decided}");
    assert_eq!(provider.calls().len(), 1, "A called the provider once");
    // Between the two calls, the replica that made the first one dies.
    a.sigkill();

    // B's claims lapse after two 300 ms deadlines and it sweeps every second.
    let b = AppProcess::start(&env("300", "1")).await;
    let api = TestApp::remote(&b.address, &admin);
    let order = provider.calls()[0].clone();
    let mut status = serde_json::Value::Null;
    for _ in 0..100 {
        let shown = api.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&key), None).await;
        status = shown.assert_status(200)["status"].clone();
        if status == "CONFIRMED" {
            break;
        }
        // Waits for B's sweeper (real time, another process), not a TTL.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "CONFIRMED", "B asked again and the provider confirmed");
    assert!(provider.calls().iter().all(|k| *k == order), "every call under the order id");
    assert_eq!(provider.orders(), 1, "exactly one order at the provider");
    assert_eq!(committed_cents(&db.url).await, 1299, "no refund");
    drop(b);
}

async fn no_answer_until_the_horizon_fails_and_refunds(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.commerce_timeout_ms = 300;
        s.sweep_interval_secs = 1;
        s.order_retry_horizon_secs = 60;
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.set_mock_outcome(&key, "timeout").await;
    let intent = app.prompted(&device, "h-1", "water_bottle").await;
    let decided = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    assert_eq!(decided["order"]["status"], "SUBMITTED");
    let order = decided["order"]["order_id"].as_str().expect("order").to_owned();

    // Past the horizon the next attempt that still gets no answer gives up and refunds.
    app.advance(Duration::from_secs(61));
    let shown = || async { app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&key), None).await };
    app.eventually("the order failed at the horizon", || async { shown().await.body["status"] == "FAILED" }).await;
    assert_eq!(shown().await.body["failure_reason"], "provider-unreachable");
    assert_eq!(committed_cents(&app.db.url).await, 0, "refunded");
}

async fn one_broken_order_does_not_stop_the_sweep(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.commerce_timeout_ms = 300;
        s.sweep_interval_secs = 1;
    })
    .await;
    let hanging =
        json!({"name": "Main", "timezone": "UTC", "commerce": {"provider": "mock", "mock_outcome": "timeout"}});
    let mut orders = Vec::new();
    // Alpha's order first, so the sweeper meets the broken one before the good one.
    for tenant in ["alpha", "bravo"] {
        let (key, device) = app.seeded_tenant(tenant).await;
        app.call(Method::PUT, "/api/v1/stores/main", Some(&key), Some(hanging.clone())).await.assert_status(200);
        let intent = app.prompted(&device, "b-1", "water_bottle").await;
        let decided = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
        assert_eq!(decided["order"]["status"], "SUBMITTED");
        orders.push((key, decided["order"]["order_id"].as_str().expect("order").to_owned()));
    }
    // Alpha's store settings no longer parse, so resubmitting its order errors;
    // bravo's provider now answers.
    let db = sea_orm::Database::connect(&app.db.url).await.expect("test database");
    use replenish_app::stores::entity as stores;
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    stores::Entity::update_many()
        .col_expr(stores::Column::CommerceSettings, Expr::value("not json"))
        .filter(stores::Column::TenantId.eq("alpha"))
        .exec(&db)
        .await
        .expect("break alpha's store");
    let (bravo_key, bravo_order) = &orders[1];
    app.put_store(bravo_key, "main").await.assert_status(200);

    app.advance(Duration::from_secs(1));
    app.eventually("bravo's order was confirmed despite alpha's", || async {
        let shown = app.call(Method::GET, &format!("/api/v1/orders/{bravo_order}"), Some(bravo_key), None).await;
        shown.body["status"] == "CONFIRMED"
    })
    .await;
    let (alpha_key, alpha_order) = &orders[0];
    let alpha = app.call(Method::GET, &format!("/api/v1/orders/{alpha_order}"), Some(alpha_key), None).await;
    assert_eq!(alpha.assert_status(200)["status"], "SUBMITTED", "still waiting for a definite answer");
}

async fn two_sweepers_never_claim_one_order_twice(backend: Backend) {
    // This app's own sweeper stays out of the way: the test sweeps by hand.
    let app = spawn_app_with(backend, |s| {
        s.commerce_timeout_ms = 300;
        s.sweep_interval_secs = 3600;
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.set_mock_outcome(&key, "timeout").await;
    let intent = app.prompted(&device, "c-1", "water_bottle").await;
    let decided = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    assert_eq!(decided["order"]["status"], "SUBMITTED");

    use replenish_app::db::scope::AcrossTenants;
    use replenish_app::orders::repo::placing::claim_unfinished;
    let db = sea_orm::Database::connect(&app.db.url).await.expect("test database");
    let lease = chrono::Duration::milliseconds(600);
    let fresh = app.clock.now();
    let held = claim_unfinished(&db, AcrossTenants, fresh, fresh - lease, 64).await.expect("claim");
    assert!(held.is_empty(), "the deciding replica's claim is still fresh");
    let later = fresh + chrono::Duration::seconds(1);
    let (a, b) = tokio::join!(
        claim_unfinished(&db, AcrossTenants, later, later - lease, 64),
        claim_unfinished(&db, AcrossTenants, later, later - lease, 64),
    );
    assert_eq!(a.expect("claim a").len() + b.expect("claim b").len(), 1, "one sweeper got the order");
}

on_both_backends!(
    a_timeout_is_asked_again_and_confirmed_once,
    a_replica_killed_between_the_calls_leaves_one_order,
    no_answer_until_the_horizon_fails_and_refunds,
    one_broken_order_does_not_stop_the_sweep,
    two_sweepers_never_claim_one_order_twice,
);
