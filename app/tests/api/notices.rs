//! Changes made through one replica reach the caches and device actors of
//! another (two processes on one Postgres) at once, and a replica whose
//! notice listener is down trusts neither.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Api, TestApp, product_body};
use crate::replicas::{Replicas, cut_listeners, replicas};

const ADMIN: &str = "replica-admin-token-0123456789";

/// Time for a notice to cross from one process to the other. Device actors
/// never expire by time, so waiting this long alone cannot make them fresh.
const DELIVERY: Duration = Duration::from_millis(300);

/// Half the tenant snapshot's TTL: a change seen within it came by notice.
const BEFORE_THE_TTL: Duration = Duration::from_millis(1_000);

/// Tenant `acme`, seeded through replica A: stores `main` and `second`,
/// products for `water_bottle` and `soap_dispenser`, device `glasses` at
/// `main` for `household-1`.
struct Fleet {
    a: Api,
    b: Api,
    key: String,
    device: String,
    replicas: Replicas,
}

async fn fleet() -> Fleet {
    let replicas = replicas(ADMIN).await;
    let a = TestApp::remote(&replicas.a.address, ADMIN);
    let b = TestApp::remote(&replicas.b.address, ADMIN);
    let (key, device) = a.seeded_tenant("acme").await;
    a.put_store(&key, "second").await.assert_status(201);
    a.put_product(&key, "soap", "soap_dispenser", "SOAP-1").await.assert_status(201);
    Fleet { a, b, key, device, replicas }
}

/// Detects an empty `object_class` through `api` and accepts the prompt: the
/// order placed, as the merchant sees it.
async fn order(api: &Api, key: &str, device: &str, object_class: &str) -> Value {
    let prompt = api.detect(device, &format!("empty-{object_class}"), object_class, "EMPTY", "HIGH").await;
    let prompt = prompt.assert_status(200);
    assert_eq!(prompt["reason"], "PROMPT", "{prompt}");
    let intent = prompt["intent_id"].as_str().expect("intent id");
    let decided = api.decide(device, intent, true, "VOICE").await;
    let order_id = decided.assert_status(200)["order"]["order_id"].as_str().expect("order id").to_owned();
    api.call(Method::GET, &format!("/api/v1/orders/{order_id}"), Some(key), None).await.assert_status(200).clone()
}

fn store_and_owner(order: &Value) -> (&str, &str) {
    (order["store_id"].as_str().unwrap_or_default(), order["owner"].as_str().unwrap_or_default())
}

async fn move_glasses(api: &Api, store: &str, owner: &str) {
    let body = json!({"store": store, "owner": owner, "model": "spectacles-5"});
    api.admin(Method::PUT, "/admin/v1/tenants/acme/devices/glasses", Some(body)).await.assert_status(200);
}

async fn set_water_price(api: &Api, key: &str, usd: f64) {
    let mut body = product_body("water_bottle", "WATER-24");
    body["variants"][0]["unit_price_usd"] = json!(usd);
    api.call(Method::PUT, "/api/v1/products/water", Some(key), Some(body)).await.assert_status(200);
}

/// The water price `api` offers the device now (a full bottle: no prompt, nothing ordered).
async fn offered_water_price(api: &Api, device: &str, event: &str) -> f64 {
    let reply = api.detect(device, event, "water_bottle", "FULL", "HIGH").await;
    reply.assert_status(200)["product"]["unit_price_usd"].as_f64().expect("price")
}

/// Polls `probe` (given a fresh event id) until it holds; panics after [`BEFORE_THE_TTL`].
async fn within_the_ttl<F, Fut>(what: &str, probe: F) -> Duration
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    for attempt in 0.. {
        if probe(format!("{what}-{attempt}")).await {
            return started.elapsed();
        }
        assert!(started.elapsed() < BEFORE_THE_TTL, "{what}: the other replica did not hear of it");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    unreachable!()
}

#[tokio::test]
async fn a_device_moved_through_one_replica_orders_from_its_new_store_through_the_other() {
    let f = fleet().await;
    // Replica B's actor for the device now holds store `main` and `household-1`.
    let first = order(&f.b, &f.key, &f.device, "water_bottle").await;
    assert_eq!(store_and_owner(&first), ("main", "household-1"), "{first}");

    move_glasses(&f.a, "second", "household-2").await;
    tokio::time::sleep(DELIVERY).await;
    let second = order(&f.b, &f.key, &f.device, "soap_dispenser").await;
    assert_eq!(store_and_owner(&second), ("second", "household-2"), "{second}");
}

#[tokio::test]
async fn catalog_and_limit_changes_reach_the_other_replica_before_the_snapshot_expires() {
    let f = fleet().await;
    assert_eq!(offered_water_price(&f.b, &f.device, "warm").await, 12.99, "replica B caches the catalog");

    set_water_price(&f.a, &f.key, 14.99).await;
    let (b, device) = (&f.b, &f.device);
    let took =
        within_the_ttl("price", |event| async move { offered_water_price(b, device, &event).await == 14.99 }).await;
    println!("a catalog change reached replica B after {took:?}");

    let unsure = f.b.detect(&f.device, "unsure", "soap_dispenser", "EMPTY", "LOW").await;
    assert_ne!(unsure.assert_status(200)["reason"], "PROMPT", "low confidence does not prompt by default");
    f.a.set_limits("acme", json!({"prompt_on_low_confidence": true})).await;
    let took = within_the_ttl("limits", |event| async move {
        let reply = b.detect(device, &event, "soap_dispenser", "EMPTY", "LOW").await;
        reply.assert_status(200)["reason"] == "PROMPT"
    })
    .await;
    println!("a limit change reached replica B after {took:?}");
}

#[tokio::test]
async fn a_replica_without_its_notice_listener_trusts_neither_its_actors_nor_its_snapshots() {
    let f = fleet().await;
    let first = order(&f.b, &f.key, &f.device, "water_bottle").await;
    assert_eq!(store_and_owner(&first), ("main", "household-1"), "{first}");
    assert_eq!(offered_water_price(&f.b, &f.device, "warm").await, 12.99);

    cut_listeners(&f.replicas.db_url).await;
    // Long enough for the replicas to notice, well short of their reconnecting a second later.
    tokio::time::sleep(Duration::from_millis(100)).await;
    move_glasses(&f.a, "second", "household-2").await;
    set_water_price(&f.a, &f.key, 14.99).await;

    // No waiting: replica B cannot have heard of either change, yet serves neither stale.
    assert_eq!(offered_water_price(&f.b, &f.device, "after-cut").await, 14.99);
    let second = order(&f.b, &f.key, &f.device, "soap_dispenser").await;
    assert_eq!(store_and_owner(&second), ("second", "household-2"), "{second}");
}
