//! 429s with their headers for each limit scope, and Redis outages.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, Reply, spawn_app_with, unique_redis_prefix};

#[track_caller]
fn assert_limited(reply: &Reply, scope: &str, quota: u64, window: u64) {
    reply.assert_problem(429, "rate-limited");
    let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let retry: u64 = header("retry-after").parse().unwrap_or(0);
    assert!(retry >= 1 && retry <= window, "Retry-After {retry} of {reply:?}");
    // The refusing limit comes first; the others in force follow.
    assert_eq!(reply.first_item("ratelimit-policy"), format!("\"{scope}\";q={quota};w={window}"));
    assert_eq!(reply.first_item("ratelimit"), format!("\"{scope}\";r=0;t={retry}"));
}

/// Postgres runs these with Redis (shared limits), SQLite without (local limits).
fn redis_for(backend: Backend) -> Option<secrecy::SecretString> {
    (backend == Backend::Postgres).then(|| secrecy::SecretString::from(crate::helpers::redis_url()))
}

async fn each_scope_answers_429_with_headers(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.redis_url = redis_for(backend);
        s.redis_prefix = unique_redis_prefix();
        s.ip_per_minute = 60;
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;

    // Device: 3 per minute, enforced by the device's actor.
    app.set_limits("acme", json!({"device_per_minute": 3})).await;
    let sibling = app.add_device(&key, "glasses-2", "household-1").await;
    for i in 0..3 {
        app.detect(&sibling, &format!("d-{i}"), "water_bottle", "FULL", "HIGH").await.assert_status(200);
    }
    let refused = app.detect(&sibling, "d-3", "water_bottle", "FULL", "HIGH").await;
    assert_limited(&refused, "device", 3, 60);
    // Other devices of the tenant are not affected.
    app.detect(&device, "other", "water_bottle", "FULL", "HIGH").await.assert_status(200);

    // Tenant: 2 per second across all its callers.
    app.set_limits("acme", json!({"tenant_per_second": 2})).await;
    // Not a TTL of ours: rate-limit state runs on Redis's clock (Postgres
    // here) and governor's (SQLite), which the app's clock does not move.
    // The requests above must drain from it so the new limit starts with a
    // full burst and a Retry-After within its window.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut replies = Vec::new();
    for _ in 0..6 {
        replies.push(app.call(Method::GET, "/api/v1/stores", Some(&key), None).await);
    }
    let limited: Vec<_> = replies.iter().filter(|r| r.status.as_u16() == 429).collect();
    assert!(!limited.is_empty(), "{replies:?}");
    assert_limited(limited[0], "tenant", 2, 1);
    assert!(replies.iter().all(|r| r.status.as_u16() == 200 || r.status.as_u16() == 429));

    // IP: 60 per minute from 127.0.0.1, whoever asks.
    let mut last = None;
    for _ in 0..80 {
        let reply = app.call(Method::GET, "/api/v1/device", Some(&device), None).await;
        if reply.status.as_u16() == 429 && reply.body["type"].as_str().unwrap_or_default().ends_with("/rate-limited") {
            let scope =
                reply.headers.get("ratelimit-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            if scope.starts_with("\"ip\"") {
                last = Some(reply);
                break;
            }
        }
    }
    let last = last.expect("the IP limit bites within 80 requests");
    assert_limited(&last, "ip", 60, 60);
    // Admin routes are not behind the IP limit.
    app.admin(Method::GET, "/admin/v1/tenants", None).await.assert_status(200);
}

async fn budget_and_limits_metrics(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.redis_url = None).await;
    let (_key, device) = app.seeded_tenant("acme").await;
    app.set_limits("acme", json!({"device_per_minute": 1})).await;
    app.detect(&device, "a", "water_bottle", "FULL", "HIGH").await.assert_status(200);
    app.detect(&device, "b", "water_bottle", "FULL", "HIGH").await.assert_problem(429, "rate-limited");
    let text = app.metrics().await.raw;
    assert!(text.contains(r#"replenish_rate_limited_total{scope="device"} 1"#), "{text}");
    assert!(text.contains(r#"replenish_detections_total{outcome="ABOVE_THRESHOLD"} 1"#), "{text}");
}

/// Behind one trusted proxy, the address the proxy appended is the client's:
/// whatever a client writes to the left of it does not give it a new bucket.
async fn forwarded_addresses_cannot_be_chosen_by_the_client(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.redis_url = redis_for(backend);
        s.redis_prefix = unique_redis_prefix();
        s.ip_per_minute = 5;
        s.trust_forwarded_for = true;
        s.trusted_proxy_hops = 1;
    })
    .await;
    let get = |forwarded: String| {
        app.client.get(format!("{}/api/v1/device", app.address)).header("x-forwarded-for", forwarded).send()
    };
    let mut statuses = Vec::new();
    for i in 0..8 {
        // A new invented address each time, then the one the proxy saw.
        let reply = get(format!("10.9.{i}.{i}, 203.0.113.7")).await.expect("request sent");
        statuses.push(reply.status().as_u16());
    }
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 3, "one bucket for 203.0.113.7: {statuses:?}");
    // Another client behind the same proxy has a bucket of its own.
    let other = get("203.0.113.8".into()).await.expect("request sent");
    assert_ne!(other.status().as_u16(), 429);
}

on_both_backends!(
    each_scope_answers_429_with_headers,
    budget_and_limits_metrics,
    forwarded_addresses_cannot_be_chosen_by_the_client
);

/// A Redis of this test's own, so stopping it disturbs no other test.
struct OwnRedis {
    port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    async fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (the test command installs it)");
        for _ in 0..50 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            // Waits for the redis-server process to listen, not a TTL.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        OwnRedis { port, child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn redis_stopping_mid_test_falls_back_to_local_limits() {
    let mut redis = OwnRedis::start().await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let app = spawn_app_with(Backend::Postgres, |s| {
        s.redis_url = Some(secrecy::SecretString::from(url));
        s.redis_prefix = unique_redis_prefix();
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.detect(&device, "r-1", "water_bottle", "FULL", "HIGH").await.assert_status(200);
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.assert_status(200)["checks"]["redis"], "ok");

    redis.stop();

    for i in 0..20 {
        let reply = app.detect(&device, &format!("r-after-{i}"), "water_bottle", "FULL", "HIGH").await;
        assert_eq!(reply.status.as_u16(), 200, "requests keep succeeding without Redis: {reply:?}");
    }
    app.call(Method::GET, "/api/v1/stores", Some(&key), None).await.assert_status(200);
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    let ready = ready.assert_status(200);
    assert_eq!(ready["status"], "ready (degraded)");
    assert!(ready["checks"]["redis"].as_str().unwrap_or_default().starts_with("unreachable"), "{ready}");
    let metrics = app.metrics().await.raw;
    assert!(metrics.contains("replenish_shared_limits_degraded 1"), "{metrics}");

    // The local limiters still hold the line.
    app.set_limits("acme", json!({"tenant_per_second": 3})).await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(app.call(Method::GET, "/api/v1/stores", Some(&key), None).await.status.as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429), "{statuses:?}");
}
