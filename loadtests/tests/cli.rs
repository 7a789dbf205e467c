//! The `replenish-load` binary as testers run it: thresholds and exit codes,
//! the tenant it creates cleaned up (or kept), runs against an existing tenant.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[allow(dead_code)] // The proxy is for the simulator tests.
mod support;

use std::path::PathBuf;
use std::process::Output;

use serde_json::{Value, json};
use support::TestApp;

/// Runs `replenish-load run` against `app` with a small, quick fleet plus `extra`.
async fn run_cli(app: &TestApp, extra: &[&str]) -> Output {
    let mut args: Vec<String> = ["run", "--url", &app.url, "--devices", "5", "--concurrency", "2", "--requests"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend(["60", "--think-ms", "0-10", "--quiet"].map(str::to_owned));
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let admin = app.admin_token.clone();
    // The binary blocks this thread while the app (in this process) answers it.
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_replenish-load"))
            .args(&args)
            .env("REPLENISH_ADMIN_TOKEN", admin)
            .env_remove("REPLENISH_API_KEY")
            .output()
            .expect("replenish-load runs")
    })
    .await
    .expect("joined")
}

fn describe(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn temp_json() -> PathBuf {
    std::env::temp_dir().join(format!("replenish-load-{}.json", uuid::Uuid::new_v4().simple()))
}

async fn tenant_status(app: &TestApp, tenant: &str) -> String {
    let view = app.get(&app.admin_token, &format!("/admin/v1/tenants/{tenant}")).await;
    view["status"].as_str().expect("status").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn met_thresholds_exit_0_and_the_report_has_p95_and_min() {
    let app = TestApp::spawn().await;
    let json_path = temp_json();
    let html_path = json_path.with_extension("html");
    let output = run_cli(
        &app,
        &[
            "--threshold",
            "detections.count>=60",
            "--threshold",
            "errors.rate<1%",
            "--threshold",
            "detections.p95<30s",
            "--json",
            json_path.to_str().unwrap(),
            "--html",
            html_path.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("p95 ms") && stdout.contains("min ms"), "{stdout}");
    assert!(stdout.contains("PASS detections.count>=60"), "{stdout}");

    let report: Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let latency = &report["endpoints"][0]["latency_ms"];
    let (min, p50, p95, p99) =
        (latency["min"].as_f64(), latency["p50"].as_f64(), latency["p95"].as_f64(), latency["p99"].as_f64());
    let (min, p50, p95, p99) = (min.unwrap(), p50.unwrap(), p95.unwrap(), p99.unwrap());
    assert!(0.0 < min && min <= p50 && p50 <= p95 && p95 <= p99, "{latency}");
    assert_eq!(report["thresholds"].as_array().unwrap().len(), 3, "{report}");
    assert!(report["thresholds"].as_array().unwrap().iter().all(|t| t["passed"] == json!(true)), "{report}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("p95 ms") && html.contains("min ms") && html.contains("Thresholds"), "html report");
    let _ = std::fs::remove_file(json_path);
    let _ = std::fs::remove_file(html_path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_threshold_exits_99() {
    let app = TestApp::spawn().await;
    let output =
        run_cli(&app, &["--threshold", "detections.count>=60", "--threshold", "detections.count>1000000"]).await;
    assert_eq!(output.status.code(), Some(99), "{}", describe(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("FAIL detections.count>1000000") && stdout.contains("PASS detections.count>=60"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_threshold_is_a_tool_error_before_anything_is_sent() {
    let app = TestApp::spawn().await;
    let output = run_cli(&app, &["--tenant", "never-made", "--threshold", "detections.p97<5ms"]).await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("detections.p97<5ms"), "{}", describe(&output));
    let response = reqwest::Client::new()
        .get(format!("{}/admin/v1/tenants/never-made", app.url))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404, "nothing was provisioned");

    let unknown_flag = run_cli(&app, &["--no-such-flag"]).await;
    assert_eq!(unknown_flag.status.code(), Some(1), "{}", describe(&unknown_flag));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_a_run_created_is_deactivated_unless_kept() {
    let app = TestApp::spawn().await;
    let output = run_cli(&app, &["--tenant", "load-cleaned"]).await;
    assert_eq!(output.status.code(), Some(0), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("Tenant load-cleaned: deactivated"),
        "{}",
        describe(&output)
    );
    assert_eq!(tenant_status(&app, "load-cleaned").await, "deactivated");

    let kept = run_cli(&app, &["--tenant", "load-kept", "--keep"]).await;
    assert_eq!(kept.status.code(), Some(0), "{}", describe(&kept));
    assert_eq!(tenant_status(&app, "load-kept").await, "active");
}

/// An existing tenant whose catalog already maps the reference object classes
/// (the demo's products) takes two runs in a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_twice_against_an_existing_tenant_with_the_reference_catalog() {
    let app = TestApp::spawn().await;
    let key = app.create_tenant("shop").await;
    let client = reqwest::Client::new();
    for (id, class, sku) in [
        ("spring-water", "water_bottle", "WATER-24PK"),
        ("spf50-sunscreen", "sunscreen", "SPF50-200ML"),
        ("foaming-soap", "soap_dispenser", "SOAP-REFILL-1L"),
    ] {
        let product = json!({"object_class": class, "display_name": id, "reorder_threshold": "LOW", "default_sku": sku,
            "variants": [{"sku": sku, "label": id, "unit_price_usd": 9.99}]});
        let response = client
            .put(format!("{}/api/v1/products/{id}", app.url))
            .bearer_auth(&key)
            .json(&product)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }
    for attempt in 1..=2 {
        let output = run_cli(&app, &["--api-key", &key]).await;
        assert_eq!(output.status.code(), Some(0), "run {attempt}: {}", describe(&output));
    }
    assert_eq!(tenant_status(&app, "shop").await, "active", "an existing tenant is never deactivated");
    let products = app.get(&key, "/api/v1/products").await;
    assert_eq!(products["items"].as_array().unwrap().len(), 3, "no second product per class: {products}");
}
