//! The load run's webhook receiver, without the app's dispatcher: signatures verified (a
//! known vector, tampering, staleness, a secret roll), deliveries counted by event id with
//! retries apart, and the `webhooks_delivered` check computed from the events the real app
//! lists — with this test playing the dispatcher's part, signing and POSTing them itself.

// A test fails by panicking; `expect` says where and why.
#![allow(clippy::expect_used, clippy::unwrap_used)]

#[allow(dead_code)] // The proxy is for the simulator tests.
mod support;

use chrono::Utc;
use replenish_api::{Event, EventType};
use replenish_loadtests::client::Api;
use replenish_loadtests::receiver::{Receiver, SignatureError, sign, verify};
use replenish_loadtests::webhooks::{self, Session, compare};
use serde_json::json;
use support::{Backend, TestApp};
use uuid::Uuid;

const SECRET: &str = "whsec_test_secret_0123456789abcdef";
const NOW: i64 = 1_700_000_000;

#[test]
fn a_known_signature_verifies_and_anything_else_does_not() {
    // HMAC-SHA256("1700000000.{\"a\":1}") under SECRET, computed independently (Python's hmac).
    let expected = "t=1700000000,v1=296f547a4f0b9eadfa573de7df458dfbf92032f516d3453e6c234d9a7dd753e8";
    assert_eq!(sign(&[SECRET], NOW, br#"{"a":1}"#), expected);
    let secrets = [SECRET.to_owned()];
    assert_eq!(verify(&secrets, expected, br#"{"a":1}"#, NOW + 10, 300), Ok(()));
    assert_eq!(verify(&secrets, expected, br#"{"a":2}"#, NOW, 300), Err(SignatureError::Mismatch));
    assert_eq!(verify(&["other-secret".to_owned()], expected, br#"{"a":1}"#, NOW, 300), Err(SignatureError::Mismatch));
    assert_eq!(verify(&secrets, expected, br#"{"a":1}"#, NOW + 301, 300), Err(SignatureError::Stale));
    assert_eq!(verify(&secrets, expected, br#"{"a":1}"#, NOW - 301, 300), Err(SignatureError::Stale));
    // The time is inside the MAC: a fresh `t` on an old signature does not verify.
    let replayed = expected.replace("t=1700000000", "t=1700000100");
    assert_eq!(verify(&secrets, &replayed, br#"{"a":1}"#, NOW + 100, 300), Err(SignatureError::Mismatch));
    for malformed in ["", "v1=00", "t=1700000000", "t=soon,v1=00", "t=1700000000,v1=zz"] {
        assert_eq!(verify(&secrets, malformed, b"{}", NOW, 300), Err(SignatureError::Malformed), "{malformed:?}");
    }
}

#[test]
fn during_a_roll_either_secret_verifies_one_of_two_v1_values() {
    let new = "whsec_new_secret_0123456789abcdef0";
    let both = sign(&[SECRET, new], NOW, b"{}");
    assert_eq!(both.matches(",v1=").count(), 2, "{both}");
    // A receiver that knows only the old secret, only the new one, or both: all verify.
    for known in [vec![SECRET.to_owned()], vec![new.to_owned()], vec![SECRET.to_owned(), new.to_owned()]] {
        assert_eq!(verify(&known, &both, b"{}", NOW, 300), Ok(()), "{known:?}");
    }
    assert_eq!(verify(&["a-third-secret".to_owned()], &both, b"{}", NOW, 300), Err(SignatureError::Mismatch));
}

fn event(id: Uuid) -> Event {
    Event {
        id,
        event_type: EventType::DeviceRegistered,
        created_at: Utc::now(),
        tenant_id: "acme".into(),
        object: "device".into(),
        object_id: "dev-1".into(),
        test: false,
        data: json!({"device_id": "dev-1"}),
    }
}

/// POSTs `body` to `url` as the dispatcher does; returns the status.
async fn post(url: &str, body: &[u8], signature: &str, event_id: &str, attempt: &str) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .header("Replenish-Signature", signature)
        .header("Replenish-Event-Id", event_id)
        .header("Replenish-Delivery-Attempt", attempt)
        .body(body.to_vec())
        .send()
        .await
        .expect("receiver answers")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_receiver_counts_verified_deliveries_by_event_id_and_refuses_the_rest() {
    let receiver = Receiver::start("127.0.0.1:0", 1).unwrap();
    receiver.expect("ep", SECRET);
    let url = Receiver::url_for(receiver.base(), "ep");
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    let body = serde_json::to_vec(&event(first)).unwrap();
    let now = Utc::now().timestamp();
    let signed = sign(&[SECRET], now, &body);

    assert_eq!(post(&url, &body, &signed, &first.to_string(), "1").await, 200);
    assert_eq!(post(&url, &body, &signed, &first.to_string(), "2").await, 200, "a retry is accepted too");
    let other = serde_json::to_vec(&event(second)).unwrap();
    assert_eq!(post(&url, &other, &sign(&[SECRET], now, &other), &second.to_string(), "1").await, 200);
    // Refused: a wrong secret, a tampered body, an old signature, no signature.
    assert_eq!(post(&url, &body, &sign(&["whsec_wrong_0123456789abcdef012"], now, &body), "x", "1").await, 400);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(post(&url, &tampered, &signed, &first.to_string(), "1").await, 400);
    assert_eq!(post(&url, &body, &sign(&[SECRET], now - 3600, &body), &first.to_string(), "1").await, 400);
    assert_eq!(post(&url, &body, "", &first.to_string(), "1").await, 400);
    // Signed but wrong: not an event; an event id header that is not the body's.
    assert_eq!(post(&url, b"{}", &sign(&[SECRET], now, b"{}"), &first.to_string(), "1").await, 400);
    assert_eq!(post(&url, &body, &signed, &second.to_string(), "1").await, 400);
    // A path no endpoint uses.
    assert_eq!(post(&Receiver::url_for(receiver.base(), "nobody"), &body, &signed, "x", "1").await, 404);

    let tally = receiver.tally();
    assert_eq!(tally.accepted, 3);
    assert_eq!(tally.distinct(), 2);
    assert_eq!(tally.retries(), 1);
    assert_eq!(tally.events("ep"), [first, second].into_iter().collect());
    assert_eq!(tally.max_attempt, 2);
    assert_eq!((tally.bad_signatures, tally.malformed, tally.unknown_endpoint), (4, 2, 1), "{tally:?}");
    assert!(tally.first_at.is_some() && tally.last_at >= tally.first_at);
    assert!(!tally.examples.is_empty());
}

#[test]
fn the_check_counts_missing_events_and_retries_apart() {
    let receiver_tally = {
        let mut tally = replenish_loadtests::receiver::Tally::default();
        let (a, b, outside) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(9));
        tally.per_event.insert(("ep".into(), a), 3);
        tally.per_event.insert(("ep".into(), b), 1);
        tally.per_event.insert(("ep".into(), outside), 1);
        tally.per_event.insert(("other".into(), Uuid::from_u128(3)), 1);
        tally.accepted = 6;
        tally
    };
    let listed = [Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3)];
    let report = compare(&listed, &receiver_tally, "ep");
    assert_eq!(
        (report.events_listed, report.delivered, report.missing),
        (3, 2, 1),
        "another endpoint's delivery does not count"
    );
    assert_eq!((report.retries, report.outside_window, report.deliveries), (2, 1, 6));
    let check = report.check();
    assert_eq!(check.name, "webhooks_delivered");
    assert!(!check.passed, "{check:?}");
    assert!(report.examples[0].contains(&Uuid::from_u128(3).to_string()), "{:?}", report.examples);

    let complete = compare(&listed[..2], &receiver_tally, "ep");
    assert!(complete.check().passed, "{:?}", complete.check());
    let mut forged = complete.clone();
    forged.bad_signatures = 1;
    assert!(!forged.check().passed, "a bad signature fails the check");
}

/// The real app's events for a run, delivered by this test in place of the dispatcher:
/// all of them pass the check, one left out fails it, naming it.
async fn check_against_listed_events(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.merchant_calls.commerce_allow_private_urls = true;
        // The test plays the dispatcher: the app's own polls only after the test is over.
        s.webhooks.webhook_poll_interval_ms = 3_600_000;
    })
    .await;
    let key = app.create_tenant(&format!("hooks-{}", &Uuid::new_v4().simple().to_string()[..8])).await;
    let api = Api::new(&app.url, reqwest::Client::new());
    let since = Utc::now();
    let config = webhooks::WebhookConfig::default();
    let session: Session = webhooks::start(&api, &key, &config, "check").await.expect("receiver registered");
    // Events of the window: a store and three devices (device.registered each).
    let store = json!({"name": "S", "timezone": "UTC", "commerce": {"provider": "mock"}});
    assert_eq!(api.call(reqwest::Method::PUT, "/api/v1/stores/s1", &key, Some(&store)).await.unwrap().0, 201);
    for device in ["d1", "d2", "d3"] {
        let body = json!({"device_id": device, "store": "s1", "owner": "o", "model": "m"});
        let (status, answer) = api.call(reqwest::Method::POST, "/api/v1/devices", &key, Some(&body)).await.unwrap();
        assert_eq!(status, 201, "{answer}");
    }
    let until = Utc::now();
    let events = webhooks::events_between(&api, &key, since, until).await.unwrap();
    let registered = events.iter().filter(|e| e.event_type == EventType::DeviceRegistered).count();
    assert_eq!(registered, 3, "{events:?}");

    // Deliver all but the last, signed with the endpoint's secret... which only the app
    // knows; the receiver is told a secret of the test's own for this endpoint instead.
    let secret = "whsec_played_by_the_test_0123456789ab";
    session.receiver.expect(&session.endpoint, secret);
    for event in &events[..events.len() - 1] {
        let body = serde_json::to_vec(event).unwrap();
        let signature = sign(&[secret], Utc::now().timestamp(), &body);
        assert_eq!(post(&session.url, &body, &signature, &event.id.to_string(), "1").await, 200);
    }
    let short = std::time::Duration::from_millis(300);
    let report = webhooks::drain(&api, &key, &session, since, until, short).await.unwrap();
    assert_eq!((report.events_listed, report.missing), (events.len() as u64, 1), "{report:?}");
    assert!(!report.check().passed);
    assert!(report.examples[0].contains(&events[events.len() - 1].id.to_string()), "{report:?}");

    let last = &events[events.len() - 1];
    let body = serde_json::to_vec(last).unwrap();
    let signature = sign(&[secret], Utc::now().timestamp(), &body);
    assert_eq!(post(&session.url, &body, &signature, &last.id.to_string(), "1").await, 200);
    let report = webhooks::drain(&api, &key, &session, since, until, short).await.unwrap();
    assert!(report.check().passed, "{report:?}");
    assert_eq!(report.delivered, events.len() as u64);
    webhooks::unregister(&api, &key, &session.endpoint).await;
    let (status, _) = api
        .call(reqwest::Method::GET, &format!("/api/v1/webhook-endpoints/{}", session.endpoint), &key, None::<&()>)
        .await
        .unwrap();
    assert_eq!(status, 404, "the run's endpoint is removed at the end");
}

#[tokio::test]
async fn the_check_compares_listed_events_with_deliveries_sqlite() {
    check_against_listed_events(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_check_compares_listed_events_with_deliveries_postgres() {
    check_against_listed_events(Backend::Postgres).await;
}

#[tokio::test]
async fn an_app_that_refuses_local_urls_gets_a_clear_error() {
    let app = TestApp::spawn().await;
    let key = app.create_tenant("hooks-refused").await;
    let api = Api::new(&app.url, reqwest::Client::new());
    let error =
        webhooks::start(&api, &key, &webhooks::WebhookConfig::default(), "refused").await.err().expect("refused");
    assert!(error.to_string().contains("REPLENISH_COMMERCE_ALLOW_PRIVATE_URLS=true"), "{error}");
}

/// `run` with webhooks wired through: a load that writes no event (every container full) has
/// nothing to wait for, passes the check with 0 events, and shows the section in every report;
/// the run's endpoint is gone afterwards. (Deliveries themselves are `webhooks_e2e.rs`'s part.)
#[tokio::test]
async fn a_run_with_webhooks_registers_checks_reports_and_unregisters() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.merchant_calls.commerce_allow_private_urls = true).await;
    let key = app.create_tenant("hooks-run").await;
    let mut config = replenish_loadtests::RunConfig::new(&app.url, &app.admin_token);
    config.target.api_key = Some(key.clone());
    config.devices = 5;
    config.stop = replenish_loadtests::Stop::Count(40);
    config.mix.fill_weights = [1, 0, 0, 0, 0];
    config.mix.duplicate_rate = 0.0;
    config.webhooks = Some(webhooks::WebhookConfig::default());
    let report = replenish_loadtests::run(config).await.expect("run completes");

    let check = report.check("webhooks_delivered").expect("the webhook check ran");
    assert!(check.passed, "{}", report.human());
    let section = report.webhooks.as_ref().expect("webhook report");
    // (Deliveries are not asserted: a dispatcher may still deliver the fleet's registrations,
    // written before the endpoint and outside the window.)
    assert_eq!((section.events_listed, section.missing), (0, 0), "{section:?}");
    assert!(section.endpoint.starts_with("load-") && section.url.contains("/hooks/load-"), "{section:?}");
    assert!(section.since.is_some() && section.until >= section.since, "{section:?}");
    assert!(report.human().contains(&format!("webhooks: endpoint {}", section.endpoint)));
    let html = replenish_loadtests::html::render(&report);
    assert!(html.contains("<h2>Webhooks</h2>") && html.contains("events listed for the run"), "{html}");
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["webhooks"]["events_listed"], 0);
    let endpoints = app.get(&key, "/api/v1/webhook-endpoints").await;
    assert_eq!(endpoints["items"], json!([]), "the run's endpoint was deleted");
}

#[tokio::test]
async fn a_receiver_playing_down_answers_503_and_counts_nothing_received() {
    let receiver = Receiver::start("127.0.0.1:0", 1).unwrap();
    receiver.expect("ep", SECRET);
    let url = Receiver::url_for(receiver.base(), "ep");
    let id = Uuid::new_v4();
    let body = serde_json::to_vec(&event(id)).unwrap();
    let signed = sign(&[SECRET], Utc::now().timestamp(), &body);
    receiver.set_down(true);
    assert_eq!(post(&url, &body, &signed, &id.to_string(), "1").await, 503);
    assert_eq!(post(&url, &body, &signed, &id.to_string(), "2").await, 503);
    receiver.set_down(false);
    assert_eq!(post(&url, &body, &signed, &id.to_string(), "3").await, 200);
    let tally = receiver.tally();
    assert_eq!((tally.refused_while_down, tally.accepted, tally.retries(), tally.max_attempt), (2, 1, 0, 3));
    let report = compare(&[id], &tally, "ep");
    assert!(report.check().passed, "an outage the dispatcher retried through passes: {report:?}");
    assert_eq!(report.refused_while_down, 2);
}

#[test]
fn an_outage_is_start_and_length_in_seconds() {
    use replenish_loadtests::webhooks::Outage;
    use std::time::Duration;
    let outage = Outage::parse("5:30").unwrap();
    assert_eq!((outage.start, outage.length), (Duration::from_secs(5), Duration::from_secs(30)));
    assert_eq!(Outage::parse("0.5:2.5").unwrap().length, Duration::from_millis(2500));
    for bad in ["30", "a:b", "-1:3", "5:", ""] {
        assert!(Outage::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn events_of_one_object_must_arrive_in_the_order_they_were_written() {
    use replenish_loadtests::receiver::Tally;
    use replenish_loadtests::webhooks::out_of_order;
    let of =
        |object_id: &str, n: u128| Event { id: Uuid::from_u128(n), object_id: object_id.into(), ..event(Uuid::nil()) };
    // Written: order A's 1 then 2, order B's 3, then A's 4 (never delivered).
    let listed = [of("a", 1), of("a", 2), of("b", 3), of("a", 4)];
    let arrived = |order: &[u128]| {
        let mut tally = Tally::default();
        for (i, n) in order.iter().enumerate() {
            tally.arrival.insert(("ep".into(), Uuid::from_u128(*n)), i as u64);
        }
        tally
    };
    // Interleaving objects is fine; within A, 1 before 2.
    assert!(out_of_order(&listed, &arrived(&[3, 1, 2]), "ep").is_empty());
    let swapped = out_of_order(&listed, &arrived(&[2, 3, 1]), "ep");
    assert_eq!(swapped.len(), 1, "{swapped:?}");
    assert!(swapped[0].starts_with("device a:"), "{swapped:?}");
    // Another endpoint's arrivals say nothing about this one.
    assert!(out_of_order(&listed, &arrived(&[2, 1]), "other").is_empty());
}

#[tokio::test]
async fn a_slow_receiver_records_a_delivery_before_answering_too_late_and_keeps_its_body() {
    let receiver = Receiver::start("127.0.0.1:0", 1).unwrap();
    receiver.expect("ep", SECRET);
    let url = Receiver::url_for(receiver.base(), "ep");
    let id = Uuid::new_v4();
    let body = serde_json::to_vec(&event(id)).unwrap();
    let signed = sign(&[SECRET], Utc::now().timestamp(), &body);
    receiver.set_delay(std::time::Duration::from_secs(5));
    // The sender's deadline passes first (as the dispatcher's would): to it the attempt failed...
    let late = reqwest::Client::new()
        .post(&url)
        .timeout(std::time::Duration::from_millis(300))
        .header("Replenish-Signature", &signed)
        .header("Replenish-Event-Id", id.to_string())
        .header("Replenish-Delivery-Attempt", "1")
        .body(body.clone())
        .send()
        .await;
    assert!(late.is_err_and(|e| e.is_timeout()));
    // ...yet the receiver has it, so the retry is counted as one.
    receiver.set_delay(std::time::Duration::ZERO);
    assert_eq!(post(&url, &body, &signed, &id.to_string(), "2").await, 200);
    let tally = receiver.tally();
    assert_eq!((tally.accepted, tally.retries()), (2, 1));
    let bodies = &tally.bodies[&("ep".to_owned(), id)];
    assert_eq!(bodies.len(), 1, "both deliveries carried the same body");
    assert_eq!((bodies[0].event_type.as_str(), bodies[0].object_id.as_str()), ("device.registered", "dev-1"));
}
