//! The chart's Grafana dashboard and PrometheusRule query only metrics the app
//! exports: every `replenish_*` series they name is checked against a scrape of
//! the running app after some traffic. The operator's own series
//! (`replenish_operator_*`) are checked against its registry in the operator's tests.

use std::collections::BTreeSet;

use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Backend, spawn_app_with};

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../charts/replenish");

/// Every `replenish_…` identifier in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("replenish_") {
        let preceded_by_word = rest[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
        if !preceded_by_word {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

fn expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => expressions(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

/// The series names the chart queries: the dashboard's PromQL and the whole rules
/// template (whatever it names must exist too).
fn queried_names() -> BTreeSet<String> {
    let dashboard = std::fs::read_to_string(format!("{CHART}/files/grafana-dashboard.json")).expect("dashboard");
    let dashboard: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    let mut exprs = Vec::new();
    expressions(&dashboard, &mut exprs);
    assert!(exprs.len() >= 10, "too few dashboard queries found: {exprs:?}");
    let rules = std::fs::read_to_string(format!("{CHART}/templates/prometheusrule.yaml")).expect("rules");
    exprs.push(rules);
    exprs.iter().flat_map(|e| metric_names(e)).collect()
}

/// The series names a scrape offers: each family declared by a `# TYPE` line under
/// the names Prometheus stores its samples as, and every sample's own name.
fn exported_series(scrape: &str) -> BTreeSet<String> {
    let mut series = BTreeSet::new();
    for line in scrape.lines() {
        if let Some(declared) = line.strip_prefix("# TYPE ") {
            let mut parts = declared.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else { continue };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_sum", "_count"],
                "info" => &["_info"],
                _ => &[""],
            };
            series.extend(suffixes.iter().map(|s| format!("{name}{s}")));
        } else if !line.starts_with('#')
            && let Some(name) = line.split(['{', ' ']).next().filter(|n| !n.is_empty())
        {
            series.insert(name.to_owned());
        }
    }
    series
}

/// Has `series` at least one sample (not only its declaration)?
fn sampled(scrape: &str, series: &str) -> bool {
    scrape.lines().any(|l| l.strip_prefix(series).is_some_and(|rest| rest.starts_with(['{', ' '])))
}

async fn every_queried_metric_is_exported(backend: Backend) {
    // The assistant's model provider: a local server answering every chat call.
    let provider = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-vision",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Water."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
        })))
        .mount(&provider)
        .await;
    let app = spawn_app_with(backend, |s| {
        s.assistant.openai_base_url = format!("{}/v1", provider.uri());
        s.assistant.openai_api_key = Some(SecretString::from("sk-test"));
        s.assistant.vision_model = "test-vision".into();
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    let image = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==";
    let question = json!({"prompt": "What's in my fridge?", "image": image});
    app.call(Method::POST, "/api/v1/assistant", Some(&device), Some(question)).await.assert_status(200);
    // The funnel: detection → prompt → accepted decision → confirmed order.
    let intent = app.prompted(&device, "e-1", "water_bottle").await;
    app.decide(&device, &intent, true, "VOICE").await.assert_status(200);
    // A failing provider: a FAILED order.
    app.set_mock_outcome(&key, "fail").await;
    let other = app.add_device(&key, "glasses-2", "household-2").await;
    let intent = app.prompted(&other, "e-2", "water_bottle").await;
    app.decide(&other, &intent, true, "GESTURE").await.assert_status(200);
    // A device limit refusing a request.
    app.set_limits("acme", json!({"device_per_minute": 1})).await;
    let third = app.add_device(&key, "glasses-3", "household-3").await;
    app.detect(&third, "e-3", "water_bottle", "FULL", "HIGH").await.assert_status(200);
    app.detect(&third, "e-4", "water_bottle", "FULL", "HIGH").await.assert_problem(429, "rate-limited");

    let scrape = app.metrics().await.raw;
    let exported = exported_series(&scrape);
    let queried = queried_names();
    let (operator, ours): (BTreeSet<_>, BTreeSet<_>) =
        queried.iter().cloned().partition(|n| n.starts_with("replenish_operator_"));
    assert!(ours.len() >= 15 && !operator.is_empty(), "names found: {queried:?}");
    let missing: Vec<_> = ours.iter().filter(|n| !exported.contains(*n)).collect();
    assert!(missing.is_empty(), "the chart queries series the app does not export: {missing:?}\n{scrape}");
    // The traffic above reached the funnel, so those panels are not empty by accident.
    for series in [
        "replenish_build_info",
        "replenish_detections_total",
        "replenish_prompts_total",
        "replenish_decisions_total",
        "replenish_orders_total",
        "replenish_rate_limited_total",
        "replenish_http_request_duration_seconds_bucket",
        "replenish_active_actors",
        "replenish_assistant_calls_total",
        "replenish_assistant_tokens_total",
    ] {
        assert!(sampled(&scrape, series), "no sample of {series}:\n{scrape}");
    }
    for status in ["CONFIRMED", "FAILED"] {
        assert!(scrape.contains(&format!("replenish_orders_total{{status=\"{status}\"}}")), "{status}:\n{scrape}");
    }
}

#[test]
fn metric_names_are_whole_identifiers() {
    let names = metric_names(r#"sum(rate(replenish_a_total{x="replenish_b"}[5m])) / my_replenish_c + replenish_d"#);
    assert_eq!(names.into_iter().collect::<Vec<_>>(), ["replenish_a_total", "replenish_b", "replenish_d"]);
    let series = exported_series("# TYPE replenish_x counter\n# TYPE replenish_h histogram\nreplenish_g 1\n");
    for name in ["replenish_x_total", "replenish_h_bucket", "replenish_h_count", "replenish_g"] {
        assert!(series.contains(name), "{name}");
    }
    assert!(!series.contains("replenish_x"));
}

on_both_backends!(every_queried_metric_is_exported);
