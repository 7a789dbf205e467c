//! ORDER_IN_PROGRESS: while a household's order of a product is on its way,
//! none of its devices is prompted for that product — on whichever replica
//! its actor lives, because the database answers — until the order is
//! delivered (or cancelled, refunded, failed) or the tenant's horizon passes.

use std::time::Duration;

use serde_json::json;

use super::{accepted, detect_at, order_of, report};
use crate::helpers::{Backend, spawn_app};

async fn order_in_progress_holds_every_device_of_the_household_until_delivered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, glasses) = app.seeded_tenant("acme").await;
    // No cooldown: only the order on its way holds the prompts off.
    app.set_limits("acme", json!({"cooldown_seconds": 0})).await;
    let sibling = app.add_device(&key, "glasses-2", "household-1").await;
    let neighbour = app.add_device(&key, "next-door", "household-2").await;
    // The sibling's actor is active (and its memory loaded) before the order exists.
    assert_eq!(app.detect(&sibling, "s-0", "water_bottle", "HALF", "HIGH").await.body["reason"], "ABOVE_THRESHOLD");

    let decision = accepted(&app, &glasses, "g-1", "water_bottle", "CONFIRMED").await;
    let id = order_of(&decision);
    for (device, event) in [(&sibling, "s-1"), (&glasses, "g-2")] {
        let held = detect_at(&app, device, event, "water_bottle", 0).await;
        let held = held.assert_status(200);
        assert_eq!(held["should_prompt"], false, "{held}");
        assert_eq!(held["reason"], "ORDER_IN_PROGRESS", "{held}");
        assert_eq!(held["order_id"], id.as_str());
        assert_eq!(held["eta"], decision["order"]["eta"]);
    }
    let other = detect_at(&app, &neighbour, "n-1", "water_bottle", 0).await;
    assert_eq!(other.assert_status(200)["reason"], "PROMPT", "another household is not held");
    // Shipping keeps it on its way; delivery releases the household.
    report(&app, &key, &id, json!({"status": "SHIPPED"})).await.assert_status(200);
    let shipped = detect_at(&app, &sibling, "s-2", "water_bottle", 0).await;
    assert_eq!(shipped.assert_status(200)["reason"], "ORDER_IN_PROGRESS");
    report(&app, &key, &id, json!({"status": "DELIVERED"})).await.assert_status(200);
    let released = detect_at(&app, &sibling, "s-3", "water_bottle", 0).await;
    let released = released.assert_status(200);
    assert_eq!(released["reason"], "PROMPT", "{released}");
    assert!(released.get("order_id").is_none(), "{released}");
}

async fn order_in_progress_ends_at_the_horizon(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, glasses) = app.seeded_tenant("acme").await;
    app.set_limits("acme", json!({"cooldown_seconds": 0, "order_in_progress_days": 1})).await;
    let sibling = app.add_device(&key, "glasses-2", "household-1").await;
    accepted(&app, &glasses, "g-1", "water_bottle", "CONFIRMED").await;
    let held = detect_at(&app, &sibling, "s-1", "water_bottle", 0).await;
    assert_eq!(held.assert_status(200)["reason"], "ORDER_IN_PROGRESS");

    // Almost a day later (the device's clock agrees): still held.
    let almost = Duration::from_secs(86_400 - 120);
    app.advance(almost);
    let still = detect_at(&app, &sibling, "s-2", "water_bottle", almost.as_millis() as i64).await;
    assert_eq!(still.assert_status(200)["reason"], "ORDER_IN_PROGRESS");
    // No status ever came: past the horizon the household is prompted again.
    app.advance(Duration::from_secs(240));
    let past = (almost + Duration::from_secs(240)).as_millis() as i64;
    let released = detect_at(&app, &sibling, "s-3", "water_bottle", past).await;
    assert_eq!(released.assert_status(200)["reason"], "PROMPT", "{released:?}");
}

on_both_backends!(
    order_in_progress_holds_every_device_of_the_household_until_delivered,
    order_in_progress_ends_at_the_horizon
);
