//! The HTTP edge on every response: request ids (headers, problem bodies,
//! log lines) and the IETF RateLimit fields on 200s as well as on 429s.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{AppProcess, Backend, Reply, TestApp, TestDb, spawn_app, spawn_app_with, unique_redis_prefix};

/// Sends `GET path` with an optional `X-Request-Id`.
async fn get_with_id(app: &TestApp, path: &str, token: Option<&str>, id: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    request.send().await.expect("request sent")
}

fn request_id_of(response: &reqwest::Response) -> String {
    response.headers().get("x-request-id").and_then(|v| v.to_str().ok()).expect("X-Request-Id").to_owned()
}

async fn request_ids_are_taken_or_generated_and_echoed(backend: Backend) {
    let app = spawn_app(backend).await;
    // None given: one is generated, a fresh one per request.
    let first = request_id_of(&get_with_id(&app, "/healthz", None, None).await);
    let second = request_id_of(&get_with_id(&app, "/healthz", None, None).await);
    assert!(uuid::Uuid::parse_str(&first).is_ok(), "{first}");
    assert_ne!(first, second);
    // A well-formed one is kept.
    let given = "trace-7f3a:0001/retry.2";
    assert_eq!(request_id_of(&get_with_id(&app, "/healthz", None, Some(given)).await), given);
    // Malformed ones (a space, too long) are replaced.
    for bad in ["has space", &"x".repeat(129)] {
        let echoed = request_id_of(&get_with_id(&app, "/healthz", None, Some(bad)).await);
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{bad:?} was replaced by {echoed:?}");
    }
}

async fn problem_bodies_name_their_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, _) = app.seeded_tenant("acme").await;
    // From the auth middleware (401), the router (404) and the JSON extractor (400).
    let unauthenticated = Reply::read(get_with_id(&app, "/api/v1/stores", None, Some("id-401")).await).await;
    unauthenticated.assert_problem(401, "unauthorized");
    assert_eq!(unauthenticated.body["request_id"], "id-401");
    let unknown = Reply::read(get_with_id(&app, "/nowhere", None, Some("id-404")).await).await;
    unknown.assert_problem(404, "route-not-found");
    assert_eq!(unknown.body["request_id"], "id-404");
    let malformed = app
        .client
        .put(format!("{}/api/v1/stores/main", app.address))
        .bearer_auth(&key)
        .header("x-request-id", "id-400")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("sent");
    let malformed = Reply::read(malformed).await;
    malformed.assert_problem(400, "malformed-json");
    assert_eq!(malformed.body["request_id"], "id-400");
}

/// The real binary's log lines (JSON) name the request they were written for.
#[tokio::test]
async fn log_lines_carry_their_requests_id() {
    let db = TestDb::create(Backend::Sqlite).await;
    let log_path = std::env::temp_dir().join(format!("replenish-log-{}.jsonl", uuid::Uuid::new_v4().simple()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("REPLENISH_LOG_FORMAT", "json".to_owned()),
        ("REPLENISH_LOG_LEVEL", "info".to_owned()),
    ];
    let process = AppProcess::start_with_stderr(&env, log.into()).await;
    let client = reqwest::Client::new();
    for id in ["log-id-aaa", "log-id-bbb"] {
        let response = client
            .get(format!("{}/api/v1/stores", process.address))
            .header("x-request-id", id)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status().as_u16(), 401);
    }
    // The request line is written before the response is sent, so it is in the file now.
    let lines: Vec<Value> = std::fs::read_to_string(&log_path)
        .expect("log")
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let _ = std::fs::remove_file(&log_path);
    for id in ["log-id-aaa", "log-id-bbb"] {
        let of_request: Vec<&Value> = lines.iter().filter(|line| line.to_string().contains(id)).collect();
        assert!(
            of_request.iter().any(|line| line["message"] == "request" && line["status"] == 401),
            "the request's log line names {id}: {lines:?}"
        );
        // The id is the request span's, so each line has exactly its own request's.
        for line in of_request {
            assert_eq!(line["span"]["request_id"], id, "{line}");
        }
    }
}

/// With an OTLP endpoint configured, the real binary exports each request's
/// span (its id and the caller's trace) to the collector over HTTP/protobuf.
#[tokio::test]
async fn request_spans_are_exported_over_otlp_when_configured() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let collector = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/traces"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&collector)
        .await;
    let db = TestDb::create(Backend::Sqlite).await;
    let env = vec![
        ("DATABASE_URL", db.url.clone()),
        ("REPLENISH_OTLP_ENDPOINT", collector.uri()),
        // Export every 100 ms instead of every 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let process = AppProcess::start(&env).await;
    let trace_id = "0af7651916cd43dd8448eb211c80319c";
    let response = reqwest::Client::new()
        .get(format!("{}/healthz", process.address))
        .header("x-request-id", "otlp-id-0001")
        .header("traceparent", format!("00-{trace_id}-b7ad6b7169203331-01"))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    let trace_id: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&trace_id[2 * i..2 * i + 2], 16).unwrap()).collect();
    let contains = |body: &[u8], needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    // Polls for the exporter's background thread, at most 5 s of real time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let received = collector.received_requests().await.unwrap_or_default();
        let span = received.iter().find(|r| contains(&r.body, b"otlp-id-0001"));
        if let Some(export) = span {
            assert_eq!(export.headers["content-type"], "application/x-protobuf");
            assert!(contains(&export.body, &trace_id), "the span joined the caller's trace");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no span exported: {received:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Each policy's two parameters, by policy name.
type Items = HashMap<String, (u64, u64)>;

/// `RateLimit-Policy` (`q`, `w`) and `RateLimit` (`r`, `t`) by policy name.
fn rate_limits(reply: &Reply) -> (Items, Items) {
    let parse = |name: &str, first: &str, second: &str| {
        let value = reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
        value
            .split(", ")
            .filter(|item| !item.is_empty())
            .map(|item| {
                let mut parts = item.split(';');
                let policy = parts.next().unwrap_or_default().trim_matches('"').to_owned();
                let params: HashMap<&str, u64> =
                    parts.filter_map(|p| p.split_once('=')).map(|(k, v)| (k, v.parse().expect("number"))).collect();
                (policy, (params[first], params[second]))
            })
            .collect::<HashMap<_, _>>()
    };
    (parse("ratelimit-policy", "q", "w"), parse("ratelimit", "r", "t"))
}

/// Postgres runs with Redis (shared limits), SQLite without (local ones).
async fn rate_limit_fields_on_every_response(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.redis_url = (backend == Backend::Postgres).then(|| secrecy::SecretString::from(crate::helpers::redis_url()));
        s.redis_prefix = unique_redis_prefix();
        // One request comes back every 3 s: a few quick requests see it fall.
        s.ip_per_minute = 20;
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.set_limits("acme", json!({"device_per_minute": 5})).await;

    // A device's requests: the IP, tenant and device policies.
    let mut device_left = Vec::new();
    for i in 0..5 {
        let reply = app.detect(&device, &format!("e-{i}"), "water_bottle", "FULL", "HIGH").await;
        reply.assert_status(200);
        let (policies, state) = rate_limits(&reply);
        assert_eq!(policies["device"], (5, 60), "{reply:?}");
        assert_eq!(policies["ip"], (20, 60), "{reply:?}");
        assert_eq!(policies["tenant"], (50, 1), "starter plan: {reply:?}");
        let (left, reset) = state["device"];
        assert!((1..=60).contains(&reset), "{reply:?}");
        device_left.push(left);
        let (tenant_left, tenant_reset) = state["tenant"];
        assert!(tenant_left < 50 && tenant_reset <= 1, "{reply:?}");
    }
    // One device request comes back every 12 s; these took far less.
    assert_eq!(device_left, [4, 3, 2, 1, 0]);

    // A merchant's requests: the IP and tenant policies, no device's.
    let mut ip_left = Vec::new();
    for _ in 0..3 {
        let reply = app.call(Method::GET, "/api/v1/stores", Some(&key), None).await;
        reply.assert_status(200);
        let (policies, state) = rate_limits(&reply);
        assert!(!policies.contains_key("device"), "{reply:?}");
        assert_eq!(policies["tenant"], (50, 1));
        assert!(state["ip"].0 < 20 && state["ip"].1 >= 1, "{reply:?}");
        ip_left.push(state["ip"].0);
    }
    assert!(ip_left[2] < ip_left[0], "the IP's quota falls: {ip_left:?}");

    // The refusal carries them too, the refusing limit first, with Retry-After.
    let refused = app.detect(&device, "e-5", "water_bottle", "FULL", "HIGH").await;
    refused.assert_problem(429, "rate-limited");
    let retry: u64 = refused.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert_eq!(refused.first_item("ratelimit-policy"), "\"device\";q=5;w=60");
    assert_eq!(refused.first_item("ratelimit"), format!("\"device\";r=0;t={retry}"));
    let (policies, _) = rate_limits(&refused);
    assert!(policies.contains_key("ip") && policies.contains_key("tenant"), "{refused:?}");
}

on_both_backends!(
    request_ids_are_taken_or_generated_and_echoed,
    problem_bodies_name_their_request,
    rate_limit_fields_on_every_response,
);
