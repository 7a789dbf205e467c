//! Delivery of events to webhook endpoints against a real local receiver:
//! per-object order through random failures, a receiver down for a while,
//! signatures (checked by README's snippet) and secret rolls, the retry
//! horizon that disables an endpoint, the delivery log and redelivery.

use std::time::Duration;

use replenish_app::Settings;
use replenish_app::signing::{SignatureError, verify};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::webhook_delivery_support::{
    ALL_TYPES, Receiver, activity, all_arrive, all_events, assert_ordered, ids, put_endpoint, wait_for,
};
use crate::webhook_merchant::reserved_port;

on_both_backends!(
    every_event_arrives_in_order_per_object_through_random_failures,
    a_receiver_down_for_a_while_gets_everything_once_back,
    readme_snippet_verifies_and_a_rolled_secret_signs_twice_during_grace,
    an_endpoint_failing_past_the_horizon_is_disabled_and_redelivery_works,
    a_url_that_now_resolves_privately_is_not_called_and_disabling_abandons,
    a_dedicated_app_delivers_its_tenants_events_alone,
);

/// Fast retries, so a test's failures are retried in milliseconds.
pub fn fast(s: &mut Settings) {
    s.webhooks.webhook_retry_base_ms = 20;
    s.webhooks.webhook_retry_max_secs = 1;
    s.webhooks.webhook_poll_interval_ms = 50;
    s.webhooks.webhook_timeout_ms = 2_000;
}

async fn every_event_arrives_in_order_per_object_through_random_failures(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let receiver = Receiver::flaky(30, 40);
    let server = receiver.start().await;
    let (key, _) = app.seeded_tenant("acme").await;
    let secret = put_endpoint(&app, &key, "all", &server.uri(), &ALL_TYPES).await;
    let before = ids(&all_events(&app, &key).await);
    activity(&app, &key, "d", 9).await;
    let events = all_events(&app, &key).await;
    let expected: std::collections::HashSet<String> = ids(&events).difference(&before).cloned().collect();
    assert!(expected.len() >= 9 * 5, "{} events", expected.len());
    all_arrive(&receiver, "all", &expected, Duration::from_secs(60)).await;
    let received = receiver.received();
    assert!(received.iter().any(|r| r.answered == 503), "the receiver failed some requests");
    assert_ordered(&received, "all", &events);
    // Each request: the event as listed, signed, with its headers.
    let by_id: std::collections::HashMap<&str, &Value> =
        events.iter().map(|e| (e["id"].as_str().expect("id"), e)).collect();
    for r in &received {
        assert_eq!(&&r.event(), by_id.get(r.event_id.as_str()).expect("a listed event"), "body is the event");
        assert_eq!(r.content_type, "application/json");
        assert!(r.user_agent.starts_with("replenish-webhooks/"), "{}", r.user_agent);
        let now = app.clock.now().timestamp();
        assert_eq!(verify(secret.as_bytes(), &r.signature, &r.body, now, 300), Ok(()), "{}", r.signature);
    }
    // The log shows each delivery succeeded; the metrics count them.
    let log = app.call(Method::GET, "/api/v1/webhook-endpoints/all/deliveries?limit=500", Some(&key), None).await;
    let log = log.assert_status(200)["items"].as_array().expect("items").clone();
    let succeeded = log.iter().filter(|d| d["outcome"] == "succeeded").count();
    assert!(succeeded >= expected.len(), "{succeeded} of {}", expected.len());
    let metrics = app.metrics().await.raw;
    for name in [
        "replenish_events_total{type=\"order.confirmed\"}",
        "replenish_webhook_deliveries_total{outcome=\"succeeded\"}",
        "replenish_webhook_deliveries_total{outcome=\"failed\"}",
        "replenish_webhook_delivery_lag_seconds_count",
        "replenish_webhook_endpoints_disabled_total",
    ] {
        assert!(metrics.contains(name), "{name} in {metrics}");
    }
}

async fn a_receiver_down_for_a_while_gets_everything_once_back(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        fast(s);
        s.webhooks.webhook_retry_max_secs = 2;
    })
    .await;
    let (port, listener) = reserved_port();
    let base = format!("http://127.0.0.1:{port}");
    let (key, _) = app.seeded_tenant("acme").await;
    put_endpoint(&app, &key, "down", &base, &ALL_TYPES).await;
    let before = ids(&all_events(&app, &key).await);
    activity(&app, &key, "d", 4).await;
    // Down: every attempt fails to connect, and the log says why.
    let log_path = "/api/v1/webhook-endpoints/down/deliveries?outcome=failed";
    wait_for("failed attempts in the log", Duration::from_secs(20), || async {
        let log = app.call(Method::GET, log_path, Some(&key), None).await;
        log.body["items"].as_array().is_some_and(|items| !items.is_empty())
    })
    .await;
    let log = app.call(Method::GET, log_path, Some(&key), None).await.assert_status(200).clone();
    let failed = &log["items"][0];
    assert!(failed.get("status_code").is_none(), "no answer: {failed}");
    assert!(failed["response_body"].as_str().is_some_and(|b| !b.is_empty()), "why: {failed}");
    assert!(failed["next_attempt_at"].is_string(), "{failed}");
    // Real time: 30 s on Postgres, a shorter outage on SQLite.
    let outage = if backend == Backend::Postgres { 30 } else { 5 };
    tokio::time::sleep(Duration::from_secs(outage)).await;
    let receiver = Receiver::default();
    let _server = receiver.start_on(listener()).await;
    let events = all_events(&app, &key).await;
    let expected = ids(&events).difference(&before).cloned().collect();
    all_arrive(&receiver, "down", &expected, Duration::from_secs(60)).await;
    assert_ordered(&receiver.received(), "down", &events);
}

/// Runs README's webhook verification snippet on one delivery: "true" or "false".
fn readme_snippet_says(secret: &str, signature: &str, body: &[u8]) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let marker = "<!-- verify-events-python -->";
    let after = &readme[readme.find(marker).expect("the snippet's marker") + marker.len()..];
    let fence = after.find("```python\n").expect("a python block") + "```python\n".len();
    let snippet = &after[fence..fence + after[fence..].find("```").expect("end of the block")];
    let harness = "import os, sys\nok = verify_event(os.environ['SECRET'], os.environ['SIG'], open(sys.argv[1], 'rb').read())\nprint('true' if ok else 'false')\n";
    let dir = std::env::temp_dir().join(format!("replenish-events-snippet-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (script, body_file) = (dir.join("verify.py"), dir.join("body.json"));
    std::fs::write(&script, format!("{snippet}\n{harness}")).unwrap();
    std::fs::write(&body_file, body).unwrap();
    let out = std::process::Command::new("python3")
        .arg(&script)
        .arg(&body_file)
        .env("SECRET", secret)
        .env("SIG", signature)
        .output()
        .expect("python3 runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "python3: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Makes one more event (a device registered) and returns its delivery to
/// `endpoint`: (signature, body).
async fn one_delivery(
    app: &TestApp,
    key: &str,
    receiver: &Receiver,
    endpoint: &str,
    device: &str,
) -> (String, Vec<u8>) {
    let body = json!({"device_id": device, "store": "main", "owner": "h", "model": "spectacles-5"});
    app.call(Method::POST, "/api/v1/devices", Some(key), Some(body)).await.assert_status(201);
    let find = || receiver.received().into_iter().find(|r| r.endpoint == endpoint && r.event()["object_id"] == device);
    wait_for("the device's event arrived", Duration::from_secs(20), || {
        let found = find().is_some();
        async move { found }
    })
    .await;
    let r = find().expect("found");
    (r.signature, r.body)
}

async fn readme_snippet_verifies_and_a_rolled_secret_signs_twice_during_grace(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let receiver = Receiver::default();
    let server = receiver.start().await;
    let (key, _) = app.seeded_tenant("acme").await;
    let old = put_endpoint(&app, &key, "signed", &server.uri(), &["device.registered"]).await;
    let (signature, body) = one_delivery(&app, &key, &receiver, "signed", "first").await;
    assert_eq!(signature.matches("v1=").count(), 1, "{signature}");
    assert_eq!(readme_snippet_says(&old, &signature, &body), "true");
    assert_eq!(readme_snippet_says("whsec_not-the-secret-at-all-000000", &signature, &body), "false");
    let mut tampered = body.clone();
    tampered[0] = b' ';
    assert_eq!(readme_snippet_says(&old, &signature, &tampered), "false");
    // A roll: during the grace period both secrets sign.
    let path = "/api/v1/webhook-endpoints/signed/roll-secret";
    let rolled = app.call(Method::POST, path, Some(&key), Some(json!({"grace_seconds": 3600}))).await;
    let new = rolled.assert_status(200)["secret"].as_str().expect("new secret").to_owned();
    let (signature, body) = one_delivery(&app, &key, &receiver, "signed", "during").await;
    assert_eq!(signature.matches("v1=").count(), 2, "{signature}");
    assert_eq!(readme_snippet_says(&old, &signature, &body), "true", "the old secret still verifies");
    assert_eq!(readme_snippet_says(&new, &signature, &body), "true", "the new secret verifies");
    // After the grace period only the new one signs (checked on the app's clock, moved past it).
    app.advance(Duration::from_secs(3601));
    let (signature, body) = one_delivery(&app, &key, &receiver, "signed", "after").await;
    let now = app.clock.now().timestamp();
    assert_eq!(signature.matches("v1=").count(), 1, "{signature}");
    assert_eq!(verify(new.as_bytes(), &signature, &body, now, 300), Ok(()));
    assert_eq!(verify(old.as_bytes(), &signature, &body, now, 300), Err(SignatureError::Mismatch));
}

async fn an_endpoint_failing_past_the_horizon_is_disabled_and_redelivery_works(backend: Backend) {
    let app = spawn_app_with(backend, fast).await;
    let receiver = Receiver::default();
    // A long answer of two-byte characters: the log keeps 1 KiB of it, cut between characters.
    receiver.answer_all(500, &"é".repeat(2_000));
    let server = receiver.start().await;
    let (key, _) = app.seeded_tenant("acme").await;
    let (other_key, _) = app.seeded_tenant("globex").await;
    put_endpoint(&app, &key, "failing", &server.uri(), &["device.registered", "device.revoked"]).await;
    put_endpoint(&app, &key, "watcher", &server.uri(), &["endpoint.disabled"]).await;
    let body = json!({"device_id": "lens", "store": "main", "owner": "h", "model": "spectacles-5"});
    app.call(Method::POST, "/api/v1/devices", Some(&key), Some(body)).await.assert_status(201);
    app.call(Method::DELETE, "/api/v1/devices/lens", Some(&key), None).await.assert_status(204);
    let lens_events: std::collections::HashSet<String> =
        ids(&all_events(&app, &key).await.into_iter().filter(|e| e["object_id"] == "lens").collect::<Vec<_>>());
    let log_path = "/api/v1/webhook-endpoints/failing/deliveries";
    // Only the lens's deliveries: the seeded device's registration may have been fanned out to it too.
    let lens = |log: &Value| -> Vec<Value> {
        let items = log["items"].as_array().expect("items").iter();
        items.filter(|d| lens_events.contains(d["event_id"].as_str().unwrap_or_default())).cloned().collect()
    };
    wait_for("a failed attempt in the log", Duration::from_secs(20), || async {
        let log = app.call(Method::GET, log_path, Some(&key), None).await;
        log.body.get("items").is_some() && lens(&log.body).iter().any(|d| d["attempt"].as_u64() >= Some(2))
    })
    .await;
    let log = app.call(Method::GET, log_path, Some(&key), None).await.assert_status(200).clone();
    let items = lens(&log);
    assert_eq!(items.len(), 2, "one delivery per event: {log}");
    let revoked = &items[0];
    assert_eq!(revoked["event_type"], "device.revoked", "newest first");
    assert_eq!(revoked["outcome"], "pending", "behind the registration of the same device: {revoked}");
    assert_eq!(revoked["attempt"], 0);
    let registered = &items[1];
    assert_eq!(registered["outcome"], "failed");
    assert_eq!(registered["status_code"], 500);
    let kept = registered["response_body"].as_str().expect("body");
    assert!(kept.len() <= 1024 && kept.len() >= 1022 && kept.chars().all(|c| c == 'é'), "{} bytes", kept.len());
    // Past the retry horizon (3 days by default) the endpoint is disabled.
    app.advance(Duration::from_secs(3 * 24 * 3600 + 60));
    wait_for("the endpoint is disabled", Duration::from_secs(20), || async {
        let shown = app.call(Method::GET, "/api/v1/webhook-endpoints/failing", Some(&key), None).await;
        shown.body["enabled"] == false
    })
    .await;
    let shown = app.call(Method::GET, "/api/v1/webhook-endpoints/failing", Some(&key), None).await;
    let reason = shown.body["disabled_reason"].as_str().expect("a reason").to_owned();
    assert!(reason.contains("HTTP 500"), "{reason}");
    let log = app.call(Method::GET, &format!("{log_path}?outcome=abandoned"), Some(&key), None).await;
    assert_eq!(lens(log.assert_status(200)).len(), 2, "both given up: {log:?}");
    let events = all_events(&app, &key).await;
    let disabled = events.iter().find(|e| e["type"] == "endpoint.disabled").expect("endpoint.disabled");
    assert_eq!(disabled["object"], "endpoint");
    assert_eq!(disabled["object_id"], "failing");
    assert_eq!(disabled["data"]["enabled"], false);
    assert!(disabled["data"].get("secret").is_none(), "a snapshot never carries the secret");
    // Another endpoint subscribed to endpoint.disabled hears of it.
    receiver.heal();
    let disabled_id = disabled["id"].as_str().expect("id").to_owned();
    wait_for("the watcher heard", Duration::from_secs(20), || async {
        receiver.delivered("watcher").contains(&disabled_id)
    })
    .await;
    let metrics = app.metrics().await.raw;
    assert!(metrics.contains("replenish_webhook_endpoints_disabled_total 1"), "{metrics}");
    // A disabled endpoint gets no redelivery; re-enabled, it does.
    let registered_id = registered["event_id"].as_str().expect("event id").to_owned();
    let redeliver = format!("/api/v1/events/{registered_id}/redeliver?endpoint=failing");
    app.call(Method::POST, &redeliver, Some(&key), None).await.assert_problem(409, "endpoint-disabled");
    let spec = json!({"url": format!("{}/hooks/failing", server.uri()), "event_types": ["device.registered", "device.revoked"]});
    let enabled = app.call(Method::PUT, "/api/v1/webhook-endpoints/failing", Some(&key), Some(spec)).await;
    assert!(enabled.assert_status(200).get("disabled_reason").is_none());
    let queued = app.call(Method::POST, &redeliver, Some(&key), None).await.assert_status(202).clone();
    assert_eq!(queued["deliveries"][0]["outcome"], "pending");
    assert_eq!(queued["deliveries"][0]["event_id"], registered_id.as_str());
    wait_for("the redelivery arrived", Duration::from_secs(20), || async {
        receiver.delivered("failing").contains(&registered_id)
    })
    .await;
    let log = app.call(Method::GET, &format!("{log_path}?outcome=succeeded"), Some(&key), None).await;
    assert_eq!(log.assert_status(200)["items"][0]["attempt"], 1, "{log:?}");
    // Without ?endpoint=: every subscribed, enabled endpoint.
    let all = format!("/api/v1/events/{disabled_id}/redeliver");
    let queued = app.call(Method::POST, &all, Some(&key), None).await.assert_status(202).clone();
    assert_eq!(queued["deliveries"].as_array().map(Vec::len), Some(1), "the watcher only: {queued}");
    // Paging the log with its cursor.
    let first =
        app.call(Method::GET, &format!("{log_path}?limit=1"), Some(&key), None).await.assert_status(200).clone();
    let cursor = first["next_cursor"].as_str().expect("another page");
    let second = app.call(Method::GET, &format!("{log_path}?limit=1&cursor={cursor}"), Some(&key), None).await;
    assert_ne!(second.assert_status(200)["items"][0]["delivery_id"], first["items"][0]["delivery_id"]);
    // Another tenant's ids are 404s; bad queries are 400s.
    app.call(Method::GET, log_path, Some(&other_key), None).await.assert_problem(404, "not-found");
    app.call(Method::POST, &redeliver, Some(&other_key), None).await.assert_problem(404, "not-found");
    let foreign_endpoint = format!("/api/v1/events/{registered_id}/redeliver?endpoint=nope");
    app.call(Method::POST, &foreign_endpoint, Some(&key), None).await.assert_problem(404, "not-found");
    for query in ["outcome=exploded", "limit=0", "cursor=zzz", "colour=red"] {
        let reply = app.call(Method::GET, &format!("{log_path}?{query}"), Some(&key), None).await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
    }
}

async fn a_url_that_now_resolves_privately_is_not_called_and_disabling_abandons(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        fast(s);
        s.merchant_calls.commerce_allow_private_urls = false;
    })
    .await;
    let (key, _) = app.seeded_tenant("acme").await;
    let spec = json!({"url": "https://hooks.example.com/replenish", "event_types": ["device.registered"]});
    let path = "/api/v1/webhook-endpoints/guarded";
    app.call(Method::PUT, path, Some(&key), Some(spec.clone())).await.assert_status(201);
    // The name starts resolving to a loopback address after it was checked (as DNS rebinding would).
    let db = sea_orm::Database::connect(&app.db.url).await.expect("test database");
    let rebind = "UPDATE webhook_endpoints SET url = 'https://localhost:9/hook' WHERE id = 'guarded'";
    sea_orm::ConnectionTrait::execute_unprepared(&db, rebind).await.expect("rebind");
    let body = json!({"device_id": "lens", "store": "main", "owner": "h", "model": "spectacles-5"});
    app.call(Method::POST, "/api/v1/devices", Some(&key), Some(body)).await.assert_status(201);
    let log_path = format!("{path}/deliveries?outcome=failed");
    // The lens's event is attempted at the rebound URL. (The glasses' registration may have been
    // fanned out to the endpoint too, and tried before the rebind: hooks.example.com does not
    // resolve here, which fails on its own. Only the refusal of a loopback address is looked for.)
    let refused = |items: &serde_json::Value| {
        items
            .as_array()
            .into_iter()
            .flatten()
            .find(|item| item["response_body"].as_str().is_some_and(|why| why.contains("resolves to no address")))
            .cloned()
    };
    wait_for("the guard's refusal in the log", Duration::from_secs(20), || async {
        let log = app.call(Method::GET, &log_path, Some(&key), None).await;
        refused(&log.body["items"]).is_some()
    })
    .await;
    let log = app.call(Method::GET, &log_path, Some(&key), None).await.assert_status(200).clone();
    let item = refused(&log["items"]).expect("the refusal");
    assert!(item.get("status_code").is_none(), "no HTTP answer: the connection was never made: {item}");
    // Disabled by the merchant: its open deliveries are abandoned, not attempted.
    let mut off = spec;
    off["enabled"] = json!(false);
    app.call(Method::PUT, path, Some(&key), Some(off)).await.assert_status(200);
    wait_for("the delivery abandoned", Duration::from_secs(20), || async {
        let log = app.call(Method::GET, &format!("{path}/deliveries"), Some(&key), None).await;
        log.body["items"].as_array().is_some_and(|items| items.iter().all(|d| d["outcome"] == "abandoned"))
    })
    .await;
}

async fn a_dedicated_app_delivers_its_tenants_events_alone(backend: Backend) {
    // The platform's app polls once at start and then not for an hour: its events wait.
    let shared = spawn_app_with(backend, |s| {
        fast(s);
        s.webhooks.webhook_poll_interval_ms = 3_600_000;
    })
    .await;
    let receiver = Receiver::default();
    let server = receiver.start().await;
    let mut keys = Vec::new();
    for tenant in ["acme", "globex"] {
        let (key, _) = shared.seeded_tenant(tenant).await;
        put_endpoint(&shared, &key, "hook", &server.uri(), &["device.registered"]).await;
        let body = json!({"device_id": "lens", "store": "main", "owner": "h", "model": "spectacles-5"});
        shared.call(Method::POST, "/api/v1/devices", Some(&key), Some(body)).await.assert_status(201);
        keys.push(key);
    }
    // The same database, served as acme's dedicated app, polling fast.
    let app = shared
        .restart_with(|s| {
            s.dedicated_tenant = Some("acme".into());
            s.webhooks.webhook_poll_interval_ms = 50;
        })
        .await;
    let registered = all_events(&app, &keys[0]).await.into_iter().filter(|e| e["type"] == "device.registered");
    let acme = ids(&registered.collect::<Vec<_>>());
    assert_eq!(acme.len(), 2, "glasses and lens");
    all_arrive(&receiver, "hook", &acme, Duration::from_secs(20)).await;
    let tenants: std::collections::HashSet<String> =
        receiver.received().iter().map(|r| r.event()["tenant_id"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(tenants, ["acme".to_owned()].into(), "only acme's events went out");
    let db = sea_orm::Database::connect(&app.db.url).await.expect("test database");
    let waiting = "SELECT COUNT(*) AS n FROM events WHERE tenant_id = 'globex' AND fanned_out = false";
    let statement = sea_orm::Statement::from_string(db.get_database_backend(), waiting);
    let row = sea_orm::ConnectionTrait::query_one_raw(&db, statement).await.expect("count").expect("a row");
    assert!(row.try_get::<i64>("", "n").expect("n") > 0, "globex's events wait for the platform's dispatcher");
}
