//! One budget day per owner, whatever the zones of the owner's stores.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};

/// Honolulu (UTC-10) and Kiritimati (UTC+14) are a whole day apart: at every
/// instant their calendar dates differ, so a budget counted per store-local
/// day would give one household two budgets at once.
async fn an_owner_has_one_budget_day_across_zones(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;
    // Cooldown 0 so the second device is prompted for the same product.
    app.set_limits("acme", json!({"daily_order_budget_usd": 20.0, "cooldown_seconds": 0})).await;
    for (store, zone) in [("west", "Pacific/Honolulu"), ("east", "Pacific/Kiritimati")] {
        let body = json!({"name": store, "timezone": zone, "commerce": {"provider": "mock"}});
        app.call(Method::PUT, &format!("/api/v1/stores/{store}"), Some(&key), Some(body)).await.assert_status(201);
    }
    app.put_product(&key, "water", "water_bottle", "WATER-24").await.assert_status(201);
    let west = app.create_device(&key, "glasses-west", "west").await;
    let east = app.create_device(&key, "glasses-east", "east").await;

    let intent = app.prompted(&west, "w-1", "water_bottle").await;
    let first = app.decide(&west, &intent, true, "VOICE").await;
    assert_eq!(first.assert_status(200)["status"], "CONFIRMED");
    // Delivered, so no longer on its way (which would hold off the household's next prompt),
    // yet still spent: the budget counts what was bought, not what is in transit.
    let order = first.body["order"]["order_id"].as_str().expect("order");
    let delivered = json!({"status": "DELIVERED"});
    let path = format!("/api/v1/orders/{order}/status");
    app.call(Method::POST, &path, Some(&key), Some(delivered)).await.assert_status(200);

    let intent = app.prompted(&east, "e-1", "water_bottle").await;
    let second = app.decide(&east, &intent, true, "VOICE").await;
    // $12.99 + $12.99 is over the household's $20 for the day, whichever store it orders from.
    second.assert_problem(422, "budget-exceeded");

    let orders = app.call(Method::GET, "/api/v1/orders", Some(&key), None).await;
    assert_eq!(orders.assert_status(200)["items"].as_array().map(Vec::len), Some(1), "one order within the budget");
}

on_both_backends!(an_owner_has_one_budget_day_across_zones);
