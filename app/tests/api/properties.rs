//! Property tests of the HTTP edge: any time or free text a client can put in
//! a query string or a body, on every route that takes one, is answered with
//! a 2xx or a 4xx problem+json — never a 5xx and never a dropped connection.
//!
//! Each property runs against one real server per backend (the server is
//! reused across cases); the proptest runner is synchronous, so it drives
//! the async requests with `block_in_place` on a multi-threaded runtime.

use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::{Api, Backend, TestApp, now_ms, product_body, spawn_app_with};

/// Cases per route: enough to hit the edges below, few enough for 2 cores.
const CASES: u32 = 40;

/// Generates a multi-threaded Postgres and SQLite test for each property
/// (the runner blocks one thread while the app's client runs on another).
macro_rules! properties_on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await
                }
            )*
        }
    };
}

/// Runs `case` on `CASES` values of `strategy` (shrinking a failure to a
/// minimal input) and panics with the failing input, labelled `what`.
fn check<S, F, Fut>(what: &str, strategy: S, case: F)
where
    S: Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(S::Value) -> Fut,
    Fut: std::future::Future<Output = Result<(), TestCaseError>>,
{
    let handle = tokio::runtime::Handle::current();
    let config = Config { cases: CASES, failure_persistence: None, max_shrink_iters: 64, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let result = tokio::task::block_in_place(|| runner.run(&strategy, |value| handle.block_on(case(value))));
    if let Err(err) = result {
        panic!("{what}: {err}");
    }
}

/// Sends one request and holds its answer to the property: 2xx, or 4xx as
/// problem+json. A connection the server dropped (a panic) fails the case.
async fn answers_sanely(
    api: &Api,
    method: Method,
    path: &str,
    token: &str,
    query: &[(&str, String)],
    body: Option<&Value>,
) -> Result<(), TestCaseError> {
    let mut request = api.client.request(method.clone(), format!("{}{path}", api.address)).bearer_auth(token);
    request = request.query(query);
    if let Some(body) = body {
        request = request.json(body);
    }
    let context = format!("{method} {path} query={query:?} body={body:?}");
    let response =
        request.send().await.map_err(|err| TestCaseError::fail(format!("{context}: no answer (dropped?): {err}")))?;
    let status = response.status();
    let content_type =
        response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = response.text().await.map_err(|err| TestCaseError::fail(format!("{context}: body cut off: {err}")))?;
    if status.is_success() {
        return Ok(());
    }
    prop_assert!(status.is_client_error(), "{context}: {status} {text}");
    prop_assert_eq!(content_type, "application/problem+json", "{}: {}", context, text);
    Ok(())
}

/// Free text as clients send it, and as they should not: NUL and other
/// control characters, whitespace only, too long, any Unicode.
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => "\\PC{0,30}",
        2 => ("\\PC{0,10}", "\\PC{0,10}").prop_map(|(a, b)| format!("{a}\0{b}")),
        1 => "[\\x00-\\x1f\\x7f ]{0,8}",
        1 => any::<String>(),
        1 => "[a-z]{195,205}",
        1 => "[a-z ]{3990,4010}",
    ]
}

fn rfc3339_year(year: i64) -> String {
    match year {
        0..=9999 => format!("{year:04}"),
        y if y < 0 => format!("-{:04}", -y),
        y => format!("+{y}"),
    }
}

/// RFC 3339 times across chrono's whole range (-262143 to 262142, which it
/// parses), weighted towards the edges: its ends, Postgres's 4713 BC, the
/// four-digit years, and offsets that push a time past them.
fn time_text() -> impl Strategy<Value = String> {
    let edges = prop::sample::select(vec![
        "-262143-01-01T00:00:00Z",
        "-262143-01-01T12:00:00+23:59",
        "-262144-12-31T23:59:59Z",
        "+262142-12-31T23:59:59Z",
        "+262142-12-31T23:59:59-23:59",
        "-4714-11-24T00:00:00Z",
        "-4713-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "+10000-01-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
    ])
    .prop_map(String::from);
    let years = prop_oneof![-262_145i64..=262_144, 0i64..=10_000, 2000i64..=2100];
    let offsets = prop::sample::select(vec!["Z", "+00:00", "-23:59", "+23:59", ".999999999Z"]);
    let structured = (years, 1u32..=12, 1u32..=31, 0u32..=23, 0u32..=59, offsets)
        .prop_map(|(y, mo, d, h, mi, off)| format!("{}-{mo:02}-{d:02}T{h:02}:{mi:02}:00{off}", rfc3339_year(y)));
    prop_oneof![3 => edges, 3 => structured, 1 => any::<String>()]
}

/// Unix milliseconds as devices send them: around now, just past the 24 h
/// skew, and anything an `i64` holds.
fn time_ms() -> impl Strategy<Value = i64> {
    let now = now_ms();
    let day = 24 * 60 * 60 * 1000;
    prop_oneof![
        2 => now - day + 1_000..now + day - 1_000,
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, i64::MAX, 0, -1, now - day - 1_000, now + day + 1_000]),
        2 => any::<i64>(),
    ]
}

/// A seeded tenant `acme` (store `main`, product `water`, device `glasses`)
/// with limits out of the way, and a provider standing in for OpenAI.
struct Fixture {
    app: TestApp,
    _provider: MockServer,
    merchant: String,
    device: String,
    admin: String,
    serial: AtomicUsize,
}

impl Fixture {
    async fn start(backend: Backend) -> Fixture {
        let provider = MockServer::start().await;
        let content = r#"{"object_class":"water_bottle","fill_level":"LOW","confidence":"HIGH"}"#;
        Mock::given(method("POST"))
            .and(path("/v1/chat/completions"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "test-vision",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            })))
            .mount(&provider)
            .await;
        Mock::given(method("POST"))
            .and(path("/v1/audio/speech"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(b"ID3-fake-mp3".to_vec(), "audio/mpeg"))
            .mount(&provider)
            .await;
        let uri = provider.uri();
        let app = spawn_app_with(backend, |s| {
            s.assistant.openai_base_url = format!("{uri}/v1");
            s.assistant.openai_api_key = Some(secrecy::SecretString::from("sk-test"));
            s.assistant.vision_model = "test-vision".into();
            s.assistant.breaker_failures = 10_000;
            s.assistant.provider_per_minute = 100_000;
        })
        .await;
        let (merchant, device) = app.seeded_tenant("acme").await;
        app.set_limits("acme", json!({"tenant_per_second": 1_000_000, "device_per_minute": 1_000_000})).await;
        let admin = app.admin_token.clone();
        Fixture { app, _provider: provider, merchant, device, admin, serial: AtomicUsize::new(0) }
    }

    /// A fresh id for routes that create (so a repeat is not merely a 409).
    fn fresh_id(&self, prefix: &str) -> String {
        format!("{prefix}-{}", self.serial.fetch_add(1, Ordering::Relaxed))
    }
}

fn png_url() -> String {
    use base64::Engine;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-really-but-magic-is-enough";
    format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(png))
}

/// Sets the field at `pointer` (a JSON pointer) of `body` to `text`.
fn with_text(mut body: Value, pointer: &str, text: &str) -> Value {
    if let Some(slot) = body.pointer_mut(pointer) {
        *slot = Value::String(text.to_owned());
    }
    body
}

/// Every body route with free text: who calls it, method, path, a valid
/// body, and the pointers of its free-text fields.
fn text_routes(f: &Fixture) -> Vec<(&str, Method, String, Value, Vec<&'static str>)> {
    let (admin, merchant, device) = (f.admin.as_str(), f.merchant.as_str(), f.device.as_str());
    let new_device =
        || json!({"device_id": f.fresh_id("prop"), "store": "main", "owner": "o", "model": "m", "serial": "s"});
    let mut product = product_body("prop_class", "PROP-1");
    product["variants"][0]["size"] = json!("1 l");
    vec![
        (
            admin,
            Method::PUT,
            "/admin/v1/tenants/other".into(),
            json!({"display_name": "Other", "plan": "starter"}),
            vec!["/display_name"],
        ),
        (
            admin,
            Method::PUT,
            "/admin/v1/tenants/acme/devices/prop-admin".into(),
            json!({"store": "main", "model": "m", "serial": "s", "owner": "o"}),
            vec!["/model", "/serial", "/owner"],
        ),
        (
            merchant,
            Method::PUT,
            "/api/v1/stores/prop-store".into(),
            json!({"name": "S", "timezone": "UTC", "commerce": {"provider": "mock"}}),
            vec!["/name", "/timezone"],
        ),
        (
            merchant,
            Method::PUT,
            "/api/v1/products/prop-product".into(),
            product,
            vec![
                "/object_class",
                "/display_name",
                "/default_sku",
                "/variants/0/sku",
                "/variants/0/label",
                "/variants/0/size",
            ],
        ),
        (merchant, Method::POST, "/api/v1/devices".into(), new_device(), vec!["/owner", "/model", "/serial"]),
        (
            merchant,
            Method::POST,
            "/api/v1/devices:batch".into(),
            json!({"devices": [new_device()]}),
            vec!["/devices/0/owner", "/devices/0/model", "/devices/0/serial"],
        ),
        (
            device,
            Method::POST,
            "/api/v1/detections".into(),
            json!({"event_id": "e", "object_class": "water_bottle", "fill_level": "FULL",
                "confidence": "HIGH", "captured_at_ms": now_ms()}),
            vec!["/event_id", "/object_class"],
        ),
        (
            device,
            Method::POST,
            "/api/v1/assistant".into(),
            json!({"prompt": "p", "image": png_url(), "history": [{"role": "user", "content": "c"}]}),
            vec!["/prompt", "/history/0/content", "/image"],
        ),
        (
            device,
            Method::POST,
            "/api/v1/detections/frame".into(),
            json!({"event_id": "f", "captured_at_ms": now_ms(), "image": png_url()}),
            vec!["/event_id", "/image"],
        ),
        (device, Method::POST, "/api/v1/speech".into(), json!({"text": "t"}), vec!["/text"]),
    ]
}

async fn free_text_in_bodies(backend: Backend) {
    let f = &Fixture::start(backend).await;
    for (token, method, route, body, fields) in text_routes(f) {
        let strategy = (prop::sample::select(fields), free_text());
        check(&format!("{method} {route}"), strategy, |(field, text)| {
            let body = with_text(body.clone(), field, &text);
            let (method, route) = (method.clone(), route.clone());
            async move { answers_sanely(&f.app, method, &route, token, &[], Some(&body)).await }
        });
    }
}

async fn free_text_in_queries(backend: Backend) {
    let f = &Fixture::start(backend).await;
    let listings: [(&str, &str, &[&str]); 6] = [
        (&f.admin, "/admin/v1/tenants", &["cursor"]),
        (&f.merchant, "/api/v1/stores", &["cursor"]),
        (&f.merchant, "/api/v1/products", &["cursor"]),
        (&f.merchant, "/api/v1/devices", &["cursor"]),
        (&f.merchant, "/api/v1/intents", &["status", "device", "cursor"]),
        (&f.merchant, "/api/v1/orders", &["status", "device", "cursor"]),
    ];
    for (token, route, params) in listings {
        let strategy = (prop::sample::select(params.to_vec()), free_text());
        check(&format!("GET {route}"), strategy, |(param, text)| async move {
            answers_sanely(&f.app, Method::GET, route, token, &[(param, text)], None).await
        });
    }
}

async fn times_in_queries(backend: Backend) {
    let f = &Fixture::start(backend).await;
    for route in ["/api/v1/intents", "/api/v1/orders", "/api/v1/telemetry/summary"] {
        let strategy = (prop::option::of(time_text()), prop::option::of(time_text()));
        check(&format!("GET {route}"), strategy, |(since, until)| {
            let query: Vec<(&str, String)> =
                [("since", since), ("until", until)].into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
            async move { answers_sanely(&f.app, Method::GET, route, &f.merchant, &query, None).await }
        });
    }
}

async fn times_in_bodies(backend: Backend) {
    let f = &Fixture::start(backend).await;
    let detection = f.app.detect(&f.device, "prop-seed", "water_bottle", "LOW", "HIGH").await;
    let intent = detection.assert_status(200)["intent_id"].as_str().expect("an intent to decide").to_owned();
    let routes = [
        ("/api/v1/detections", "/captured_at_ms"),
        ("/api/v1/detections/frame", "/captured_at_ms"),
        ("/api/v1/decisions", "/decided_at_ms"),
    ];
    for (route, field) in routes {
        check(&format!("POST {route}"), (time_ms(), any::<bool>()), |(at_ms, accepted)| {
            let mut body = match route {
                "/api/v1/decisions" => json!({"intent_id": intent, "accepted": accepted, "channel": "VOICE"}),
                "/api/v1/detections" => json!({"event_id": f.fresh_id("t"), "object_class": "water_bottle",
                    "fill_level": "LOW", "confidence": "HIGH"}),
                _ => json!({"event_id": f.fresh_id("t"), "image": png_url()}),
            };
            body[&field[1..]] = json!(at_ms);
            async move { answers_sanely(&f.app, Method::POST, route, &f.device, &[], Some(&body)).await }
        });
    }
}

properties_on_both_backends!(free_text_in_bodies, free_text_in_queries, times_in_queries, times_in_bodies);
