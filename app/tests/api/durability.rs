//! Restarts, passivation and full mailboxes lose nothing and block nothing.

use std::time::Duration;

use reqwest::Method;

use crate::helpers::{Backend, spawn_app, spawn_app_with};

async fn loop_state_survives_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, device) = app.seeded_tenant("acme").await;
    let prompt = app.detect(&device, "before", "water_bottle", "EMPTY", "HIGH").await.assert_status(200).clone();
    let intent = prompt["intent_id"].as_str().expect("intent").to_owned();

    let app = app.restart().await;

    let replay = app.detect(&device, "before", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(replay.assert_status(200), &prompt, "same event id, same answer, after a restart");
    let pending = app.detect(&device, "after-1", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(pending.assert_status(200)["reason"], "PENDING_INTENT");
    let decided = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    assert_eq!(decided["status"], "CONFIRMED", "a prompt from before the restart can still be accepted");

    let app = app.restart().await;

    let again = app.decide(&device, &intent, true, "VOICE").await;
    assert_eq!(again.assert_status(200), &decided, "same decision, same answer, after a restart");
    let cooled = app.detect(&device, "after-2", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(cooled.assert_status(200)["reason"], "ALREADY_ORDERED", "the cooldown survives restarts");
    let orders = app.call(Method::GET, "/api/v1/orders", Some(&key), None).await;
    assert_eq!(orders.assert_status(200)["items"].as_array().map(Vec::len), Some(1), "no order placed twice");
    let summary = app.summary(&key).await;
    assert_eq!(summary["detections"], 3, "the replayed event was counted once");
}

async fn metric(app: &crate::helpers::TestApp, line_start: &str) -> Option<f64> {
    let text = app.metrics().await.raw;
    text.lines().find(|l| l.starts_with(line_start)).and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Advances the app's clock past the idle timeout and waits (bounded) for
/// the device actor's idle check, which ticks on real time, to passivate it.
async fn passivate(app: &crate::helpers::TestApp) {
    app.advance(IDLE);
    app.eventually("the device actor passivated", || async {
        metric(app, r#"replenish_active_actors{kind="device"}"#).await == Some(0.0)
    })
    .await;
}

/// Idle checks run every quarter of this in real time; the test's clock
/// jumps over it, so passivation comes long before this much real time.
const IDLE: Duration = Duration::from_secs(4);

async fn passivation_keeps_state(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.actor_idle_timeout_ms = IDLE.as_millis() as u64).await;
    let (_key, device) = app.seeded_tenant("acme").await;
    let intent = app.prompted(&device, "p-1", "water_bottle").await;
    assert_eq!(metric(&app, r#"replenish_active_actors{kind="device"}"#).await, Some(1.0));

    passivate(&app).await;

    let reactivated = app.detect(&device, "p-2", "water_bottle", "EMPTY", "HIGH").await;
    let reactivated = reactivated.assert_status(200);
    assert_eq!(reactivated["reason"], "PENDING_INTENT");
    assert_eq!(reactivated["intent_id"], intent.as_str(), "the open intent was reloaded");
    let replay = app.detect(&device, "p-1", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(replay.assert_status(200)["reason"], "PROMPT", "old event ids are remembered by the database");
    app.decide(&device, &intent, false, "GESTURE").await.assert_status(200);

    passivate(&app).await;
    let cooled = app.detect(&device, "p-3", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(cooled.assert_status(200)["reason"], "COOLDOWN", "the cooldown was reloaded");
}

async fn a_full_mailbox_answers_503_instead_of_waiting(backend: Backend) {
    let app = spawn_app_with(backend, |s| {
        s.mailbox_capacity = 1;
        s.commerce_timeout_ms = 3_000;
    })
    .await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.set_mock_outcome(&key, "timeout").await;
    let intent = app.prompted(&device, "m-1", "water_bottle").await;

    let (slow, busy) = tokio::join!(app.decide(&device, &intent, true, "VOICE"), async {
        // Not a TTL: gives the decision (its provider call hangs for the real
        // 3 s commerce timeout) time to take the device's only mailbox slot.
        tokio::time::sleep(Duration::from_millis(1_000)).await;
        app.detect(&device, "m-2", "water_bottle", "EMPTY", "HIGH").await
    });
    busy.assert_problem(503, "overloaded");
    assert!(busy.headers.get("retry-after").is_some(), "{busy:?}");
    // A timeout is no answer: the order stays SUBMITTED for the sweeper to ask again.
    assert_eq!(slow.assert_status(200)["order"]["status"], "SUBMITTED", "the provider timed out");
    // Once the slot is free the device is served again, and the refused event was never recorded.
    let later = app.detect(&device, "m-2", "water_bottle", "EMPTY", "HIGH").await;
    assert!(later.status.is_success(), "{later:?}");
    assert_eq!(metric(&app, r#"replenish_mailbox_full_total{kind="device"}"#).await, Some(1.0));
}

async fn an_interrupted_placement_is_finished_by_the_sweeper(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.sweep_interval_secs = 1).await;
    let (key, device) = app.seeded_tenant("acme").await;
    let intent = app.prompted(&device, "s-1", "water_bottle").await;
    let decided = app.decide(&device, &intent, true, "VOICE").await.assert_status(200).clone();
    let order = decided["order"]["order_id"].as_str().expect("order").to_owned();

    // Put the rows back the way a replica that died right after accepting leaves them.
    let db = sea_orm::Database::connect(&app.db.url).await.expect("test database");
    use replenish_app::intents::entity::intent as intents;
    use replenish_app::orders::entity::order as orders;
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let order_id: uuid::Uuid = order.parse().expect("uuid");
    let intent_id: uuid::Uuid = intent.parse().expect("uuid");
    let died_at = app.clock.now();
    orders::Entity::update_many()
        .col_expr(orders::Column::Status, Expr::value("PENDING"))
        .col_expr(orders::Column::ProviderRef, Expr::value(Option::<String>::None))
        .col_expr(orders::Column::Eta, Expr::value(Option::<String>::None))
        .col_expr(orders::Column::UpdatedAt, Expr::value(died_at))
        .filter(orders::Column::Id.eq(order_id))
        .exec(&db)
        .await
        .expect("rewind order");
    intents::Entity::update_many()
        .col_expr(intents::Column::Status, Expr::value("ACCEPTED"))
        .filter(intents::Column::Id.eq(intent_id))
        .exec(&db)
        .await
        .expect("rewind intent");
    let rewound = app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&key), None).await;
    assert_eq!(rewound.assert_status(200)["status"], "PENDING");

    // The sweeper leaves an order alone for two provider deadlines (2 × 5 s),
    // then resubmits it at its next run (every second of real time).
    app.advance(Duration::from_secs(10));
    app.eventually("the sweeper resubmitted the order under its own id", || async {
        let shown = app.call(Method::GET, &format!("/api/v1/orders/{order}"), Some(&key), None).await;
        shown.body["status"] == "CONFIRMED"
    })
    .await;
    let intent_now = app.call(Method::GET, &format!("/api/v1/intents/{intent}"), Some(&device), None).await;
    assert_eq!(intent_now.assert_status(200)["status"], "CONFIRMED");
    let orders = app.call(Method::GET, "/api/v1/orders", Some(&key), None).await;
    assert_eq!(orders.assert_status(200)["items"].as_array().map(Vec::len), Some(1), "still one order");
}

on_both_backends!(
    loop_state_survives_a_restart,
    passivation_keeps_state,
    a_full_mailbox_answers_503_instead_of_waiting,
    an_interrupted_placement_is_finished_by_the_sweeper,
);
