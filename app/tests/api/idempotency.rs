//! `Idempotency-Key` on merchant and admin POSTs: replay, reuse, concurrency,
//! expiry, tenant isolation.

use std::time::Duration;

use reqwest::Method;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Api, Backend, Reply, TestApp, spawn_app, spawn_app_with};

impl Api {
    /// POSTs `body` with `Idempotency-Key: key`.
    async fn keyed_post(&self, path: &str, token: &str, key: &str, body: &Value) -> Reply {
        let request = self
            .client
            .post(format!("{}{path}", self.address))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(body);
        Reply::read(request.send().await.expect("request sent")).await
    }
}

fn device(id: &str) -> Value {
    json!({"device_id": id, "store": "main", "owner": "household-1", "model": "spectacles-5"})
}

fn replayed(reply: &Reply) -> bool {
    reply.headers.get("idempotent-replayed").is_some_and(|v| v == "true")
}

/// A tenant with store `main`; its API key.
async fn merchant(app: &TestApp, tenant: &str) -> String {
    let key = app.create_tenant(tenant).await;
    app.put_store(&key, "main").await.assert_status(201);
    key
}

async fn connect(app: &TestApp) -> DatabaseConnection {
    Database::connect(&app.db.url).await.expect("test database")
}

async fn key_rows(db: &DatabaseConnection, key: &str) -> i64 {
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => "SELECT COUNT(*) AS n FROM idempotency_keys WHERE idem_key = $1",
        _ => "SELECT COUNT(*) AS n FROM idempotency_keys WHERE idem_key = ?",
    };
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, [key.into()]);
    let row = db.query_one_raw(statement).await.expect("count").expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

/// The motivating case: the response of `POST /api/v1/devices` is lost; the
/// retry with the same key gets the same one-time token instead of a 409.
async fn a_retry_replays_the_one_time_device_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = merchant(&app, "acme").await;

    let first = app.keyed_post("/api/v1/devices", &key, "register-glasses-1", &device("glasses")).await;
    let token = first.assert_status(201)["token"].as_str().expect("token").to_owned();
    assert!(!replayed(&first), "{first:?}");

    let retry = app.keyed_post("/api/v1/devices", &key, "\"register-glasses-1\"", &device("glasses")).await;
    assert_eq!(retry.assert_status(201)["token"], token.as_str(), "the same token, not a new one");
    assert!(replayed(&retry), "{retry:?}");
    assert_eq!(retry.raw, first.raw, "the stored body, byte for byte");
    assert_eq!(retry.content_type, first.content_type);
    app.call(Method::GET, "/api/v1/device", Some(&token), None).await.assert_status(200);

    // Without a key the same request is what it always was: a conflict.
    app.call(Method::POST, "/api/v1/devices", Some(&key), Some(device("glasses")))
        .await
        .assert_problem(409, "device-exists");
}

/// A batch body far over the ordinary body limit (1,000 devices, ~100 KB) is
/// fingerprinted and its 1,000 tokens replayed.
async fn a_large_batch_is_replayed_whole(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = merchant(&app, "acme").await;
    let devices: Vec<Value> = (0..1000).map(|i| device(&format!("glasses-{i}"))).collect();
    let body = json!({ "devices": devices });
    assert!(serde_json::to_vec(&body).expect("json").len() > app.settings.body_limit_bytes);
    let first = app.keyed_post("/api/v1/devices:batch", &key, "fleet-1", &body).await;
    first.assert_status(201);
    let retry = app.keyed_post("/api/v1/devices:batch", &key, "fleet-1", &body).await;
    assert_eq!(retry.raw, first.raw, "the same 1,000 tokens");
    assert!(replayed(&retry));
}

async fn the_same_key_on_another_request_is_422(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = merchant(&app, "acme").await;
    app.keyed_post("/api/v1/devices", &key, "k-1", &device("one")).await.assert_status(201);

    let other_body = app.keyed_post("/api/v1/devices", &key, "k-1", &device("two")).await;
    other_body.assert_problem(422, "idempotency-key-reused");
    let other_path = app.keyed_post("/api/v1/devices:batch", &key, "k-1", &json!({"devices": [device("two")]})).await;
    other_path.assert_problem(422, "idempotency-key-reused");
    app.call(Method::GET, "/api/v1/devices/two", Some(&key), None).await.assert_problem(404, "not-found");
}

/// A key in progress (here: claimed by a request on another replica that is
/// still running, written as that replica would) refuses a duplicate with 409;
/// once the claim is older than any request can take, a retry takes it over.
async fn a_duplicate_of_a_request_in_progress_is_409(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = merchant(&app, "acme").await;
    let body = device("glasses");
    let fingerprint = hex::encode(Sha256::digest(serde_json::to_vec(&body).expect("json")));
    let db = connect(&app).await;
    let now = app.clock.now();
    let sql = match db.get_database_backend() {
        DbBackend::Postgres => {
            "INSERT INTO idempotency_keys (principal, idem_key, claim_id, method, path, fingerprint, created_at, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        }
        _ => {
            "INSERT INTO idempotency_keys (principal, idem_key, claim_id, method, path, fingerprint, created_at, \
             expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        }
    };
    let values: [sea_orm::Value; 8] = [
        "tenant:acme".into(),
        "in-flight".into(),
        uuid::Uuid::new_v4().into(),
        "POST".into(),
        "/api/v1/devices".into(),
        fingerprint.into(),
        now.into(),
        (now + chrono::Duration::days(1)).into(),
    ];
    db.execute_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values)).await.expect("insert");

    let duplicate = app.keyed_post("/api/v1/devices", &key, "in-flight", &body).await;
    duplicate.assert_problem(409, "idempotency-key-in-progress");
    let other = app.keyed_post("/api/v1/devices", &key, "in-flight", &device("other")).await;
    other.assert_problem(422, "idempotency-key-reused");

    // The other replica died: after the stale period the key is taken over and the request runs.
    app.advance(Duration::from_secs(6 * 60));
    let retry = app.keyed_post("/api/v1/devices", &key, "in-flight", &body).await;
    retry.assert_status(201);
    assert!(!replayed(&retry));
}

/// Two real concurrent requests: the first is held inside its handler by a
/// lock this test holds on the tenant row (registration takes it `FOR SHARE`);
/// the duplicate arrives meanwhile. Postgres only: SQLite has one writer, so
/// holding its lock would stop the first request before it claims the key.
async fn concurrent_duplicates_get_409_then_the_replay(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = merchant(&app, "acme").await;
    let db = connect(&app).await;
    let lock = db.begin().await.expect("begin");
    lock.execute_unprepared("SELECT id FROM tenants WHERE id = 'acme' FOR UPDATE").await.expect("lock tenant");

    let first = {
        let api = TestApp::remote(&app.address, &app.admin_token);
        let key = key.clone();
        tokio::spawn(async move { api.keyed_post("/api/v1/devices", &key, "together", &device("glasses")).await })
    };
    app.eventually("the first request holds the key", || async { key_rows(&db, "together").await == 1 }).await;
    let duplicate = app.keyed_post("/api/v1/devices", &key, "together", &device("glasses")).await;
    duplicate.assert_problem(409, "idempotency-key-in-progress");

    lock.rollback().await.expect("release the tenant");
    let first = first.await.expect("first request");
    let token = first.assert_status(201)["token"].clone();
    let replay = app.keyed_post("/api/v1/devices", &key, "together", &device("glasses")).await;
    assert_eq!(replay.assert_status(201)["token"], token);
    assert!(replayed(&replay));
}

/// Keys are kept 24 hours (the test clock moves), then pruned and free again.
async fn keys_lapse_after_24_hours_and_are_pruned(backend: Backend) {
    let app = spawn_app_with(backend, |settings| settings.sweep_interval_secs = 1).await;
    let key = merchant(&app, "acme").await;
    let db = connect(&app).await;
    app.keyed_post("/api/v1/devices", &key, "day-one", &device("one")).await.assert_status(201);
    app.keyed_post("/api/v1/devices", &key, "pruned", &device("two")).await.assert_status(201);

    app.advance(Duration::from_secs(23 * 3600));
    app.keyed_post("/api/v1/devices", &key, "day-one", &device("three"))
        .await
        .assert_problem(422, "idempotency-key-reused");

    app.advance(Duration::from_secs(3600 + 1));
    app.eventually("the lapsed key is pruned", || async { key_rows(&db, "pruned").await == 0 }).await;
    let reused = app.keyed_post("/api/v1/devices", &key, "day-one", &device("three")).await;
    reused.assert_status(201);
    assert!(!replayed(&reused));
}

async fn tenants_keys_are_independent(backend: Backend) {
    let app = spawn_app(backend).await;
    let acme = merchant(&app, "acme").await;
    let globex = merchant(&app, "globex").await;
    let a = app.keyed_post("/api/v1/devices", &acme, "shared-key", &device("glasses")).await;
    let b = app.keyed_post("/api/v1/devices", &globex, "shared-key", &device("glasses")).await;
    let (a, b) = (a.assert_status(201)["token"].clone(), b.assert_status(201)["token"].clone());
    assert_ne!(a, b);
    let c = app.keyed_post("/api/v1/devices", &globex, "shared-key", &device("glasses")).await;
    assert_eq!(c.assert_status(201)["token"], b, "globex's own replay");
}

/// A 4xx is stored and replayed like any answer (as Stripe does): the retry
/// does not run again even after the cause is fixed; a new key does.
async fn a_client_error_is_replayed_as_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;
    let first = app.keyed_post("/api/v1/devices", &key, "early", &device("glasses")).await;
    assert!(first.status.is_client_error(), "no store `main` yet: {first:?}");
    app.put_store(&key, "main").await.assert_status(201);

    let retry = app.keyed_post("/api/v1/devices", &key, "early", &device("glasses")).await;
    assert_eq!(retry.status, first.status);
    assert_eq!(retry.raw, first.raw);
    assert_eq!(retry.content_type, "application/problem+json");
    assert!(replayed(&retry));
    app.keyed_post("/api/v1/devices", &key, "later", &device("glasses")).await.assert_status(201);
}

async fn admin_posts_are_covered(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_tenant("acme").await;
    let path = "/admin/v1/tenants/acme/api-keys";
    let first = app.keyed_post(path, &app.admin_token, "rotate-1", &json!({"grace_period_seconds": 60})).await;
    let first_key = first.assert_status(201)["api_key"].clone();
    let retry = app.keyed_post(path, &app.admin_token, "rotate-1", &json!({"grace_period_seconds": 60})).await;
    assert_eq!(retry.assert_status(201)["api_key"], first_key, "rotated once, not twice");
    assert!(replayed(&retry));
    let key = first_key.as_str().expect("api key");
    app.call(Method::GET, "/api/v1/devices", Some(key), None).await.assert_status(200);
}

async fn malformed_keys_are_400(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = merchant(&app, "acme").await;
    for bad in ["", "\"\"", "has space", "k".repeat(256).as_str()] {
        let reply = app.keyed_post("/api/v1/devices", &key, bad, &device("glasses")).await;
        reply.assert_problem(400, "invalid-idempotency-key");
    }
    app.keyed_post("/api/v1/devices", &key, &"k".repeat(255), &device("glasses")).await.assert_status(201);
}

/// Devices' POSTs have idempotency of their own (event ids): their keys are not stored.
async fn device_posts_are_not_covered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = app.seeded_tenant("acme").await;
    let detection = json!({"event_id": "e-1", "object_class": "water_bottle", "fill_level": "FULL",
        "confidence": "HIGH", "captured_at_ms": crate::helpers::now_ms()});
    let reply = app.keyed_post("/api/v1/detections", &token, "device-key", &detection).await;
    reply.assert_status(200);
    assert!(!replayed(&reply));
    assert_eq!(key_rows(&connect(&app).await, "device-key").await, 0);
}

on_both_backends!(
    a_retry_replays_the_one_time_device_token,
    a_large_batch_is_replayed_whole,
    the_same_key_on_another_request_is_422,
    a_duplicate_of_a_request_in_progress_is_409,
    keys_lapse_after_24_hours_and_are_pruned,
    tenants_keys_are_independent,
    a_client_error_is_replayed_as_stored,
    admin_posts_are_covered,
    malformed_keys_are_400,
    device_posts_are_not_covered,
);

#[tokio::test]
async fn postgres_concurrent_duplicates_get_409_then_the_replay() {
    concurrent_duplicates_get_409_then_the_replay(Backend::Postgres).await
}
