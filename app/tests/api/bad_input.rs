//! Bad input on every route gets the right 4xx as problem+json, never a 5xx.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, product_body, spawn_app};

#[derive(Clone, Copy, PartialEq)]
enum Caller {
    Admin,
    Merchant,
    Device,
}

/// Every authenticated route: method, path with `{id}` placeholders filled by valid ids, caller.
fn routes() -> Vec<(Method, &'static str, Caller)> {
    vec![
        (Method::GET, "/admin/v1/tenants", Caller::Admin),
        (Method::PUT, "/admin/v1/tenants/acme", Caller::Admin),
        (Method::GET, "/admin/v1/tenants/acme", Caller::Admin),
        (Method::DELETE, "/admin/v1/tenants/acme", Caller::Admin),
        (Method::POST, "/admin/v1/tenants/acme/api-keys", Caller::Admin),
        (Method::PUT, "/admin/v1/tenants/acme/devices/glasses", Caller::Admin),
        (Method::DELETE, "/admin/v1/tenants/acme/devices/glasses", Caller::Admin),
        (Method::GET, "/api/v1/stores", Caller::Merchant),
        (Method::PUT, "/api/v1/stores/main", Caller::Merchant),
        (Method::GET, "/api/v1/stores/main", Caller::Merchant),
        (Method::GET, "/api/v1/products", Caller::Merchant),
        (Method::PUT, "/api/v1/products/water", Caller::Merchant),
        (Method::GET, "/api/v1/products/water", Caller::Merchant),
        (Method::DELETE, "/api/v1/products/water", Caller::Merchant),
        (Method::POST, "/api/v1/devices", Caller::Merchant),
        (Method::POST, "/api/v1/devices:batch", Caller::Merchant),
        (Method::GET, "/api/v1/devices", Caller::Merchant),
        (Method::GET, "/api/v1/devices/glasses", Caller::Merchant),
        (Method::DELETE, "/api/v1/devices/glasses", Caller::Merchant),
        (Method::GET, "/api/v1/device", Caller::Device),
        (Method::POST, "/api/v1/detections", Caller::Device),
        (Method::POST, "/api/v1/decisions", Caller::Device),
        (Method::GET, "/api/v1/intents", Caller::Merchant),
        (Method::GET, "/api/v1/orders", Caller::Merchant),
        (Method::GET, "/api/v1/telemetry/summary", Caller::Merchant),
    ]
}

struct Tokens {
    admin: String,
    merchant: String,
    device: String,
}

impl Tokens {
    fn of(&self, caller: Caller) -> &str {
        match caller {
            Caller::Admin => &self.admin,
            Caller::Merchant => &self.merchant,
            Caller::Device => &self.device,
        }
    }
}

async fn setup(app: &TestApp) -> Tokens {
    let (merchant, device) = app.seeded_tenant("acme").await;
    // These suites send hundreds of requests; the limits have tests of their own.
    app.set_limits("acme", serde_json::json!({"tenant_per_second": 1_000_000, "device_per_minute": 1_000_000})).await;
    Tokens { admin: app.admin_token.clone(), merchant, device }
}

#[track_caller]
fn assert_client_error(reply: &crate::helpers::Reply, context: &str) {
    assert!(reply.status.is_client_error(), "{context}: expected 4xx, got {reply:?}");
    assert_eq!(reply.content_type, "application/problem+json", "{context}: {reply:?}");
}

async fn missing_or_wrong_credentials_are_401_and_wrong_kind_403(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = setup(&app).await;
    for (method, path, caller) in routes() {
        let context = format!("{method} {path}");
        app.call(method.clone(), path, None, None).await.assert_problem(401, "unauthorized");
        for bogus in ["rpl_t_nottherealkey0000000000000000", "rpl_d_nottherealtoken00000000000000", "garbage"] {
            let reply = app.call(method.clone(), path, Some(bogus), None).await;
            reply.assert_problem(401, "unauthorized");
            assert_eq!(
                reply.headers.get("www-authenticate").and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{context}"
            );
        }
        let basic = app
            .client
            .request(method.clone(), format!("{}{path}", app.address))
            .header("authorization", format!("Basic {}", tokens.of(caller)))
            .send()
            .await
            .expect("sent");
        assert_eq!(basic.status().as_u16(), 401, "{context} with Basic");
        for other in [Caller::Admin, Caller::Merchant, Caller::Device].into_iter().filter(|c| *c != caller) {
            let reply = app.call(method.clone(), path, Some(tokens.of(other)), None).await;
            reply.assert_problem(403, "forbidden");
        }
    }
}

async fn bad_ids_are_400_on_every_route(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = setup(&app).await;
    let too_long = "a".repeat(64);
    for (method, path, caller) in routes() {
        for valid in ["acme", "glasses", "main", "water"] {
            if !path.split('/').any(|segment| segment == valid) {
                continue;
            }
            for bad in ["Acme", "a_b", "-x", "x-", too_long.as_str(), "%C3%A9"] {
                let bad_path = path
                    .split('/')
                    .map(|segment| if segment == valid { bad } else { segment })
                    .collect::<Vec<_>>()
                    .join("/");
                let reply = app.call(method.clone(), &bad_path, Some(tokens.of(caller)), None).await;
                reply.assert_problem(400, "invalid-id");
            }
        }
    }
}

/// A route with a JSON body: method, path, caller, a valid body, and a field
/// whose enum value can be made unknown (field, bad value).
type BodyRoute = (Method, &'static str, Caller, Value, Option<(&'static str, &'static str)>);

fn body_routes() -> Vec<BodyRoute> {
    vec![
        (
            Method::PUT,
            "/admin/v1/tenants/acme",
            Caller::Admin,
            json!({"display_name": "A", "plan": "starter"}),
            Some(("plan", "gold")),
        ),
        (
            Method::PUT,
            "/admin/v1/tenants/acme/devices/glasses",
            Caller::Admin,
            json!({"store": "main", "model": "m", "owner": "o"}),
            None,
        ),
        (
            Method::PUT,
            "/api/v1/stores/main",
            Caller::Merchant,
            json!({"name": "M", "timezone": "UTC", "commerce": {"provider": "mock"}}),
            Some(("commerce", "amazon")),
        ),
        (
            Method::PUT,
            "/api/v1/products/water",
            Caller::Merchant,
            product_body("water_bottle", "W"),
            Some(("reorder_threshold", "MEDIUM")),
        ),
        (
            Method::POST,
            "/api/v1/devices",
            Caller::Merchant,
            json!({"device_id": "new", "store": "main", "owner": "o", "model": "m"}),
            None,
        ),
        (
            Method::POST,
            "/api/v1/devices:batch",
            Caller::Merchant,
            json!({"devices": [{"device_id": "new", "store": "main", "owner": "o", "model": "m"}]}),
            None,
        ),
        (
            Method::POST,
            "/api/v1/detections",
            Caller::Device,
            json!({"event_id": "e", "object_class": "water_bottle", "fill_level": "LOW", "confidence": "HIGH", "captured_at_ms": 1}),
            Some(("fill_level", "HALF_EMPTY")),
        ),
        (
            Method::POST,
            "/api/v1/decisions",
            Caller::Device,
            json!({"intent_id": "8a4f6f3e-8d7f-4bb8-9d0c-2f9f0c6f1a11", "accepted": true, "channel": "VOICE", "decided_at_ms": 1}),
            Some(("channel", "TELEPATHY")),
        ),
        // Last: an empty or partial body is a valid rotation, which revokes the merchant key used above.
        (Method::POST, "/admin/v1/tenants/acme/api-keys", Caller::Admin, json!({"grace_period_seconds": 5}), None),
    ]
}

async fn bad_bodies_are_4xx_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = setup(&app).await;
    for (method, path, caller, valid, enum_field) in body_routes() {
        let token = tokens.of(caller);
        let context = format!("{method} {path}");
        let send = |body: Vec<u8>, content_type: &'static str| {
            let method = method.clone();
            let app = &app;
            async move { app.call_raw(method, path, Some(token), content_type, body).await }
        };
        send(b"{\"not json".to_vec(), "application/json").await.assert_problem(400, "malformed-json");
        let empty = send(b"".to_vec(), "application/json").await;
        if path.ends_with("/api-keys") {
            empty.assert_status(201);
        } else {
            empty.assert_problem(400, "malformed-json");
        }
        send(b"[1,2,3]".to_vec(), "application/json").await.assert_problem(422, "invalid-body");
        send(valid.to_string().into_bytes(), "text/plain").await.assert_problem(415, "unsupported-media-type");

        let object = valid.as_object().expect("object body");
        for (field, value) in object {
            let mut wrong_type = valid.clone();
            wrong_type[field] = if value.is_number() || value.is_array() { json!("text") } else { json!(12345) };
            send(wrong_type.to_string().into_bytes(), "application/json").await.assert_problem(422, "invalid-body");
            let mut missing = valid.clone();
            missing.as_object_mut().expect("object").remove(field);
            let reply = send(missing.to_string().into_bytes(), "application/json").await;
            // Optional fields may be left out; required ones must not be.
            if !reply.status.is_success() {
                reply.assert_problem(422, "invalid-body");
            }
        }
        let mut unknown_field = valid.clone();
        unknown_field["surprise"] = json!(true);
        send(unknown_field.to_string().into_bytes(), "application/json").await.assert_problem(422, "invalid-body");
        if let Some((field, bad)) = enum_field {
            let mut unknown_enum = valid.clone();
            unknown_enum[field] = if valid[field].is_object() { json!({"provider": bad}) } else { json!(bad) };
            send(unknown_enum.to_string().into_bytes(), "application/json").await.assert_problem(422, "invalid-body");
        }
        let mut huge = valid.clone();
        huge["padding"] = json!("x".repeat(if path.ends_with(":batch") { 1_100_000 } else { 70_000 }));
        let reply = send(huge.to_string().into_bytes(), "application/json").await;
        reply.assert_problem(413, "payload-too-large");
        assert_client_error(&reply, &context);
    }
}

async fn bad_queries_unknown_routes_and_methods(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = setup(&app).await;
    for path in ["/api/v1/stores", "/api/v1/products", "/api/v1/devices"] {
        for query in ["?limit=abc", "?limit=0", "?limit=501", "?limit=-1", "?cursor=Not%20A%20Cursor", "?colour=red"] {
            let reply = app.call(Method::GET, &format!("{path}{query}"), Some(&tokens.merchant), None).await;
            reply.assert_problem(400, "invalid-query");
        }
    }
    app.call(Method::GET, "/admin/v1/tenants?limit=x", Some(&tokens.admin), None)
        .await
        .assert_problem(400, "invalid-query");

    for path in ["/nope", "/api/v2/stores", "/api/v1/stores/main/extra", "/admin/v1/nope"] {
        let token = if path.starts_with("/admin") { &tokens.admin } else { &tokens.merchant };
        app.call(Method::GET, path, Some(token), None).await.assert_problem(404, "route-not-found");
    }
    for (method, path, token, allow) in [
        (Method::PATCH, "/api/v1/stores/main", &tokens.merchant, "GET, PUT"),
        (Method::POST, "/api/v1/stores", &tokens.merchant, "GET"),
        (Method::GET, "/api/v1/devices:batch", &tokens.merchant, "POST"),
        (Method::PATCH, "/admin/v1/tenants/acme", &tokens.admin, "GET, PUT, DELETE"),
        (Method::POST, "/healthz", &tokens.admin, "GET"),
    ] {
        let reply = app.call(method, path, Some(token), None).await;
        reply.assert_problem(405, "method-not-allowed");
        assert_eq!(reply.headers.get("allow").and_then(|v| v.to_str().ok()), Some(allow), "{path}");
    }
}

/// The inputs of issue 12 item 5, as reported: each one panicked (a dropped
/// connection) or reached Postgres and came back as a 500.
async fn out_of_range_times_and_nul_are_4xx(backend: Backend) {
    let app = spawn_app(backend).await;
    let tokens = setup(&app).await;
    for query in [
        "?until=-262143-01-01T00:00:00Z",
        "?since=-4714-11-24T00:00:00Z&until=2026-01-01T00:00:00Z",
        "?since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z",
        "?until=%2B10000-01-01T00:00:00Z",
    ] {
        let path = format!("/api/v1/telemetry/summary{query}");
        app.call(Method::GET, &path, Some(&tokens.merchant), None).await.assert_problem(400, "invalid-query");
    }
    let year = "?since=2025-01-01T00:00:00Z&until=2026-01-01T00:00:00Z";
    app.call(Method::GET, &format!("/api/v1/telemetry/summary{year}"), Some(&tokens.merchant), None)
        .await
        .assert_status(200);
    for path in ["/api/v1/intents", "/api/v1/orders"] {
        for query in ["?since=-5000-01-01T00:00:00Z", "?until=-262143-01-01T00:00:00Z", "?cursor=9223372036854775807-0"]
        {
            let reply = app.call(Method::GET, &format!("{path}{query}"), Some(&tokens.merchant), None).await;
            reply.assert_problem(400, "invalid-query");
        }
    }
    let nul = "Down\0town";
    let store = json!({"name": nul, "timezone": "UTC", "commerce": {"provider": "mock"}});
    let reply = app.call(Method::PUT, "/api/v1/stores/nul", Some(&tokens.merchant), Some(store)).await;
    reply.assert_problem(422, "validation-failed");
    let device = json!({"device_id": "nul", "store": "main", "owner": nul, "model": "m"});
    let reply = app.call(Method::POST, "/api/v1/devices", Some(&tokens.merchant), Some(device)).await;
    reply.assert_problem(422, "validation-failed");
    let tenant = json!({"display_name": nul, "plan": "starter"});
    app.admin(Method::PUT, "/admin/v1/tenants/nul", Some(tenant)).await.assert_problem(422, "validation-failed");
    for at_ms in [i64::MIN, i64::MAX] {
        let detection = json!({"event_id": "e", "object_class": "water_bottle", "fill_level": "LOW",
            "confidence": "HIGH", "captured_at_ms": at_ms});
        let reply = app.call(Method::POST, "/api/v1/detections", Some(&tokens.device), Some(detection)).await;
        reply.assert_problem(400, "invalid-timestamp");
    }
}

on_both_backends!(
    missing_or_wrong_credentials_are_401_and_wrong_kind_403,
    bad_ids_are_400_on_every_route,
    bad_bodies_are_4xx_problems,
    bad_queries_unknown_routes_and_methods,
    out_of_range_times_and_nul_are_4xx,
);

/// A report that runs past `REPLENISH_REPORT_TIMEOUT_MS` is a 503 `unavailable`
/// (Postgres; SQLite has no statement timeout). Another session holds a lock
/// the report's first count must wait for, so the timeout is what ends it.
#[tokio::test]
async fn a_report_past_its_statement_timeout_is_503() {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};
    let app = crate::helpers::spawn_app_with(Backend::Postgres, |s| s.report_timeout_ms = 200).await;
    let tokens = setup(&app).await;
    let other = Database::connect(&app.db.url).await.expect("a second session");
    let locker = other.begin().await.expect("begin");
    locker.execute_unprepared("LOCK TABLE detections IN ACCESS EXCLUSIVE MODE").await.expect("lock");
    let reply = app.call(Method::GET, "/api/v1/telemetry/summary", Some(&tokens.merchant), None).await;
    reply.assert_problem(503, "unavailable");
    assert!(reply.headers.contains_key("retry-after"), "{reply:?}");
    locker.rollback().await.expect("unlock");
    app.call(Method::GET, "/api/v1/telemetry/summary", Some(&tokens.merchant), None).await.assert_status(200);
}
