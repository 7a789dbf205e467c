//! Webhook delivery across processes: the app killed with SIGKILL while
//! deliveries are in flight loses no event, and two replicas on one Postgres
//! never make the same attempt.

use std::collections::HashSet;
use std::time::Duration;

use uuid::Uuid;

use crate::helpers::{AppProcess, Backend, TestApp, TestDb};
use crate::webhook_delivery_support::{
    ALL_TYPES, Receiver, activity, all_arrive, all_events, assert_ordered, ids, put_endpoint, wait_for,
};

/// The environment of an app process on `db` with fast webhook retries.
fn env(db: &TestDb, admin_token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", db.url.clone()),
        ("REPLENISH_ADMIN_TOKEN", admin_token.to_owned()),
        ("REPLENISH_IP_PER_MINUTE", "10000000".to_owned()),
        ("REPLENISH_WEBHOOK_RETRY_BASE_MS", "50".to_owned()),
        ("REPLENISH_WEBHOOK_RETRY_MAX_SECS", "1".to_owned()),
        ("REPLENISH_WEBHOOK_POLL_INTERVAL_MS", "50".to_owned()),
        // A killed replica's leases lapse 5 s after this.
        ("REPLENISH_WEBHOOK_TIMEOUT_MS", "3000".to_owned()),
        ("REPLENISH_WEBHOOK_CONCURRENCY", "4".to_owned()),
    ]
}

async fn a_sigkill_during_delivery_loses_no_event(backend: Backend) {
    let db = TestDb::create(backend).await;
    let admin = format!("test-admin-{}", Uuid::new_v4().simple());
    // Every answer comes up to a second late, so deliveries are in flight when the app dies.
    let receiver = Receiver::flaky(0, 1_000);
    let server = receiver.start().await;
    let env = env(&db, &admin);
    let app = AppProcess::start(&env).await;
    let api = TestApp::remote(&app.address, &admin);
    let (key, _) = api.seeded_tenant("acme").await;
    put_endpoint(&api, &key, "crash", &server.uri(), &ALL_TYPES).await;
    let before = ids(&all_events(&api, &key).await);
    activity(&api, &key, "d", 6).await;
    let events = all_events(&api, &key).await;
    let expected: HashSet<String> = ids(&events).difference(&before).cloned().collect();
    wait_for("the first deliveries", Duration::from_secs(30), || async { receiver.received().len() >= 3 }).await;
    let delivered = receiver.delivered("crash").intersection(&expected).count();
    assert!(delivered < expected.len(), "killed mid-delivery: {delivered} of {} arrived", expected.len());
    app.sigkill();

    let app = AppProcess::start(&env).await;
    let api = TestApp::remote(&app.address, &admin);
    assert_eq!(ids(&all_events(&api, &key).await), ids(&events), "the event log survived");
    all_arrive(&receiver, "crash", &expected, Duration::from_secs(90)).await;
    let received = receiver.received();
    // The receiver never fails, so a second attempt is one the killed app made but never recorded.
    assert!(received.iter().any(|r| r.attempt >= 2), "an attempt in flight at the kill was made again");
    assert_ordered(&received, "crash", &events);
}

on_both_backends!(a_sigkill_during_delivery_loses_no_event);

#[tokio::test]
async fn two_replicas_on_one_postgres_never_make_the_same_attempt() {
    let db = TestDb::create(Backend::Postgres).await;
    let admin = format!("test-admin-{}", Uuid::new_v4().simple());
    let receiver = Receiver::flaky(30, 50);
    let server = receiver.start().await;
    let env = env(&db, &admin);
    // One after the other, so only the first applies the migrations.
    let a = AppProcess::start(&env).await;
    let b = AppProcess::start(&env).await;
    let (api_a, api_b) = (TestApp::remote(&a.address, &admin), TestApp::remote(&b.address, &admin));
    let (key, _) = api_a.seeded_tenant("acme").await;
    for endpoint in ["one", "two"] {
        put_endpoint(&api_a, &key, endpoint, &server.uri(), &ALL_TYPES).await;
    }
    let before = ids(&all_events(&api_a, &key).await);
    tokio::join!(activity(&api_a, &key, "a", 6), activity(&api_b, &key, "b", 6));
    let events = all_events(&api_b, &key).await;
    let expected: HashSet<String> = ids(&events).difference(&before).cloned().collect();
    for endpoint in ["one", "two"] {
        all_arrive(&receiver, endpoint, &expected, Duration::from_secs(90)).await;
    }
    let received = receiver.received();
    let mut attempts = HashSet::new();
    for r in &received {
        let first = attempts.insert((r.event_id.clone(), r.endpoint.clone(), r.attempt));
        assert!(first, "attempt {} of {} to {} was made twice", r.attempt, r.event_id, r.endpoint);
    }
    assert!(received.iter().any(|r| r.attempt > 1), "some attempts were retries");
    for endpoint in ["one", "two"] {
        assert_ordered(&received, endpoint, &events);
    }
}
