//! The simulator against the real app (in this process, SQLite in a temp dir): its counts and checks
//! agree with what the API reports, and a proxy that breaks the API's promises is caught.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod support;

use std::time::Duration;

use replenish_loadtests::stats::Endpoint;
use replenish_loadtests::{LoadModel, Report, RunConfig, Stop};
use support::{Tamper, TestApp, proxy};

/// A mix that prompts often and answers fast, so a few hundred detections exercise every path.
fn busy(url: &str, admin: &str, detections: u64) -> RunConfig {
    let mut config = RunConfig::new(url, admin);
    config.devices = 25;
    config.model = LoadModel::Closed { concurrency: 4 };
    config.stop = Stop::Count(detections);
    config.mix.fill_weights = [20, 20, 30, 15, 15];
    config.mix.think_ms = (0, 20);
    config.mix.duplicate_rate = 0.15;
    config.mix.retry_rate = 0.1;
    config
}

fn failed(report: &Report) -> Vec<&str> {
    report.checks.iter().filter(|c| !c.passed).map(|c| c.name.as_str()).collect()
}

#[tokio::test]
async fn a_closed_run_counts_what_the_api_reports() {
    let app = TestApp::spawn().await;
    // An existing tenant, so the test holds the key and can read the results back on its own.
    let key = app.create_tenant("sim-closed").await;
    let mut config = busy(&app.url, &app.admin_token, 300);
    config.target.api_key = Some(key.clone());

    let report = replenish_loadtests::run(config).await.expect("run completes");

    assert!(report.passed(), "{}", report.human());
    assert_eq!(report.checks.len(), 8, "every check ran: {:?}", report.checks);
    let c = &report.counters;
    // Each of the 300 arrivals is either a new event or a repeat of an earlier one.
    assert_eq!(c.detections_ok + c.duplicates_compared, 300, "{c:?}");
    assert!(c.duplicates_compared > 0 && c.retries_compared > 0 && c.prompts > 0 && c.accepted > 0, "{c:?}");
    let detections = report.endpoint(Endpoint::Detections).unwrap();
    assert!(detections.requests >= 300, "{detections:?}");
    assert_eq!(detections.statuses.get("2xx"), Some(&detections.requests), "{detections:?}");

    let summary = app.get(&key, "/api/v1/telemetry/summary").await;
    assert_eq!(summary["detections"], c.detections_ok, "{summary}");
    assert_eq!(summary["prompts"], c.prompts, "{summary}");
    assert_eq!(summary["accepted"], c.accepted, "{summary}");
    assert_eq!(summary["rejected"], c.rejected, "{summary}");
    let orders = app.get(&key, "/api/v1/orders?limit=500").await;
    assert_eq!(orders["items"].as_array().unwrap().len() as u64, c.accepted, "one order per acceptance");
}

#[tokio::test]
async fn an_open_run_sends_exactly_its_arrivals() {
    let app = TestApp::spawn().await;
    let mut config = busy(&app.url, &app.admin_token, 0);
    config.model = LoadModel::Open { rate: 200.0, max_in_flight: 64 };
    config.stop = Stop::Duration(Duration::from_millis(1000));

    let report = replenish_loadtests::run(config).await.expect("run completes");

    assert!(report.passed(), "{}", report.human());
    let c = &report.counters;
    assert_eq!(c.detections_ok + c.duplicates_compared, 200, "200/s for 1 s: {c:?}");
    assert!(report.tenant.as_deref().is_some_and(|t| t.starts_with("load-")), "a tenant of its own");
    let json: Report = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    // Floats may differ in the last digit after a JSON round trip; the counts and verdicts may not.
    assert_eq!((&json.counters, &json.checks), (&report.counters, &report.checks), "the JSON report reads back");
    assert_eq!(json.timeline.len(), report.timeline.len());
    let html = replenish_loadtests::html::render(&report);
    assert!(html.contains("<svg") && html.contains("Throughput") && !html.contains("http://cdn"), "inline charts");
}

#[tokio::test]
async fn a_duplicated_order_is_caught() {
    let app = TestApp::spawn().await;
    let proxy = proxy(&app.url, Tamper::DuplicateOrder).await;
    let report = replenish_loadtests::run(busy(&proxy, &app.admin_token, 200)).await.expect("run completes");
    assert!(report.counters.accepted > 0, "{}", report.human());
    assert_eq!(failed(&report), ["one_order_per_intent"], "{}", report.human());
}

#[tokio::test]
async fn a_missing_order_is_caught() {
    let app = TestApp::spawn().await;
    let proxy = proxy(&app.url, Tamper::DropOrder).await;
    let report = replenish_loadtests::run(busy(&proxy, &app.admin_token, 200)).await.expect("run completes");
    assert_eq!(failed(&report), ["orders_equal_accepted"], "{}", report.human());
}

#[tokio::test]
async fn a_changed_answer_to_a_repeated_event_id_is_caught() {
    let app = TestApp::spawn().await;
    let proxy = proxy(&app.url, Tamper::ChangeRepeatedDetection).await;
    let mut config = busy(&proxy, &app.admin_token, 200);
    config.mix.retry_rate = 0.0;
    let report = replenish_loadtests::run(config).await.expect("run completes");
    assert!(report.counters.duplicate_mismatches > 0, "{}", report.human());
    assert_eq!(failed(&report), ["duplicate_event_ids_identical"], "{}", report.human());
}

#[tokio::test]
async fn a_server_error_is_caught() {
    let app = TestApp::spawn().await;
    let proxy = proxy(&app.url, Tamper::ServerErrorEvery(20)).await;
    let report = replenish_loadtests::run(busy(&proxy, &app.admin_token, 200)).await.expect("run completes");
    let detections = report.endpoint(Endpoint::Detections).unwrap();
    assert!(detections.statuses.get("5xx").is_some_and(|n| *n >= 10), "{detections:?}");
    assert_eq!(failed(&report), ["no_5xx"], "{}", report.human());
    // The other checks allowed for requests whose fate a 5xx left unknown instead of failing spuriously.
    assert!(report.counters.detections_uncertain > 0, "{:?}", report.counters);
}

#[tokio::test]
async fn bad_options_are_refused_before_anything_is_sent() {
    let mut config = RunConfig::new("http://127.0.0.1:9", "admin");
    config.mix.accept_rate = 1.5;
    let error = replenish_loadtests::run(config).await.expect_err("refused");
    assert!(error.to_string().contains("accept rate"), "{error}");
}
