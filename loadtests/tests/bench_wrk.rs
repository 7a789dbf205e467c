//! The bench's wrk generator for real: wrk (installed by scripts/test) against the bare baseline, and
//! the generated Lua script against a local server that records what it is sent.

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use replenish_api::{Confidence, DetectionRequest, FillLevel};
use replenish_loadtests::bench::{BenchConfig, BenchMix, Generator};
use replenish_loadtests::bench_phase::{Gen, max_rate};
use replenish_loadtests::client::CATALOG;
use replenish_loadtests::generator::drive_mix;
use replenish_loadtests::process::Baseline;
use replenish_loadtests::wrk::{WrkPhase, ensure_installed};

fn config(phase: Duration) -> BenchConfig {
    BenchConfig {
        app_bin: None,
        database_url: String::new(),
        redis_url: String::new(),
        phase,
        concurrency: 8,
        devices: 1,
        memory_devices: 0,
        backends: Vec::new(),
        generator: Generator::Wrk,
        mixes: vec![BenchMix::Settled],
        json: None,
    }
}

#[tokio::test]
async fn wrk_measures_the_baseline_with_its_own_and_the_servers_cpu() {
    let generator = Gen::new(Generator::Wrk).expect("wrk is installed (scripts/test installs it)");
    let baseline = Baseline::start(Path::new(env!("CARGO_BIN_EXE_replenish-load"))).unwrap();
    baseline.wait_ready().await.unwrap();
    let tokens = ["baseline".to_owned()];
    let config = config(Duration::from_secs(1));
    let rate =
        max_rate(&generator, &baseline.url(), &tokens, BenchMix::Fleet, &config, Some(baseline.pid())).await.unwrap();
    assert_eq!(rate.generator, "wrk");
    assert!(rate.ok_per_second > 0.0, "{rate:?}");
    assert_eq!(rate.failed, 0, "the baseline accepts every generated detection: {rate:?}");
    assert!(rate.p50_ms > 0.0 && rate.p99_ms >= rate.p50_ms && rate.max_ms >= rate.p99_ms, "{rate:?}");
    assert!(rate.p75_ms.is_some() && rate.p90_ms.is_some() && rate.p999_ms.is_some(), "{rate:?}");
    // A second of wrk at full speed costs both processes well over one clock tick of CPU.
    assert!(rate.wall_s >= 1.0, "{rate:?}");
    assert!(rate.generator_cpu_s > 0.0, "wrk's CPU: {rate:?}");
    assert!(rate.app_cpu_s.is_some_and(|s| s > 0.0), "the server's CPU: {rate:?}");
    assert!(rate.app_cpu_us_per_detection.is_some_and(|us| us > 0.0), "{rate:?}");
    assert!(rate.other_cpu_s.is_some(), "{rate:?}");
}

/// What the recording server saw: (Authorization header, body) per request.
type Seen = Arc<Mutex<Vec<(String, String)>>>;

async fn record(request: HttpRequest, body: web::Bytes, seen: web::Data<Seen>) -> HttpResponse {
    let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    seen.lock().unwrap().push((auth, String::from_utf8_lossy(&body).into_owned()));
    HttpResponse::Ok().body("{}")
}

/// A local server that records every request; its URL.
fn recorder(seen: &Seen) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/detections", listener.local_addr().unwrap());
    let data = web::Data::new(seen.clone());
    let server = HttpServer::new(move || App::new().app_data(data.clone()).default_service(web::to(record)))
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
    tokio::spawn(server);
    url
}

/// Runs the generated script for one second against the recorder; the parsed detections and tokens.
async fn detections_sent(mix: BenchMix, tokens: &[String]) -> Vec<(String, DetectionRequest)> {
    let wrk = ensure_installed().expect("wrk is installed (scripts/test installs it)");
    let seen: Seen = Arc::default();
    let url = recorder(&seen);
    let tokens = tokens.to_vec();
    let phase_url = url.clone();
    let run = tokio::task::spawn_blocking(move || {
        let phase = WrkPhase { url: &phase_url, tokens: &tokens, mix, connections: 4, length: Duration::from_secs(1) };
        replenish_loadtests::wrk::run(&wrk, &phase)
    })
    .await
    .unwrap()
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 100, "wrk sent only {} requests", seen.len());
    // wrk counts the answers it read; the server may have recorded a few more still in flight at the end.
    assert!(seen.len() as u64 >= run.output.requests, "{} recorded, wrk counted {}", seen.len(), run.output.requests);
    let now = chrono::Utc::now();
    seen.into_iter()
        .map(|(auth, body)| {
            let detection: DetectionRequest =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("not a detection ({e}): {body}"));
            detection.validate(now).unwrap_or_else(|e| panic!("the app would refuse {body}: {e:?}"));
            let token = auth.strip_prefix("Bearer ").unwrap_or_else(|| panic!("no bearer token: {auth:?}"));
            (token.to_owned(), detection)
        })
        .collect()
}

fn tokens(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("token-{i}-{}", uuid::Uuid::new_v4().simple())).collect()
}

#[tokio::test]
async fn the_settled_script_sends_unique_full_or_half_detections_over_every_device_and_class() {
    let tokens = tokens(7);
    let sent = detections_sent(BenchMix::Settled, &tokens).await;
    let ids: HashSet<&str> = sent.iter().map(|(_, d)| d.event_id.as_str()).collect();
    assert_eq!(ids.len(), sent.len(), "event ids repeat");
    let used: HashSet<&str> = sent.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(used, tokens.iter().map(String::as_str).collect(), "every device, and only the fleet's");
    let classes: HashSet<&str> = sent.iter().map(|(_, d)| d.object_class.as_str()).collect();
    assert_eq!(classes, CATALOG.iter().map(|c| c.1).collect(), "every catalog class");
    assert!(sent.iter().all(|(_, d)| matches!(d.fill_level, FillLevel::Full | FillLevel::Half)));
    assert!(sent.iter().all(|(_, d)| d.confidence == Confidence::High));
    // Every device sees every class: the fleet mix's low detections spread over all (device, product) pairs.
    let pairs: HashSet<(&str, &str)> = sent.iter().map(|(t, d)| (t.as_str(), d.object_class.as_str())).collect();
    assert_eq!(pairs.len(), tokens.len() * CATALOG.len());
}

#[tokio::test]
async fn the_fleet_script_sends_about_a_fifth_low_or_nearly_empty() {
    let sent = detections_sent(BenchMix::Fleet, &tokens(50)).await;
    let low = sent.iter().filter(|(_, d)| matches!(d.fill_level, FillLevel::Low | FillLevel::NearlyEmpty)).count();
    let share = low as f64 / sent.len() as f64;
    // Drawn at random per request: over hundreds of requests the share is close to 20 %.
    assert!((0.15..=0.25).contains(&share), "{low} of {} low", sent.len());
    for level in [FillLevel::Low, FillLevel::NearlyEmpty, FillLevel::Full, FillLevel::Half] {
        assert!(sent.iter().any(|(_, d)| d.fill_level == level), "no {level:?}");
    }
    assert!(sent.iter().all(|(_, d)| d.fill_level != FillLevel::Empty));
    let ids: HashSet<&str> = sent.iter().map(|(_, d)| d.event_id.as_str()).collect();
    assert_eq!(ids.len(), sent.len(), "event ids repeat");
}

#[tokio::test]
async fn the_open_model_sends_exactly_its_schedule_as_valid_detections() {
    let seen: Seen = Arc::default();
    let url = recorder(&seen);
    let tokens = tokens(5);
    let m = drive_mix(&url, &tokens, 4, Some(400.0), Duration::from_secs(1), Some(BenchMix::Settled)).await;
    assert_eq!(m.failed, 0, "{m:?}");
    let seen = seen.lock().unwrap().clone();
    // Request n is due at n/400 s: 0..400 fall within the second.
    assert_eq!(seen.len(), 400, "{m:?}");
    let now = chrono::Utc::now();
    let mut ids = HashSet::new();
    for (auth, body) in &seen {
        let d: DetectionRequest = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        d.validate(now).unwrap();
        assert!(matches!(d.fill_level, FillLevel::Full | FillLevel::Half), "{body}");
        assert!(tokens.iter().any(|t| auth == &format!("Bearer {t}")), "{auth}");
        assert!(ids.insert(d.event_id));
    }
    assert!(m.p99_ms > 0.0 && m.max_ms >= m.p99_ms, "{m:?}");
}
