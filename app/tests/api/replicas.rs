//! Two replicas (separate processes) on one Postgres and one Redis.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::{AppProcess, Backend, TestApp, TestDb, now_ms, redis_url, unique_redis_prefix};

pub(crate) async fn call(
    client: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, format!("{base}{path}")).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("sent");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn detection(event_id: &str) -> Value {
    json!({"event_id": event_id, "object_class": "water_bottle", "fill_level": "EMPTY", "confidence": "HIGH", "captured_at_ms": now_ms()})
}

pub(crate) struct Replicas {
    pub(crate) a: AppProcess,
    pub(crate) b: AppProcess,
    pub(crate) db_url: String,
    _db: TestDb,
}

pub(crate) async fn replicas(admin_token: &str) -> Replicas {
    let db = TestDb::create(Backend::Postgres).await;
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("REDIS_URL", redis_url()),
        ("REPLENISH_REDIS_PREFIX", unique_redis_prefix()),
        ("REPLENISH_ADMIN_TOKEN", admin_token.to_owned()),
        ("REPLENISH_IP_PER_MINUTE", "10000000".to_owned()),
    ];
    // One after the other, so only the first applies the migrations.
    let a = AppProcess::start(&env).await;
    let b = AppProcess::start(&env).await;
    Replicas { a, b, db_url: db.url.clone(), _db: db }
}

/// Seeds a tenant through replica A's API with the test helpers (same HTTP calls).
async fn seed(base: &str, admin_token: &str) -> (String, String) {
    let app = TestApp::remote(base, admin_token);
    app.seeded_tenant("acme").await
}

#[tokio::test]
async fn concurrent_identical_requests_make_one_intent_and_one_order() {
    let admin = "replica-admin-token-0123456789".to_owned();
    let r = replicas(&admin).await;
    let (key, device) = seed(&r.a.address, &admin).await;
    let client = reqwest::Client::new();

    for round in 0..5 {
        // The same event at both replicas at the same instant.
        let event = format!("same-{round}");
        let body = detection(&event);
        let (a, b) = tokio::join!(
            call(&client, &r.a.address, Method::POST, "/api/v1/detections", &device, Some(body.clone())),
            call(&client, &r.b.address, Method::POST, "/api/v1/detections", &device, Some(body)),
        );
        assert_eq!(a.0, StatusCode::OK, "{a:?}");
        assert_eq!(a, b, "one event, one answer, whichever replica got it");
        // Different events at both replicas at once: still one open intent.
        let (c, d) = tokio::join!(
            call(
                &client,
                &r.a.address,
                Method::POST,
                "/api/v1/detections",
                &device,
                Some(detection(&format!("x-{round}")))
            ),
            call(
                &client,
                &r.b.address,
                Method::POST,
                "/api/v1/detections",
                &device,
                Some(detection(&format!("y-{round}")))
            ),
        );
        assert_eq!((c.0, d.0), (StatusCode::OK, StatusCode::OK));
        assert_eq!(c.1["intent_id"], a.1["intent_id"], "{c:?}");
        assert_eq!(d.1["intent_id"], a.1["intent_id"], "{d:?}");
    }
    let (_, intents) = call(&client, &r.b.address, Method::GET, "/api/v1/intents", &key, None).await;
    assert_eq!(intents["items"].as_array().map(Vec::len), Some(1), "{intents}");
    let intent = intents["items"][0]["intent_id"].as_str().expect("intent").to_owned();

    let decision = json!({"intent_id": intent, "accepted": true, "channel": "VOICE", "decided_at_ms": now_ms()});
    let (a, b) = tokio::join!(
        call(&client, &r.a.address, Method::POST, "/api/v1/decisions", &device, Some(decision.clone())),
        call(&client, &r.b.address, Method::POST, "/api/v1/decisions", &device, Some(decision)),
    );
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
    assert_eq!(a.1["order"]["order_id"], b.1["order"]["order_id"], "one order: {a:?} {b:?}");
    let (_, orders) = call(&client, &r.a.address, Method::GET, "/api/v1/orders", &key, None).await;
    assert_eq!(orders["items"].as_array().map(Vec::len), Some(1), "{orders}");
    assert_eq!(orders["items"][0]["status"], "CONFIRMED");
}

/// Drives both replicas above `per_second` for three seconds and checks the
/// fleet admitted what one GCRA limit allows.
async fn shared_tenant_limit(per_second: u32, workers: usize) {
    let admin = "replica-admin-token-0123456789".to_owned();
    let r = replicas(&admin).await;
    let (key, _device) = seed(&r.a.address, &admin).await;
    TestApp::remote(&r.a.address, &admin).set_limits("acme", json!({"tenant_per_second": per_second})).await;
    // Real time, not a clock to advance: the replicas are other processes,
    // and the shared limit runs on Redis's own clock. Replica B's tenant
    // snapshot (2 s TTL), had it loaded one, must show the new limit, and the
    // seeding requests must drain from the GCRA state so the measured burst
    // is the new one.
    tokio::time::sleep(Duration::from_millis(2_200)).await;

    let client = reqwest::Client::new();
    let started = Instant::now();
    let run_for = Duration::from_secs(3);
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let client = client.clone();
        let base = if worker % 2 == 0 { r.a.address.clone() } else { r.b.address.clone() };
        let key = key.clone();
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut limited) = (0_u32, 0_u32);
            while started.elapsed() < run_for {
                let response =
                    client.get(format!("{base}/api/v1/stores")).bearer_auth(&key).send().await.expect("sent");
                match response.status() {
                    StatusCode::OK => ok += 1,
                    StatusCode::TOO_MANY_REQUESTS => limited += 1,
                    other => panic!("unexpected {other}"),
                }
            }
            (ok, limited)
        }));
    }
    let (mut ok, mut limited) = (0, 0);
    for task in tasks {
        let (o, l) = task.await.expect("worker");
        ok += o;
        limited += l;
    }
    let elapsed = started.elapsed().as_secs_f64();
    // GCRA: a full burst of one second's quota, then the steady rate.
    let expected = f64::from(per_second) * (1.0 + elapsed);
    let deviation = (f64::from(ok) - expected).abs() / expected;
    println!(
        "shared tenant limit {per_second}/s: {ok} allowed, {limited} limited in {elapsed:.2}s, expected {expected:.0}"
    );
    assert!(limited > 0, "the load must exceed the limit for this test to mean anything");
    assert!(deviation <= 0.10, "{ok} allowed vs {expected:.0} expected ({:.1}% off)", deviation * 100.0);
}

#[tokio::test]
async fn the_tenant_limit_is_shared_by_both_replicas() {
    // Small quotas are checked one request at a time.
    shared_tenant_limit(40, 8).await;
}

#[tokio::test]
async fn leased_tenant_limits_still_hold_across_replicas() {
    // 100/s: each replica leases 2 requests at a time from Redis (a fiftieth of
    // the quota) — leased, yet low enough that debug builds of both replicas
    // exceed it while the rest of the suite runs beside them.
    shared_tenant_limit(100, 16).await;
}

/// Polls `path` on `base` with `token` until it answers 401; panics after two seconds.
async fn until_unauthorized(client: &reqwest::Client, base: &str, path: &str, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let (status, body) = call(client, base, Method::GET, path, token, None).await;
        if status == StatusCode::UNAUTHORIZED {
            return started.elapsed();
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(started.elapsed() < Duration::from_secs(2), "{base}{path} still accepted the token after 2 s");
        // Polls for the other replica's notice to arrive (another process), not a TTL.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Both replicas confirm (and so cache) `token`.
async fn warm(client: &reqwest::Client, r: &Replicas, path: &str, token: &str) {
    for base in [&r.a.address, &r.b.address, &r.a.address, &r.b.address] {
        let (status, body) = call(client, base, Method::GET, path, token, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[tokio::test]
async fn revocations_reach_the_other_replica_at_once() {
    let admin = "replica-admin-token-0123456789".to_owned();
    let r = replicas(&admin).await;
    let (key, device) = seed(&r.a.address, &admin).await;
    let client = reqwest::Client::new();

    // A device revoked through replica A.
    warm(&client, &r, "/api/v1/device", &device).await;
    let (status, _) = call(&client, &r.a.address, Method::DELETE, "/api/v1/devices/glasses", &key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&client, &r.a.address, Method::GET, "/api/v1/device", &device, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the replica that revoked forgets at once");
    let took = until_unauthorized(&client, &r.b.address, "/api/v1/device", &device).await;
    println!("device revocation reached replica B after {took:?}");

    // A key rotated without grace through replica B.
    warm(&client, &r, "/api/v1/stores", &key).await;
    let (status, rotated) =
        call(&client, &r.b.address, Method::POST, "/admin/v1/tenants/acme/api-keys", &admin, None).await;
    assert_eq!(status, StatusCode::CREATED, "{rotated}");
    let took = until_unauthorized(&client, &r.a.address, "/api/v1/stores", &key).await;
    println!("key rotation reached replica A after {took:?}");

    // The whole tenant deactivated through replica A.
    let new_key = rotated["api_key"].as_str().expect("new key").to_owned();
    warm(&client, &r, "/api/v1/stores", &new_key).await;
    let (status, _) = call(&client, &r.a.address, Method::DELETE, "/admin/v1/tenants/acme", &admin, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let took = until_unauthorized(&client, &r.b.address, "/api/v1/stores", &new_key).await;
    println!("deactivation reached replica B after {took:?}");
}

/// Cuts every replica's LISTEN connection, as a network blip or a failover would.
pub(crate) async fn cut_listeners(db_url: &str) {
    let db = sea_orm::Database::connect(db_url).await.expect("connect");
    let cut = db
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
        )
        .await
        .expect("terminate listeners");
    assert!(cut.rows_affected() >= 2, "both replicas listen: {}", cut.rows_affected());
    db.close().await.ok();
}

#[tokio::test]
async fn a_replica_that_lost_its_notice_channel_does_not_trust_its_cache() {
    let admin = "replica-admin-token-0123456789".to_owned();
    let r = replicas(&admin).await;
    let (key, device) = seed(&r.a.address, &admin).await;
    let client = reqwest::Client::new();
    warm(&client, &r, "/api/v1/device", &device).await;

    cut_listeners(&r.db_url).await;

    let (status, _) = call(&client, &r.a.address, Method::DELETE, "/api/v1/devices/glasses", &key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let took = until_unauthorized(&client, &r.b.address, "/api/v1/device", &device).await;
    println!("revocation reached replica B after its listener was cut, after {took:?}");
}
