//! End to end, with the app's webhook dispatcher (issue 15): `replenish-load run --webhooks`
//! starts its receiver, registers it, drives the load, and every event the app lists for the
//! run reaches the receiver, signed, on SQLite and on Postgres.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[allow(dead_code)] // The proxy is for the simulator tests.
mod support;

use std::time::Duration;

use replenish_loadtests::webhooks::{Outage, WebhookConfig};
use replenish_loadtests::{LoadModel, RunConfig, Stop};
use serde_json::Value;
use support::{Backend, TestApp};

/// A short run that prompts often, so intents, orders and their events are many.
fn run_with_webhooks(app: &TestApp) -> RunConfig {
    let mut config = RunConfig::new(&app.url, &app.admin_token);
    config.devices = 20;
    config.model = LoadModel::Closed { concurrency: 4 };
    config.stop = Stop::Count(300);
    config.mix.fill_weights = [20, 20, 30, 15, 15];
    config.mix.think_ms = (0, 20);
    config.webhooks = Some(WebhookConfig { drain_timeout: Duration::from_secs(60), ..WebhookConfig::default() });
    config
}

async fn every_event_of_the_run_reaches_the_receiver(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.merchant_calls.commerce_allow_private_urls = true).await;
    let report = replenish_loadtests::run(run_with_webhooks(&app)).await.expect("run completes");
    let delivered = report.check("webhooks_delivered").expect("the webhook check ran");
    assert!(delivered.passed, "{}", report.human());
    assert!(report.check("webhooks_in_order").expect("the order check ran").passed, "{}", report.human());
    assert!(report.passed(), "{}", report.human());
    let webhooks = report.webhooks.as_ref().expect("webhook report");
    assert!(webhooks.events_listed > 0, "the run wrote events: {webhooks:?}");
    assert_eq!(webhooks.delivered, webhooks.events_listed, "{webhooks:?}");
    assert_eq!((webhooks.missing, webhooks.bad_signatures, webhooks.malformed), (0, 0, 0), "{webhooks:?}");
    assert!(webhooks.max_attempt >= 1, "{webhooks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_the_run_reaches_the_receiver_sqlite() {
    every_event_of_the_run_reaches_the_receiver(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_the_run_reaches_the_receiver_postgres() {
    every_event_of_the_run_reaches_the_receiver(Backend::Postgres).await;
}

/// The receiver down for 3 s early in the load (503 to every delivery), then back: every
/// event still arrives, the extra attempts show as retries or refusals, never as a loss.
/// The wait covers the dispatcher's backoff (several minutes at most).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_outage_loses_nothing() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.merchant_calls.commerce_allow_private_urls = true).await;
    let mut config = run_with_webhooks(&app);
    config.stop = Stop::Duration(Duration::from_secs(6));
    let outage = Outage { start: Duration::from_millis(500), length: Duration::from_secs(3) };
    config.webhooks = Some(WebhookConfig {
        drain_timeout: Duration::from_secs(600),
        outage: Some(outage),
        ..WebhookConfig::default()
    });
    let report = replenish_loadtests::run(config).await.expect("run completes");
    let webhooks = report.webhooks.as_ref().expect("webhook report");
    assert!(report.check("webhooks_delivered").unwrap().passed, "{}", report.human());
    assert!(webhooks.refused_while_down > 0, "the outage met deliveries: {webhooks:?}");
    assert!(webhooks.max_attempt >= 2, "refused deliveries were attempted again: {webhooks:?}");
}

/// The CLI's options, as testers use them: the JSON report carries the check and the numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_run_with_webhooks_reports_the_check_in_json() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.merchant_calls.commerce_allow_private_urls = true).await;
    let json_path = std::env::temp_dir().join(format!("replenish-load-{}.json", uuid::Uuid::new_v4().simple()));
    let args: Vec<String> = [
        "run",
        "--url",
        &app.url,
        "--devices",
        "5",
        "--concurrency",
        "2",
        "--requests",
        "80",
        "--think-ms",
        "0-10",
        "--fill",
        "10,10,40,20,20",
        "--quiet",
        "--webhooks",
        "--webhook-drain-timeout",
        "60",
        "--json",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain([json_path.display().to_string()])
    .collect();
    let admin = app.admin_token.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_replenish-load"))
            .args(&args)
            .env("REPLENISH_ADMIN_TOKEN", admin)
            .env_remove("REPLENISH_API_KEY")
            .output()
            .expect("replenish-load runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("PASS webhooks_delivered"), "{stdout}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let _ = std::fs::remove_file(&json_path);
    assert!(report["webhooks"]["events_listed"].as_u64().unwrap() > 0, "{}", report["webhooks"]);
    assert_eq!(report["webhooks"]["missing"], 0);
    let check = report["checks"].as_array().unwrap().iter().find(|c| c["name"] == "webhooks_delivered").unwrap();
    assert_eq!(check["passed"], true, "{check}");
}
