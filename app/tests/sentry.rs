//! Server errors reach Sentry, client errors do not, and what reaches it
//! carries no request body, credentials or query string.
//!
//! Sentry's real HTTP transport sends to a local server standing in for the
//! ingest endpoint, so the test reads exactly the bytes that would leave the
//! process. A test binary of its own, because Sentry's client is process-global.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::time::{Duration, Instant};

use helpers::{Backend, spawn_app};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Words that appear only in what the client sent.
const SECRET_BODY: &str = "secret-speech-4242";
const SECRET_QUERY: &str = "secret-query-token-777";

#[tokio::test]
async fn server_errors_reach_sentry_without_bodies_credentials_or_query_strings() {
    let ingest = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&ingest).await;
    let settings = replenish_app::Settings {
        sentry_dsn: Some(secrecy::SecretString::from(format!("http://public@{}/1", ingest.address()))),
        ..replenish_app::Settings::default()
    };
    let guard = replenish_app::telemetry::init_sentry(&settings, None);

    let app = spawn_app(Backend::Postgres).await;
    let key = app.create_tenant("acme").await;
    app.call(Method::GET, "/api/v1/stores/Bad_Id", Some(&key), None).await.assert_problem(400, "invalid-id");
    app.call(Method::GET, "/api/v1/stores/missing", Some(&key), None).await.assert_problem(404, "not-found");

    // Break the schema under the running app: the next store write fails server-side.
    let db = Database::connect(&app.db.url).await.expect("test database");
    db.execute_unprepared("ALTER TABLE stores RENAME TO stores_gone").await.expect("rename");
    let body = json!({"name": SECRET_BODY, "timezone": "UTC", "commerce": {"provider": "mock"}});
    let path = format!("/api/v1/stores/downtown?note={SECRET_QUERY}");
    let reply = app.call(Method::PUT, &path, Some(&key), Some(body)).await;
    reply.assert_problem(500, "internal");
    assert!(!reply.raw.contains("stores"), "internal causes stay out of responses: {}", reply.raw);

    let sent = envelopes(&ingest, Duration::from_secs(10)).await;
    drop(guard);
    let events: Vec<&String> = sent.iter().filter(|e| e.contains("\"type\":\"event\"")).collect();
    assert_eq!(events.len(), 1, "exactly the one 5xx is reported: {sent:#?}");
    let event = events[0];
    assert!(event.contains("/api/v1/stores/downtown"), "the event names the route: {event}");
    for secret in [SECRET_BODY, SECRET_QUERY, key.as_str(), "Bearer", "authorization"] {
        assert!(!event.to_lowercase().contains(&secret.to_lowercase()), "{secret:?} reached Sentry: {event}");
    }
}

/// The envelopes the ingest server received, once at least one event came
/// and nothing new arrived for a moment.
async fn envelopes(ingest: &MockServer, deadline: Duration) -> Vec<String> {
    let started = Instant::now();
    let mut seen = 0;
    loop {
        let received = ingest.received_requests().await.unwrap_or_default();
        let bodies: Vec<String> = received.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
        let has_event = bodies.iter().any(|b| b.contains("\"type\":\"event\""));
        if (has_event && bodies.len() == seen) || started.elapsed() > deadline {
            return bodies;
        }
        seen = bodies.len();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
