//! The event log: every change a merchant cares about writes an event in its
//! own transaction; `GET /api/v1/events` lists them per tenant, filtered and
//! paged; and webhook endpoints with their signing secrets.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Api, Backend, spawn_app, spawn_app_with};

on_both_backends!(
    the_loop_writes_its_events_in_order,
    devices_and_tenants_write_events,
    expiry_writes_events_once,
    listing_filters_pages_and_stays_in_its_tenant,
    bad_event_queries_are_problems,
    endpoints_show_their_secret_once_and_roll_it,
    endpoints_refuse_bad_settings_and_other_tenants,
    events_past_retention_are_pruned,
);

/// Every event of the tenant, oldest first, read page by page.
async fn all_events(api: &Api, key: &str, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let after = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let path = format!("/api/v1/events?order=asc&limit=2{query}{after}");
        let page = api.call(Method::GET, &path, Some(key), None).await.assert_status(200).clone();
        events.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return events,
        }
    }
}

fn types_of(events: &[Value], object_id: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["object_id"] == object_id)
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

async fn the_loop_writes_its_events_in_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, token) = app.seeded_tenant("acme").await;
    let intent = app.prompted(&token, "e1", "water_bottle").await;
    let decided = app.decide(&token, &intent, true, "GESTURE").await.assert_status(200).clone();
    let order = decided["order"]["order_id"].as_str().expect("order").to_owned();
    app.put_product(&key, "sunscreen", "sunscreen", "SUN-50").await.assert_status(201);
    let declined = app.prompted(&token, "e2", "sunscreen").await;
    app.decide(&token, &declined, false, "VOICE").await.assert_status(200);
    let events = all_events(&app, &key, "").await;
    assert_eq!(types_of(&events, &intent), ["intent.created", "intent.accepted"], "{events:#?}");
    assert_eq!(types_of(&events, &order), ["order.created", "order.submitted", "order.confirmed"]);
    let confirmed = events.iter().find(|e| e["type"] == "order.confirmed").expect("confirmed");
    assert_eq!(confirmed["object"], "order");
    assert_eq!(confirmed["tenant_id"], "acme");
    assert_eq!(confirmed["data"]["status"], "CONFIRMED", "the snapshot is the order after the change");
    assert_eq!(confirmed["data"]["order_id"], order.as_str());
    let accepted = events.iter().find(|e| e["type"] == "intent.accepted").expect("accepted");
    assert_eq!(accepted["data"]["status"], "ACCEPTED");
    assert_eq!(accepted["data"]["channel"], "GESTURE");
    assert_eq!(types_of(&events, &declined), ["intent.created", "intent.rejected"]);
    // One event by id is the same as listed.
    let id = confirmed["id"].as_str().expect("id");
    let one = app.call(Method::GET, &format!("/api/v1/events/{id}"), Some(&key), None).await;
    assert_eq!(one.assert_status(200), confirmed);
    // A merchant's status report and a decline write theirs.
    let shipped = json!({"status": "SHIPPED", "tracking_number": "1Z999"});
    let path = format!("/api/v1/orders/{order}/status");
    app.call(Method::POST, &path, Some(&key), Some(shipped)).await.assert_status(200);
    let events = all_events(&app, &key, "").await;
    assert_eq!(types_of(&events, &order).last().map(String::as_str), Some("order.status_changed"));
}

async fn devices_and_tenants_write_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, _) = app.seeded_tenant("acme").await;
    let batch = json!({"devices": [
        {"device_id": "b1", "store": "main", "owner": "h2", "model": "spectacles-5"},
        {"device_id": "b2", "store": "main", "owner": "h2", "model": "spectacles-5", "test": true},
    ]});
    app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(batch)).await.assert_status(201);
    app.call(Method::DELETE, "/api/v1/devices/b1", Some(&key), None).await.assert_status(204);
    app.set_limits("acme", json!({"daily_order_budget_usd": 12.5})).await;
    let events = all_events(&app, &key, "").await;
    assert_eq!(types_of(&events, "glasses"), ["device.registered"]);
    assert_eq!(types_of(&events, "b1"), ["device.registered", "device.revoked"]);
    let b2 = events.iter().find(|e| e["object_id"] == "b2").expect("b2");
    assert_eq!(b2["test"], true, "a test device's events say so");
    assert!(b2["data"].get("token").is_none(), "a snapshot never carries a token: {b2}");
    let limits = types_of(&events, "acme");
    assert_eq!(limits.last().map(String::as_str), Some("tenant.limits_changed"), "{limits:?}");
    let changed = events.iter().rev().find(|e| e["type"] == "tenant.limits_changed").expect("limits");
    assert!(changed["data"].get("api_key").is_none(), "a snapshot never carries a key: {changed}");
    // Deactivation revokes every device, each with its event.
    app.admin(Method::DELETE, "/admin/v1/tenants/acme", None).await.assert_status(204);
    let rows: Vec<(String, String)> = app.db.events_of("acme").await;
    let revoked = rows.iter().filter(|(t, _)| t == "device.revoked").count();
    assert_eq!(revoked, 3, "b1 once, then glasses and b2 at deactivation: {rows:?}");
}

async fn expiry_writes_events_once(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sweep_interval_secs = 1).await;
    let (key, token) = app.seeded_tenant("acme").await;
    let lapsed = app.prompted(&token, "e1", "water_bottle").await;
    app.advance(Duration::from_secs(3600));
    // The sweeper expires it in the background.
    app.eventually("the sweeper expired the intent", || async {
        all_events(&app, &key, "&type=intent.expired").await.len() == 1
    })
    .await;
    let events = all_events(&app, &key, "").await;
    assert_eq!(types_of(&events, &lapsed), ["intent.created", "intent.expired"]);
    let expired = events.iter().find(|e| e["type"] == "intent.expired").expect("expired");
    assert_eq!(expired["data"]["status"], "EXPIRED");
    // A decision on the expired intent changes nothing and writes nothing.
    app.decide(&token, &lapsed, true, "VOICE").await.assert_problem(410, "intent-expired");
    assert_eq!(all_events(&app, &key, "").await.len(), events.len());
}

async fn listing_filters_pages_and_stays_in_its_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, token) = app.seeded_tenant("acme").await;
    let (other_key, other_token) = app.seeded_tenant("globex").await;
    let intent = app.prompted(&token, "e1", "water_bottle").await;
    app.prompted(&other_token, "e1", "water_bottle").await;
    let mine = all_events(&app, &key, "").await;
    assert!(mine.iter().all(|e| e["tenant_id"] == "acme"), "{mine:#?}");
    let theirs = all_events(&app, &other_key, "").await;
    assert!(theirs.iter().all(|e| e["tenant_id"] == "globex"));
    let id = mine[0]["id"].as_str().expect("id");
    let foreign = app.call(Method::GET, &format!("/api/v1/events/{id}"), Some(&other_key), None).await;
    foreign.assert_problem(404, "not-found");
    // Filters: by type (several), by object, by time.
    let created = all_events(&app, &key, "&type=intent.created,device.registered").await;
    assert_eq!(created.len(), 2, "{created:#?}");
    let of_intent = all_events(&app, &key, &format!("&object_id={intent}")).await;
    assert_eq!(of_intent.len(), 1);
    let future = all_events(&app, &key, "&since=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
    // Newest first by default.
    let newest = app.call(Method::GET, "/api/v1/events?limit=1", Some(&key), None).await.assert_status(200).clone();
    assert_eq!(newest["items"][0]["id"], mine.last().expect("last")["id"]);
    // A device token may not read the tenant's events.
    app.call(Method::GET, "/api/v1/events", Some(&token), None).await.assert_problem(403, "forbidden");
}

async fn bad_event_queries_are_problems(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, _) = app.seeded_tenant("acme").await;
    for query in [
        "type=order.exploded",
        "limit=0",
        "limit=501",
        "cursor=abc",
        "cursor=e-5",
        "order=sideways",
        "since=yesterday",
        "colour=red",
    ] {
        let reply = app.call(Method::GET, &format!("/api/v1/events?{query}"), Some(&key), None).await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
    }
    let reply = app.call(Method::GET, "/api/v1/events/not-a-uuid", Some(&key), None).await;
    assert!(reply.status == 400 || reply.status == 404, "{reply:?}");
    app.call(Method::GET, "/api/v1/events", None, None).await.assert_problem(401, "unauthorized");
}

fn endpoint_body(url: &str) -> Value {
    json!({"url": url, "event_types": ["order.confirmed", "intent.created"], "description": "fulfilment"})
}

async fn endpoints_show_their_secret_once_and_roll_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, _) = app.seeded_tenant("acme").await;
    let path = "/api/v1/webhook-endpoints/fulfilment";
    let created = app.call(Method::PUT, path, Some(&key), Some(endpoint_body("http://127.0.0.1:9/hook"))).await;
    let created = created.assert_status(201).clone();
    let secret = created["secret"].as_str().expect("the secret, once").to_owned();
    assert!(secret.starts_with("whsec_") && secret.len() >= 32, "{secret}");
    let fingerprint = created["secret_fingerprint"].clone();
    let shown = app.call(Method::GET, path, Some(&key), None).await.assert_status(200).clone();
    assert!(shown.get("secret").is_none(), "never shown again: {shown}");
    assert_eq!(shown["event_types"], json!(["order.confirmed", "intent.created"]));
    // The same PUT again changes nothing and keeps the secret.
    let again = app.call(Method::PUT, path, Some(&key), Some(endpoint_body("http://127.0.0.1:9/hook"))).await;
    let again = again.assert_status(200).clone();
    assert!(again.get("secret").is_none());
    assert_eq!(again["secret_fingerprint"], fingerprint);
    assert_eq!(again["updated_at"], created["updated_at"], "an unchanged PUT writes nothing");
    // A roll: a new secret shown once; the old one keeps signing for the grace period.
    let rolled = app
        .call(Method::POST, &format!("{path}/roll-secret"), Some(&key), Some(json!({"grace_seconds": 3600})))
        .await
        .assert_status(200)
        .clone();
    let new_secret = rolled["secret"].as_str().expect("new secret");
    assert_ne!(new_secret, secret);
    assert_ne!(rolled["secret_fingerprint"], fingerprint);
    assert!(rolled["previous_secret_expires_at"].is_string(), "{rolled}");
    // An explicit secret (the operator's): a different one rolls with the default grace; the same one is a no-op.
    let explicit = "s".repeat(40);
    let mut body = endpoint_body("http://127.0.0.1:9/hook");
    body["secret"] = json!(explicit);
    let put = app.call(Method::PUT, path, Some(&key), Some(body.clone())).await.assert_status(200).clone();
    assert!(put.get("secret").is_none(), "a secret the caller chose is not echoed");
    let again = app.call(Method::PUT, path, Some(&key), Some(body)).await.assert_status(200).clone();
    assert_eq!(again["updated_at"], put["updated_at"]);
    assert_eq!(again["secret_fingerprint"], put["secret_fingerprint"]);
    // Listed, then deleted.
    let listed = app.call(Method::GET, "/api/v1/webhook-endpoints", Some(&key), None).await.assert_status(200).clone();
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1));
    app.call(Method::DELETE, path, Some(&key), None).await.assert_status(204);
    app.call(Method::GET, path, Some(&key), None).await.assert_problem(404, "not-found");
    app.call(Method::DELETE, path, Some(&key), None).await.assert_problem(404, "not-found");
}

async fn endpoints_refuse_bad_settings_and_other_tenants(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, _) = app.seeded_tenant("acme").await;
    let (other_key, _) = app.seeded_tenant("globex").await;
    let path = "/api/v1/webhook-endpoints/hook";
    for bad in [
        json!({"url": "ftp://example.com", "event_types": ["order.confirmed"]}),
        json!({"url": "https://example.com", "event_types": []}),
        json!({"url": "https://example.com", "event_types": ["order.exploded"]}),
        json!({"url": "https://example.com", "event_types": ["order.failed", "order.failed"]}),
        json!({"url": "https://example.com", "event_types": ["order.failed"], "secret": "short"}),
        json!({"url": "https://example.com", "event_types": ["order.failed"], "colour": "red"}),
    ] {
        let reply = app.call(Method::PUT, path, Some(&key), Some(bad.clone())).await;
        assert!(reply.status == 400 || reply.status == 422, "{bad}: {reply:?}");
    }
    app.call(Method::PUT, path, Some(&key), Some(endpoint_body("http://127.0.0.1:9/hook"))).await.assert_status(201);
    for (method, suffix) in [(Method::GET, ""), (Method::DELETE, ""), (Method::POST, "/roll-secret")] {
        let body = (method == Method::POST).then(|| json!({}));
        let reply = app.call(method.clone(), &format!("{path}{suffix}"), Some(&other_key), body).await;
        reply.assert_problem(404, "not-found");
    }
    let theirs = app.call(Method::GET, "/api/v1/webhook-endpoints", Some(&other_key), None).await;
    assert_eq!(theirs.assert_status(200)["items"], json!([]));
    let bad_roll = app
        .call(Method::POST, &format!("{path}/roll-secret"), Some(&key), Some(json!({"grace_seconds": 999999999})))
        .await;
    assert_eq!(bad_roll.status, 422, "{bad_roll:?}");
}

async fn events_past_retention_are_pruned(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.sweep_interval_secs = 1;
        s.event_retention_days = 30;
    })
    .await;
    let (key, token) = app.seeded_tenant("acme").await;
    let setup = "&type=tenant.limits_changed,device.registered";
    assert_eq!(all_events(&app, &key, setup).await.len(), 2, "the tenant created, glasses registered");
    // Two days later a prompt: its event is the younger one.
    app.advance(Duration::from_secs(2 * 24 * 3600));
    let two_days_ms = 2 * 24 * 3600 * 1000;
    let body = json!({"event_id": "e1", "object_class": "water_bottle", "fill_level": "EMPTY", "confidence": "HIGH",
        "captured_at_ms": crate::helpers::now_ms() + two_days_ms});
    let prompt = app.call(Method::POST, "/api/v1/detections", Some(&token), Some(body)).await;
    let intent = prompt.assert_status(200)["intent_id"].as_str().expect("a prompt").to_owned();
    // 31 and 29 days old: the pruning pass that removes the first two proves one ran, and it kept the prompt's.
    app.advance(Duration::from_secs(29 * 24 * 3600));
    app.eventually("the 31-day-old events are pruned", || async { all_events(&app, &key, setup).await.is_empty() })
        .await;
    let created = all_events(&app, &key, "&type=intent.created").await;
    assert_eq!(types_of(&created, &intent), ["intent.created"], "29 days old: kept");
    app.advance(Duration::from_secs(2 * 24 * 3600));
    app.eventually("the prompt's event is pruned at 31 days", || async {
        all_events(&app, &key, "&type=intent.created").await.is_empty()
    })
    .await;
}
