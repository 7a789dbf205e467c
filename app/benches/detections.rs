//! Detections benchmark: the real app in-process, a closed-loop generator,
//! latencies in an HdrHistogram. Prints numbers; asserts nothing.
//!
//! `cargo bench -p replenish-app --bench detections`
//! Knobs: `BENCH_SECONDS` (default 10), `BENCH_CONCURRENCY` (64), `BENCH_DEVICES` (1000),
//! `BENCH_BACKENDS` (`sqlite,postgres`), `DATABASE_URL` (the Postgres server to create a database on).

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use replenish_app::{Application, Settings};
use sea_orm::{ConnectionTrait, Database};
use secrecy::SecretString;
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token-0123456789";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn database_url(backend: &str) -> String {
    let name = format!("replenish_bench_{}", uuid::Uuid::new_v4().simple());
    if backend == "sqlite" {
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("dir");
        return format!("sqlite://{}?mode=rwc", dir.join("replenish.db").display());
    }
    let server = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = Database::connect(&server).await.expect("postgres reachable");
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create database");
    let root = server.rsplit_once('/').map_or(server.as_str(), |(root, _)| root).to_owned();
    format!("{root}/{name}")
}

async fn send(client: &reqwest::Client, method: reqwest::Method, url: String, token: &str, body: Value) -> Value {
    let response = client.request(method, url).bearer_auth(token).json(&body).send().await.expect("sent");
    assert!(response.status().is_success(), "setup call failed: {}", response.status());
    response.json().await.unwrap_or(Value::Null)
}

async fn provision(client: &reqwest::Client, base: &str, devices: usize) -> Vec<String> {
    let tenant = send(
        client,
        reqwest::Method::PUT,
        format!("{base}/admin/v1/tenants/bench"),
        ADMIN,
        json!({"display_name": "Bench", "plan": "enterprise",
               "limits": {"tenant_per_second": 10_000_000, "device_per_minute": 10_000_000}}),
    )
    .await;
    let key = tenant["api_key"].as_str().expect("key").to_owned();
    let store = json!({"name": "Main", "timezone": "UTC", "commerce": {"provider": "mock"}});
    send(client, reqwest::Method::PUT, format!("{base}/api/v1/stores/main"), &key, store).await;
    for (id, class, sku, price) in [("water", "water_bottle", "W", 12.99), ("soap", "soap_dispenser", "S", 9.99)] {
        let product = json!({"object_class": class, "display_name": id, "reorder_threshold": "LOW", "default_sku": sku,
            "variants": [{"sku": sku, "label": id, "unit_price_usd": price}]});
        send(client, reqwest::Method::PUT, format!("{base}/api/v1/products/{id}"), &key, product).await;
    }
    let mut tokens = Vec::with_capacity(devices);
    for chunk in (0..devices).collect::<Vec<_>>().chunks(1000) {
        let batch: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"device_id": format!("d-{i}"), "store": "main", "owner": format!("o-{i}"), "model": "bench"}))
            .collect();
        let registered = send(
            client,
            reqwest::Method::POST,
            format!("{base}/api/v1/devices:batch"),
            &key,
            json!({"devices": batch}),
        )
        .await;
        tokens.extend(
            registered["devices"]
                .as_array()
                .expect("devices")
                .iter()
                .map(|d| d["token"].as_str().expect("token").to_owned()),
        );
    }
    tokens
}

async fn run(backend: &str, seconds: u64, concurrency: usize, devices: usize) {
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        metrics_listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: SecretString::from(database_url(backend).await),
        admin_token: Some(SecretString::from(ADMIN.to_owned())),
        ip_per_minute: 1_000_000_000,
        log_level: "error".into(),
        db_max_connections: 32,
        ..Settings::default()
    };
    let _tracing = replenish_app::telemetry::init_tracing(&settings);
    let app = Application::build(settings).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let tokens = Arc::new(provision(&client, &base, devices).await);

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let sequence = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (client, base, tokens, sequence) = (client.clone(), base.clone(), tokens.clone(), sequence.clone());
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let (mut ok, mut other) = (0_u64, std::collections::BTreeMap::<String, u64>::new());
            while Instant::now() < deadline {
                let n = sequence.fetch_add(1, Ordering::Relaxed);
                let token = &tokens[(n as usize * 7919) % tokens.len()];
                // Mostly full containers, like a real fleet; one in ten is running low.
                let fill =
                    ["FULL", "HALF", "FULL", "HALF", "FULL", "HALF", "FULL", "HALF", "FULL", "LOW"][n as usize % 10];
                let class = if n % 2 == 0 { "water_bottle" } else { "soap_dispenser" };
                let body = json!({"event_id": format!("e-{n}"), "object_class": class, "fill_level": fill,
                    "confidence": "HIGH", "captured_at_ms": chrono::Utc::now().timestamp_millis()});
                let started = Instant::now();
                let response =
                    client.post(format!("{base}/api/v1/detections")).bearer_auth(token).json(&body).send().await;
                let micros = started.elapsed().as_micros() as u64;
                match response {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        ok += 1;
                        histogram.record(micros.max(1)).expect("record");
                    }
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let kind = r.json::<Value>().await.ok().and_then(|b| b["type"].as_str().map(str::to_owned));
                        *other.entry(format!("{status} {}", kind.unwrap_or_default())).or_default() += 1;
                    }
                    Err(e) => *other.entry(format!("transport: {e}")).or_default() += 1,
                }
            }
            (histogram, ok, other)
        }));
    }
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut ok, mut failures) = (0, std::collections::BTreeMap::<String, u64>::new());
    for worker in workers {
        let (h, o, x) = worker.await.expect("worker");
        total.add(h).expect("merge");
        ok += o;
        for (kind, count) in x {
            *failures.entry(kind).or_default() += count;
        }
    }
    let other: u64 = failures.values().sum();
    let ms = |q: f64| total.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{backend:>8}: {:>8.0} detections/s ({ok} ok, {other} failed, {concurrency} connections, {devices} devices, {seconds}s) \
         p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
        ok as f64 / seconds as f64,
        ms(0.50),
        ms(0.90),
        ms(0.99),
        ms(0.999),
        total.max() as f64 / 1000.0,
    );
    for (kind, count) in &failures {
        println!("          {count} × {kind}");
    }
    handle.stop(true).await;
}

fn main() {
    let seconds = env_or("BENCH_SECONDS", 10_u64);
    let concurrency = env_or("BENCH_CONCURRENCY", 64_usize);
    let devices = env_or("BENCH_DEVICES", 1000_usize);
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        for backend in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            run(backend, seconds, concurrency, devices).await;
        }
    });
}
