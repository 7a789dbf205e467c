//! The merchant's stores, catalog and devices.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, product_body, spawn_app};

async fn stores_are_created_updated_and_listed(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;

    let created = app.put_store(&key, "downtown").await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["commerce"]["provider"], "mock");
    let same = app.put_store(&key, "downtown").await;
    assert_eq!(same.assert_status(200)["updated_at"], created["updated_at"]);
    let renamed = app
        .call(
            Method::PUT,
            "/api/v1/stores/downtown",
            Some(&key),
            Some(json!({"name": "Downtown", "timezone": "Europe/Paris", "commerce": {"provider": "mock"}})),
        )
        .await;
    assert_eq!(renamed.assert_status(200)["timezone"], "Europe/Paris");
    let fetched = app.call(Method::GET, "/api/v1/stores/downtown", Some(&key), None).await;
    assert_eq!(fetched.assert_status(200)["name"], "Downtown");
    app.put_store(&key, "airport").await.assert_status(201);
    let listed = app.call(Method::GET, "/api/v1/stores", Some(&key), None).await;
    let ids: Vec<_> = listed.assert_status(200)["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| s["store_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(ids, ["airport", "downtown"]);
    let bad_zone = app
        .call(
            Method::PUT,
            "/api/v1/stores/x",
            Some(&key),
            Some(json!({"name": "X", "timezone": "not a zone", "commerce": {"provider": "mock"}})),
        )
        .await;
    bad_zone.assert_problem(422, "validation-failed");
    assert_eq!(bad_zone.body["errors"][0]["field"], "timezone");
    app.call(Method::GET, "/api/v1/stores/nowhere", Some(&key), None).await.assert_problem(404, "not-found");
}

async fn products_keep_one_per_object_class(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;

    let created = app.put_product(&key, "water", "water_bottle", "W-24").await;
    let created = created.assert_status(201).clone();
    assert_eq!(created["variants"][0]["unit_price_usd"], 12.99);
    assert_eq!(created["reorder_threshold"], "LOW");
    let same = app.put_product(&key, "water", "water_bottle", "W-24").await;
    assert_eq!(same.assert_status(200)["updated_at"], created["updated_at"]);

    let clash = app.put_product(&key, "water-2", "water_bottle", "W-12").await;
    clash.assert_problem(409, "object-class-taken");
    let sku_clash = app.put_product(&key, "soap", "soap_dispenser", "W-24").await;
    sku_clash.assert_problem(409, "sku-taken");

    let mut two_variants = product_body("water_bottle", "W-12");
    two_variants["variants"] = json!([
        {"sku": "W-24", "label": "24-pack", "unit_price_usd": 12.99},
        {"sku": "W-12", "label": "12-pack", "size": "12 x 500 ml", "unit_price_usd": 7.5}
    ]);
    two_variants["reorder_threshold"] = json!("NEARLY_EMPTY");
    let replaced = app.call(Method::PUT, "/api/v1/products/water", Some(&key), Some(two_variants)).await;
    let replaced = replaced.assert_status(200);
    assert_eq!(replaced["default_sku"], "W-12");
    assert_eq!(replaced["variants"][1]["unit_price_usd"], 7.5);
    let fetched = app.call(Method::GET, "/api/v1/products/water", Some(&key), None).await;
    let fetched = fetched.assert_status(200);
    assert_eq!(fetched["variants"].as_array().map(Vec::len), Some(2));
    assert_eq!(fetched["reorder_threshold"], "NEARLY_EMPTY");

    let mut bad_default = product_body("sunscreen", "S-1");
    bad_default["default_sku"] = json!("missing");
    let rejected = app.call(Method::PUT, "/api/v1/products/sun", Some(&key), Some(bad_default)).await;
    rejected.assert_problem(422, "validation-failed");
    let mut bad_price = product_body("sunscreen", "S-1");
    bad_price["variants"][0]["unit_price_usd"] = json!(1.005);
    app.call(Method::PUT, "/api/v1/products/sun", Some(&key), Some(bad_price))
        .await
        .assert_problem(422, "validation-failed");

    // Pagination walks every product exactly once.
    for i in 0..5 {
        app.put_product(&key, &format!("p{i}"), &format!("class_{i}"), &format!("SKU-{i}")).await.assert_status(201);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/products?limit=2&cursor={c}"),
            None => "/api/v1/products?limit=2".to_owned(),
        };
        let page = app.call(Method::GET, &path, Some(&key), None).await;
        let page = page.assert_status(200);
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|p| p["product_id"].as_str().unwrap_or_default().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4", "water"]);

    app.call(Method::DELETE, "/api/v1/products/water", Some(&key), None).await.assert_status(204);
    app.call(Method::GET, "/api/v1/products/water", Some(&key), None).await.assert_problem(404, "not-found");
    app.call(Method::DELETE, "/api/v1/products/water", Some(&key), None).await.assert_problem(404, "not-found");
    // The class and SKUs are free again.
    app.put_product(&key, "water-2", "water_bottle", "W-24").await.assert_status(201);
}

async fn devices_are_registered_revoked_and_reregistered(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = app.create_tenant("acme").await;
    app.put_store(&key, "main").await.assert_status(201);

    let token = app.create_device(&key, "glasses", "main").await;
    assert!(token.starts_with("rpl_d_"));
    let me = app.call(Method::GET, "/api/v1/device", Some(&token), None).await;
    let me = me.assert_status(200);
    assert_eq!(me["device_id"], "glasses");
    assert!(me.get("token").is_none(), "tokens are shown once");

    let dup = json!({"device_id": "glasses", "store": "main", "owner": "household-1", "model": "spectacles-5"});
    app.call(Method::POST, "/api/v1/devices", Some(&key), Some(dup.clone())).await.assert_problem(409, "device-exists");
    let unknown_store = json!({"device_id": "other", "store": "nowhere", "owner": "o", "model": "m"});
    app.call(Method::POST, "/api/v1/devices", Some(&key), Some(unknown_store))
        .await
        .assert_problem(422, "validation-failed");

    let fetched = app.call(Method::GET, "/api/v1/devices/glasses", Some(&key), None).await;
    assert_eq!(fetched.assert_status(200)["status"], "active");
    app.call(Method::DELETE, "/api/v1/devices/glasses", Some(&key), None).await.assert_status(204);
    app.call(Method::GET, "/api/v1/device", Some(&token), None).await.assert_problem(401, "unauthorized");
    let revoked = app.call(Method::GET, "/api/v1/devices/glasses", Some(&key), None).await;
    assert_eq!(revoked.assert_status(200)["status"], "revoked");

    let again = app.call(Method::POST, "/api/v1/devices", Some(&key), Some(dup)).await;
    let fresh = again.assert_status(201)["token"].as_str().expect("token").to_owned();
    assert_ne!(fresh, token);
    app.call(Method::GET, "/api/v1/device", Some(&fresh), None).await.assert_status(200);
    app.call(Method::GET, "/api/v1/device", Some(&token), None).await.assert_problem(401, "unauthorized");
}

on_both_backends!(
    stores_are_created_updated_and_listed,
    products_keep_one_per_object_class,
    devices_are_registered_revoked_and_reregistered,
);
