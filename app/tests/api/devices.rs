//! Fleet onboarding: batch registration.

use std::collections::HashSet;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app};

fn batch(ids: impl Iterator<Item = String>, store: &str) -> Value {
    let devices: Vec<Value> = ids
        .map(|id| json!({"device_id": id, "store": store, "owner": format!("owner-{id}"), "model": "spectacles-5"}))
        .collect();
    json!({ "devices": devices })
}

async fn count_devices(app: &TestApp, key: &str) -> usize {
    let mut total = 0;
    let mut cursor = String::new();
    loop {
        let reply = app.call(Method::GET, &format!("/api/v1/devices?limit=500{cursor}"), Some(key), None).await;
        let page = reply.assert_status(200);
        total += page["items"].as_array().map_or(0, Vec::len);
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return total,
        }
    }
}

async fn batch_registers_a_thousand_devices_all_or_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("fleet").await;
    app.put_store(&key, "main").await.assert_status(201);

    let reply = app
        .call(
            Method::POST,
            "/api/v1/devices:batch",
            Some(&key),
            Some(batch((0..1000).map(|i| format!("g-{i:04}")), "main")),
        )
        .await;
    let body = reply.assert_status(201);
    let devices = body["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1000);
    let tokens: HashSet<&str> = devices.iter().filter_map(|d| d["token"].as_str()).collect();
    assert_eq!(tokens.len(), 1000, "every device gets its own token");
    assert_eq!(devices[999]["device_id"], "g-0999", "request order is kept");
    assert_eq!(count_devices(&app, &key).await, 1000);
    for sample in [0, 499, 999] {
        let token = devices[sample]["token"].as_str().expect("token");
        let me = app.call(Method::GET, "/api/v1/device", Some(token), None).await;
        assert_eq!(me.assert_status(200)["device_id"], devices[sample]["device_id"]);
    }

    // One id already taken: nothing from this batch is registered.
    let overlapping = batch((995..1005).map(|i| format!("g-{i:04}")), "main");
    let conflict = app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(overlapping)).await;
    conflict.assert_problem(409, "device-exists");
    assert!(conflict.body["detail"].as_str().unwrap_or_default().contains("g-0995"));
    assert_eq!(count_devices(&app, &key).await, 1000);

    // An unknown store anywhere fails the whole batch.
    let mut mixed = batch((0..3).map(|i| format!("n-{i}")), "main");
    mixed["devices"][2]["store"] = json!("nowhere");
    let invalid = app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(mixed)).await;
    invalid.assert_problem(422, "validation-failed");
    assert_eq!(invalid.body["errors"][0]["field"], "devices[2].store");
    assert_eq!(count_devices(&app, &key).await, 1000);

    let repeated = batch(["a", "b", "a"].into_iter().map(str::to_owned), "main");
    app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(repeated))
        .await
        .assert_problem(422, "validation-failed");
    let too_many = batch((0..1001).map(|i| format!("x-{i}")), "main");
    app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(too_many))
        .await
        .assert_problem(422, "validation-failed");
    app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(json!({"devices": []})))
        .await
        .assert_problem(422, "validation-failed");
    assert_eq!(count_devices(&app, &key).await, 1000);
}

on_both_backends!(batch_registers_a_thousand_devices_all_or_nothing);
