//! The vision assistant against a real local HTTP server speaking the OpenAI
//! API (wiremock): it checks each request and answers with canned
//! completions, malformed output, 429s, 500s, slow answers and SSE streams.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use replenish_app::Settings;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::{Backend, TestApp, now_ms, spawn_app_with};

const MODEL: &str = "test-vision";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-really-but-magic-is-enough";

fn png_url() -> String {
    format!("data:image/png;base64,{}", STANDARD.encode(PNG))
}

/// Points the app at `server` with a short deadline and the breaker out of the way.
fn provider(settings: &mut Settings, server: &MockServer) {
    settings.assistant.openai_base_url = format!("{}/v1", server.uri());
    settings.assistant.openai_api_key = Some(SecretString::from("sk-test"));
    settings.assistant.vision_model = MODEL.into();
    settings.assistant.speech_model = "test-tts".into();
    settings.assistant.assistant_timeout_ms = 5_000;
    settings.assistant.breaker_failures = 100;
}

async fn app_with(
    backend: Backend,
    server: &MockServer,
    adjust: impl FnOnce(&mut Settings),
) -> (TestApp, String, String) {
    let app = spawn_app_with(backend, |s| {
        provider(s, server);
        adjust(s);
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    (app, key, device)
}

/// What every chat request must carry: the model and an image part; a frame
/// request also a JSON schema naming the tenant's classes.
struct ChatRequest {
    schema: bool,
}

impl Match for ChatRequest {
    fn matches(&self, request: &Request) -> bool {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else { return false };
        let last = body["messages"].as_array().and_then(|m| m.last()).cloned().unwrap_or_default();
        let has_image = last["content"].as_array().is_some_and(|parts| {
            parts.iter().any(|p| {
                p["type"] == "image_url"
                    && p["image_url"]["url"].as_str().is_some_and(|u| u.starts_with("data:image/png;base64,"))
            })
        });
        let schema_ok = !self.schema
            || (body["response_format"]["type"] == "json_schema"
                && body["response_format"]["json_schema"]["schema"]["properties"]["object_class"]["enum"]
                    == json!(["water_bottle", "unknown"]));
        body["model"] == MODEL && has_image && schema_ok
    }
}

fn completion(content: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": MODEL,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    }))
}

fn api_error(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(
        json!({"error": {"message": "try later", "type": "rate_limit_error", "param": null, "code": null}}),
    )
}

async fn mock_chat(server: &MockServer, schema: bool, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .and(ChatRequest { schema })
        .respond_with(response)
        .mount(server)
        .await;
}

async fn ask(app: &TestApp, device: &str, body: Value) -> crate::helpers::Reply {
    app.call(Method::POST, "/api/v1/assistant", Some(device), Some(body)).await
}

fn question() -> Value {
    json!({
        "prompt": "What's in my fridge?",
        "image": png_url(),
        "history": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}],
        "location": {"lat": 37.77, "lon": -122.41},
    })
}

/// Asks the assistant `question()` as `device`, accepting a streamed answer.
async fn ask_streaming(app: &TestApp, device: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/api/v1/assistant", app.address))
        .bearer_auth(device)
        .header("accept", "text/event-stream")
        .json(&question())
        .send()
        .await
        .expect("sent")
}

async fn frame(app: &TestApp, device: &str, event_id: &str) -> crate::helpers::Reply {
    let body = json!({"event_id": event_id, "captured_at_ms": now_ms(), "image": png_url()});
    app.call(Method::POST, "/api/v1/detections/frame", Some(device), Some(body)).await
}

async fn chat_requests(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path() == "/v1/chat/completions")
        .map(|r| serde_json::from_slice(&r.body).expect("json request"))
        .collect()
}

async fn answers_with_reply_usage_and_catalog(backend: Backend) {
    let server = MockServer::start().await;
    mock_chat(&server, false, completion("Two water bottles. Reorder Water 24-pack for $6.99?")).await;
    let (app, key, device) = app_with(backend, &server, |_| {}).await;

    let reply = ask(&app, &device, question()).await;
    let body = reply.assert_status(200);
    assert_eq!(body["reply"], "Two water bottles. Reorder Water 24-pack for $6.99?");
    assert_eq!(body["usage"], json!({"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}));

    let sent = chat_requests(&server).await;
    assert_eq!(sent.len(), 1);
    let system = sent[0]["messages"][0]["content"].as_str().expect("system prompt");
    assert!(system.contains("object class water_bottle") && system.contains("WATER-24"), "{system}");
    assert!(system.contains("37.77"), "the location reaches the prompt");
    assert_eq!(sent[0]["messages"].as_array().map(Vec::len), Some(4), "system, two turns of history, the question");

    let summary = app.summary(&key).await;
    assert_eq!(
        summary["assistant"],
        json!({"calls": 1, "prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150})
    );
    let metrics = app.metrics().await.raw;
    assert!(metrics.contains(r#"replenish_assistant_tokens_total{tenant="acme",kind="prompt"} 120"#), "{metrics}");
    assert!(metrics.contains(r#"replenish_assistant_tokens_total{tenant="acme",kind="completion"} 30"#));
}

async fn frame_goes_through_the_detection_pipeline(backend: Backend) {
    let server = MockServer::start().await;
    mock_chat(&server, true, completion(r#"{"object_class":"water_bottle","fill_level":"EMPTY","confidence":"HIGH"}"#))
        .await;
    let (app, key, device) = app_with(backend, &server, |_| {}).await;

    let first = frame(&app, &device, "frame-1").await;
    let body = first.assert_status(200).clone();
    assert_eq!(body["should_prompt"], true);
    assert_eq!(body["reason"], "PROMPT");
    assert_eq!(body["product"]["sku"], "WATER-24");
    let sent = chat_requests(&server).await;
    assert_eq!(sent[0]["response_format"]["json_schema"]["strict"], true);

    // The same event id gets the same answer, recorded once, without a second model call.
    let again = frame(&app, &device, "frame-1").await;
    assert_eq!(again.assert_status(200), &body);
    let summary = app.summary(&key).await;
    assert_eq!(summary["detections"], 1);
    assert_eq!(summary["prompts"], 1);
    assert_eq!(summary["assistant"]["calls"], 1, "the repeat did not ask the model again");
    assert_eq!(chat_requests(&server).await.len(), 1);
}

async fn malformed_frame_output_is_502_and_nothing_is_recorded(backend: Backend) {
    let server = MockServer::start().await;
    mock_chat(
        &server,
        true,
        completion(r#"{"object_class":"water_bottle","fill_level":"SORT OF","confidence":"HIGH"}"#),
    )
    .await;
    let (app, key, device) = app_with(backend, &server, |_| {}).await;

    frame(&app, &device, "bad-1").await.assert_problem(502, "upstream-invalid");
    assert_eq!(chat_requests(&server).await[0]["model"], MODEL, "the provider did answer; its output was the problem");
    let summary = app.summary(&key).await;
    assert_eq!(summary["detections"], 0, "nothing recorded");
}

on_both_backends!(
    answers_with_reply_usage_and_catalog,
    frame_goes_through_the_detection_pipeline,
    malformed_frame_output_is_502_and_nothing_is_recorded,
    a_frame_over_the_device_limit_never_reaches_the_provider,
);

#[tokio::test]
async fn a_class_outside_the_catalog_is_502_and_unknown_is_404() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(completion(r#"{"object_class":"beer","fill_level":"LOW","confidence":"HIGH"}"#))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mock_chat(&server, true, completion(r#"{"object_class":"unknown","fill_level":"FULL","confidence":"LOW"}"#)).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |_| {}).await;
    frame(&app, &device, "e1").await.assert_problem(502, "upstream-invalid");
    frame(&app, &device, "e2").await.assert_problem(404, "not-found");
}

#[tokio::test]
async fn streams_the_reply_as_server_sent_events() {
    let server = MockServer::start().await;
    let chunk = |content: &str| {
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    };
    let last = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL, "choices": [],
                      "usage": {"prompt_tokens": 90, "completion_tokens": 5, "total_tokens": 95}});
    let sse = format!("data: {}\n\ndata: {}\n\ndata: {last}\n\ndata: [DONE]\n\n", chunk("Two "), chunk("bottles."));
    mock_chat(&server, false, ResponseTemplate::new(200).set_body_raw(sse, "text/event-stream")).await;
    let (app, key, device) = app_with(Backend::Sqlite, &server, |_| {}).await;

    let response = ask_streaming(&app, &device).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));
    let text = response.text().await.expect("body");
    // (event, data as JSON): the JSON is compared as values, since its key
    // order is serde_json's business (a test-only dependency turns on `preserve_order`).
    let frames: Vec<(&str, Value)> = text
        .split_terminator("\n\n")
        .map(|frame| {
            let (event, data) = frame.split_once('\n').expect("event and data lines");
            let data = data.strip_prefix("data: ").expect("a data line");
            (event.strip_prefix("event: ").expect("an event line"), serde_json::from_str(data).expect("JSON data"))
        })
        .collect();
    let expected = vec![
        ("delta", json!({"text": "Two "})),
        ("delta", json!({"text": "bottles."})),
        ("done", json!({"usage": {"prompt_tokens": 90, "completion_tokens": 5, "total_tokens": 95}})),
    ];
    assert_eq!(frames, expected, "{text}");
    assert!(text.ends_with("\n\n"), "every frame ends with a blank line");
    assert_eq!(chat_requests(&server).await[0]["stream"], true);
    assert_eq!(app.summary(&key).await["assistant"]["total_tokens"], 95);
}

#[tokio::test]
async fn retries_429_and_500_then_answers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(api_error(429))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(api_error(500))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mock_chat(&server, false, completion("Milk.")).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |_| {}).await;
    assert_eq!(ask(&app, &device, question()).await.assert_status(200)["reply"], "Milk.");
    assert_eq!(chat_requests(&server).await.len(), 3, "two retries, then the answer");
}

#[tokio::test]
async fn persistent_failures_open_the_breaker_which_then_answers_at_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(api_error(500)).mount(&server).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |s| {
        s.assistant.breaker_failures = 1;
        s.assistant.breaker_open_ms = 600_000;
    })
    .await;

    let failed = ask(&app, &device, question()).await;
    failed.assert_problem(503, "upstream-unavailable");
    let attempts = chat_requests(&server).await.len();
    assert_eq!(attempts, 4, "one call and three retries");

    let refused = ask(&app, &device, question()).await;
    refused.assert_problem(503, "upstream-unavailable");
    let retry_after: u64 = refused.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!(retry_after > 1 && retry_after <= 600, "Retry-After is the breaker's remaining time: {retry_after}");
    assert_eq!(chat_requests(&server).await.len(), attempts, "the open breaker does not call the provider");
    let metrics = app.metrics().await.raw;
    assert!(metrics.contains("replenish_assistant_breaker_open 1"), "{metrics}");
    assert!(metrics.contains(r#"replenish_assistant_calls_total{route="assistant",outcome="breaker-open"} 1"#));
}

#[tokio::test]
async fn a_slow_provider_is_a_503_not_a_hang() {
    let server = MockServer::start().await;
    mock_chat(&server, false, completion("late").set_delay(Duration::from_secs(30))).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |s| s.assistant.assistant_timeout_ms = 300).await;
    ask(&app, &device, question()).await.assert_problem(503, "upstream-unavailable");
}

#[tokio::test]
async fn bad_images_are_422_and_never_reach_the_provider() {
    let server = MockServer::start().await;
    mock_chat(&server, false, completion("unused")).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |_| {}).await;
    let too_big = format!("data:image/jpeg;base64,{}", STANDARD.encode(vec![0xFF; 4 * 1024 * 1024 + 1]));
    for image in [
        format!("data:image/png;base64,{}", STANDARD.encode(b"GIF89a not a png")),
        "data:image/png;base64,%%%not base64%%%".to_owned(),
        "https://example.com/fridge.jpg".to_owned(),
        too_big,
    ] {
        let mut body = question();
        body["image"] = json!(image);
        let reply = ask(&app, &device, body).await;
        reply.assert_problem(422, "validation-failed");
        assert_eq!(reply.body["errors"][0]["field"], "image", "{reply:?}");
        let frame_body = json!({"event_id": "img", "captured_at_ms": now_ms(), "image": image});
        let reply = app.call(Method::POST, "/api/v1/detections/frame", Some(&device), Some(frame_body)).await;
        reply.assert_problem(422, "validation-failed");
    }
    let mut eleven = question();
    eleven["history"] = json!(vec![json!({"role": "user", "content": "again"}); 11]);
    ask(&app, &device, eleven).await.assert_problem(422, "validation-failed");
    let huge = json!({"prompt": "x", "image": "a".repeat(7 * 1024 * 1024)});
    ask(&app, &device, huge).await.assert_problem(413, "payload-too-large");
    assert!(chat_requests(&server).await.is_empty());
}

#[tokio::test]
async fn the_tenant_budget_and_a_missing_key_refuse_early() {
    let server = MockServer::start().await;
    mock_chat(&server, false, completion("ok")).await;
    let (app, _, device) =
        app_with(Backend::Sqlite, &server, |s| s.assistant.assistant_tenant_requests_per_day = 1).await;
    ask(&app, &device, question()).await.assert_status(200);
    let refused = ask(&app, &device, question()).await;
    refused.assert_problem(429, "rate-limited");
    assert!(refused.headers.contains_key("retry-after"));

    let unconfigured = spawn_app_with(Backend::Sqlite, |_| {}).await;
    let (_, device) = unconfigured.seeded_tenant("acme").await;
    ask(&unconfigured, &device, question()).await.assert_problem(503, "upstream-unavailable");
}

#[tokio::test]
async fn speech_returns_the_providers_audio_within_limits() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/audio/speech"))
        .and(wiremock::matchers::body_partial_json(json!({"model": "test-tts", "input": "Reorder water?"})))
        .respond_with(ResponseTemplate::new(200).set_body_raw(b"ID3-fake-mp3".to_vec(), "audio/mpeg"))
        .mount(&server)
        .await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |s| s.assistant.speech_max_chars = 20).await;
    let response = app
        .client
        .post(format!("{}/api/v1/speech", app.address))
        .bearer_auth(&device)
        .json(&json!({"text": "Reorder water?"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "audio/mpeg");
    assert_eq!(response.bytes().await.expect("audio").as_ref(), b"ID3-fake-mp3");
    let long = app.call(Method::POST, "/api/v1/speech", Some(&device), Some(json!({"text": "x".repeat(21)}))).await;
    long.assert_problem(422, "validation-failed");
}

#[tokio::test]
async fn only_devices_may_call_the_assistant() {
    let server = MockServer::start().await;
    let (app, key, _) = app_with(Backend::Sqlite, &server, |_| {}).await;
    ask(&app, &key, question()).await.assert_problem(403, "forbidden");
    app.call(Method::POST, "/api/v1/assistant", None, Some(question())).await.assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn the_provider_wide_limit_refuses_beyond_its_quota() {
    let server = MockServer::start().await;
    mock_chat(&server, false, completion("ok")).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |s| s.assistant.provider_per_minute = 1).await;
    ask(&app, &device, question()).await.assert_status(200);
    let refused = ask(&app, &device, question()).await;
    refused.assert_problem(429, "rate-limited");
    assert_eq!(refused.first_item("ratelimit-policy"), "\"provider\";q=1;w=60");
    assert_eq!(chat_requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_provider_that_keeps_answering_429_is_a_503() {
    let server = MockServer::start().await;
    Mock::given(method("POST")).and(path("/v1/chat/completions")).respond_with(api_error(429)).mount(&server).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |_| {}).await;
    let reply = frame(&app, &device, "busy-1").await;
    reply.assert_problem(503, "upstream-unavailable");
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(chat_requests(&server).await.len(), 4, "one call and three retries");
}

#[tokio::test]
async fn a_stream_that_breaks_off_ends_with_an_error_event() {
    let server = MockServer::start().await;
    let sse =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Two \"}}]}\n\ndata: {not json\n\n";
    mock_chat(&server, false, ResponseTemplate::new(200).set_body_raw(sse, "text/event-stream")).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |_| {}).await;
    let response = ask_streaming(&app, &device).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    assert_eq!(
        text,
        "event: delta\ndata: {\"text\":\"Two \"}\n\n\
         event: error\ndata: {\"type\":\"https://replenish.dev/problems/upstream-invalid\"}\n\n"
    );
}

/// A provider that accepts one streamed chat request, sends the first chunk
/// and then stalls with the connection open, as a model still writing does
/// (wiremock sends a body whole, so it cannot stand in here). Reports on
/// `closed` when the app hangs up on it.
async fn stalling_stream_provider(closed: tokio::sync::oneshot::Sender<()>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        // Read the request head and its body (Content-Length), then answer.
        let mut request = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = socket.read(&mut buf).await.expect("read");
            request.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&request).to_lowercase();
            if let Some(head_end) = text.find("\r\n\r\n") {
                let length = text
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0)))
                    .unwrap_or(0);
                if request.len() >= head_end + 4 + length {
                    break;
                }
            }
            assert!(n > 0, "the app closed the request early");
        }
        let chunk = json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL,
                           "choices": [{"index": 0, "delta": {"content": "Two "}, "finish_reason": null}]});
        let event = format!("data: {chunk}\n\n");
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
        let body = format!("{:x}\r\n{event}\r\n", event.len());
        socket.write_all(head.as_bytes()).await.expect("head");
        socket.write_all(body.as_bytes()).await.expect("chunk");
        // Stall: the next read ends only when the app drops the connection.
        let _ = socket.read(&mut buf).await;
        let _ = closed.send(());
    });
    format!("http://{address}/v1")
}

#[tokio::test]
async fn a_stream_the_device_hangs_up_on_is_metered_and_counts_against_the_budget() {
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let base_url = stalling_stream_provider(closed_tx).await;
    let server = MockServer::start().await;
    let (app, key, device) = app_with(Backend::Sqlite, &server, |s| {
        s.assistant.openai_base_url = base_url;
        // Any metered token uses up the day.
        s.assistant.assistant_tenant_tokens_per_day = 1;
    })
    .await;

    let mut response = ask_streaming(&app, &device).await;
    assert_eq!(response.status(), 200);
    let first = response.chunk().await.expect("first chunk").expect("not the end");
    assert_eq!(first.as_ref(), b"event: delta\ndata: {\"text\":\"Two \"}\n\n");
    drop(response);

    // Metering runs when the app notices the hang-up: poll briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let assistant = loop {
        let assistant = app.summary(&key).await["assistant"].clone();
        if assistant["calls"] == 1 || std::time::Instant::now() > deadline {
            break assistant;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(assistant["calls"], 1, "the hung-up stream is metered: {assistant}");
    let n = |field: &str| assistant[field].as_u64().unwrap_or(0);
    assert_eq!(n("completion_tokens"), 1, "one chunk was relayed: {assistant}");
    assert!(n("prompt_tokens") > 0, "the prompt was sent, so it is estimated: {assistant}");
    assert_eq!(n("total_tokens"), n("prompt_tokens") + n("completion_tokens"));
    tokio::time::timeout(Duration::from_secs(2), closed_rx)
        .await
        .expect("the app stops the provider's stream")
        .expect("closed");
    let metrics = app.metrics().await.raw;
    assert!(
        metrics.contains(r#"replenish_assistant_calls_total{route="assistant",outcome="cancelled"} 1"#),
        "{metrics}"
    );

    let refused = ask(&app, &device, question()).await;
    refused.assert_problem(429, "rate-limited");
    assert_eq!(refused.first_item("ratelimit-policy"), "\"assistant-tokens\";q=1;w=86400");
}

async fn a_frame_over_the_device_limit_never_reaches_the_provider(backend: Backend) {
    let server = MockServer::start().await;
    mock_chat(&server, true, completion(r#"{"object_class":"water_bottle","fill_level":"FULL","confidence":"HIGH"}"#))
        .await;
    let (app, key, device) = app_with(backend, &server, |_| {}).await;
    app.set_limits("acme", json!({"device_per_minute": 1})).await;

    frame(&app, &device, "f-1").await.assert_status(200);
    let refused = frame(&app, &device, "f-2").await;
    refused.assert_problem(429, "rate-limited");
    assert_eq!(refused.first_item("ratelimit-policy"), "\"device\";q=1;w=60");
    assert_eq!(chat_requests(&server).await.len(), 1, "the refused frame spent no provider tokens");
    let summary = app.summary(&key).await;
    assert_eq!(summary["assistant"]["calls"], 1);
    assert_eq!(summary["detections"], 1);
}

#[tokio::test]
async fn calls_the_provider_limit_refuses_do_not_use_up_the_tenants_requests() {
    let server = MockServer::start().await;
    mock_chat(&server, false, completion("ok")).await;
    let (app, _, device) = app_with(Backend::Sqlite, &server, |s| {
        s.assistant.provider_per_minute = 1;
        s.assistant.assistant_tenant_requests_per_day = 2;
    })
    .await;
    ask(&app, &device, question()).await.assert_status(200);
    for _ in 0..3 {
        let refused = ask(&app, &device, question()).await;
        refused.assert_problem(429, "rate-limited");
        assert_eq!(
            refused.first_item("ratelimit-policy"),
            "\"provider\";q=1;w=60",
            "still the provider's limit, not the tenant's day"
        );
    }
    assert_eq!(chat_requests(&server).await.len(), 1);
}
