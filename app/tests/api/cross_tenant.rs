//! A tenant never sees, counts or affects another tenant's data.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};

async fn another_tenants_ids_are_404_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a_key, a_device) = app.seeded_tenant("alpha").await;
    app.put_product(&a_key, "only-alpha", "sunscreen", "SUN-1").await.assert_status(201);
    let (b_key, b_device) = app.seeded_tenant("bravo").await;

    // Every merchant route that names an id, with alpha's ids and bravo's key.
    let alpha_only = [
        (Method::GET, "/api/v1/stores/main-alpha"),
        (Method::GET, "/api/v1/products/only-alpha"),
        (Method::DELETE, "/api/v1/products/only-alpha"),
        (Method::GET, "/api/v1/devices/glasses-alpha"),
        (Method::DELETE, "/api/v1/devices/glasses-alpha"),
    ];
    // Give alpha objects that bravo does not share ids with.
    app.put_store(&a_key, "main-alpha").await.assert_status(201);
    app.create_device(&a_key, "glasses-alpha", "main-alpha").await;
    for (method, path) in alpha_only.iter().cloned() {
        let reply = app.call(method.clone(), path, Some(&b_key), None).await;
        reply.assert_problem(404, "not-found");
        // …and the same with bravo's device token, which may not use merchant routes at all.
        let reply = app.call(method, path, Some(&b_device), None).await;
        assert_eq!(reply.status.as_u16(), 403, "{path}: {reply:?}");
    }

    // Intents and orders of alpha are invisible to bravo's key and device, and to alpha's other devices.
    let prompt = app.detect(&a_device, "x-1", "water_bottle", "EMPTY", "HIGH").await;
    let intent = prompt.assert_status(200)["intent_id"].as_str().expect("intent").to_owned();
    let decided = app.decide(&a_device, &intent, true, "VOICE").await;
    let order = decided.assert_status(200)["order"]["order_id"].as_str().expect("order").to_owned();
    let a_sibling = app.add_device(&a_key, "alpha-sibling", "household-1").await;
    for path in [format!("/api/v1/intents/{intent}"), format!("/api/v1/orders/{order}")] {
        for token in [&b_key, &b_device, &a_sibling] {
            app.call(Method::GET, &path, Some(token), None).await.assert_problem(404, "not-found");
        }
        app.call(Method::GET, &path, Some(&a_key), None).await.assert_status(200);
    }
    app.decide(&b_device, &intent, false, "VOICE").await.assert_problem(404, "not-found");
    for path in ["/api/v1/intents", "/api/v1/orders"] {
        let listed = app.call(Method::GET, path, Some(&b_key), None).await;
        assert_eq!(listed.assert_status(200)["items"].as_array().map(Vec::len), Some(0), "{path}");
    }
    let summary = app.summary(&b_key).await;
    assert_eq!((summary["detections"].as_u64(), summary["orders_confirmed"].as_u64()), (Some(0), Some(0)));
    // Bravo's own water bottle is not "already ordered" because alpha's household ordered one.
    let own = app.detect(&b_device, "b-1", "water_bottle", "EMPTY", "HIGH").await;
    assert_eq!(own.assert_status(200)["reason"], "PROMPT");

    // A device can only ever see itself.
    let me = app.call(Method::GET, "/api/v1/device", Some(&b_device), None).await;
    assert_eq!(me.assert_status(200)["device_id"], "glasses");
    assert_eq!(me.body["store"], "main");

    // Listings hold only the caller's own objects.
    for (path, id_field, alpha_id) in [
        ("/api/v1/stores", "store_id", "main-alpha"),
        ("/api/v1/products", "product_id", "only-alpha"),
        ("/api/v1/devices", "device_id", "glasses-alpha"),
    ] {
        let listed = app.call(Method::GET, path, Some(&b_key), None).await;
        let items = listed.assert_status(200)["items"].as_array().cloned().unwrap_or_default();
        assert!(items.iter().all(|item| item[id_field] != alpha_id), "{path} leaked {alpha_id}: {items:?}");
        assert_eq!(items.len(), 1, "{path} counts only bravo's: {items:?}");
    }

    // A body that names alpha's store is as if the store did not exist.
    let steal = json!({"device_id": "sneaky", "store": "main-alpha", "owner": "o", "model": "m"});
    app.call(Method::POST, "/api/v1/devices", Some(&b_key), Some(steal)).await.assert_problem(422, "validation-failed");
    let steal_batch = json!({"devices": [{"device_id": "sneaky", "store": "main-alpha", "owner": "o", "model": "m"}]});
    app.call(Method::POST, "/api/v1/devices:batch", Some(&b_key), Some(steal_batch))
        .await
        .assert_problem(422, "validation-failed");

    // Same ids and classes in another tenant are separate objects.
    app.put_product(&b_key, "only-alpha", "sunscreen", "SUN-1").await.assert_status(201);
    let renamed = json!({"name": "Bravo's", "timezone": "UTC", "commerce": {"provider": "mock"}});
    app.call(Method::PUT, "/api/v1/stores/main", Some(&b_key), Some(renamed)).await.assert_status(200);

    // Alpha is untouched by all of the above.
    let store = app.call(Method::GET, "/api/v1/stores/main", Some(&a_key), None).await;
    assert_eq!(store.assert_status(200)["name"], "Store main");
    app.call(Method::GET, "/api/v1/products/only-alpha", Some(&a_key), None).await.assert_status(200);
    let device = app.call(Method::GET, "/api/v1/devices/glasses-alpha", Some(&a_key), None).await;
    assert_eq!(device.assert_status(200)["status"], "active");
    app.call(Method::GET, "/api/v1/device", Some(&a_device), None).await.assert_status(200);
    let devices = app.call(Method::GET, "/api/v1/devices", Some(&a_key), None).await;
    assert_eq!(devices.assert_status(200)["items"].as_array().map(Vec::len), Some(3));
}

on_both_backends!(another_tenants_ids_are_404_everywhere);
