//! Health, readiness, metrics and the OpenAPI document.

use std::collections::BTreeSet;

use reqwest::Method;
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

use crate::helpers::{Backend, postgres_server_url, spawn_app};

async fn health_readiness_and_metrics(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(health.assert_status(200)["status"], "ok");
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    let ready = ready.assert_status(200);
    assert_eq!(ready["checks"]["database"], "ok");
    assert_eq!(ready["checks"]["redis"], "not configured");

    app.create_tenant("acme").await;
    app.call(Method::GET, "/admin/v1/tenants/Bad", Some(&app.admin_token), None)
        .await
        .assert_problem(400, "invalid-id");
    let metrics = app.metrics().await;
    assert_eq!(metrics.status.as_u16(), 200);
    let text = metrics.raw;
    assert!(
        text.contains(
            r#"replenish_http_requests_total{method="PUT",route="/admin/v1/tenants/{tenant}",status="201"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"replenish_http_requests_total{method="GET",route="/admin/v1/tenants/{tenant}",status="400"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("replenish_http_request_duration_seconds_bucket"), "{text}");
    assert!(!text.contains("/admin/v1/tenants/acme"), "raw paths must not become labels");
}

/// `/metrics` names every tenant: it is served on the metrics listener only,
/// and that listener serves nothing else.
async fn metrics_are_not_on_the_public_port(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_tenant("acme").await;
    app.call(Method::GET, "/metrics", None, None).await.assert_problem(404, "route-not-found");
    let metrics = app.metrics().await;
    assert_eq!(metrics.status.as_u16(), 200, "{metrics:?}");
    assert!(metrics.content_type.starts_with("application/openmetrics-text"), "{metrics:?}");
    assert!(metrics.raw.contains("replenish_http_requests_total"), "{}", metrics.raw);
    assert_ne!(app.metrics_address, app.address, "two listeners");
    let api_on_metrics_port =
        app.client.get(format!("{}/healthz", app.metrics_address)).send().await.expect("metrics listener answers");
    assert_eq!(api_on_metrics_port.status().as_u16(), 404, "only /metrics on the metrics listener");
}

/// Stopping the application stops both listeners.
async fn stopping_stops_both_listeners(backend: Backend) {
    let db = crate::helpers::TestDb::create(backend).await;
    let settings = replenish_app::Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        metrics_listen: "127.0.0.1:0".parse().expect("addr"),
        database_url: secrecy::SecretString::from(db.url.clone()),
        admin_token: Some(secrecy::SecretString::from("a-long-enough-admin-token".to_owned())),
        workers: 1,
        shutdown_timeout_secs: 1,
        ..replenish_app::Settings::default()
    };
    let app = replenish_app::Application::build(settings).await.expect("builds");
    let metrics = format!("http://127.0.0.1:{}/metrics", app.metrics_port());
    let health = format!("http://127.0.0.1:{}/healthz", app.port());
    let handle = app.handle();
    let running = tokio::spawn(app.run_until_stopped());
    assert!(reqwest::get(&metrics).await.expect("metrics").status().is_success());
    assert!(reqwest::get(&health).await.expect("healthz").status().is_success());
    handle.stop(true).await;
    running.await.expect("joins").expect("stops cleanly");
    assert!(reqwest::get(&metrics).await.is_err(), "the metrics listener is closed");
    assert!(reqwest::get(&health).await.is_err(), "the public listener is closed");
}

async fn readiness_reports_redis_when_configured(backend: Backend) {
    let db = crate::helpers::TestDb::create(backend).await;
    let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    for (url, expected, status) in [
        (redis_url.as_str(), "ok", "ready"),
        // Nothing listens on port 1: Redis is down, the service still serves.
        ("redis://127.0.0.1:1", "unreachable", "ready (degraded)"),
    ] {
        let settings = replenish_app::Settings {
            listen: "127.0.0.1:0".parse().expect("addr"),
            metrics_listen: "127.0.0.1:0".parse().expect("addr"),
            database_url: secrecy::SecretString::from(db.url.clone()),
            redis_url: Some(secrecy::SecretString::from(url.to_owned())),
            admin_token: Some(secrecy::SecretString::from("a-long-enough-admin-token".to_owned())),
            workers: 1,
            ..replenish_app::Settings::default()
        };
        let app = replenish_app::Application::build(settings).await.expect("builds");
        let address = format!("http://127.0.0.1:{}/readyz", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let body: Value = reqwest::get(&address).await.expect("readyz").json().await.expect("json");
        assert!(body["checks"]["redis"].as_str().unwrap_or_default().starts_with(expected), "{body}");
        assert_eq!(body["status"], status, "{body}");
        handle.stop(true).await;
    }
}

async fn readiness_fails_when_the_database_is_gone(backend: Backend) {
    assert_eq!(backend, Backend::Postgres, "only Postgres can be taken away mid-test");
    let app = spawn_app(backend).await;
    app.call(Method::GET, "/readyz", None, None).await.assert_status(200);
    let name = app.db.url.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default().to_owned();
    let admin = Database::connect(&postgres_server_url()).await.expect("server");
    admin.execute_unprepared(&format!("DROP DATABASE {name} WITH (FORCE)")).await.expect("drop");
    let reply = app.call(Method::GET, "/readyz", None, None).await;
    reply.assert_problem(503, "not-ready");
    assert!(reply.body["checks"]["database"].as_str().unwrap_or_default().starts_with("unreachable"), "{reply:?}");
    // A request that needs the database is a 503, not a client error and not a panic.
    let listed = app.call(Method::GET, "/admin/v1/tenants", Some(&app.admin_token), None).await;
    assert!(listed.status.is_server_error(), "{listed:?}");
    assert_eq!(listed.content_type, "application/problem+json");
}

fn collect_refs(value: &Value, refs: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                refs.insert(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, refs));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

async fn openapi_documents_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let doc = app.call(Method::GET, "/openapi.json", None, None).await;
    let doc = doc.assert_status(200);
    assert!(doc["openapi"].as_str().unwrap_or_default().starts_with("3."));
    let expected: BTreeSet<(String, String)> = [
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
        ("get", "/admin/v1/tenants"),
        ("put", "/admin/v1/tenants/{tenant}"),
        ("get", "/admin/v1/tenants/{tenant}"),
        ("delete", "/admin/v1/tenants/{tenant}"),
        ("post", "/admin/v1/tenants/{tenant}/api-keys"),
        ("put", "/admin/v1/tenants/{tenant}/devices/{device}"),
        ("delete", "/admin/v1/tenants/{tenant}/devices/{device}"),
        ("get", "/api/v1/stores"),
        ("put", "/api/v1/stores/{store}"),
        ("get", "/api/v1/stores/{store}"),
        ("get", "/api/v1/products"),
        ("put", "/api/v1/products/{product}"),
        ("get", "/api/v1/products/{product}"),
        ("delete", "/api/v1/products/{product}"),
        ("post", "/api/v1/devices"),
        ("post", "/api/v1/devices:batch"),
        ("get", "/api/v1/devices"),
        ("get", "/api/v1/devices/{device}"),
        ("delete", "/api/v1/devices/{device}"),
        ("get", "/api/v1/device"),
        ("post", "/api/v1/detections"),
        ("post", "/api/v1/decisions"),
        ("get", "/api/v1/intents"),
        ("get", "/api/v1/intents/{intent}"),
        ("get", "/api/v1/orders"),
        ("get", "/api/v1/orders/{order}"),
        ("post", "/api/v1/orders/{order}/status"),
        ("post", "/api/v1/orders/{order}/cancel"),
        ("get", "/api/v1/telemetry/summary"),
        ("get", "/api/v1/events"),
        ("get", "/api/v1/events/{event}"),
        ("post", "/api/v1/events/{event}/redeliver"),
        ("get", "/api/v1/webhook-endpoints"),
        ("put", "/api/v1/webhook-endpoints/{endpoint}"),
        ("get", "/api/v1/webhook-endpoints/{endpoint}"),
        ("delete", "/api/v1/webhook-endpoints/{endpoint}"),
        ("post", "/api/v1/webhook-endpoints/{endpoint}/roll-secret"),
        ("get", "/api/v1/webhook-endpoints/{endpoint}/deliveries"),
        ("post", "/api/v1/assistant"),
        ("post", "/api/v1/detections/frame"),
        ("post", "/api/v1/speech"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object().into_iter().flat_map(move |o| o.keys().map(move |m| (m.clone(), path.clone())))
        })
        .filter(|(method, _)| method != "parameters")
        .collect();
    assert_eq!(documented, expected);
    let mut refs = BTreeSet::new();
    collect_refs(doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(doc["components"]["schemas"].get(name).is_some(), "dangling reference {r}");
    }
    for scheme in ["admin_token", "tenant_api_key", "device_token"] {
        assert_eq!(doc["components"]["securitySchemes"][scheme]["scheme"], "bearer");
    }
}

on_both_backends!(
    health_readiness_and_metrics,
    metrics_are_not_on_the_public_port,
    stopping_stops_both_listeners,
    readiness_reports_redis_when_configured,
    openapi_documents_every_route
);

#[tokio::test]
async fn postgres_readiness_fails_when_the_database_is_gone() {
    readiness_fails_when_the_database_is_gone(Backend::Postgres).await;
}
