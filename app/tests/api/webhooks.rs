//! The webhook commerce provider against a stand-in merchant on a local
//! port: signed orders (checked in Rust and with README's Python and
//! JavaScript snippets), refusals, `Retry-After`, a merchant that is down for
//! a while, and the guard against private URLs.

use std::time::Duration;

use replenish_app::signing::{SignatureError, sign, verify};
use reqwest::Method;
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::helpers::{Backend, TestApp, spawn_app, spawn_app_with};
use crate::webhook_merchant::{Merchant, SECRET, committed_cents, reserved_port, stored_order, use_webhook};

fn merchant_of(app: &TestApp) -> Merchant {
    let clock = app.clock.clone();
    Merchant::new(move || clock.now().timestamp())
}

/// Accepts a fresh prompt for `device` and returns the decision's answer.
async fn order(app: &TestApp, device: &str, event: &str) -> Value {
    let intent = app.prompted(device, event, "water_bottle").await;
    app.decide(device, &intent, true, "VOICE").await.assert_status(200).clone()
}

/// Moves the clock on in `step`s (the sweeper runs every real second) until
/// order `id` has `status`; at most 20 s of real time.
async fn settles(app: &TestApp, key: &str, id: &str, status: &str, step: Duration) {
    for _ in 0..100 {
        let shown = app.call(Method::GET, &format!("/api/v1/orders/{id}"), Some(key), None).await;
        if shown.body["status"] == status {
            return;
        }
        app.advance(step);
        // Waits for the app's sweeper, which runs on real time.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("order {id} never became {status}");
}

/// Runs README's snippet in `language` with `runner` on one request: "true" or "false".
fn readme_snippet_says(language: &str, runner: &str, signature: &str, body: &[u8]) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README");
    let marker = format!("<!-- verify-{language} -->");
    let after = &readme[readme.find(&marker).expect("the snippet's marker") + marker.len()..];
    let start = after.find("```").expect("code block") + after[after.find("```").unwrap()..].find('\n').unwrap() + 1;
    let snippet = &after[start..start + after[start..].find("```").expect("end of the block")];
    let (harness, extension) = match language {
        "python" => (
            "import os, sys\nprint('true' if verify(os.environ['SECRET'].encode(), os.environ['SIG'], open(sys.argv[1], 'rb').read()) else 'false')\n",
            "py",
        ),
        _ => (
            "console.log(verify(process.env.SECRET, process.env.SIG, require('fs').readFileSync(process.argv[2])) ? 'true' : 'false');\n",
            "js",
        ),
    };
    let dir = std::env::temp_dir().join(format!("replenish-snippet-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let (script, body_file) = (dir.join(format!("verify.{extension}")), dir.join("body.json"));
    std::fs::write(&script, format!("{snippet}\n{harness}")).unwrap();
    std::fs::write(&body_file, body).unwrap();
    let out = std::process::Command::new(runner)
        .arg(&script)
        .arg(&body_file)
        .env("SECRET", SECRET)
        .env("SIG", signature)
        .output()
        .expect("the interpreter runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{runner}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn signed_orders_verify_in_rust_python_and_javascript(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = merchant_of(&app);
    let server = merchant.start().await;
    let (key, device) = app.seeded_tenant("acme").await;
    use_webhook(&app, &key, &server.uri()).await;
    let decided = order(&app, &device, "s-1").await;
    assert_eq!(decided["order"]["status"], "CONFIRMED", "{decided}");
    let id = decided["order"]["order_id"].as_str().unwrap().to_owned();

    let calls = merchant.calls();
    assert_eq!(calls.len(), 1);
    let call = &calls[0];
    assert_eq!(call.key, id, "Idempotency-Key is the order id");
    assert!(call.verified, "the merchant verified the signature");
    let payload: Value = serde_json::from_slice(&call.body).unwrap();
    assert_eq!(payload["order_id"], id.as_str());
    assert_eq!(payload["intent_id"], decided["intent_id"]);
    for (field, value) in [
        ("product_id", json!("water")),
        ("variant", json!("Spring Water 24-pack")),
        ("sku", json!("WATER-24")),
        ("quantity", json!(1)),
        ("unit_price_cents", json!(1299)),
        ("total_cents", json!(1299)),
        ("currency", json!("USD")),
        ("device_id", json!("glasses")),
        ("owner", json!("household-1")),
        ("store_id", json!("main")),
        ("test", json!(false)),
    ] {
        assert_eq!(payload[field], value, "{field} in {payload}");
    }
    assert!(payload["placed_at"].is_string());
    let shown = app.call(Method::GET, &format!("/api/v1/orders/{id}"), Some(&key), None).await;
    assert_eq!(shown.assert_status(200)["provider_ref"], "m-0", "the merchant's order id is kept");

    let header = call.signature.clone().unwrap();
    let now = app.clock.now().timestamp();
    let tampered = String::from_utf8(call.body.clone()).unwrap().replace("\"total_cents\":1299", "\"total_cents\":1");
    assert_ne!(tampered.as_bytes(), call.body.as_slice());
    let t: i64 = header.trim_start_matches("t=").split(',').next().unwrap().parse().unwrap();
    let old = sign(SECRET.as_bytes(), t - 3600, &call.body);
    assert_eq!(verify(SECRET.as_bytes(), &header, &call.body, now, 300), Ok(()));
    assert_eq!(verify(SECRET.as_bytes(), &header, tampered.as_bytes(), now, 300), Err(SignatureError::Mismatch));
    assert_eq!(verify(SECRET.as_bytes(), &old, &call.body, now, 300), Err(SignatureError::Stale));
    for (language, runner) in [("python", "python3"), ("javascript", "node")] {
        assert_eq!(readme_snippet_says(language, runner, &header, &call.body), "true", "{language}: genuine");
        let tampered = readme_snippet_says(language, runner, &header, tampered.as_bytes());
        assert_eq!(tampered, "false", "{language}: tampered body");
        assert_eq!(readme_snippet_says(language, runner, &old, &call.body), "false", "{language}: old timestamp");
    }
}

async fn a_refusal_fails_the_order_and_refunds_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let merchant = merchant_of(&app);
    merchant.then([ResponseTemplate::new(422).set_body_json(json!({"reason": "out of stock"}))]);
    let server = merchant.start().await;
    let (key, device) = app.seeded_tenant("acme").await;
    use_webhook(&app, &key, &server.uri()).await;
    let intent = app.prompted(&device, "r-1", "water_bottle").await;
    let decided = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    assert_eq!(decided["order"]["status"], "FAILED", "{decided}");
    assert_eq!(decided["status"], "FAILED");
    let id = decided["order"]["order_id"].as_str().unwrap().to_owned();
    let shown = app.call(Method::GET, &format!("/api/v1/orders/{id}"), Some(&key), None).await;
    assert_eq!(shown.assert_status(200)["failure_reason"], "out of stock", "the merchant's reason");
    assert_eq!(committed_cents(&app.db.url).await, 0, "refunded");

    // The same decision again: the refund is not repeated and nothing is resent.
    let again = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    assert_eq!(again["order"]["status"], "FAILED");
    assert_eq!(committed_cents(&app.db.url).await, 0, "refunded once");
    assert_eq!(merchant.calls().len(), 1, "a definite refusal is not asked again");
    assert_eq!(app.summary(&key).await["store_days"], json!([]), "a refused order earns nothing");
}

async fn retry_after_is_honoured(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sweep_interval_secs = 1).await;
    let merchant = merchant_of(&app);
    merchant.then([ResponseTemplate::new(429).insert_header("Retry-After", "120")]);
    let server = merchant.start().await;
    let (key, device) = app.seeded_tenant("acme").await;
    use_webhook(&app, &key, &server.uri()).await;
    let before = app.clock.now();
    let decided = order(&app, &device, "t-1").await;
    assert_eq!(decided["order"]["status"], "SUBMITTED", "429 is no answer: {decided}");
    let id = decided["order"]["order_id"].as_str().unwrap().to_owned();
    let stored = stored_order(&app.db.url, &id).await;
    assert_eq!(stored.attempts, 1);
    let next = stored.next_attempt_at.expect("a next attempt");
    assert!(next >= before + chrono::Duration::seconds(120), "not before Retry-After: {next} vs {before}");
    assert!(next <= app.clock.now() + chrono::Duration::seconds(121), "and not much later");
    assert_eq!(committed_cents(&app.db.url).await, 1299, "no refund while unknown");

    settles(&app, &key, &id, "CONFIRMED", Duration::from_secs(30)).await;
    let keys: Vec<String> = merchant.calls().into_iter().map(|c| c.key).collect();
    assert_eq!(keys, vec![id.clone(), id.clone()], "asked again once, under the same key");
    assert_eq!(merchant.orders(), 1);
}

async fn a_merchant_down_for_a_while_gets_the_order_once_when_back(backend: Backend) {
    let (port, listener) = reserved_port();
    let app = spawn_app_with(backend, |s| {
        s.commerce_timeout_ms = 1_000;
        s.sweep_interval_secs = 1;
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    use_webhook(&app, &key, &format!("http://127.0.0.1:{port}")).await;
    let decided = order(&app, &device, "d-1").await;
    assert_eq!(decided["order"]["status"], "SUBMITTED", "connection refused is no answer: {decided}");
    let id = decided["order"]["order_id"].as_str().unwrap().to_owned();

    // Down for a while: every attempt fails to connect, and the order waits, unrefunded.
    let attempts = |n: i32| {
        let (url, id) = (app.db.url.clone(), id.clone());
        async move { stored_order(&url, &id).await.attempts >= n }
    };
    for n in 2..=4 {
        app.advance(Duration::from_secs(60));
        app.eventually("the sweeper tried again", || attempts(n)).await;
        let shown = app.call(Method::GET, &format!("/api/v1/orders/{id}"), Some(&key), None).await;
        assert_eq!(shown.body["status"], "SUBMITTED");
        assert_eq!(committed_cents(&app.db.url).await, 1299, "no refund while the outcome is unknown");
    }

    // Back, but its first answer is a 503: asked again, same key, placed once.
    let merchant = merchant_of(&app);
    merchant.then([ResponseTemplate::new(503)]);
    let _server = merchant.start_on(listener()).await;
    settles(&app, &key, &id, "CONFIRMED", Duration::from_secs(60)).await;
    let calls = merchant.calls();
    assert!(calls.len() >= 2 && calls.iter().all(|c| c.key == id && c.verified), "{calls:?}");
    assert_eq!(merchant.orders(), 1, "counted once by the merchant");
    assert_eq!(committed_cents(&app.db.url).await, 1299, "never refunded");
    let days = app.summary(&key).await["store_days"].clone();
    assert_eq!(days.as_array().map(Vec::len), Some(1), "{days}");
    assert_eq!(days[0]["store_id"], "main");
    assert_eq!(days[0]["orders"], 1, "the store counted it once");
    assert_eq!(days[0]["revenue_usd"], 12.99);
}

async fn private_urls_are_refused_unless_allowed(backend: Backend) {
    let merchant = Merchant::on_real_time();
    let server = merchant.start().await;
    // Allowed (the test default) while the store is set up …
    let app = spawn_app(backend).await;
    let (key, device) = app.seeded_tenant("acme").await;
    use_webhook(&app, &key, &server.uri()).await;
    // … then the guard is on, as in production.
    let app = app.restart_with(|s| s.merchant_calls.commerce_allow_private_urls = false).await;

    let put = |url: &str, cancel_url: &str| {
        let body = json!({"name": "Main", "timezone": "UTC", "commerce":
            {"provider": "webhook", "url": url, "cancel_url": cancel_url, "secret": SECRET}});
        app.call(Method::PUT, "/api/v1/stores/other", Some(&key), Some(body))
    };
    let public = "https://93.184.216.34/orders";
    for url in [
        "http://93.184.216.34/orders",
        "https://127.0.0.1/orders",
        "https://[::1]/orders",
        "https://10.0.0.8/orders",
        "https://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/orders",
        "https://localhost:8443/orders",
    ] {
        let refused = put(url, public).await;
        refused.assert_problem(422, "validation-failed");
        assert_eq!(refused.body["errors"][0]["field"], "commerce.url", "{url}: {refused:?}");
        let refused = put(public, url).await;
        refused.assert_problem(422, "validation-failed");
        assert_eq!(refused.body["errors"][0]["field"], "commerce.cancel_url", "{url}");
    }
    let created = put(public, public).await;
    let view = created.assert_status(201);
    assert_eq!(view["commerce"]["secret_set"], true);
    assert!(view["commerce"].get("secret").is_none(), "the secret is never shown: {view}");
    // Left out of a PUT, the secret is kept; a new webhook store needs one.
    let keep = json!({"name": "Renamed", "timezone": "UTC", "commerce": {"provider": "webhook", "url": public}});
    let kept = app.call(Method::PUT, "/api/v1/stores/other", Some(&key), Some(keep.clone())).await;
    assert_eq!(kept.assert_status(200)["commerce"]["secret_set"], true);
    let fresh = app.call(Method::PUT, "/api/v1/stores/third", Some(&key), Some(keep)).await;
    fresh.assert_problem(422, "validation-failed");
    assert_eq!(fresh.body["errors"][0]["field"], "commerce.secret");

    // A store saved before the guard was on is not called either.
    let decided = order(&app, &device, "p-1").await;
    assert_eq!(decided["order"]["status"], "SUBMITTED", "{decided}");
    assert!(merchant.calls().is_empty(), "no call to a loopback merchant");
}

on_both_backends!(
    signed_orders_verify_in_rust_python_and_javascript,
    a_refusal_fails_the_order_and_refunds_once,
    retry_after_is_honoured,
    a_merchant_down_for_a_while_gets_the_order_once_when_back,
    private_urls_are_refused_unless_allowed,
);
