//! Server errors reach Sentry (through its test transport); client errors do not.
//!
//! A test binary of its own, because Sentry's client is process-global.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::sync::Arc;
use std::time::Duration;

use helpers::{Backend, spawn_app};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};

#[tokio::test]
async fn server_errors_are_reported_and_client_errors_are_not() {
    let transport = sentry::test::TestTransport::new();
    // A real-looking DSN switches reporting on; the test transport keeps events in memory.
    let settings = replenish_app::Settings {
        sentry_dsn: Some(secrecy::SecretString::from("https://public@sentry.invalid/1".to_owned())),
        ..replenish_app::Settings::default()
    };
    let factory: Arc<dyn sentry::TransportFactory> = Arc::new(transport.clone());
    let _guard = replenish_app::telemetry::init_sentry(&settings, Some(factory));

    let app = spawn_app(Backend::Postgres).await;
    let key = app.create_tenant("acme").await;
    app.call(Method::GET, "/api/v1/stores/Bad_Id", Some(&key), None).await.assert_problem(400, "invalid-id");
    app.call(Method::GET, "/api/v1/stores/missing", Some(&key), None).await.assert_problem(404, "not-found");

    // Break the schema under the running app: the next store query fails server-side.
    let db = Database::connect(&app.db.url).await.expect("test database");
    db.execute_unprepared("ALTER TABLE stores RENAME TO stores_gone").await.expect("rename");
    let reply = app.call(Method::GET, "/api/v1/stores", Some(&key), None).await;
    reply.assert_problem(500, "internal");
    assert!(!reply.raw.contains("stores"), "internal causes stay out of responses: {}", reply.raw);

    let mut events = Vec::new();
    for _ in 0..50 {
        events.extend(transport.fetch_and_clear_events());
        if !events.is_empty() {
            break;
        }
        // Polls Sentry's transport thread for the event, not a TTL.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Gives the transport time to deliver a second event, were one sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    events.extend(transport.fetch_and_clear_events());
    assert_eq!(events.len(), 1, "exactly the one 5xx is reported: {events:#?}");
    let event = &events[0];
    let request = event.request.as_ref().expect("request context");
    assert!(request.url.as_ref().is_some_and(|u| u.path() == "/api/v1/stores"), "{request:?}");
    let printed = format!("{event:?}");
    assert!(!printed.contains(&key), "the API key must not reach Sentry");
}
