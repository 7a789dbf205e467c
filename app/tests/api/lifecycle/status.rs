//! The merchant reports SHIPPED, DELIVERED, CANCELLED and REFUNDED; the state
//! machine refuses impossible moves, repeats change nothing, and the timeline
//! shows every status to the device and the merchant.

use reqwest::Method;
use serde_json::json;

use super::{accepted, committed_cents, order, order_of, report, timeline};
use crate::helpers::{Backend, spawn_app};

async fn status_reports_follow_the_state_machine(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, device) = app.seeded_tenant("acme").await;
    let decision = accepted(&app, &device, "ev-1", "water_bottle", "CONFIRMED").await;
    let id = order_of(&decision);
    assert_eq!(committed_cents(&app.db.url).await, 1299);

    let shipped = json!({"status": "SHIPPED", "carrier": "UPS", "tracking_number": "1Z999",
        "tracking_url": "https://track.example/1Z999"});
    let first = report(&app, &key, &id, shipped.clone()).await;
    let first = first.assert_status(200).clone();
    assert_eq!(first["status"], "SHIPPED");
    assert_eq!(timeline(&first), ["PENDING", "SUBMITTED", "CONFIRMED", "SHIPPED"]);
    let entry = &first["timeline"][3];
    assert_eq!(entry["details"]["carrier"], "UPS");
    assert_eq!(entry["details"]["tracking_number"], "1Z999");
    assert_eq!(entry["details"]["by"], "merchant");
    assert_eq!(first["timeline"][2]["details"]["provider_ref"], first["provider_ref"]);
    // The same report again is a no-op: 200, no second entry.
    let again = report(&app, &key, &id, shipped).await;
    assert_eq!(timeline(again.assert_status(200)), timeline(&first));

    // Not something a merchant reports, or not from here.
    report(&app, &key, &id, json!({"status": "CONFIRMED"})).await.assert_problem(422, "validation-failed");
    report(&app, &key, &id, json!({"status": "SHIPPED", "tracking_url": "ftp://x"}))
        .await
        .assert_problem(422, "validation-failed");
    report(&app, &key, &id, json!({"status": "DELIVERED"})).await.assert_status(200);
    report(&app, &key, &id, json!({"status": "SHIPPED"})).await.assert_problem(409, "invalid-transition");
    report(&app, &key, &id, json!({"status": "CANCELLED"})).await.assert_problem(409, "invalid-transition");
    assert_eq!(committed_cents(&app.db.url).await, 1299, "a delivery keeps the spend");

    // A refund gives the budget back once, however often it is reported.
    let refund = json!({"status": "REFUNDED", "reason": "damaged in transit"});
    let refunded = report(&app, &key, &id, refund.clone()).await;
    assert_eq!(refunded.assert_status(200)["status"], "REFUNDED");
    let repeated = report(&app, &key, &id, refund).await;
    assert_eq!(committed_cents(&app.db.url).await, 0, "refunded exactly once");
    let statuses = timeline(repeated.assert_status(200));
    assert_eq!(statuses, ["PENDING", "SUBMITTED", "CONFIRMED", "SHIPPED", "DELIVERED", "REFUNDED"]);
    report(&app, &key, &id, json!({"status": "DELIVERED"})).await.assert_problem(409, "invalid-transition");

    // The device sees its own order's timeline, as the merchant does.
    let seen = order(&app, &device, &id).await;
    assert_eq!(timeline(seen.assert_status(200)), statuses);
    assert_eq!(seen.body["timeline"][5]["details"]["reason"], "damaged in transit");
    let listed = app.call(Method::GET, "/api/v1/orders?status=REFUNDED", Some(&key), None).await;
    let items = listed.assert_status(200)["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["test"], false);
    let summary = app.summary(&key).await;
    assert_eq!((summary["orders_confirmed"].as_u64(), summary["orders_refunded"].as_u64()), (Some(0), Some(1)));
}

async fn failed_orders_and_strangers_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, device) = app.seeded_tenant("acme").await;
    app.set_limits("acme", json!({"cooldown_seconds": 0})).await;
    app.set_mock_outcome(&key, "fail").await;
    let failed = accepted(&app, &device, "ev-1", "water_bottle", "FAILED").await;
    let failed = order_of(&failed);
    report(&app, &key, &failed, json!({"status": "SHIPPED"})).await.assert_problem(409, "invalid-transition");
    report(&app, &key, &failed, json!({"status": "REFUNDED"})).await.assert_problem(409, "invalid-transition");
    assert_eq!(committed_cents(&app.db.url).await, 0, "the failure's refund is not repeated");
    let seen = order(&app, &key, &failed).await;
    assert_eq!(timeline(seen.assert_status(200)), ["PENDING", "SUBMITTED", "FAILED"]);

    app.set_mock_outcome(&key, "confirm").await;
    let id = order_of(&accepted(&app, &device, "ev-2", "water_bottle", "CONFIRMED").await);
    // Another tenant's merchant and devices, and another device of this tenant, see no such order.
    let (other_key, other_device) = app.seeded_tenant("globex").await;
    order(&app, &other_key, &id).await.assert_problem(404, "not-found");
    order(&app, &other_device, &id).await.assert_problem(404, "not-found");
    report(&app, &other_key, &id, json!({"status": "SHIPPED"})).await.assert_problem(404, "not-found");
    let sibling = app.add_device(&key, "glasses-2", "household-1").await;
    order(&app, &sibling, &id).await.assert_problem(404, "not-found");
    // Only the merchant reports status.
    report(&app, &device, &id, json!({"status": "SHIPPED"})).await.assert_problem(403, "forbidden");
    let unknown = "00000000-0000-4000-8000-000000000000";
    report(&app, &key, unknown, json!({"status": "SHIPPED"})).await.assert_problem(404, "not-found");
    let seen = order(&app, &key, &id).await;
    assert_eq!(seen.assert_status(200)["status"], "CONFIRMED", "nothing changed");
}

on_both_backends!(status_reports_follow_the_state_machine, failed_orders_and_strangers_are_refused);
