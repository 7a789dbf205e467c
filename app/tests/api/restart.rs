//! Stopping the app and starting it on the same database loses nothing.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, spawn_app};

async fn everything_survives_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (key, device) = app.seeded_tenant("acme").await;
    let batch = json!({"devices": [{"device_id": "b-1", "store": "main", "owner": "o", "model": "m"}]});
    let batched = app.call(Method::POST, "/api/v1/devices:batch", Some(&key), Some(batch)).await;
    let batch_token = batched.assert_status(201)["devices"][0]["token"].as_str().expect("token").to_owned();
    let before = app.call(Method::GET, "/api/v1/products/water", Some(&key), None).await.assert_status(200).clone();
    let admin_token = app.admin_token.clone();

    let app = app.restart().await;

    assert_eq!(app.admin_token, admin_token, "the admin token is not regenerated");
    app.admin(Method::GET, "/admin/v1/tenants/acme", None).await.assert_status(200);
    let after = app.call(Method::GET, "/api/v1/products/water", Some(&key), None).await;
    assert_eq!(after.assert_status(200), &before);
    app.call(Method::GET, "/api/v1/stores/main", Some(&key), None).await.assert_status(200);
    for token in [&device, &batch_token] {
        app.call(Method::GET, "/api/v1/device", Some(token), None).await.assert_status(200);
    }
    let devices = app.call(Method::GET, "/api/v1/devices", Some(&key), None).await;
    assert_eq!(devices.assert_status(200)["items"].as_array().map(Vec::len), Some(2));
    // A repeated PUT after the restart is still a no-op.
    let again = app
        .admin(Method::PUT, "/admin/v1/tenants/acme", Some(json!({"display_name": "acme", "plan": "starter"})))
        .await;
    assert!(again.assert_status(200).get("api_key").is_none());
}

on_both_backends!(everything_survives_a_restart);
